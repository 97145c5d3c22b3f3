//! T3: Debian's U-Boot for QEMU virt (`cargo xtask u-boot`) as a VM beside `rt`.
//!
//! U-Boot reaches its prompt (its environment read from the emulated flash), answers
//! `version`, `bdinfo` and `fdt print /` with what the scenario gave its VM, saves its
//! environment to the flash, loads Debian's kernel and initramfs from the virtio disk
//! passed through and boots Linux with `booti` to its shell. Then `reboot -f` in Linux
//! and `reset` in U-Boot each restart only that VM (its flash back to erased), while
//! `rt` counts on without a restart.

use super::cases::check_counts;
use super::{guest, hv, Timeouts};
use crate::console::{Console, Pattern};
use crate::linux;
use anyhow::Result;
use regex::escape;

const VM: &str = "u-boot";
const RT: &str = "rt";
/// U-Boot's banner (and its `version` answer), after any prefix.
const BANNER: &str = r"U-Boot \d{4}\.\d{2}\S* \(.*\)";
/// What U-Boot says of an erased flash: no valid environment, the built-in one is used.
const NO_ENV: &str = r"\*\*\* Warning - bad CRC, using default environment";
/// Lines that fail either test at once: a Linux or U-Boot failure.
const FAILURES: &[&str] = &[
    "Kernel panic",
    "rtvisor-linux: insmod",
    linux::DISK_FAILED,
    "### ERROR ###",
    "Synchronous Abort",
    "Please RESET the board",
    "Bad Linux ARM64 Image magic",
];

fn fail_on_failures(c: &mut Console) {
    for bad in FAILURES {
        c.fail_on(Pattern::contains(*bad));
    }
}

/// A U-Boot VM console line matching `re` (anchored, after the prefix).
fn line(re: &str) -> Pattern {
    Pattern::regex(&format!(r"^\[{}\] {re}$", escape(VM)))
}

/// A console line that is exactly `text`.
fn exact(text: &str) -> Pattern {
    line(&escape(text))
}

/// Types a command at the U-Boot prompt and waits for its echo (U-Boot echoes what it
/// reads at its prompt, so the echo follows `=> `).
fn command(c: &mut Console, cmd: &str, t: &Timeouts) -> Result<()> {
    c.send(&format!("{cmd}\r"))?;
    c.expect(&exact(&format!("=> {cmd}")), t.step)?;
    Ok(())
}

/// Waits for U-Boot's banner and stops its autoboot countdown (which follows the
/// `Net:` line) with a key, so the prompt comes. U-Boot must find the flash erased (no
/// valid environment): at every start of the VM it is.
fn to_prompt(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.expect(&line(BANNER), t.boot)?;
    c.expect(
        &line(&format!("Loading Environment from Flash\\.\\.\\. {NO_ENV}")),
        t.step,
    )?;
    c.expect(&line(r"Net:\s+.*"), t.step)?;
    c.send(" ")?;
    Ok(())
}

/// `version`, `bdinfo`, `fdt print /`: U-Boot sees the VM of the scenario.
fn answers(c: &mut Console, t: &Timeouts) -> Result<()> {
    command(c, "version", t)?;
    c.expect(&line(BANNER), t.step)?;
    c.expect(&line(r"aarch64-linux-gnu-gcc .*"), t.step)?;
    command(c, "bdinfo", t)?;
    // The VM's RAM: 256 MiB at 0x4000_0000 (identity-mapped).
    c.expect(&line(r"-> start\s+= 0x0*40000000"), t.step)?;
    c.expect(&line(r"-> size\s+= 0x0*10000000"), t.step)?;
    c.expect(&line(r"flashsize\s+= 0x0*4000000"), t.step)?;
    command(c, "fdt addr $fdtcontroladdr; fdt print /", t)?;
    for want in [
        "\tmodel = \"rtvisor,u-boot\";",
        "\t\tmethod = \"hvc\";",
        "\t\tcompatible = \"cfi-flash\";",
        "\t\tcompatible = \"arm,gic-v3\";",
        "\t\tcompatible = \"virtio,mmio\";",
    ] {
        c.expect(&exact(want), t.step)?;
    }
    c.expect(&exact("};"), t.step)?;
    // The emulated CFI flash takes a program and an erase: U-Boot writes its
    // environment (at the start of the second bank).
    command(c, "setenv rtvisor yes; saveenv", t)?;
    c.expect(&line(r"Erased \d+ sectors"), t.step)?;
    c.expect(&line(r"Writing to Flash\.\.\. done"), t.step)?;
    c.expect(&exact("OK"), t.step)?;
    Ok(())
}

