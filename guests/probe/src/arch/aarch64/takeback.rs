//! `mode=takeback`: attacks on the hypervisor's hold on its cores, one at a time, typed
//! on this VM's console (it polls its UART; `vm console probe`, then the command, then
//! Ctrl-] back to the shell). After `probe: ready` a line names a case:
//!
//! | command | what the guest does |
//! |---|---|
//! | `ap1r [ms]` | sets ICC_AP1R0_EL1 bit 0, an active priority above every interrupt, and holds; after `ms` it clears the bit again |
//! | `bpr1` | ICC_BPR1_EL1 = 7 (one group priority for everything), then acknowledges its timer and never ends it |
//! | `stuck-00`, `stuck-80` | gives its timer PPI priority 0x00 or 0x80, acknowledges it and never ends it |
//! | `wd-stuck-00` | arms its watchdog (300 ms), then `stuck-00` |
//! | `zombie [ms]` | vCPU 1 does `ap1r` and after `ms` calls SYSTEM_OFF; vCPU 0 holds |
//! | `igroupr0` | moves its timer PPI to Group 0 (GICR_IGROUPR0) and leaves it firing, level high |
//! | `gic-width` | unaligned and wrong-width redistributor accesses: each must fault |
//! | `gic-icfgr1` | rewrites the trigger bits of the hypervisor's PPI 26: they must not change |
//!
//! A holding case prints `probe: holding <case> vcpu=<n>` once, then spins with no exit
//! at all (no MMIO, no call, IRQs masked), so only the hypervisor's own interrupts can
//! take the core back. With `ms` it prints `probe: held <case> vcpu=<n>` when the time
//! is up (if it still runs). The other cases report `contained` or `LEAK` and go back
//! to `probe: ready`.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use guest_common::arch::gic;
use guest_common::exception::{Fault, EC_DATA_ABORT_SAME_EL};
use guest_common::{console, guard, hypercall, irq, power, println, timer, BootInfo};

use crate::report::{contained, leak, Outcome};

/// The redistributor's SGI/PPI frame, from RD_base.
const SGI_FRAME: usize = 0x1_0000;
const GICR_IPRIORITYR: usize = SGI_FRAME + 0x400;
const GICR_ICFGR1: usize = SGI_FRAME + 0xc04;
/// The PPI the hypervisor keeps for its own timer, and its two ICFGR1 bits.
const HYP_PPI: u32 = 26;
const HYP_PPI_CFG: u32 = 0b11 << (2 * (HYP_PPI - 16));
/// How long `wd-stuck-00` gives its watchdog.
const WATCHDOG_MS: u64 = 300;
/// The zombie's time before its SYSTEM_OFF, unless the command gives one.
const ZOMBIE_MS: u64 = 3000;

/// One guarded load (`$tmpl` reads `{a}` into `{v}`) or store (writes `{v}` to `{a}`).
macro_rules! load {
    ($tmpl:literal, $addr:expr) => {
        guard::catch(|| {
            let v: u64;
            // SAFETY: a load from this vCPU's own redistributor frame; a fault is
            // caught and skipped.
            unsafe { asm!($tmpl, a = in(reg) $addr, v = out(reg) v, options(nostack)) };
            v
        })
        .map(|_| ())
    };
}
macro_rules! store {
    ($tmpl:literal, $addr:expr, $value:expr) => {
        guard::catch(|| {
            let v: u64 = $value;
            // SAFETY: a store to this vCPU's own redistributor frame that the
            // hypervisor must refuse; a fault is caught and skipped.
            unsafe { asm!($tmpl, a = in(reg) $addr, v = in(reg) v, options(nostack)) };
        })
    };
}

/// The zombie's hold time, for vCPU 1.
static ZOMBIE_HOLD_MS: AtomicU64 = AtomicU64::new(ZOMBIE_MS);

