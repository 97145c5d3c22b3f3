//! `mode=bench`: timer latency, null-hypercall and IPI round trips
//! (docs/interfaces-draft.md, "Benchmark protocol").
//!
//! Bootargs: `period-us=100 samples=1000 hvc=1000 ipi=1000 ipi-timeout-us=10000 summary-every=0
//! bucket-ns=8 noise-vcpus=0 smc=0 unknown=0 gicd=0 el2-window=0`. Only vCPU 0
//! measures; vCPU 1 (started for the IPI phase only, so it is idle in nothing during
//! the timer phase) answers IPI 1 with IPI 2. With `noise-vcpus=N` (bare runs) the last
//! N CPUs run the noisy neighbour's loop (`noise.rs`) from the start. The same logic
//! runs on every architecture; the
//! counters, timer and IPIs are guest_common's (aarch64: CNTVCT, PMCCNTR, the virtual
//! timer, SGIs; x86_64: the TSC for both counters, the local APIC timer, fixed IPIs).
//!
//! Timer latency, per sample: arm the timer's compare value (CVAL) = now + period,
//! wait (interrupts masked, then wait-for-interrupt and unmask), the interrupt entry
//! stamps the cycle counter and the counter before anything else. Latency in ns =
//! stamp - expected cycle count at the compare value, where expected = w * CVAL +
//! offset (w = cycles per counter tick: 16 on aarch64 under icount, 1 on x86) with the
//! offset calibrated once (`pmu::calibrate_offset`, exact under icount on aarch64, 0
//! on x86); if calibration fails, the protocol's arm-time estimate pmc_at_arm + (CVAL
//! - cnt_at_arm) * w is used and a diag line says so, and a minimum that the estimate
//! clamped at 0 is printed as `min_ns=unavailable`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use guest_common::irq::{self, Stamp};
use guest_common::{cpu, hypercall, pmu, power, println, timer, BootInfo};

use crate::number;
use crate::stats::{CommaList, Hist, Stats, TimerFields};

/// How long vCPU 1 may take to come up, and one IPI round trip at most (by default:
/// `ipi-timeout-us` sets it, for emulators that run in real time on a busy host).
const START_TIMEOUT_US: u64 = 5_000_000;
const IPI_TIMEOUT_US: u64 = 10_000;
/// Busy-loop length of the PMCCNTR/CNTVCT self-check.
const SELFCHECK_US: u64 = 1_000;

/// Interrupt ids: IPI 1 (vCPU0 -> vCPU1), IPI 2 (answer), the timer.
const IPI_PING: u32 = irq::ipi(1);
const IPI_PONG: u32 = irq::ipi(2);
const TIMER: u32 = timer::INTERRUPT;

static TIMER_FIRED: AtomicBool = AtomicBool::new(false);
static TIMER_PMC: AtomicU64 = AtomicU64::new(0);
static TIMER_CNT: AtomicU64 = AtomicU64::new(0);
static PONG_FIRED: AtomicBool = AtomicBool::new(false);
static PONG_PMC: AtomicU64 = AtomicU64::new(0);
/// MPIDR of vCPU 0 (the answer's target) and of the responder (0 until it is up).
static PRIMARY_MPIDR: AtomicU64 = AtomicU64::new(0);
static RESPONDER_MPIDR: AtomicU64 = AtomicU64::new(0);
static RESPONDER_UP: AtomicBool = AtomicBool::new(false);

