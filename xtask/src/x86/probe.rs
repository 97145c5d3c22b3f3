//! The x86 probe under the hypervisor (`x86-probe-amd` on QEMU, `x86-probe-intel` on
//! Bochs): tests/scenarios/x86-probe.toml runs the hostile guest (guests/probe, its
//! x86 cases) beside `victim`, an rtbench that counts forever. Every case must report
//! contained, in order (unclaimed MMIO as all-ones reads and dropped writes), and
//! `probe: done` count all of them; the probe's last act, a
//! triple fault, restarts the probe alone (its banner comes again); `victim` counts
//! on without a gap the whole time and after; the hypervisor logs the probe's faults
//! in a few lines, not one per fault; it stays up, and its shell answers (on Bochs
//! through COM1's socket).

use super::cases::line;
use super::machine::{Emulator, CPUS};
use crate::console::{Console, Pattern};
use crate::systest::cases::{check_counts, check_whole_lines};
use crate::systest::x86::PROBE_CASES;
use crate::systest::{guest, hv, Timeouts};
use anyhow::Result;
use regex::escape;

/// The scenario, relative to the workspace.
pub const SCENARIO: &str = "tests/scenarios/x86-probe.toml";

const PROBE: &str = "probe";
const VICTIM: &str = "victim";

/// Counts `victim` must print after the probe restarted (50 ms apart).
const COUNTS_AFTER: usize = 5;
/// Most lines the hypervisor may print about the probe up to its restart: its
/// faults are logged once, then counted at most once a second, so thousands of
/// them cannot flood the console.
const MOST_HV_LINES: usize = 20;

/// Lines that mean a case got through, or the hypervisor gave up on a VM.
fn failures() -> Vec<Pattern> {
    vec![
        guest::leak(PROBE),
        hv::stopped(VICTIM),
        hv::restarting(VICTIM),
        // Any stop of the probe: an exit the hypervisor could not handle is not
        // containment, and the probe never powers off (it ends with a triple fault).
        hv::stopped(PROBE),
    ]
}

/// `[probe] probe: <case>: contained (...)`; for `unclaimed-mmio` the x86
/// convention itself (a fault would stop the access too, but is not the contract);
/// for `ioapic-com1` the VM's I/O APIC (version 0x20, 48 entries) and COM1's
/// interrupt through it;
/// for `msr-sysenter-star` every one of the eight kept on both vendors (a 64-bit
/// kernel sets up SYSCALL with them: refusing one is containment but a broken VM).
fn contained(case: &str) -> Pattern {
    match case {
        "msr-sysenter-star" => Pattern::regex(&format!(
            r"^\[{}\] probe: msr-sysenter-star: contained \(8 guest-owned MSRs: 8 kept \(this vCPU's state\), 0 refused; restored\)$",
            escape(PROBE)
        )),
        "unclaimed-mmio" => Pattern::regex(&format!(
            r"^\[{}\] probe: unclaimed-mmio: contained \(32- and 64-bit MOVs: reads all-ones, writes dropped\)$",
            escape(PROBE)
        )),
        "ioapic-com1" => Pattern::regex(&format!(
            r"^\[{}\] probe: ioapic-com1: contained \(I/O APIC version 0x002f0020 \(48 entries\); COM1 via entry 4 \(0x64\) to APIC id 0: vector 0x64 taken once, \d+ other vectors\)$",
            escape(PROBE)
        )),
        _ => guest::contained(PROBE, case),
    }
}

/// `[rtvisor] vm probe: restarting (system-reset)`: the triple fault's restart.
pub fn probe_restarts() -> Pattern {
    Pattern::regex(&format!(
        r"^\[rtvisor\] vm {}: restarting \(system-reset\)$",
        escape(PROBE)
    ))
}

fn victim_banner() -> Pattern {
    Pattern::regex(&format!(
        r"^\[{}\] rtbench: banner vcpus=1 el=0$",
        escape(VICTIM)
    ))
}