pub fn run(boot: &BootInfo) -> ! {
    gic::configure(boot);
    if let Err(e) = gic::init_distributor() {
        println!("probe-diag: distributor: {}", e.name());
    }
    let mut buf = [0u8; 32];
    loop {
        println!("probe: ready");
        let n = console::read_line(&mut buf);
        let line = core::str::from_utf8(&buf[..n]).unwrap_or("");
        let mut words = line.split_whitespace();
        let case = words.next().unwrap_or("");
        let ms = words.next().and_then(|w| w.parse::<u64>().ok());
        match case {
            "ap1r" => {
                set_ap1r0(1);
                hold(case, 0, ms);
                set_ap1r0(0);
                hold(case, 0, None)
            }
            "bpr1" => {
                // SAFETY: the binary point only changes how this vCPU's own interrupts
                // pre-empt each other.
                unsafe {
                    asm!("msr icc_bpr1_el1, {}", "isb", in(reg) 7u64, options(nomem, nostack))
                };
                stuck(case, 0x80)
            }
            "stuck-00" => stuck(case, 0x00),
            "stuck-80" => stuck(case, 0x80),
            "wd-stuck-00" => {
                let r = hypercall::rtvisor_watchdog_arm(WATCHDOG_MS);
                println!("probe: watchdog armed ({WATCHDOG_MS} ms) ret={r}");
                stuck(case, 0x00)
            }
            "zombie" => zombie(boot, ms.unwrap_or(ZOMBIE_MS)),
            "igroupr0" => group0_timer(case),
            "gic-width" => _ = gic_width(),
            "gic-icfgr1" => _ = gic_icfgr1(),
            _ => println!("probe-diag: unknown command {line:?}"),
        }
    }
}

/// Writes ICC_AP1R0_EL1 (physical in trusted direct mode; trapped and dropped in
/// untrusted direct mode; the virtual interface's in virtual mode).
fn set_ap1r0(v: u64) {
    // SAFETY: active priorities only affect interrupt delivery to this vCPU.
    let _ = guard::catch(|| unsafe {
        asm!("msr icc_ap1r0_el1, {}", "isb", in(reg) v, options(nomem, nostack))
    });
}

/// Announces the case on vCPU `vcpu`, then spins without a single exit: forever, or
/// for `ms`.
fn hold(case: &str, vcpu: usize, ms: Option<u64>) {
    println!("probe: holding {case} vcpu={vcpu}");
    irq::disable();
    match ms {
        Some(ms) => {
            timer::wait_until(timer::counter().saturating_add(timer::us_to_ticks(ms * 1000)));
            println!("probe: held {case} vcpu={vcpu}");
        }
        None => loop {
            guest_common::cpu::relax();
        },
    }
}

/// Gives the virtual timer PPI `priority`, lets it fire, acknowledges it with IRQs
/// masked and never ends it; then holds forever.
fn stuck(case: &str, priority: u8) -> ! {
    irq::disable();
    let rd = match gic::find_redistributor() {
        Ok(rd) => rd,
        Err(e) => {
            println!("probe-diag: {case}: {}", e.name());
            loop {
                guest_common::cpu::relax();
            }
        }
    };
    if let Err(e) = gic::init_cpu(1 << timer::INTERRUPT) {
        println!("probe-diag: {case}: {}", e.name());
    }
    let prio = rd + GICR_IPRIORITYR + timer::INTERRUPT as usize;
    // SAFETY: one priority byte of this vCPU's own redistributor.
    let _ = unsafe { super::access::write_u8(prio, priority) };
    timer::arm(timer::counter());
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(1_000_000));
    let mut acked = None;
    while acked.is_none() && timer::counter() < deadline {
        let iar: u64;
        // SAFETY: acknowledging this vCPU's highest pending interrupt, on purpose
        // never ended.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nomem, nostack)) };
        if (iar & 0xff_ffff) as u32 == timer::INTERRUPT {
            acked = Some(iar);
        }
    }
    if acked.is_none() {
        println!("probe-diag: {case}: the timer was never acknowledged");
    }
    hold(case, 0, None);
    loop {
        guest_common::cpu::relax();
    }
}