/// Loads the kernel and initramfs from the virtio disk and boots them.
fn boot_linux(c: &mut Console, t: &Timeouts) -> Result<()> {
    command(c, "virtio scan; ls virtio 0", t)?;
    c.expect(&line(r"\s+\d+\s+Image"), t.step)?;
    c.expect(&line(r"\s+\d+\s+initramfs\.cpio\.gz"), t.step)?;
    let read = line(r"\d+ bytes read in \d+ ms.*");
    command(c, "load virtio 0 $kernel_addr_r Image", t)?;
    c.expect(&read, t.step)?;
    command(c, "load virtio 0 $ramdisk_addr_r initramfs.cpio.gz", t)?;
    c.expect(&read, t.step)?;
    command(
        c,
        "booti $kernel_addr_r $ramdisk_addr_r:$filesize $fdtcontroladdr",
        t,
    )?;
    c.expect(&exact("Starting kernel ..."), t.step)?;
    c.expect(&exact(linux::DISK_MOUNTED), t.boot * 3)?;
    c.expect(&exact(linux::READY), t.step)?;
    // The device tree U-Boot handed on is the VM's, the disk is the one it read. (The
    // answers are matched, not the echoes: a line typed before the shell's prompt is
    // echoed by the terminal and again by the shell.)
    c.send("tr -d '\\000' < /proc/device-tree/model; echo\n")?;
    c.expect(&exact("rtvisor,u-boot"), t.step)?;
    c.send("cat /mnt/hello.txt\n")?;
    c.expect(&exact(linux::HELLO), t.step)?;
    Ok(())
}

/// `rt` counted on after line `after`, and never started again.
fn rt_undisturbed(c: &mut Console, after: usize, t: &Timeouts) -> Result<()> {
    let here = c.cursor();
    c.set_cursor(after);
    let at = c.expect(&guest::count_any(RT), t.step)?;
    c.set_cursor(here.max(at + 1));
    let banners = c
        .log()
        .iter()
        .filter(|l| guest::banner(RT).is_match(l))
        .count();
    if banners != 1 {
        return Err(c.fail("`rt` started once", &format!("{banners} banners")));
    }
    check_counts(c, RT, None)
}

pub fn u_boot(c: &mut Console, t: &Timeouts) -> Result<()> {
    fail_on_failures(c);
    c.expect(&guest::banner(RT), t.boot)?;
    to_prompt(c, t)?;
    answers(c, t)?;
    boot_linux(c, t)?;

    // reboot -f (PSCI SYSTEM_RESET from Linux): U-Boot again, the flash erased again.
    c.send("reboot -f\n")?;
    let restart = c.expect(&hv::restarting(VM), t.step)?;
    to_prompt(c, t)?;
    rt_undisturbed(c, restart, t)?;

    // U-Boot's own reset (PSCI SYSTEM_RESET from the firmware).
    command(c, "reset", t)?;
    let restart = c.expect(&hv::restarting(VM), t.step)?;
    to_prompt(c, t)?;
    command(c, "version", t)?;
    c.expect(&line(BANNER), t.step)?;
    rt_undisturbed(c, restart, t)
}

/// A line of U-Boot itself on the bare machine (no VM prefix: it owns the UART).
fn bare(re: &str) -> Pattern {
    Pattern::regex(&format!("^{re}$"))
}

/// Types a command at the bare U-Boot's prompt and waits for its echo.
fn bare_command(c: &mut Console, cmd: &str, t: &Timeouts) -> Result<()> {
    c.send(&format!("{cmd}\r"))?;
    c.expect(&bare(&escape(&format!("=> {cmd}"))), t.step)?;
    Ok(())
}

/// rtvisor booted by U-Boot (`-bios`, at EL2) with `booti`, as on a board: the image
/// comes from QEMU's fw_cfg, the device tree is U-Boot's; the demo's VMs come up.
pub fn booted(c: &mut Console, t: &Timeouts) -> Result<()> {
    fail_on_failures(c);
    c.expect(&bare(BANNER), t.boot)?;
    c.expect(&bare(r"Net:\s+.*"), t.step)?;
    c.send(" ")?;
    bare_command(c, "qfw load $kernel_addr_r $ramdisk_addr_r", t)?;
    bare_command(c, "booti $kernel_addr_r - $fdtcontroladdr", t)?;
    c.expect(&bare(escape("Starting kernel ...").as_str()), t.step)?;
    c.expect(
        &bare(r"\[rtvisor\] rtvisor \S+ starting: 4 CPUs, GICv3, 2 VMs, .*"),
        t.step,
    )?;
    c.expect(
        &Pattern::contains(format!("[linux] {}", linux::READY)),
        t.boot * 3,
    )?;
    super::cases::wait_summaries(c, RT, 0, 1, t)?;
    c.send("nproc\n")?;
    c.expect(&Pattern::regex(r"^\[linux\] 2$"), t.step)?;
    Ok(())
}
