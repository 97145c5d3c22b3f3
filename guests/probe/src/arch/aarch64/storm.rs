//! `sustained-storm`: the floods of the other cases, mixed, for `storm-ms`
//! milliseconds without printing, so that the other VMs run under attack for long
//! enough to show it (the test checks the victim's timer summaries in that window).
//! Each round: 100 fuzzed HVC and 100 SMC calls, 500 doorbell rings and 16 junk
//! doorbell-page writes (if `bell` is given), a guarded write to the read-only region
//! and to the other VM's RAM (if given), every SGI register flood (Group 0, alias,
//! Group 1), set/way maintenance of all cache levels, 1000 SEV+WFE and 100 WFI with
//! the virtual timer pending. Contained = every round came back.

use guest_common::{guard, hypercall, timer, BootInfo};

use super::basic;
use super::cpuops;
use super::fuzz::{Fuzzer, Rng};
use super::sysregs;
use crate::memory::WRITE_PATTERN;
use crate::report::{contained, leak, number, Outcome};

const DOORBELL_PAGE: usize = 0x0901_0000;

#[derive(Default)]
struct Counts {
    rounds: u32,
    rings: u32,
    sgis: u32,
    setway: u64,
    wfe: u32,
    wfi: u32,
    faults: u32,
}

pub fn storm(boot: &BootInfo) -> Outcome {
    const CASE: &str = "sustained-storm";
    let Some(ms) = number(boot, "storm-ms") else {
        guest_common::println!("probe-diag: {} skipped (no storm-ms=)", CASE);
        return Outcome::Skipped;
    };
    let bell = number(boot, "bell");
    let ro = number(boot, "ro-shm").map(|a| a as usize);
    let other = number(boot, "other-vm").map(|a| a as usize);
    let (mut hvc, mut smc) = (Fuzzer::new(false), Fuzzer::new(true));
    let mut rng = Rng::new(0x5707_3000);
    let mut n = Counts::default();
    let start = timer::counter();
    let end = start.saturating_add(timer::us_to_ticks(ms.saturating_mul(1000)));
    while timer::counter() < end {
        hvc.run(100);
        smc.run(100);
        if let Some(k) = bell {
            for _ in 0..500 {
                hypercall::rtvisor_ring(k);
            }
            for _ in 0..16 {
                // SAFETY: the doorbell page is an emulated device page, not this
                // program's memory; a write there at most rings a doorbell.
                let _ = unsafe { guard::write_u32(DOORBELL_PAGE, rng.next() as u32) };
            }
            n.rings += 516;
        }
        for addr in [ro, other].into_iter().flatten() {
            // SAFETY: the read-only shared region or the other VM's RAM, never this
            // program's memory; the write must fault.
            match unsafe { guard::write_u64(addr, WRITE_PATTERN) } {
                Err(_) => n.faults += 1,
                Ok(()) => return leak(CASE, format_args!("write to {:#x} accepted", addr)),
            }
        }
        n.sgis += sysregs::sgi_register_flood(true).0;
        n.sgis += sysregs::sgi_register_flood(false).0;
        n.sgis += basic::sgi1_all();
        n.setway += cpuops::setway_all().2;
        cpuops::wfe_loop(1000);
        n.wfe += 1000;
        if cpuops::wfi_loop(100).is_err() {
            return leak(CASE, format_args!("the virtual timer never became pending"));
        }
        n.wfi += 100;
        n.rounds += 1;
    }
    let took = timer::ticks_to_ns(timer::counter() - start) / 1_000_000;
    contained(
        CASE,
        format_args!(
            "{} ms, {} rounds: {} hvc, {} smc, {} rings, {} SGI writes, {} set/way ops, {} WFE, {} WFI, {} faults",
            took, n.rounds, hvc.made, smc.made, n.rings, n.sgis, n.setway, n.wfe, n.wfi, n.faults
        ),
    )
}
