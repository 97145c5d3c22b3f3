//! `sustained-storm`: the floods of the other cases, mixed, for `storm-ms`
//! milliseconds without printing, so that the other VMs run under attack for long
//! enough to show it (the test checks the victim's timer summaries in that window).
//! Each round: 100 fuzzed HVC and 100 SMC calls, 500 doorbell rings and 16 junk
//! doorbell-page writes (if `bell` is given), a guarded write to the read-only region
//! and to the other VM's RAM (if given), every SGI register flood (Group 0, alias,
//! Group 1), set/way maintenance of all cache levels, 1000 SEV+WFE and 100 WFI with
//! the virtual timer pending. Contained = every round came back.
//!
//! `mode=storm` runs the same rounds on every vCPU of the VM until it is stopped
//! ([`forever`]): the benchmark's second noisy neighbour (docs/benchmark.md). It
//! prints `probe: storming vcpus=<k>` once the secondaries were asked to start,
//! then nothing.

use core::sync::atomic::{AtomicU64, Ordering};

use guest_common::{cpu, guard, hypercall, power, println, timer, BootInfo};

use super::basic;
use super::cpuops;
use super::fuzz::{Fuzzer, Rng};
use super::sysregs;
use crate::memory::WRITE_PATTERN;
use crate::report::{contained, leak, number, Outcome};

const DOORBELL_PAGE: usize = 0x0901_0000;
/// "Not given" in the targets [`forever`] hands to the secondary vCPUs.
const NONE: u64 = u64::MAX;

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

/// What a round attacks (from the bootargs).
#[derive(Clone, Copy)]
struct Targets {
    bell: Option<u64>,
    ro: Option<usize>,
    other: Option<usize>,
}

impl Targets {
    fn of(boot: &BootInfo) -> Self {
        Self {
            bell: number(boot, "bell"),
            ro: number(boot, "ro-shm").map(|a| a as usize),
            other: number(boot, "other-vm").map(|a| a as usize),
        }
    }
}

/// One vCPU's storm: its fuzzers, junk generator and counts.
struct Storm {
    hvc: Fuzzer,
    smc: Fuzzer,
    rng: Rng,
    n: Counts,
}

impl Storm {
    fn new() -> Self {
        Self {
            hvc: Fuzzer::new(false),
            smc: Fuzzer::new(true),
            rng: Rng::new(0x5707_3000),
            n: Counts::default(),
        }
    }

    /// One round against `t`; Err(what leaked).
    fn round(&mut self, t: Targets) -> Result<(), &'static str> {
        let n = &mut self.n;
        self.hvc.run(100);
        self.smc.run(100);
        if let Some(k) = t.bell {
            for _ in 0..500 {
                hypercall::rtvisor_ring(k);
            }
            for _ in 0..16 {
                // SAFETY: the doorbell page is an emulated device page, not this
                // program's memory; a write there at most rings a doorbell.
                let _ = unsafe { guard::write_u32(DOORBELL_PAGE, self.rng.next() as u32) };
            }
            n.rings += 516;
        }
        for addr in [t.ro, t.other].into_iter().flatten() {
            // SAFETY: the read-only shared region or the other VM's RAM, never this
            // program's memory; the write must fault.
            match unsafe { guard::write_u64(addr, WRITE_PATTERN) } {
                Err(_) => n.faults += 1,
                Ok(()) => return Err("a write to a read-only or foreign address was accepted"),
            }
        }
        n.sgis += sysregs::sgi_register_flood(true).0;
        n.sgis += sysregs::sgi_register_flood(false).0;
        n.sgis += basic::sgi1_all();
        n.setway += cpuops::setway_all().2;
        cpuops::wfe_loop(1000);
        n.wfe += 1000;
        if cpuops::wfi_loop(100).is_err() {
            return Err("the virtual timer never became pending");
        }
        n.wfi += 100;
        n.rounds += 1;
        Ok(())
    }
}

pub fn storm(boot: &BootInfo) -> Outcome {
    const CASE: &str = "sustained-storm";
    let Some(ms) = number(boot, "storm-ms") else {
        guest_common::println!("probe-diag: {} skipped (no storm-ms=)", CASE);
        return Outcome::Skipped;
    };
    let t = Targets::of(boot);
    let mut s = Storm::new();
    let start = timer::counter();
    let end = start.saturating_add(timer::us_to_ticks(ms.saturating_mul(1000)));
    while timer::counter() < end {
        if let Err(what) = s.round(t) {
            return leak(CASE, format_args!("{}", what));
        }
    }
    let took = timer::ticks_to_ns(timer::counter() - start) / 1_000_000;
    let n = &s.n;
    contained(
        CASE,
        format_args!(
            "{} ms, {} rounds: {} hvc, {} smc, {} rings, {} SGI writes, {} set/way ops, {} WFE, {} WFI, {} faults",
            took, n.rounds, s.hvc.made, s.smc.made, n.rings, n.sgis, n.setway, n.wfe, n.wfi, n.faults
        ),
    )
}

/// The targets for the secondary vCPUs of [`forever`] (`NONE`: not given).
static BELL: AtomicU64 = AtomicU64::new(NONE);
static RO: AtomicU64 = AtomicU64::new(NONE);
static OTHER: AtomicU64 = AtomicU64::new(NONE);

fn load(a: &AtomicU64) -> Option<u64> {
    Some(a.load(Ordering::Acquire)).filter(|&v| v != NONE)
}

/// `mode=storm`: every vCPU storms until the VM is stopped; never returns.
pub fn forever(boot: &BootInfo) -> ! {
    let t = Targets::of(boot);
    BELL.store(t.bell.unwrap_or(NONE), Ordering::Release);
    RO.store(t.ro.map_or(NONE, |a| a as u64), Ordering::Release);
    OTHER.store(t.other.map_or(NONE, |a| a as u64), Ordering::Release);
    if let Err(e) = cpuops::gic_for_timer(boot) {
        println!("probe-diag: storm: GIC setup failed ({})", e.name());
    }
    guest_common::set_secondary_main(secondary);
    let vcpus = boot.cpu_count();
    for i in 1..vcpus {
        let ret = power::cpu_on(boot.cpu_id(i), i);
        if ret != 0 {
            println!("probe-diag: storm: cpu_on vcpu {} -> {}", i, ret);
        }
    }
    println!("probe: storming vcpus={}", vcpus);
    run(t)
}

fn secondary(_index: usize) -> ! {
    if let Err(e) = guest_common::arch::gic::init_cpu(1 << timer::INTERRUPT) {
        println!("probe-diag: storm: vcpu GIC setup failed ({})", e.name());
        cpu::park();
    }
    run(Targets {
        bell: load(&BELL),
        ro: load(&RO).map(|a| a as usize),
        other: load(&OTHER).map(|a| a as usize),
    })
}

fn run(t: Targets) -> ! {
    let mut s = Storm::new();
    loop {
        if let Err(what) = s.round(t) {
            println!("probe: storm: LEAK ({})", what);
            cpu::park();
        }
    }
}
