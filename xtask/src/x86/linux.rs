//! T3 `linux-x86`: Debian's amd64 Linux (`cargo xtask linux --x86`) in a 2-vCPU VM
//! beside `rt` on QEMU q35 (AMD-V), scenarios/x86-linux.toml; `linux-x86-intel` (the
//! slow tier, `slow.rs`) runs the same on Bochs (VT-x) with [`BOCHS`]. As the aarch64 T3 as far
//! as it goes on x86 today: the busybox shell, `nproc` = 2, the local timer line of
//! /proc/interrupts counting on both CPUs, `rtstats -w 2` showing two newer summaries
//! `rt` published in shared memory (each one `rt` printed), `reboot -f` restarting
//! only Linux, which comes back to its shell, and `poweroff -f` stopping only Linux;
//! `rt` reports throughout. On QEMU, Linux also has two PCI functions passed through
//! (a virtio-blk-pci disk on /mnt and a virtio-net-pci NIC, [`pci`]), and reads the
//! disk again after its restart; Bochs has no virtio-pci devices.

use super::machine::{BochsSpec, Emulator};
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::{ensure, Context, Result};
use regex::Regex;

pub const SCENARIO: &str = "scenarios/x86-linux.toml";

/// Linux's boot to its shell is slow under nested TCG: this many boot timeouts.
const BOOT_FACTOR: u32 = 4;
/// On Bochs (the slow tier) it is slower still: this many boot timeouts.
const BOOT_FACTOR_BOCHS: u32 = 20;

/// The Bochs machine for Linux: RAM for the hypervisor's 160 MiB and both VMs.
pub const BOCHS: BochsSpec = BochsSpec {
    megs: 1024,
    ips: 20_000_000,
};

/// The two per-CPU counts of the `LOC:` (local timer interrupts) line.
fn loc_counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.split("LOC:").nth(1)?;
    let mut n = rest.split_whitespace().map(str::parse::<u64>);
    Some((n.next()?.ok()?, n.next()?.ok()?))
}

/// Types `grep LOC: /proc/interrupts` and returns the two counts it prints.
fn read_loc(con: &mut Console, t: &Timeouts) -> Result<(u64, u64)> {
    let from = con.cursor();
    con.send("grep LOC: /proc/interrupts\n")?;
    let pat = Pattern::regex(r"^\[linux\]\s+LOC:\s+\d+\s+\d+");
    let i = con.expect(&pat, t.step)?;
    ensure!(i >= from, "the LOC line came before it was asked for");
    loc_counts(con.line(i)).context("parsing the LOC line")
}

/// Waits for Linux's `/init` to hand over to the shell, and for the shell to answer.
pub(super) fn shell(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    let factor = match emu {
        Emulator::Qemu => BOOT_FACTOR,
        Emulator::Bochs => BOOT_FACTOR_BOCHS,
    };
    con.expect(
        &Pattern::contains("[linux] rtvisor-linux: ready"),
        t.boot * factor,
    )?;
    con.expect(&Pattern::contains("built-in shell (ash)"), t.step)?;
    // The shell is at its prompt once a builtin's output comes back.
    con.send("echo shell-up\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] shell-up\s*$"), t.step)?;
    Ok(())
}

/// The figure after `before` and up to `after` on line `line`, digits and dots only
/// (`tsc 3839781 kHz`, `Detected 3839.781 MHz`), dots taken out.
fn figure(line: &str, before: &str, after: &str) -> Option<u64> {
    let rest = line.split(before).nth(1)?;
    let n = rest.split(after).next()?.trim();
    n.chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        .then_some(())?;
    n.replace('.', "").parse().ok()
}

/// Linux took the TSC rate the hypervisor measured (its `{tsc-khz}` field on the
/// command line): "tsc: Detected X.YYY MHz processor" is the hypervisor's kHz figure.
fn tsc_rate(con: &Console) -> Result<u64> {
    let hv = Pattern::regex(r"^\[rtvisor\] x86_64: vendor \w+, tsc \d+ kHz");
    let hv = con.find_from(0, &hv).context("no hypervisor TSC line")?;
    let khz = figure(con.line(hv), ", tsc ", " kHz").context("parsing the TSC line")?;
    let linux = Pattern::regex(r"^\[linux\] .*tsc: Detected [0-9.]+ MHz processor");
    let linux = con
        .find_from(0, &linux)
        .context("Linux printed no TSC rate")?;
    let got = figure(con.line(linux), "Detected ", " MHz").context("parsing Linux's rate")?;
    ensure!(
        got == khz,
        "Linux runs its TSC at {got} kHz, the hypervisor measured {khz} kHz"
    );
    Ok(khz)
}

