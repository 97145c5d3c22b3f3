//! T3: the demo scenario with Debian's stock arm64 kernel (`cargo xtask linux`).
//!
//! `rt` (rtbench, direct mode, a timer summary every 1000 samples) runs beside
//! `linux` (2 vCPUs, virtio disk and NIC passed through, and the PCIe host bridge
//! with a second disk on it). The test types on the
//! Linux console (input goes there at boot) and checks the answers, reboots and
//! powers off the Linux VM, and checks that `rt` kept reporting all along without a
//! stray interrupt. Linux's `rtstats` must show figures `rt` published in shared
//! memory, and the console input is switched to the hypervisor shell (Ctrl-]) and
//! back. Last, the same kernel boots bare under the same QEMU, and the boot times
//! are printed as a ratio.

use super::cases::{check_no_strays, strays, wait_summaries};
use super::{hv, Timeouts};
use crate::console::{Console, Pattern};
use crate::linux;
use crate::util::say;
use anyhow::Result;
use regex::{escape, Regex};
use std::time::{Duration, Instant};

const RT: &str = "rt";
const LINUX: &str = "linux";

/// A Linux console line that is exactly `text` (a command's echo never is).
pub(super) fn exact(text: &str) -> Pattern {
    Pattern::regex(&format!(r"^\[{LINUX}\] {}$", escape(text)))
}

pub(super) fn linux_line(text: &str) -> Pattern {
    Pattern::contains(format!("[{LINUX}] {text}"))
}

/// How long Linux may take to reach its shell (it boots in about 2 s of guest time,
/// but TCG on a loaded machine is slow).
pub(super) fn boot_timeout(t: &Timeouts) -> Duration {
    t.boot * 3
}

/// Types a command line on the Linux console (input goes to `linux`).
pub(super) fn type_cmd(c: &mut Console, cmd: &str) -> Result<()> {
    c.send(&format!("{cmd}\n"))
}

/// Max timer latency (ns) of each `rt` summary after console line `after`.
fn rt_maxima(c: &Console, after: usize) -> Vec<u64> {
    let re = Regex::new(&format!(
        r"^\[{RT}\] rtbench: result metric=timer samples=\d+ min_ns=(?:\d+|unavailable) avg_ns=\d+ max_ns=(?P<n>\d+)"
    ))
    .expect("valid regex");
    c.log()
        .iter()
        .enumerate()
        .filter(|&(i, _)| i > after)
        .filter_map(|(_, l)| re.captures(l).and_then(|m| m["n"].parse().ok()))
        .collect()
}

/// The two CPUs' counts of the /proc/interrupts line of level-triggered INTID
/// `intid` whose name matches `name` (a regex).
fn gic_counts(c: &mut Console, t: &Timeouts, intid: u32, name: &str) -> Result<(u64, u64)> {
    let re = Regex::new(&format!(
        r"^\[{LINUX}\]\s+\d+:\s+(?P<a>\d+)\s+(?P<b>\d+)\s+GICv3\s+{intid}\s+Level\s+{name}"
    ))
    .expect("valid regex");
    let at = c.expect(&Pattern::Regex(re.clone()), t.step)?;
    let caps = re.captures(c.line(at)).expect("matched above");
    Ok((caps["a"].parse()?, caps["b"].parse()?))
}

/// The Linux shell answers: CPUs, timer interrupts on both, the disk, the tree.
fn shell_answers(c: &mut Console, t: &Timeouts) -> Result<()> {
    type_cmd(c, "nproc")?;
    c.expect(&exact("2"), t.step)?;
    type_cmd(c, "grep arch_timer /proc/interrupts")?;
    let (a, b) = gic_counts(c, t, 27, "arch_timer")?;
    if a == 0 || b == 0 {
        return Err(c.fail(
            "the arch timer counting on both Linux CPUs",
            &format!("/proc/interrupts shows {a} and {b}"),
        ));
    }
    type_cmd(c, "cat /mnt/hello.txt")?;
    c.expect(&exact(linux::HELLO), t.step)?;
    type_cmd(c, "tr -d '\\000' < /proc/device-tree/model; echo")?;
    c.expect(&exact("rtvisor,linux"), t.step)?;
    rt_stats(c, t)
}

