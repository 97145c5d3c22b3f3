//! `mode=noise`: the noisy neighbour. Every vCPU busy-loops while its virtual timer
//! fires every 10 us (re-armed by the handler), makes a null hypercall
//! (PSCI_VERSION) and sends SGI 1 to each sibling vCPU once per loop round.
//! Prints `rtbench: noise running vcpus=<k>` once, then nothing (diagnostics on
//! error paths only).

use core::sync::atomic::{AtomicUsize, Ordering};

use guest_common::irq::{self, Stamp};
use guest_common::{gic, println, psci, timer, BootInfo};

const TIMER_PERIOD_US: u64 = 10;
/// Spin iterations between hypercall/SGI rounds.
const BUSY_SPINS: u32 = 1_000;
const SGI_NOISE: u32 = 1;
const TIMER: u32 = timer::VIRTUAL_TIMER_INTID;

/// Number of vCPUs taking part (set by the primary before CPU_ON).
static VCPUS: AtomicUsize = AtomicUsize::new(1);

fn on_irq(intid: u32, _stamp: Stamp) {
    if intid == TIMER {
        timer::arm_virtual(timer::counter().wrapping_add(timer::us_to_ticks(TIMER_PERIOD_US)));
    }
}

/// Starts all vCPUs in the noise loop; never returns.
pub fn run(boot: &BootInfo, vcpus: usize) -> ! {
    VCPUS.store(vcpus, Ordering::Relaxed);
    irq::set_handler(on_irq);
    gic::configure(boot);
    if let Err(e) = gic::init_distributor() {
        println!("rtbench-diag: gic distributor setup failed: {}", e.name());
    }
    guest_common::set_secondary_main(noise_main);
    for i in 1..vcpus {
        let ret = psci::cpu_on(
            boot.cpu_mpidr(i),
            guest_common::secondary_entry_point(),
            i as u64,
        );
        if ret != 0 {
            println!(
                "rtbench-diag: cpu_on vcpu {} failed: {} ({})",
                i,
                ret,
                psci::error_name(ret)
            );
        }
    }
    println!("rtbench: noise running vcpus={}", vcpus);
    noise_main(0)
}

/// The noise loop of vCPU `index` (sibling MPIDRs: Aff0 = vCPU index).
fn noise_main(index: usize) -> ! {
    if let Err(e) = gic::init_cpu((1 << TIMER) | (1 << SGI_NOISE)) {
        println!(
            "rtbench-diag: vcpu {} gic setup failed: {}",
            index,
            e.name()
        );
    }
    let vcpus = VCPUS.load(Ordering::Relaxed);
    timer::arm_virtual(timer::counter().wrapping_add(timer::us_to_ticks(TIMER_PERIOD_US)));
    irq::enable();
    loop {
        for _ in 0..BUSY_SPINS {
            core::hint::spin_loop();
        }
        let _ = psci::version();
        for sibling in (0..vcpus).filter(|&s| s != index) {
            gic::send_sgi(SGI_NOISE, sibling as u64);
        }
    }
}