/// The PCI functions passed through to Linux: the virtio-blk-pci disk (00:03.0) holds
/// the test file, mounted on /mnt by `/init`, and its MSI-X interrupts counted the
/// reads; the virtio-net-pci NIC (00:04.0) sends a ping to QEMU's user-mode gateway
/// and gets the answer.
pub(super) fn pci(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.send("cat /sys/bus/pci/devices/0000:00:03.0/vendor\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] 0x1af4\s*$"), t.step)?;
    con.send("cat /mnt/hello.txt\n")?;
    con.expect(
        &Pattern::regex(&format!(r"^\[linux\] {}\s*$", crate::linux::HELLO)),
        t.step,
    )?;
    // The disk's interrupts: the lines of /proc/interrupts of its virtio device
    // (`virtioN-config`, `virtioN-req.K`), both CPUs' columns.
    con.send(
        "v=$(basename /sys/bus/pci/devices/0000:00:03.0/virtio*); \
         awk -v v=\"$v-\" 'index($0, v) {s += $2 + $3} END {print \"blk-irqs\", s + 0}' \
         /proc/interrupts\n",
    )?;
    let i = con.expect(&Pattern::regex(r"^\[linux\] blk-irqs \d+\s*$"), t.step)?;
    let n: u64 = figure(con.line(i), "blk-irqs ", "\n").unwrap_or(0);
    ensure!(
        n > 0,
        "the PCI disk's MSI-X interrupts did not count: {:?}",
        con.line(i)
    );
    ping(con, t)?;
    crate::util::say(format!(
        "x86 Linux: PCI disk read ({n} MSI-X interrupts), NIC answered a ping"
    ));
    Ok(())
}

/// The NIC (eth0) up with QEMU's user-mode network address, and a ping to its gateway
/// answered.
pub(super) fn ping(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.send(
        "ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && \
         ping -c 2 -W 5 10.0.2.2 | grep -o '[0-9]* packets received'\n",
    )?;
    con.expect(
        &Pattern::regex(r"^\[linux\] [12] packets received\s*$"),
        t.step * 2,
    )?;
    Ok(())
}

/// `rt`'s summary line (the figures `rtstats` must show).
const RT_SUMMARY: &str = r"^\[rt\] rtbench: result metric=timer samples=\d+ ";

/// `rtstats -w 2`: two summaries newer than the one before, each the same as a
/// summary `rt` printed on its own console.
pub(super) fn rt_stats(con: &mut Console, t: &Timeouts) -> Result<()> {
    let re = Regex::new(
        r"^\[linux\] rtstats: seq=(?P<seq>[1-9]\d*) samples=(?P<s>\d+) min_ns=(?P<min>\d+|unavailable) avg_ns=(?P<avg>\d+) max_ns=(?P<max>\d+)$",
    )
    .expect("valid regex");
    con.send("rtstats -w 2\n")?;
    let mut seen = Vec::new();
    for k in 1..=2 {
        con.expect(
            &Pattern::contains(format!("[linux] rtstats: summary {k}")),
            t.step,
        )?;
        let i = con.expect(&Pattern::Regex(re.clone()), t.step)?;
        let m = re.captures(con.line(i)).context("matched above")?;
        let seq: u64 = m["seq"].parse()?;
        let want = format!(
            "[rt] rtbench: result metric=timer samples={} min_ns={} avg_ns={} max_ns={} ",
            &m["s"], &m["min"], &m["avg"], &m["max"]
        );
        if !con.log().iter().any(|l| l.starts_with(&want)) {
            return Err(con.fail(
                "rtstats in Linux shows a summary rt printed",
                &format!("no console line starts with {want:?}"),
            ));
        }
        seen.push(seq);
    }
    if seen[1] <= seen[0] {
        return Err(con.fail(
            "a newer summary each time",
            &format!("seq {} then {}", seen[0], seen[1]),
        ));
    }
    Ok(())
}

/// `reboot -f` restarts only Linux (its reset register, port 0xCF9), which comes back
/// to its shell while `rt` goes on reporting.
fn reboot(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    con.send("reboot -f\n")?;
    let at = con.expect(
        &crate::systest::hv::restarting("linux"),
        t.step * BOOT_FACTOR,
    )?;
    shell(con, t, emu)?;
    let rt = Pattern::regex(RT_SUMMARY);
    let back = con.cursor();
    if !(at..back).any(|i| rt.is_match(con.line(i))) {
        return Err(con.fail(
            "rt reporting while Linux restarts",
            "no rt summary between the restart and Linux's shell",
        ));
    }
    con.send("nproc\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] 2\s*$"), t.step)?;
    Ok(())
}