/// The virtio disk on the PCIe host bridge: Linux enumerated the bridge (the first
/// device, 00:01.0, is a virtio device, vendor 0x1af4), its disk holds the test file,
/// and its INTx interrupt (device 1's INTA: INTID 36) counted the reads.
fn pci_disk(c: &mut Console, t: &Timeouts) -> Result<()> {
    let dev = "/sys/bus/pci/devices/0000:00:01.0";
    type_cmd(c, &format!("cat {dev}/vendor"))?;
    c.expect(&exact("0x1af4"), t.step)?;
    type_cmd(
        c,
        &format!("b=$(ls {dev}/virtio*/block); echo pci-disk $b; mkdir -p /pci"),
    )?;
    c.expect(
        &Pattern::regex(&format!(r"^\[{LINUX}\] pci-disk vd[a-z]$")),
        t.step,
    )?;
    type_cmd(c, "mount -t ext4 -o ro /dev/$b /pci && cat /pci/hello.txt")?;
    c.expect(&exact(linux::HELLO), t.step)?;
    type_cmd(c, "grep 'GICv3 *36 *Level' /proc/interrupts")?;
    let (a, b) = gic_counts(c, t, 36, r"virtio\d+$")?;
    if a + b == 0 {
        return Err(c.fail(
            "the PCI disk's INTx interrupt counting",
            &format!("/proc/interrupts shows {a} and {b}"),
        ));
    }
    say(format!(
        "T3 linux: PCI disk read through the host bridge, {} INTx interrupts",
        a + b
    ));
    Ok(())
}

/// `rtstats -w 2` waits for two doorbells from `rt` (input events of the doorbell
/// GPIO) and prints the figures `rt` published in shared memory after each: newer
/// each time, and the same as a summary `rt` printed on its own console.
fn rt_stats(c: &mut Console, t: &Timeouts) -> Result<()> {
    type_cmd(c, "rtstats -w 2")?;
    let re = Regex::new(&format!(
        r"^\[{LINUX}\] rtstats: seq=(?P<seq>[1-9]\d*) samples=(?P<s>\d+) min_ns=(?P<min>\d+|unavailable) avg_ns=(?P<avg>\d+) max_ns=(?P<max>\d+)$"
    ))
    .expect("valid regex");
    c.expect(&exact("rtstats: doorbell 1"), t.step)?;
    let first = c.expect(&Pattern::Regex(re.clone()), t.step)?;
    c.expect(&exact("rtstats: doorbell 2"), t.step)?;
    let at = c.expect(&Pattern::Regex(re.clone()), t.step)?;
    let seq = |i: usize| -> u64 {
        re.captures(c.line(i))
            .and_then(|m| m["seq"].parse().ok())
            .unwrap_or(0)
    };
    if seq(at) <= seq(first) {
        return Err(c.fail(
            "a newer summary after each doorbell",
            &format!("seq {} then {}", seq(first), seq(at)),
        ));
    }
    let m = re.captures(c.line(at)).expect("matched above");
    let want = format!(
        "[{RT}] rtbench: result metric=timer samples={} min_ns={} avg_ns={} max_ns={} ",
        &m["s"], &m["min"], &m["avg"], &m["max"]
    );
    if !c.log().iter().any(|l| l.starts_with(&want)) {
        return Err(c.fail(
            "rtstats in Linux shows a summary rt printed",
            &format!("no console line starts with {want:?}"),
        ));
    }
    Ok(())
}

