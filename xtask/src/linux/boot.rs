//! `cargo xtask linux --boot-bare`: the guest kernel straight on QEMU, no hypervisor.
//!
//! The boot is driven through the console expect engine: wait for `/init`'s
//! `rtvisor-linux: ready`, ask the shell `nproc` and `cat /mnt/hello.txt`, then
//! `poweroff -f` and wait for QEMU to exit. Every wait shares one deadline; nothing
//! sleeps for a fixed time. The console goes to `target/linux/boot-bare.log`.

use super::{disk, initramfs, qemu_device_args, Linux};
use crate::console::{Console, Pattern};
use crate::setup::{QEMU, QEMU_APT_PACKAGE};
use crate::util::{out_dir, say, show};
use anyhow::{Context, Result};
use regex::escape;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The vCPUs of the bare boot (what `nproc` must answer).
const CPUS: u32 = 2;

/// The bare-metal QEMU command for `l` (serial on stdio).
pub fn bare_command(l: &Linux) -> Command {
    let mut c = Command::new(QEMU);
    c.args(["-M", "virt,gic-version=3", "-cpu", "max,pauth-impdef=on"])
        .args(["-smp", &CPUS.to_string(), "-m", "1G"])
        .args(["-nographic", "-no-reboot", "-kernel"])
        .arg(&l.image)
        .arg("-initrd")
        .arg(&l.initramfs)
        .args(["-append", "console=ttyAMA0 earlycon"])
        .args(qemu_device_args(l));
    c
}

/// A line that is exactly `text` (the shell's echo of a command never is).
fn exact(text: &str) -> Pattern {
    Pattern::regex(&format!("^{}$", escape(text)))
}

/// Boots `l` bare under QEMU and checks the shell answers. Returns the wall time from
/// starting QEMU to the `rtvisor-linux: ready` line.
pub fn boot_bare(l: &Linux, timeout: Duration) -> Result<Duration> {
    boot(l, timeout, false)
}

/// [`boot_bare`], echoing the console when `echo` is set.
pub fn boot(l: &Linux, timeout: Duration, echo: bool) -> Result<Duration> {
    super::tools::ensure_tool(QEMU, QEMU_APT_PACKAGE)?;
    let mut cmd = bare_command(l);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    say(format!("booting bare: {}", show(&cmd)));
    let start = Instant::now();
    let deadline = start + timeout;
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", show(&cmd)))?;
    let mut con = Console::spawn("linux-bare", child);
    con.set_log_file(out_dir("linux")?.join("boot-bare.log"));
    con.set_echo(echo);
    for bad in [
        "Kernel panic",
        "rtvisor-linux: insmod",
        initramfs::DISK_FAILED,
    ] {
        con.fail_on(Pattern::contains(bad));
    }
    let left = || deadline.saturating_duration_since(Instant::now());

    con.expect(&Pattern::contains(initramfs::DISK_MOUNTED), left())?;
    con.expect(&Pattern::contains(initramfs::READY), left())?;
    let ready = start.elapsed();

    // Input typed before the shell reads it waits in the tty buffer.
    con.send("nproc\n")?;
    con.expect(&exact(&CPUS.to_string()), left())?;
    con.send("cat /mnt/hello.txt\n")?;
    con.expect(&exact(disk::HELLO), left())?;
    con.send("poweroff -f\n")?;
    con.expect_exit(0, left())?;
    Ok(ready)
}
