//! The noisy neighbour. Every noise vCPU busy-loops while its virtual timer fires
//! every `noise-period-us` (default 10 us, re-armed by the handler), makes a null
//! hypercall and sends IPI 1 to each sibling noise vCPU once per loop
//! round.
//!
//! Two uses:
//! - `mode=noise`: the whole VM is noise ([`run`]). Prints
//!   `rtbench: noise running vcpus=<k>` once, then nothing (diagnostics on error paths
//!   only).
//! - `mode=bench noise-vcpus=N`, bare only: the last N CPUs of the machine run the
//!   same loop beside the benchmark ([`start_beside`]), the reference that shows what
//!   the noise does to latency with no hypervisor at all (docs/benchmark.md).

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use guest_common::irq::{self, Stamp};
use guest_common::{cpu, hypercall, power, println, timer, BootInfo, MAX_VCPUS};

use crate::number;

const DEFAULT_PERIOD_US: u64 = 10;
/// Spin iterations between hypercall/SGI rounds.
const BUSY_SPINS: u32 = 1_000;
const SGI_NOISE: u32 = irq::ipi(1);
const TIMER: u32 = timer::INTERRUPT;

/// The noise vCPUs are the indices `FIRST..FIRST + COUNT` (set before CPU_ON).
static FIRST: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// The hardware id of each vCPU index (IPI targets).
static MPIDRS: [AtomicU64; MAX_VCPUS] = [const { AtomicU64::new(0) }; MAX_VCPUS];
/// The timer period in counter ticks.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// Which of the loop's parts run (`noise-parts=`, bit 0 timer, 1 hypercall, 2 SGIs).
static PARTS: AtomicU64 = AtomicU64::new(PART_ALL);
const PART_TIMER: u64 = 1;
const PART_HVC: u64 = 2;
const PART_SGI: u64 = 4;
const PART_ALL: u64 = PART_TIMER | PART_HVC | PART_SGI;

/// Whether vCPU `index` runs the noise loop.
pub fn owns(index: usize) -> bool {
    let first = FIRST.load(Ordering::Relaxed);
    (first..first + COUNT.load(Ordering::Relaxed)).contains(&index)
}

/// The noise vCPUs' IRQ handler.
pub fn on_irq(intid: u32, _stamp: Stamp) {
    if intid == TIMER {
        timer::arm(timer::counter().wrapping_add(PERIOD.load(Ordering::Relaxed)));
    }
}

fn configure(boot: &BootInfo, first: usize, count: usize) {
    let mut us = number(boot, "noise-period-us", DEFAULT_PERIOD_US);
    if us == 0 {
        println!("rtbench-diag: noise-period-us=0 is invalid, using {DEFAULT_PERIOD_US}");
        us = DEFAULT_PERIOD_US;
    }
    PERIOD.store(timer::us_to_ticks(us), Ordering::Relaxed);
    PARTS.store(
        number(boot, "noise-parts", PART_ALL) & PART_ALL,
        Ordering::Relaxed,
    );
    for (i, slot) in MPIDRS.iter().enumerate() {
        slot.store(boot.cpu_id(i), Ordering::Relaxed);
    }
    FIRST.store(first, Ordering::Relaxed);
    COUNT.store(count, Ordering::Release);
}

/// Starts vCPUs `first..first + count` in the noise loop (the caller's secondary
/// main must hand them to [`main`]).
fn start(boot: &BootInfo, first: usize, count: usize) {
    for i in first..first + count {
        let ret = power::cpu_on(boot.cpu_id(i), i);
        if ret != 0 {
            println!(
                "rtbench-diag: cpu_on vcpu {} failed: {} ({})",
                i,
                ret,
                power::error_name(ret)
            );
        }
    }
}

/// `mode=noise`: starts all vCPUs in the noise loop; never returns.
pub fn run(boot: &BootInfo, vcpus: usize) -> ! {
    configure(boot, 0, vcpus);
    irq::set_handler(on_irq);
    if let Err(e) = irq::init_global(boot) {
        println!(
            "rtbench-diag: interrupt controller setup failed: {}",
            e.name()
        );
    }
    guest_common::set_secondary_main(main);
    start(boot, 1, vcpus.saturating_sub(1));
    println!("rtbench: noise running vcpus={}", vcpus);
    main(0)
}

/// Bench mode, bare: vCPUs `first..first + count` run the noise loop beside the
/// benchmark. The distributor must be set up, and the bench's IRQ handler and
/// secondary main must pass noise vCPUs to [`on_irq`] and [`main`].
pub fn start_beside(boot: &BootInfo, first: usize, count: usize) {
    configure(boot, first, count);
    start(boot, first, count);
    println!(
        "rtbench: noise running vcpus={}..{}",
        first,
        first + count - 1
    );
}

/// The noise loop of vCPU `index`.
pub fn main(index: usize) -> ! {
    if let Err(e) = irq::init_cpu(&[TIMER, SGI_NOISE]) {
        println!(
            "rtbench-diag: vcpu {} interrupt controller setup failed: {}",
            index,
            e.name()
        );
        cpu::park();
    }
    let first = FIRST.load(Ordering::Relaxed);
    let siblings = first..first + COUNT.load(Ordering::Acquire);
    let period = PERIOD.load(Ordering::Relaxed);
    let parts = PARTS.load(Ordering::Relaxed);
    if parts & PART_TIMER != 0 {
        timer::arm(timer::counter().wrapping_add(period));
    }
    irq::enable();
    loop {
        for _ in 0..BUSY_SPINS {
            core::hint::spin_loop();
        }
        if parts & PART_HVC != 0 {
            hypercall::null();
        }
        if parts & PART_SGI != 0 {
            for sibling in siblings.clone().filter(|&s| s != index) {
                irq::send_ipi(SGI_NOISE, MPIDRS[sibling].load(Ordering::Relaxed));
            }
        }
    }
}