/// The IRQ handler of both vCPUs (each only ever gets its own INTIDs).
fn on_irq(intid: u32, stamp: Stamp) {
    match intid {
        TIMER => {
            TIMER_PMC.store(stamp.pmc, Ordering::Relaxed);
            TIMER_CNT.store(stamp.cnt, Ordering::Relaxed);
            timer::stop();
            TIMER_FIRED.store(true, Ordering::Release);
        }
        IPI_PING if IPI_ACTIVE.load(Ordering::Relaxed) => {
            irq::send_ipi(IPI_PONG, PRIMARY_MPIDR.load(Ordering::Relaxed))
        }
        IPI_PONG if IPI_ACTIVE.load(Ordering::Relaxed) => {
            PONG_PMC.store(stamp.pmc, Ordering::Relaxed);
            PONG_FIRED.store(true, Ordering::Release);
        }
        _ => {
            STRAY.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The IRQ handler when noise vCPUs share the image: theirs go to the noise loop's.
fn on_irq_beside_noise(intid: u32, stamp: Stamp) {
    if crate::noise::owns(cpu::index()) {
        crate::noise::on_irq(intid, stamp);
    } else {
        on_irq(intid, stamp);
    }
}

/// Secondary vCPUs: the IPI responder, or a noise vCPU.
fn secondary_main(index: usize) -> ! {
    if crate::noise::owns(index) {
        crate::noise::main(index)
    }
    responder_main(index)
}

/// Interrupts this vCPU never enabled (counted, reported with each timer result): a
/// foreign VM's SGI or a stale interrupt after a restart would show up here.
static STRAY: AtomicU64 = AtomicU64::new(0);
/// The IPI phase is running: PING and PONG are expected (before it, they are strays).
static IPI_ACTIVE: AtomicBool = AtomicBool::new(false);

struct Config {
    period_us: u64,
    samples: u64,
    hvc: u64,
    ipi: u64,
    ipi_timeout_us: u64,
    summary_every: u64,
    bucket_ns: u64,
    /// Where each summary is also published (`stats=<IPA> [stats-bell=<k>]`).
    publish: Option<crate::shm::Publisher>,
    /// `el2-window=1`: bracket the timer samples with rtvisor's EL2_WINDOW calls, so
    /// that the hypervisor reports what it did on this CPU during them (under rtvisor
    /// only: bare, nothing answers the call on x86_64).
    el2_window: bool,
}

/// Runs the benchmark on vCPU 0 and powers off (or never returns with
/// `summary-every`).
pub fn run(boot: &BootInfo, vcpus: usize) -> ! {
    let mut cfg = Config {
        period_us: number(boot, "period-us", 100).max(1),
        samples: number(boot, "samples", 1000),
        hvc: number(boot, "hvc", 1000),
        ipi: number(boot, "ipi", 1000),
        ipi_timeout_us: number(boot, "ipi-timeout-us", IPI_TIMEOUT_US).max(1),
        summary_every: number(boot, "summary-every", 0),
        bucket_ns: number(boot, "bucket-ns", 8).max(1),
        publish: crate::shm::Publisher::from_boot(boot),
        el2_window: number(boot, "el2-window", 0) == 1,
    };
    PRIMARY_MPIDR.store(cpu::hw_id(), Ordering::Relaxed);
    let noise = noise_vcpus(boot, vcpus);
    irq::set_handler(if noise > 0 {
        on_irq_beside_noise
    } else {
        on_irq
    });
    guest_common::set_secondary_main(secondary_main);
    let enable = [TIMER, IPI_PING, IPI_PONG];
    if let Err(e) = irq::init_global(boot).and_then(|()| irq::init_cpu(&enable)) {
        println!(
            "rtbench-diag: interrupt controller setup failed: {}",
            e.name()
        );
        power::system_off();
    }
    if noise > 0 {
        crate::noise::start_beside(boot, boot.cpu_count() - noise, noise);
    }
    pmu::init();
    let milli = pmu::cycles_per_16ns_milli(SELFCHECK_US);
    println!(
        "rtbench: selfcheck pmc_per_16ns={}.{:03}",
        milli / 1000,
        milli % 1000
    );
    timer_phase(&mut cfg);
    hvc_phase(&cfg);
    rows_phase(boot);
    if vcpus >= 2 && cfg.ipi > 0 {
        ipi_phase(&cfg, boot.cpu_id(1));
    }
    println!("rtbench: bench done");
    if boot.args().get("then") == Some("reset") {
        power::system_reset();
    }
    power::system_off()
}

/// `noise-vcpus=N`: how many of the machine's last CPUs run noise (0 when the
/// machine has no CPU to spare beyond the bench's `vcpus`, reported).
fn noise_vcpus(boot: &BootInfo, vcpus: usize) -> usize {
    let asked = number(boot, "noise-vcpus", 0) as usize;
    let spare = boot
        .cpu_count()
        .min(guest_common::MAX_VCPUS)
        .saturating_sub(vcpus.min(2));
    if asked > spare {
        println!(
            "rtbench-diag: noise-vcpus={asked} but only {spare} CPUs are spare, using {spare}"
        );
    }
    asked.min(spare)
}

fn timer_phase(cfg: &mut Config) {
    let offset = pmu::calibrate_offset();
    let exact = offset.is_some();
    if !exact {
        println!("rtbench-diag: PMCCNTR/CNTVCT phase calibration failed, using arm-time estimate");
    }
    let w = pmu::cycles_per_tick().unwrap_or(pmu::DEFAULT_CYCLES_PER_TICK);
    let period = timer::us_to_ticks(cfg.period_us).max(1);
    let (mut pmc, mut cnt) = (Stats::new(), Stats::new());
    let mut hist = Hist::new(cfg.bucket_ns);
    let mut taken: u64 = 0;
    if cfg.el2_window {
        hypercall::rtvisor_el2_window(false);
    }
    while cfg.summary_every > 0 || taken < cfg.samples {
        TIMER_FIRED.store(false, Ordering::Relaxed);
        let cnt_arm = timer::counter();
        let pmc_arm = pmu::cycles();
        let cval = cnt_arm.wrapping_add(period);
        timer::arm(cval);
        irq::wait_masked(|| TIMER_FIRED.load(Ordering::Acquire));
        let (pmc_e, cnt_e) = (
            TIMER_PMC.load(Ordering::Relaxed),
            TIMER_CNT.load(Ordering::Relaxed),
        );
        let expected = match offset {
            Some(o) => cval.wrapping_mul(w).wrapping_add(o),
            None => pmc_arm.wrapping_add(period.wrapping_mul(w)),
        };
        let lat = (pmc_e.wrapping_sub(expected) as i64).max(0) as u64;
        pmc.add(lat);
        cnt.add(timer::ticks_to_ns(cnt_e.saturating_sub(cval)));
        hist.add(lat);
        taken += 1;
        if cfg.summary_every > 0 && pmc.count() >= cfg.summary_every {
            print_timer(&pmc, &cnt, exact);
            if let Some(p) = cfg.publish.as_mut() {
                p.publish(&pmc, pmc.min_figure(exact));
            }
            (pmc, cnt) = (Stats::new(), Stats::new());
        }
    }
    if cfg.el2_window {
        hypercall::rtvisor_el2_window(true);
    }
    print_timer(&pmc, &cnt, exact);
    println!(
        "rtbench: hist metric=timer bucket_ns={} counts={}",
        hist.bucket_ns(),
        CommaList(hist.counts())
    );
}

/// The stray count and the timer result (`exact`: PMCCNTR figures from the calibrated
/// offset; else a minimum clamped at 0 is printed as `unavailable`).
fn print_timer(pmc: &Stats, cnt: &Stats, exact: bool) {
    println!("rtbench: stray irqs={}", STRAY.load(Ordering::Relaxed));
    println!(
        "rtbench: result metric=timer {}",
        TimerFields { pmc, cnt, exact }
    );
}

pub(crate) fn print_result(metric: &str, s: &Stats) {
    println!(
        "rtbench: result metric={} samples={} min_ns={} avg_ns={} max_ns={}",
        metric,
        s.count(),
        s.min(),
        s.avg(),
        s.max()
    );
}

/// The null hypercall, timed by the cycle counter around the instruction (see
/// `hypercall::null_call`: PSCI_VERSION on aarch64; VERSION through VMCALL/VMMCALL
/// on x86_64, or bare, where nothing answers it, CPUID).
fn hvc_phase(cfg: &Config) {
    let call = hypercall::null_call();
    let mut s = Stats::new();
    for _ in 0..cfg.hvc {
        s.add(call());
    }
    print_result("hvc", &s);
}

/// The rows beyond the null call, each timed by the cycle counter around one
/// operation, `N` times when the bootargs say `<metric>=N` (default 0: not run):
/// `smc` (PSCI_VERSION through SMC), `unknown` (an unknown SMCCC function id), `gicd`
/// (a read of GICD_TYPER). An architecture without the operation skips the row.
fn rows_phase(boot: &BootInfo) {
    for metric in ["smc", "unknown", "gicd"] {
        let n = number(boot, metric, 0);
        let Some(op) = hypercall::timed_row(metric).filter(|_| n > 0) else {
            continue;
        };
        let mut s = Stats::new();
        for _ in 0..n {
            s.add(op());
        }
        print_result(metric, &s);
    }
}

fn ipi_phase(cfg: &Config, vcpu1_id: u64) {
    IPI_ACTIVE.store(true, Ordering::Relaxed);
    let ret = power::cpu_on(vcpu1_id, 1);
    if ret != 0 {
        println!(
            "rtbench-diag: cpu_on vcpu 1 failed: {} ({})",
            ret,
            power::error_name(ret)
        );
        return;
    }
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(START_TIMEOUT_US));
    while !RESPONDER_UP.load(Ordering::Acquire) {
        if timer::counter() >= deadline {
            println!("rtbench-diag: vcpu 1 timeout: never came online");
            return;
        }
        timer::delay_us(10);
    }
    let target = RESPONDER_MPIDR.load(Ordering::Relaxed);
    let watchdog = timer::us_to_ticks(cfg.ipi_timeout_us);
    let mut s = Stats::new();
    for _ in 0..cfg.ipi {
        TIMER_FIRED.store(false, Ordering::Relaxed);
        PONG_FIRED.store(false, Ordering::Relaxed);
        timer::arm(timer::counter().wrapping_add(watchdog));
        let p0 = pmu::cycles();
        irq::send_ipi(IPI_PING, target);
        irq::wait_masked(|| {
            PONG_FIRED.load(Ordering::Acquire) || TIMER_FIRED.load(Ordering::Acquire)
        });
        timer::stop();
        if !PONG_FIRED.load(Ordering::Acquire) {
            println!("rtbench-diag: ipi timeout after {} round trips", s.count());
            return;
        }
        s.add(PONG_PMC.load(Ordering::Relaxed).wrapping_sub(p0));
    }
    print_result("ipi", &s);
}

/// vCPU 1 in bench mode: answers IPI 1 with IPI 2 to vCPU 0, forever.
fn responder_main(index: usize) -> ! {
    if let Err(e) = irq::init_cpu(&[IPI_PING, IPI_PONG]) {
        println!(
            "rtbench-diag: vcpu {} interrupt controller setup failed: {}",
            index,
            e.name()
        );
        cpu::park();
    }
    RESPONDER_MPIDR.store(cpu::hw_id(), Ordering::Relaxed);
    RESPONDER_UP.store(true, Ordering::Release);
    irq::enable();
    irq::wait_forever()
}