/// Linux's clock came from the VM's emulated RTC, which starts at the host RTC's date
/// (QEMU's: this machine's, so at least 2026): a year before that means Linux could
/// not read it and started at 1970.
fn rtc_date(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.send("date -u +rtc-year-%Y\n")?;
    let at = con.expect(&Pattern::regex(r"^\[linux\] rtc-year-\d+\s*$"), t.step)?;
    let year: u32 = con.line(at).trim()["[linux] rtc-year-".len()..].parse()?;
    ensure!(
        year >= 2026,
        "Linux's date is in {year}: it did not read the VM's RTC (emulated at ports 0x70-0x71)"
    );
    Ok(())
}

/// Linux's own fatal lines: the test fails at once on them rather than at its timeout.
pub(super) const PANICS: &[&str] = &["[linux] PANIC: early exception", "[linux] Kernel panic"];

pub fn run(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    con.fail_on(crate::systest::hv::restarting("rt"));
    for p in PANICS {
        con.fail_on(Pattern::contains(*p));
    }
    shell(con, t, emu)?;
    tsc_rate(con)?;
    con.send("nproc\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] 2\s*$"), t.step)?;
    if emu == Emulator::Qemu {
        rtc_date(con, t)?;
    }
    let (a0, a1) = read_loc(con, t)?;
    con.send("sleep 2\n")?;
    let (b0, b1) = read_loc(con, t)?;
    ensure!(
        b0 > a0 && b1 > a1,
        "the local timer did not count on both CPUs: LOC {a0} {a1}, then {b0} {b1}"
    );
    rt_stats(con, t)?;
    if emu == Emulator::Qemu {
        pci(con, t)?;
    }
    reboot(con, t, emu)?;
    if emu == Emulator::Qemu {
        // The functions were reset with the VM and work again.
        con.send("cat /mnt/hello.txt\n")?;
        con.expect(
            &Pattern::regex(&format!(r"^\[linux\] {}\s*$", crate::linux::HELLO)),
            t.step,
        )?;
    }
    poweroff_leaves_rt(con, t)
}

/// `poweroff -f` stops only Linux: `rt` counts on after it ([`rt_counts_on`]).
pub(super) fn poweroff_leaves_rt(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.send("poweroff -f\n")?;
    let off = con.expect(
        &Pattern::regex(r"^\[rtvisor\] vm linux: stopped \(system-off\)"),
        t.step,
    )?;
    rt_counts_on(con, t, off)
}

/// `rt` counts on after Linux stopped (console line `off`): two summaries after it.
/// Without them the hypervisor's view goes into the failure: the console input back
/// to the shell (Ctrl-]; its VM is stopped), `vcpu list` and `irq stats` twice (the
/// second pair after the first's lines), which say whether `rt`'s vCPU still exits
/// and its CPU still takes its timer interrupts.
fn rt_counts_on(con: &mut Console, t: &Timeouts, off: usize) -> Result<()> {
    con.set_cursor(off);
    let rt = Pattern::regex(RT_SUMMARY);
    let waited = con
        .expect(&rt, t.step)
        .and_then(|_| con.expect(&rt, t.step));
    let Err(e) = waited else {
        return Ok(());
    };
    let first = format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let view = match hypervisor_view(con, t) {
        Ok(()) => "the hypervisor's view is in the last lines".to_string(),
        Err(v) => format!("the shell did not answer either: {v:#}"),
    };
    Err(con.fail(
        "rt reporting after Linux powered off",
        &format!("{first}; {view}"),
    ))
}

/// Asks the hypervisor shell for its view of the vCPUs and interrupts; the answers
/// land in the console log.
fn hypervisor_view(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.send("\x1d")?;
    con.expect(
        &Pattern::contains("[rtvisor] console input back to the shell"),
        t.step,
    )?;
    for cmd in ["vcpu list", "irq stats", "vcpu list", "irq stats"] {
        con.send(&format!("{cmd}\r"))?;
        con.expect(&Pattern::contains(format!("[rtvisor] > {cmd}")), t.step)?;
        con.expect(&Pattern::regex(r"^\[rtvisor\] \S"), t.step)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_local_timer_line() {
        let l = "[linux]  LOC:       1234        567   Local timer interrupts";
        assert_eq!(loc_counts(l), Some((1234, 567)));
        assert_eq!(loc_counts("[linux]  LOC:       12"), None);
        assert_eq!(loc_counts("[linux] NMI: 0 0"), None);
    }

    #[test]
    fn reads_both_tsc_figures() {
        let hv = "[rtvisor] x86_64: vendor amd, tsc 3839781 kHz, apic timer one-shot";
        assert_eq!(figure(hv, ", tsc ", " kHz"), Some(3_839_781));
        let l = "[linux] [    0.000000] tsc: Detected 3839.781 MHz processor";
        assert_eq!(figure(l, "Detected ", " MHz"), Some(3_839_781));
        assert_eq!(figure("tsc x kHz", "tsc ", " kHz"), None);
    }
}
