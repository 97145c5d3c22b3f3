//! `rtvisor run`: build, then boot under QEMU with machine options from the board.

use crate::build;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// The QEMU command line for a board: `virt` with EL2, the board's GIC version, CPU
/// count and total RAM.
pub fn qemu_args(gic_version: u32, cpus: usize, ram_bytes: u64, image: &Path) -> Vec<String> {
    vec![
        "-M".into(),
        format!("virt,virtualization=on,gic-version={gic_version}"),
        "-cpu".into(),
        "max,pauth-impdef=on".into(),
        "-smp".into(),
        cpus.to_string(),
        "-m".into(),
        format!("{}M", ram_bytes >> 20),
        "-nographic".into(),
        "-no-reboot".into(),
        "-kernel".into(),
        image.display().to_string(),
    ]
}

/// Builds `scenario` into target/images/<stem>.bin and boots it.
pub fn run(scenario: &Path, duration: Option<f64>) -> Result<ExitCode> {
    let abs = std::fs::canonicalize(scenario)
        .with_context(|| format!("cannot open scenario {}", scenario.display()))?;
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
    let board = rtvisor_config::check_board(&plan.board).map_err(|d| {
        eprintln!("{d}");
        anyhow::anyhow!("the board file {} has errors", plan.board.display())
    })?;
    let ram: u64 = board.ram.iter().map(|r| r.size.get_ref().0).sum();
    let args = qemu_args(*board.gic.version.get_ref(), board.cpu.len(), ram, &image);
    let qemu = std::env::var("RTVISOR_QEMU").unwrap_or_else(|_| "qemu-system-aarch64".into());
    eprintln!("[rtvisor] {qemu} {}", args.join(" "));
    let mut child = Command::new(&qemu)
        .args(&args)
        .spawn()
        .with_context(|| format!("starting {qemu} (install QEMU, or set RTVISOR_QEMU)"))?;
    let Some(secs) = duration else {
        let status = child.wait()?;
        return Ok(if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    };
    if !(secs.is_finite() && secs >= 0.0) {
        let _ = child.kill();
        bail!("--duration must be a non-negative number of seconds");
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(status) = child.try_wait()? {
            eprintln!("\n[rtvisor] QEMU exited ({status})");
            return Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if Instant::now() >= deadline {
            child.kill().context("stopping QEMU")?;
            let _ = child.wait();
            eprintln!("\n[rtvisor] stopped QEMU after {secs} s (--duration)");
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_options_follow_the_board() {
        let a = qemu_args(3, 4, 2 << 30, Path::new("x.bin"));
        assert_eq!(a[1], "virt,virtualization=on,gic-version=3");
        assert_eq!(a[5], "4");
        assert_eq!(a[7], "2048M");
        assert_eq!(a.last().map(String::as_str), Some("x.bin"));
    }
}
