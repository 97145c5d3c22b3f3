//! rtbench: the real-time benchmark guest (bare-metal, EL1, no_std).
//!
//! Modes (`mode=count|bench|noise`, default count): `bench` and `noise` are in
//! `bench.rs` and `noise.rs` (docs/interfaces-draft.md, "Benchmark protocol"); all
//! modes print the banner first.
//!
//! The logic is the same on every architecture (guest_common hides the differences).
//!
//! Count-mode console protocol (docs/interfaces-draft.md), bootargs
//! `count=N period-us=U vcpus=K then=off|reset|hang [reset=METHOD]` (`reset`: how
//! `then=reset` resets, aarch64 `psci`, x86_64 `cf9`, `kbd` or `triple`; default:
//! the architecture's usual way, on x86_64 each in turn):
//! ```text
//! rtbench: banner vcpus=<K> el=<1|2>      (x86_64: el=0, the CPL)
//! rtbench: psci version <major>.<minor>     (x86_64: pvh version <hvm_start_info version>.0)
//! rtbench: cpu_on vcpu <i> -> <ret>        (per secondary, i = 1..K-1)
//! rtbench: vcpu <i> online mpidr=<hex>     (x86_64: apicid=; printed by the secondary, then CPU_OFF)
//! rtbench: vcpu <i> affinity=<on|off|on-pending>
//! rtbench: count <n>                       (every period; forever if count=0)
//! rtbench: done, then=<off|reset|hang>
//! ```
//! With `string-io=1` (x86_64), `rtbench: string-io rep outsb` is printed by one
//! `REP OUTSB` to COM1, then `rtbench: string-io rep insb ok|mismatch` says whether
//! `REP INSB` of COM1's line status read what `IN` reads.
//! With `show-counter=1`, `rtbench: counter at-boot-us=<n>` follows the banner: the
//! counter (x86_64: the TSC) as `main` began, in microseconds.
//! With `memtest=<base>+<size>[,...]` it also checks those RAM ranges (`memtest.rs`):
//! written before the secondaries start, read back after the count.
//! Only protocol lines start with `rtbench: ` (system tests treat any other line
//! containing it as torn); diagnostics on error paths start with `rtbench-diag: `.
//! Secondaries are started one at a time; the primary holds the console lock across
//! CPU_ON so the `cpu_on` line always precedes the secondary's `online` line.
//! Every wait is bounded: a failing PSCI call or a missing vCPU is reported, never
//! waited on forever.
#![no_std]
#![no_main]

mod bench;
mod memtest;
mod noise;
mod shm;
mod stats;

use core::sync::atomic::{AtomicBool, Ordering};

use guest_common::{console, cpu, hypercall, power, println, timer, BootInfo, MAX_VCPUS};

guest_common::entry!(main);

const DEFAULT_PERIOD_US: u64 = 100_000;
/// How long the primary waits for a secondary to come online and turn off again.
const SECONDARY_TIMEOUT_US: u64 = 5_000_000;
const POLL_US: u64 = 100;

/// Set by secondary i once it is running (before its CPU_OFF).
static ONLINE: [AtomicBool; MAX_VCPUS] = [const { AtomicBool::new(false) }; MAX_VCPUS];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Off,
    Reset,
    Hang,
}

impl Then {
    fn name(self) -> &'static str {
        match self {
            Then::Off => "off",
            Then::Reset => "reset",
            Then::Hang => "hang",
        }
    }
}

struct Config {
    count: u64,
    period_us: u64,
    vcpus: usize,
    then: Then,
    /// rtvisor watchdog timeout (`watchdog-ms`, 0: none), kicked at each of the first
    /// `kick-for` counts (default: every count), then left to expire.
    watchdog_ms: u64,
    kick_for: u64,
}

/// A numeric bootarg, or `default` (reported) when it is malformed.
pub(crate) fn number(boot: &BootInfo, key: &str, default: u64) -> u64 {
    match boot.args().number(key) {
        None => default,
        Some(Ok(v)) => v,
        Some(Err(())) => {
            println!(
                "rtbench-diag: bad {}={:?}, using {}",
                key,
                boot.args().get(key).unwrap_or(""),
                default
            );
            default
        }
    }
}

impl Config {
    fn from_boot(boot: &BootInfo) -> Self {
        let count = number(boot, "count", 0);
        let mut period_us = number(boot, "period-us", DEFAULT_PERIOD_US);
        if period_us == 0 {
            println!(
                "rtbench-diag: period-us=0 is invalid, using {}",
                DEFAULT_PERIOD_US
            );
            period_us = DEFAULT_PERIOD_US;
        }
        let asked = number(boot, "vcpus", boot.cpu_count() as u64).max(1);
        let vcpus = usize::try_from(asked).unwrap_or(usize::MAX).min(MAX_VCPUS);
        if vcpus as u64 != asked {
            println!("rtbench-diag: vcpus={} capped to {}", asked, vcpus);
        }
        if let Some(method) = boot.args().get("reset") {
            if !power::set_reset_method(method) {
                println!("rtbench-diag: bad reset={:?}, using the default", method);
            }
        }
        let then = match boot.args().get("then") {
            None | Some("off") => Then::Off,
            Some("reset") => Then::Reset,
            Some("hang") => Then::Hang,
            Some(other) => {
                println!("rtbench-diag: bad then={:?}, using off", other);
                Then::Off
            }
        };
        Self {
            count,
            period_us,
            vcpus,
            then,
            watchdog_ms: number(boot, "watchdog-ms", 0),
            kick_for: number(boot, "kick-for", u64::MAX),
        }
    }
}

