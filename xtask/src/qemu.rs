//! The QEMU runner. Command lines come from the one builder, `rtvisor::qemu`: the
//! scenario's board gives the machine, its `[[qemu-device]]` entries the devices.
//!
//! - interactive (`run`, `demo`): `-nographic`, serial and monitor muxed on the
//!   terminal; Ctrl-A X quits.
//! - captured (tests, `demo --duration`): `-serial stdio -monitor none -display none`,
//!   stdin from /dev/null, so QEMU never touches the terminal and a pipe or the
//!   inherited stdout sees exactly the UART bytes.
//!
//! QEMU's exit status is read by `rtvisor::qemu::exit_result`: 0 is a power-off, the
//! hypervisor's FATAL exit is named as such.

use crate::util::{rel, say};
use anyhow::{bail, Context, Result};
use rtvisor::qemu::{exit_result, ConsoleMode, QemuCommand};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The command for the image `image` of `scenario` (a raw Image or an ELF; QEMU
/// tells them apart), with the console in `console` mode.
pub fn for_scenario(scenario: &Path, image: &Path, console: ConsoleMode) -> Result<QemuCommand> {
    let run = rtvisor_config::qemu_run(scenario)
        .map_err(|d| anyhow::anyhow!("{d}"))
        .with_context(|| format!("reading the QEMU machine of {}", rel(scenario)))?;
    let mut q = QemuCommand::hypervisor(&run, image)?;
    q.console = console;
    Ok(q)
}

fn check_image(q: &QemuCommand) -> Result<()> {
    let image = &q.boot.kernel;
    if !image.is_file() {
        bail!(
            "image {} does not exist; build it first (cargo xtask build <scenario>)",
            image.display()
        );
    }
    Ok(())
}

fn spawn(q: &QemuCommand, stdin: Stdio, piped: bool) -> Result<Child> {
    let mut c = q.command();
    c.stdin(stdin);
    if piped {
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    c.spawn()
        .with_context(|| format!("could not start `{}`", q.line()))
}

/// Starts QEMU for a test: stdin, stdout and stderr piped (a test types on the
/// console through [`crate::console::Console::send`]).
pub fn spawn_captured(q: &QemuCommand) -> Result<Child> {
    check_image(q)?;
    spawn(q, Stdio::piped(), true)
}

/// Runs QEMU on the terminal until the user quits (Ctrl-A X) or the machine powers off.
pub fn run_interactive(q: &QemuCommand) -> Result<()> {
    check_image(q)?;
    say(format!("starting: {}", q.line()));
    say("quit with Ctrl-A X");
    let status = spawn(q, Stdio::inherit(), false)?.wait()?;
    Ok(exit_result(status)?)
}

/// Runs QEMU with its output live on our stdout, and ends it after `duration` unless it
/// powers off first. Ok when it ran the whole duration or exited 0.
pub fn run_for(q: &QemuCommand, duration: Duration) -> Result<()> {
    check_image(q)?;
    say(format!(
        "starting for {}s: {}",
        duration.as_secs_f64(),
        q.line()
    ));
    let mut child = spawn(q, Stdio::null(), false)?;
    let deadline = Instant::now() + duration;
    loop {
        if let Some(status) = child.try_wait()? {
            exit_result(status)?;
            say("QEMU exited (the machine powered off)");
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            // Killing is safe for the terminal: captured mode never puts it in raw mode.
            let _ = child.kill();
            let _ = child.wait();
            println!();
            say(format!("stopped QEMU after {}s", duration.as_secs_f64()));
            return Ok(());
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::root;

    #[test]
    fn a_test_scenario_boots_on_its_boards_machine() {
        let s = root().join("tests/scenarios/two-vms.toml");
        let mut q = for_scenario(&s, Path::new("/i/x.bin"), ConsoleMode::Captured).unwrap();
        q.program = rtvisor::qemu::QEMU.into();
        assert_eq!(
            q.line(),
            "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on \
             -smp 4 -m 2G -no-reboot -display none -serial stdio -monitor none -nic none \
             -semihosting-config enable=on,target=gdb -kernel /i/x.bin"
        );
    }
}
