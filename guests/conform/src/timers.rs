//! The EL1 virtual and physical timers (Arm ARM D11.2): CTL at start, CVAL and TVAL,
//! ISTATUS for a deadline in the future and in the past, IMASK, the interrupt
//! pending in the GIC (GICR_ISPENDR0) while it is disabled there, and then taken.

use core::sync::atomic::{AtomicU32, Ordering};

use guest_common::{guard, irq, timer};

use crate::gic::{self, ISPENDR, SGI_FRAME};
use crate::{check, mrs, msr, Shown};

const ENABLE: u64 = 1;
const IMASK: u64 = 2;

#[derive(Clone, Copy)]
enum Which {
    Virtual,
    Physical,
}

impl Which {
    fn prefix(self) -> &'static str {
        match self {
            Which::Virtual => "vtimer",
            Which::Physical => "ptimer",
        }
    }
    fn intid(self) -> u32 {
        match self {
            Which::Virtual => 27,
            Which::Physical => 30,
        }
    }
    fn ctl(self) -> u64 {
        match self {
            Which::Virtual => mrs!("cntv_ctl_el0"),
            Which::Physical => mrs!("cntp_ctl_el0"),
        }
    }
    fn set_ctl(self, v: u64) {
        match self {
            Which::Virtual => msr!("cntv_ctl_el0", v),
            Which::Physical => msr!("cntp_ctl_el0", v),
        }
    }
    fn cval(self) -> u64 {
        match self {
            Which::Virtual => mrs!("cntv_cval_el0"),
            Which::Physical => mrs!("cntp_cval_el0"),
        }
    }
    fn set_cval(self, v: u64) {
        match self {
            Which::Virtual => msr!("cntv_cval_el0", v),
            Which::Physical => msr!("cntp_cval_el0", v),
        }
    }
    fn tval(self) -> i32 {
        (match self {
            Which::Virtual => mrs!("cntv_tval_el0"),
            Which::Physical => mrs!("cntp_tval_el0"),
        }) as u32 as i32
    }
    fn set_tval(self, v: u64) {
        match self {
            Which::Virtual => msr!("cntv_tval_el0", v),
            Which::Physical => msr!("cntp_tval_el0", v),
        }
    }
    /// The counter this timer compares against.
    fn count(self) -> u64 {
        match self {
            Which::Virtual => timer::counter(),
            Which::Physical => {
                let v: u64;
                // SAFETY: ISB + reading CNTPCT_EL0 has no side effects.
                unsafe {
                    core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) v,
                        options(nomem, nostack, preserves_flags))
                };
                v
            }
        }
    }
}

/// The INTID the last interrupt handler call took (0: none).
static TAKEN: AtomicU32 = AtomicU32::new(0);

fn handler(intid: u32, _stamp: irq::Stamp) {
    match intid {
        27 => msr!("cntv_ctl_el0", ENABLE | IMASK),
        30 => msr!("cntp_ctl_el0", ENABLE | IMASK),
        _ => {}
    }
    TAKEN.store(intid, Ordering::Relaxed);
}

/// Whether `intid` (an SGI or PPI) is pending in this vCPU's redistributor.
fn gic_pending(intid: u32) -> Shown {
    let r = guard::read_u32(gic::rd() + SGI_FRAME + ISPENDR).map(|v| u64::from(v >> intid & 1));
    Shown(r)
}

pub fn run() {
    check!(
        "timer.frequency",
        "{}",
        guest_common::arch::timer::raw_frequency()
    );
    irq::set_handler(handler);
    one(Which::Virtual);
    one(Which::Physical);
}

fn one(t: Which) {
    let p = t.prefix();
    let line = |what: &str, v: core::fmt::Arguments<'_>| {
        let mut name = [0u8; 40];
        let n = p.len() + 1 + what.len();
        name[..p.len()].copy_from_slice(p.as_bytes());
        name[p.len()] = b'.';
        name[p.len() + 1..n].copy_from_slice(what.as_bytes());
        crate::check(core::str::from_utf8(&name[..n]).unwrap_or("?"), v);
    };
    match guard::catch(|| t.ctl()) {
        Ok(ctl) => line("ctl-at-start", format_args!("{ctl:#x}")),
        Err(f) => {
            line("access", format_args!("fault ec={:#x}", f.ec()));
            return;
        }
    }
    let freq = timer::frequency();
    // A deadline a second away: enabled, not firing.
    t.set_cval(t.count() + freq);
    t.set_ctl(ENABLE);
    line("future.ctl", format_args!("{:#x}", t.ctl()));
    line("future.tval-positive", format_args!("{}", t.tval() > 0));
    // A deadline passed (well above 0): ISTATUS, with and without IMASK.
    t.set_ctl(ENABLE | IMASK);
    t.set_cval(t.count() - freq / 1000);
    line("past-masked.ctl", format_args!("{:#x}", t.ctl()));
    line(
        "past-masked.tval-negative",
        format_args!("{}", t.tval() < 0),
    );
    line(
        "past-masked.gic-pending",
        format_args!("{}", gic_pending(t.intid())),
    );
    t.set_ctl(ENABLE);
    line("past.ctl", format_args!("{:#x}", t.ctl()));
    line(
        "past.gic-pending",
        format_args!("{}", gic_pending(t.intid())),
    );
    // TVAL writes set CVAL = count + TVAL.
    let before = t.count();
    t.set_tval(freq);
    let cval = t.cval();
    let after = t.count();
    let ok = cval >= before + freq && cval <= after + freq;
    line("tval-sets-cval", format_args!("{ok}"));
    line("tval-future.ctl", format_args!("{:#x}", t.ctl()));
    // The interrupt is taken, once enabled in the GIC, a millisecond later.
    t.set_ctl(ENABLE | IMASK);
    t.set_cval(t.count() + freq / 1000);
    t.set_ctl(ENABLE);
    TAKEN.store(0, Ordering::Relaxed);
    let _ = irq::init_cpu(&[t.intid()]);
    let deadline = timer::counter() + freq;
    // Polled with short unmasked windows, not WFI: an interrupt that never comes must
    // end in a line, not a hang.
    while TAKEN.load(Ordering::Relaxed) == 0 && timer::counter() < deadline {
        irq::enable();
        core::hint::spin_loop();
        irq::disable();
    }
    line("irq", format_args!("{}", TAKEN.load(Ordering::Relaxed)));
    line("after-irq.ctl", format_args!("{:#x}", t.ctl()));
    t.set_ctl(0);
    let _ = irq::init_cpu(&[]);
}