fn main(boot: &BootInfo) -> ! {
    let at_boot = timer::counter();
    let cfg = Config::from_boot(boot);
    println!(
        "rtbench: banner vcpus={} el={}",
        cfg.vcpus,
        cpu::current_el()
    );
    if boot.args().get("string-io").is_some() {
        let ok = console::string_io_line("rtbench: string-io rep outsb");
        let ok = ok.map_or("unsupported", |ok| if ok { "ok" } else { "mismatch" });
        println!("rtbench: string-io rep insb {}", ok);
    }
    if boot.args().get("show-counter").is_some() {
        let us = timer::ticks_to_ns(at_boot) / 1000;
        println!("rtbench: counter at-boot-us={}", us);
    }
    match boot.args().get("mode") {
        None | Some("count") => {}
        Some("bench") => bench::run(boot, cfg.vcpus),
        Some("noise") => noise::run(boot, cfg.vcpus),
        Some("shm") => shm::run(boot),
        Some(other) => println!("rtbench-diag: bad mode={:?}, using count", other),
    }
    match power::version() {
        Ok((major, minor)) => println!("rtbench: {} version {}.{}", power::INTERFACE, major, minor),
        Err(e) => println!(
            "rtbench-diag: {} version error {} ({})",
            power::INTERFACE,
            e,
            power::error_name(e)
        ),
    }
    let memtest = memtest::plan(boot);
    if let Some(plan) = &memtest {
        memtest::write(plan);
    }
    guest_common::set_secondary_main(secondary_main);
    for i in 1..cfg.vcpus {
        start_and_reap(i, boot.cpu_id(i));
    }
    count(&cfg);
    if let Some(plan) = &memtest {
        memtest::check(plan);
    }
    println!("rtbench: done, then={}", cfg.then.name());
    match cfg.then {
        Then::Off => power::system_off(),
        Then::Reset => power::system_reset(),
        Then::Hang => cpu::park(),
    }
}

/// Starts secondary `i` on the CPU with hardware id `id`, waits (bounded) for it to
/// come online and turn off again.
fn start_and_reap(i: usize, id: u64) {
    let ret = console::with_lock(|c| {
        let ret = power::cpu_on(id, i);
        c.write_line(format_args!("rtbench: cpu_on vcpu {} -> {}", i, ret));
        ret
    });
    if ret != 0 {
        println!(
            "rtbench-diag: cpu_on vcpu {} failed: {}",
            i,
            power::error_name(ret)
        );
        report_affinity(i, power::affinity_info(id));
        return;
    }
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(SECONDARY_TIMEOUT_US));
    let mut state = power::affinity_info(id);
    while !(ONLINE[i].load(Ordering::Acquire) && state == 1) && state >= 0 {
        if timer::counter() >= deadline {
            if !ONLINE[i].load(Ordering::Acquire) {
                println!("rtbench-diag: vcpu {} timeout: never came online", i);
            } else {
                println!(
                    "rtbench-diag: vcpu {} timeout: still {}",
                    i,
                    power::affinity_name(state)
                );
            }
            break;
        }
        // The wait hint between polls (`relax_us`): see `bench::ipi_phase`.
        timer::relax_us(POLL_US);
        state = power::affinity_info(id);
    }
    report_affinity(i, state);
}

fn report_affinity(i: usize, state: i32) {
    if state < 0 {
        println!(
            "rtbench-diag: vcpu {} affinity_info error {} ({})",
            i,
            state,
            power::error_name(state)
        );
    } else {
        println!(
            "rtbench: vcpu {} affinity={}",
            i,
            power::affinity_name(state)
        );
    }
}

/// Prints `count <n>` at start + n * period (absolute deadlines: no drift).
fn count(cfg: &Config) {
    if cfg.watchdog_ms != 0 {
        let r = hypercall::rtvisor_watchdog_arm(cfg.watchdog_ms);
        println!("rtbench: watchdog armed ms={} -> {}", cfg.watchdog_ms, r);
    }
    let period = timer::us_to_ticks(cfg.period_us).max(1);
    let start = timer::counter();
    let mut n: u64 = 1;
    loop {
        timer::wait_until(start.saturating_add(period.saturating_mul(n)));
        println!("rtbench: count {}", n);
        if cfg.watchdog_ms != 0 && n <= cfg.kick_for {
            hypercall::rtvisor_watchdog_kick();
        }
        if cfg.count != 0 && n >= cfg.count {
            return;
        }
        n += 1;
    }
}

/// Runs on secondary vCPU `index` after CPU_ON: announce, then power off.
fn secondary_main(index: usize) -> ! {
    println!(
        "rtbench: vcpu {} online {}={:#x}",
        index,
        cpu::ID_NAME,
        cpu::hw_id()
    );
    if let Some(flag) = ONLINE.get(index) {
        flag.store(true, Ordering::Release);
    }
    let ret = power::cpu_off();
    println!(
        "rtbench-diag: vcpu {} cpu_off -> {} ({})",
        index,
        ret,
        power::error_name(ret)
    );
    cpu::park()
}