pub fn probe(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    for f in failures() {
        con.fail_on(f);
    }
    con.expect(&line::hv_vendor(emu.vendor()), t.boot)?;
    con.expect(&line::hv_starting(CPUS, 2), t.step)?;
    let banners = con.expect_all(&[guest::probe_banner(PROBE), victim_banner()], t.step)?;
    // Each case in the order the probe runs them, every one contained, from its
    // first banner on (the victim's may come later).
    con.set_cursor(banners[0] + 1);
    for case in PROBE_CASES {
        con.expect(&contained(case), t.step)?;
    }
    let n = PROBE_CASES.len();
    con.expect(
        &Pattern::regex(&format!(
            r"^\[{}\] probe: done cases={n} contained={n}$",
            escape(PROBE)
        )),
        t.step,
    )?;
    con.expect(
        &Pattern::regex(&format!(
            r"^\[{}\] probe-diag: triple fault now$",
            escape(PROBE)
        )),
        t.step,
    )?;
    let restart = con.expect(&probe_restarts(), t.step)?;
    // The victim counted while the probe attacked, not only before or after.
    let during = (banners[0]..restart)
        .filter(|&i| guest::count_any(VICTIM).is_match(con.line(i)))
        .count();
    if during == 0 {
        return Err(con.fail(
            &format!("[{VICTIM}] counting while the probe runs its cases"),
            &format!(
                "no count between console lines {} and {}",
                banners[0] + 1,
                restart + 1
            ),
        ));
    }
    let about = Pattern::regex(&format!(r"^\[rtvisor\] vm {}: ", escape(PROBE)));
    let hv_lines = (0..=restart)
        .filter(|&i| about.is_match(con.line(i)))
        .count();
    if hv_lines > MOST_HV_LINES {
        return Err(con.fail(
            &format!(
                "at most {MOST_HV_LINES} hypervisor lines about vm {PROBE} (faults rate-limited)"
            ),
            &format!("{hv_lines} up to console line {}", restart + 1),
        ));
    }
    con.expect(&guest::probe_banner(PROBE), t.step)?;
    // The victim went on through all of it, and goes on after.
    con.expect_n_since(restart, &guest::count_any(VICTIM), COUNTS_AFTER, t.step)?;
    con.send("version\r")?;
    con.expect(&Pattern::contains("[rtvisor] > version"), t.step)?;
    con.expect(&Pattern::regex(r"^\[rtvisor\] rtvisor \d"), t.step)?;
    con.expect_n_since(con.cursor(), &guest::count_any(VICTIM), 2, t.step)?;
    check_counts(con, VICTIM, None)?;
    check_whole_lines(con, &[PROBE, VICTIM])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_what_the_hypervisor_and_guests_print() {
        assert!(probe_restarts().is_match("[rtvisor] vm probe: restarting (system-reset)"));
        assert!(!probe_restarts().is_match("[rtvisor] vm victim: restarting (system-reset)"));
        assert!(victim_banner().is_match("[victim] rtbench: banner vcpus=1 el=0"));
        assert!(contained("msr-efer").is_match(
            "[probe] probe: msr-efer: contained (EFER 0xd01: SVME ignored; LME clear and reserved bit refused)"
        ));
        assert!(contained("msr-sysenter-star").is_match(
            "[probe] probe: msr-sysenter-star: contained (8 guest-owned MSRs: 8 kept (this vCPU's state), 0 refused; restored)"
        ));
        assert!(!contained("msr-sysenter-star").is_match(
            "[probe] probe: msr-sysenter-star: contained (8 guest-owned MSRs: 3 kept (this vCPU's state), 5 refused; restored)"
        ));
        assert!(contained("unclaimed-mmio").is_match(
            "[probe] probe: unclaimed-mmio: contained (32- and 64-bit MOVs: reads all-ones, writes dropped)"
        ));
        assert!(!contained("unclaimed-mmio").is_match(
            "[probe] probe: unclaimed-mmio: contained (32-bit MOVs refused: #GP error=0x0)"
        ));
        assert!(contained("ioapic-com1").is_match(
            "[probe] probe: ioapic-com1: contained (I/O APIC version 0x002f0020 (48 entries); COM1 via entry 4 (0x64) to APIC id 0: vector 0x64 taken once, 0 other vectors)"
        ));
        assert!(!contained("ioapic-com1").is_match(
            "[probe] probe: ioapic-com1: contained (I/O APIC version 0x00170020 (24 entries); COM1 via entry 4 (0x64) to APIC id 0: vector 0x64 taken once, 0 other vectors)"
        ));
        let f = failures();
        assert!(f
            .iter()
            .any(|p| p.is_match("[probe] probe: io-ports: LEAK (port 0x60 reads 0x0)")));
        assert!(f
            .iter()
            .any(|p| p.is_match("[rtvisor] vm probe: stopped (unhandled exit=0x1c)")));
    }
}
