//! `cargo xtask linux --boot-bare`: the guest kernel straight on QEMU, no hypervisor.
//!
//! The boot is driven through the console expect engine: wait for `/init`'s
//! `rtvisor-linux: ready`, ask the shell `nproc` and `cat /mnt/hello.txt`, then
//! `poweroff -f` and wait for QEMU to exit. Every wait shares one deadline; nothing
//! sleeps for a fixed time. The console goes to `target/linux/boot-bare.log`.

use super::{disk, initramfs, Linux};
use crate::console::{Console, Pattern};
use crate::util::{out_dir, root, say};
use anyhow::{anyhow, Context, Result};
use regex::escape;
use rtvisor::qemu::{Boot, Device, QemuCommand};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The vCPUs of the bare boot (what `nproc` must answer).
const CPUS: u32 = 2;
/// Its memory.
const MEMORY_MIB: u64 = 1024;
/// The scenario whose `[[qemu-device]]` entries the bare boot plugs in too: the same
/// disk and NIC in the same transports as under rtvisor.
const DEVICES_FROM: &str = "scenarios/demo.toml";

/// The bare-metal QEMU command for `l` (serial on stdio): the kernel at EL1 with the
/// demo's devices.
pub fn bare_command(l: &Linux) -> Result<QemuCommand> {
    let boot = Boot {
        kernel: l.image.clone(),
        initrd: Some(l.initramfs.clone()),
        append: Some("console=ttyAMA0 earlycon".into()),
    };
    let mut q = QemuCommand::bare(CPUS, MEMORY_MIB, boot);
    let scenario = root().join(DEVICES_FROM);
    let run = rtvisor_config::qemu_run(&scenario).map_err(|d| anyhow!("{d}"))?;
    q.devices = run
        .devices
        .iter()
        .map(Device::from_scenario)
        .collect::<Result<_, _>>()?;
    Ok(q)
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
    super::tools::ensure_tool(crate::setup::QEMU_TOOL)?;
    let q = bare_command(l)?;
    let mut cmd = q.command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    say(format!("booting bare: {}", q.line()));
    let start = Instant::now();
    let deadline = start + timeout;
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", q.line()))?;
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
