//! `rtvisor run`: build, then boot under QEMU on the machine the board describes, with
//! the devices the scenario plugs in (`crate::qemu` builds the command line).

use crate::build;
use crate::qemu::{exit_result, QemuCommand};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

/// The QEMU command for `scenario`'s image at `image` (console on the terminal).
pub fn command(scenario: &Path, image: &Path) -> Result<QemuCommand> {
    let run = rtvisor_config::qemu_run(scenario).map_err(|d| {
        eprintln!("{d}");
        anyhow::Error::new(crate::Reported)
    })?;
    Ok(QemuCommand::hypervisor(&run, image)?)
}

/// Builds `scenario` into target/images/<stem>.bin and boots it.
pub fn run(scenario: &Path, duration: Option<f64>) -> Result<ExitCode> {
    if let Some(secs) = duration {
        if !(secs.is_finite() && secs >= 0.0) {
            bail!("--duration must be a non-negative number of seconds");
        }
    }
    let abs = std::fs::canonicalize(scenario)
        .with_context(|| format!("cannot open scenario {}", scenario.display()))?;
    // An x86_64 board boots from a GRUB ISO on q35, which xtask builds (GRUB and
    // xorriso are its tools, not this command's).
    if crate::scenario_arch(&abs) == Some(rtvisor_config::contract::Arch::X86_64) {
        bail!(
            "{}: its board is an x86_64 machine; `rtvisor run` boots aarch64 scenarios on \
             QEMU virt. Boot it with `cargo xtask run {}` (its GRUB ISO on QEMU q35)",
            scenario.display(),
            scenario.display()
        );
    }
    let root = build::find_root(&abs)?;
    let stem = abs
        .file_stem()
        .context("scenario has no file name")?
        .to_string_lossy()
        .into_owned();
    let image = build::target_dir(&root)
        .join("images")
        .join(format!("{stem}.bin"));
    let (plan, raw) = build::build(&abs, &image, None)?;
    eprint!("{}", build::layout(&plan, &raw, &image));
    let qemu = command(&abs, &image)?;
    eprintln!("[rtvisor] {}", qemu.line());
    let mut child = qemu.command().spawn().with_context(|| {
        format!(
            "starting {} (install QEMU, or set RTVISOR_QEMU)",
            qemu.program
        )
    })?;
    let status = match duration {
        None => child.wait()?,
        Some(secs) => match wait_until(&mut child, Duration::from_secs_f64(secs))? {
            Some(status) => status,
            None => {
                eprintln!("\n[rtvisor] stopped QEMU after {secs} s (--duration)");
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    Ok(report(status))
}

/// Waits for `child` at most `limit`; past it, kills it and returns `None`.
fn wait_until(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            child.kill().context("stopping QEMU")?;
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// Says how QEMU ended; the exit code of `rtvisor run`.
fn report(status: ExitStatus) -> ExitCode {
    match exit_result(status) {
        Ok(()) => {
            eprintln!("\n[rtvisor] QEMU exited (the machine powered off)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\n[rtvisor] error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_gets_its_disk_and_nic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let demo = root.join("scenarios/demo.toml");
        let q = command(&demo, Path::new("/i/demo.bin")).unwrap();
        let a = q.args().join(" ");
        assert!(
            a.contains("-device virtio-blk-device,drive=rtvdisk0,bus=virtio-mmio-bus.31"),
            "{a}"
        );
        assert!(a.contains("target/linux/disk.img,format=raw"), "{a}");
        assert!(
            a.contains("-device virtio-net-device,netdev=rtvnet1,bus=virtio-mmio-bus.30"),
            "{a}"
        );
        assert!(
            a.contains("-semihosting-config enable=on,target=gdb"),
            "{a}"
        );
        assert!(a.contains("-smp 4 -m 2G"), "{a}");
    }
}
