//! The QEMU runner: one place for the machine's command line.
//!
//! - interactive (`run`, `demo`): `-nographic`, serial and monitor muxed on the
//!   terminal; Ctrl-A X quits.
//! - captured (tests, `demo --duration`): `-serial stdio -monitor none -display none`,
//!   stdin from /dev/null, so QEMU never touches the terminal and a pipe or the
//!   inherited stdout sees exactly the UART bytes.

use crate::setup::QEMU;
use crate::util::{say, show};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The reference machine (DESIGN.md section 4/6).
pub const MACHINE: &[&str] = &[
    "-M",
    "virt,virtualization=on,gic-version=3",
    "-cpu",
    "max,pauth-impdef=on",
    "-smp",
    "4",
    "-m",
    "2G",
    "-no-reboot",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Interactive,
    Captured,
}

/// The full QEMU command for `image` (a raw Image or an ELF; QEMU tells them apart).
pub fn command(image: &Path, mode: Mode, extra: &[String]) -> Command {
    let mut c = Command::new(QEMU);
    c.args(MACHINE);
    match mode {
        Mode::Interactive => c.arg("-nographic"),
        Mode::Captured => c.args(["-display", "none", "-serial", "stdio", "-monitor", "none"]),
    };
    c.arg("-kernel").arg(image).args(extra);
    c
}

/// The command line as text, for `cargo xtask qemu-args` and logs.
pub fn command_line(image: &Path, mode: Mode, extra: &[String]) -> String {
    show(&command(image, mode, extra))
}

fn check_image(image: &Path) -> Result<()> {
    if !image.is_file() {
        bail!(
            "image {} does not exist; build it first (cargo xtask build <scenario>)",
            image.display()
        );
    }
    Ok(())
}

/// Starts QEMU for a test: stdin, stdout and stderr piped (a test types on the
/// console through [`crate::console::Console::send`]).
pub fn spawn_captured(image: &Path, extra: &[String]) -> Result<Child> {
    check_image(image)?;
    let mut c = command(image, Mode::Captured, extra);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn()
        .with_context(|| format!("could not start `{}`", show(&c)))
}

/// Runs QEMU on the terminal until the user quits (Ctrl-A X) or the machine powers off.
pub fn run_interactive(image: &Path, extra: &[String]) -> Result<()> {
    check_image(image)?;
    let mut c = command(image, Mode::Interactive, extra);
    say(format!("starting: {}", show(&c)));
    say("quit with Ctrl-A X");
    let status = c
        .status()
        .with_context(|| format!("could not start `{}`", show(&c)))?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}

/// Runs QEMU with its output live on our stdout, and ends it after `duration` unless it
/// powers off first. Ok when it ran the whole duration or exited 0.
pub fn run_for(image: &Path, duration: Duration, extra: &[String]) -> Result<()> {
    check_image(image)?;
    let mut c = command(image, Mode::Captured, extra);
    c.stdin(Stdio::null());
    say(format!(
        "starting for {}s: {}",
        duration.as_secs_f64(),
        show(&c)
    ));
    let mut child = c
        .spawn()
        .with_context(|| format!("could not start `{}`", show(&c)))?;
    let deadline = Instant::now() + duration;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                say("QEMU exited (the machine powered off)");
                return Ok(());
            }
            bail!("QEMU exited with {status}");
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

    #[test]
    fn captured_command_line_is_the_reference_machine() {
        let line = command_line(Path::new("/i/x.bin"), Mode::Captured, &[]);
        assert_eq!(
            line,
            "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on \
             -smp 4 -m 2G -no-reboot -display none -serial stdio -monitor none -kernel /i/x.bin"
        );
        let inter = command_line(Path::new("/i/x.elf"), Mode::Interactive, &["-s".into()]);
        assert!(inter.ends_with("-no-reboot -nographic -kernel /i/x.elf -s"));
    }
}