/// Ctrl-] gives console input to the hypervisor shell; `vm console linux` gives it
/// back, and Linux answers again.
fn console_switch(c: &mut Console, t: &Timeouts) -> Result<()> {
    // Linux's shell must be back at its prompt first: while a command still runs, the
    // tty is in cooked mode and echoes what is typed, and the shell's line editor then
    // shows it a second time after its prompt. A builtin's output line means the
    // command before it has finished, and the shell prompts right after it.
    type_cmd(c, "echo console-switch-ready")?;
    c.expect(&exact("console-switch-ready"), t.step)?;
    c.send("\x1d")?;
    c.expect(
        &Pattern::contains("[rtvisor] console input back to the shell"),
        t.step,
    )?;
    c.send("vm list\r")?;
    c.expect(&Pattern::contains("[rtvisor] > vm list"), t.step)?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] linux\s+running\s+1,2\s+512M\s+0\s+-$"),
        t.step,
    )?;
    c.send("vm console linux\r")?;
    c.expect(
        &Pattern::contains("[rtvisor] console input goes to vm linux"),
        t.step,
    )?;
    type_cmd(c, "uname -m")?;
    c.expect(&exact("aarch64"), t.step)?;
    // What is typed shows once, whatever `rt` printed meanwhile.
    let echoes = c
        .log()
        .iter()
        .filter(|l| *l == "[linux] # uname -m")
        .count();
    if echoes != 1 {
        return Err(c.fail(
            "the typed `uname -m` shown once",
            &format!("{echoes} console lines `[linux] # uname -m`"),
        ));
    }
    Ok(())
}

pub fn demo(c: &mut Console, t: &Timeouts) -> Result<()> {
    let start = Instant::now();
    for bad in ["Kernel panic", "rtvisor-linux: insmod", linux::DISK_FAILED] {
        c.fail_on(Pattern::contains(bad));
    }
    c.expect(
        &Pattern::contains("[rtvisor] console input goes to vm linux"),
        t.boot,
    )?;
    c.expect(&linux_line(linux::DISK_MOUNTED), boot_timeout(t))?;
    let ready = c.expect(&linux_line(linux::READY), t.step)?;
    let under_rtvisor = start.elapsed();
    wait_summaries(c, RT, 0, 1, t)?;
    shell_answers(c, t)?;
    pci_disk(c, t)?;
    console_switch(c, t)?;

    // reboot -f: only Linux restarts, and its shell comes back.
    let before_reboot = c.cursor();
    type_cmd(c, "reboot -f")?;
    c.expect(&hv::restarting(LINUX), t.step)?;
    c.expect(&linux_line(linux::READY), boot_timeout(t))?;
    type_cmd(c, "nproc")?;
    c.expect(&exact("2"), t.step)?;
    wait_summaries(c, RT, before_reboot, 1, t)?;

    // poweroff -f: only Linux stops; rt keeps reporting.
    type_cmd(c, "poweroff -f")?;
    let off = c.expect(&hv::stopped(LINUX), t.step)?;
    wait_summaries(c, RT, off, 2, t)?;
    c.expect_not(&hv::all_stopped())?;
    check_no_strays(c, RT)?;
    let summaries = strays(c, RT).len();
    let during = rt_maxima(c, 0);
    let after_off = rt_maxima(c, off);
    say(format!(
        "T3 linux: rt printed {summaries} summaries; max latency while Linux ran {} ns, after it stopped {} ns (wall-clock TCG, not icount: see docs/benchmark.md)",
        during.iter().max().copied().unwrap_or(0),
        after_off.iter().max().copied().unwrap_or(0),
    ));
    let _ = ready;

    // The same kernel, bare, on the same QEMU: the boot-time ratio.
    let l = linux::ensure(false)?;
    let bare = linux::boot_bare(&l, boot_timeout(t))?;
    say(format!(
        "T3 linux: boot to shell {:.2} s under rtvisor, {:.2} s bare: ratio {:.2}",
        under_rtvisor.as_secs_f64(),
        bare.as_secs_f64(),
        under_rtvisor.as_secs_f64() / bare.as_secs_f64()
    ));
    Ok(())
}