/// Puts the virtual timer PPI in Group 0 and lets it fire with IRQs masked: were the
/// write to reach the hardware, the level-triggered interrupt would arrive at EL2 as
/// FIQ and come back after every end of interrupt. Holds forever.
fn group0_timer(case: &str) -> ! {
    irq::disable();
    if let Err(e) = gic::init_cpu(1 << timer::INTERRUPT) {
        println!("probe-diag: {case}: {}", e.name());
    }
    if let Ok(rd) = gic::find_redistributor() {
        const GICR_IGROUPR0: usize = SGI_FRAME + 0x80;
        let groups = guard::read_u32(rd + GICR_IGROUPR0).unwrap_or(!0);
        let _ = store!(
            "str {v:w}, [{a}]",
            rd + GICR_IGROUPR0,
            u64::from(groups & !(1 << timer::INTERRUPT))
        );
    }
    timer::arm(timer::counter());
    hold(case, 0, None);
    loop {
        guest_common::cpu::relax();
    }
}

fn zombie(boot: &BootInfo, ms: u64) -> ! {
    ZOMBIE_HOLD_MS.store(ms, Ordering::Release);
    guest_common::set_secondary_main(zombie_secondary);
    let target = boot.cpu_id(1);
    let r = power::cpu_on(target, 1);
    if r != 0 {
        println!("probe-diag: zombie: CPU_ON {}", power::error_name(r));
    }
    hold("zombie", 0, None);
    loop {
        guest_common::cpu::relax();
    }
}

fn zombie_secondary(_index: usize) -> ! {
    set_ap1r0(1);
    hold("zombie", 1, Some(ZOMBIE_HOLD_MS.load(Ordering::Acquire)));
    println!("probe: zombie vcpu=1 calls SYSTEM_OFF");
    power::system_off()
}

fn gic_width() -> Outcome {
    let case = "gic-width";
    let Ok(rd) = gic::find_redistributor() else {
        return leak(case, format_args!("no redistributor"));
    };
    let tries: [(&str, Result<(), Fault>); 6] = [
        (
            "ldrh ISENABLER0+1",
            load!("ldrh {v:w}, [{a}]", rd + SGI_FRAME + 0x101),
        ),
        (
            "ldr IPRIORITYR+2",
            load!("ldr {v:w}, [{a}]", rd + GICR_IPRIORITYR + 2),
        ),
        (
            "ldr x ISENABLER0",
            load!("ldr {v}, [{a}]", rd + SGI_FRAME + 0x100),
        ),
        ("ldr x TYPER+4", load!("ldr {v}, [{a}]", rd + 0xc)),
        (
            "strb ICENABLER0+1",
            store!("strb {v:w}, [{a}]", rd + SGI_FRAME + 0x181, 0xc0),
        ),
        (
            "strh ICFGR1+2",
            store!("strh {v:w}, [{a}]", rd + GICR_ICFGR1 + 2, 0xffff),
        ),
    ];
    for (what, r) in &tries {
        match r {
            Err(f) if f.ec() == EC_DATA_ABORT_SAME_EL => {}
            Err(f) => return leak(case, format_args!("{what}: exception ec={:#x}", f.ec())),
            Ok(()) => return leak(case, format_args!("{what} was not refused")),
        }
    }
    contained(
        case,
        format_args!("{} accesses, all data aborts", tries.len()),
    )
}

fn gic_icfgr1() -> Outcome {
    let case = "gic-icfgr1";
    let Ok(rd) = gic::find_redistributor() else {
        return leak(case, format_args!("no redistributor"));
    };
    let Ok(before) = guard::read_u32(rd + GICR_ICFGR1) else {
        return leak(case, format_args!("ICFGR1 not readable"));
    };
    let flipped = before ^ HYP_PPI_CFG;
    let _ = guard::catch(|| {
        // SAFETY: a 32-bit store to this vCPU's own GICR_ICFGR1.
        unsafe {
            asm!("str {v:w}, [{a}]", a = in(reg) rd + GICR_ICFGR1, v = in(reg) flipped, options(nostack))
        };
    });
    let after = guard::read_u32(rd + GICR_ICFGR1).unwrap_or(!before);
    if after & HYP_PPI_CFG == before & HYP_PPI_CFG {
        contained(
            case,
            format_args!("PPI 26 trigger bits kept ({:#x})", after & HYP_PPI_CFG),
        )
    } else {
        leak(
            case,
            format_args!("PPI 26 trigger {before:#x} -> {after:#x}"),
        )
    }
}
