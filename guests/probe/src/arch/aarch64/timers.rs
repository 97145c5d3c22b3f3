//! `mode=timers`: what a guest observes of its EL1 timers, which must be the same bare
//! on QEMU and in a VM in either interrupt mode. It prints, then powers off:
//!
//! ```text
//! probe: timers: vtimer ppi-disabled ctl=0x5 gic-pending=1
//! probe: timers: vtimer masked ctl=0x7 gic-pending=0
//! probe: timers: vtimer stopped gic-pending=0
//! probe: timers: ptimer counter advances=yes
//! probe: timers: ptimer tval cval-ok=yes tval-counts-down=yes
//! probe: timers: ptimer irq=30 ctl-in-handler=0x5
//! probe: timers: ptimer tval-after-expiry negative=yes
//! probe: timers: ptimer ppi-disabled ctl=0x5 gic-pending=1
//! probe: timers: done
//! ```
//!
//! - The virtual timer, its PPI 27 disabled at the redistributor, armed with a compare
//!   value already reached: ISTATUS is set, and GICR_ISPENDR0 shows the PPI pending
//!   (its line is asserted); masked (IMASK) or stopped, the line drops.
//! - The physical timer: CNTPCT_EL0 counts, CNTP_TVAL_EL0 sets CNTP_CVAL_EL0 to the
//!   count plus the value and counts down, its interrupt arrives through the GIC as
//!   PPI 30 with ISTATUS set, and TVAL reads negative once the compare value is past.
//!   Then the same pending check as the virtual timer's, with PPI 30 disabled.
//!
//! A check that cannot finish says `none` (the interrupt never came in 100 ms) and a
//! faulting timer register ends the run with the exception line of the runtime.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use guest_common::arch::gic;
use guest_common::{guard, irq, power, println, timer, BootInfo};

const SGI_FRAME: usize = 0x1_0000;
const GICR_ICENABLER0: usize = SGI_FRAME + 0x180;
const GICR_ISPENDR0: usize = SGI_FRAME + 0x200;
const VTIMER: u32 = 27;
const PTIMER: u32 = 30;
const CTL_ENABLE: u64 = 1;
const CTL_IMASK: u64 = 2;
/// How long the physical timer's first shot is armed for, and how long its
/// interrupt is waited for.
const SHOT_US: u64 = 200;
const WAIT_US: u64 = 100_000;

/// The INTID the handler took (0: none yet) and CNTP_CTL_EL0 as it read it.
static TAKEN: AtomicU32 = AtomicU32::new(0);
static CTL_IN_HANDLER: AtomicU64 = AtomicU64::new(0);

macro_rules! sysreg {
    (read $name:literal) => {{
        let v: u64;
        // SAFETY: reading one of this vCPU's timer registers; no memory is involved.
        unsafe { asm!(concat!("isb\nmrs {}, ", $name), out(reg) v, options(nomem, nostack)) };
        v
    }};
    (write $name:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: programming one of this vCPU's timers; no memory is involved.
        unsafe { asm!(concat!("msr ", $name, ", {}\nisb"), in(reg) v, options(nomem, nostack)) };
    }};
}

fn write32(addr: usize, v: u32) {
    // SAFETY: a 32-bit store to this vCPU's redistributor frame (found through
    // GICR_TYPER), which the GIC driver also writes.
    unsafe { asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) v, options(nostack)) };
}

/// Whether `intid` is pending at this vCPU's redistributor ("?" when it cannot be
/// read).
fn gic_pending(rd: usize, intid: u32) -> &'static str {
    match guard::read_u32(rd + GICR_ISPENDR0) {
        Ok(v) if v & 1 << intid != 0 => "1",
        Ok(_) => "0",
        Err(_) => "?",
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn on_irq(intid: u32, _: irq::Stamp) {
    if intid == PTIMER {
        CTL_IN_HANDLER.store(sysreg!(read "cntp_ctl_el0"), Ordering::Relaxed);
        // Level-sensitive: the line must drop before the end of the interrupt.
        sysreg!(write "cntp_ctl_el0", 0);
    }
    TAKEN.store(intid, Ordering::Release);
}

/// Runs the checks and powers off.
pub fn run(boot: &BootInfo) -> ! {
    irq::set_handler(on_irq);
    let setup = irq::init_global(boot).and_then(|()| irq::init_cpu(&[PTIMER]));
    let rd = match setup.and_then(|()| gic::find_redistributor()) {
        Ok(rd) => rd,
        Err(e) => {
            println!("probe: timers: gic {}", e.name());
            power::system_off()
        }
    };
    virtual_timer(rd);
    physical_timer(rd);
    println!("probe: timers: done");
    power::system_off()
}

/// One EL1 timer: its name in the report, its PPI and its registers.
struct Timer {
    name: &'static str,
    intid: u32,
    count: fn() -> u64,
    set_cval: fn(u64),
    set_ctl: fn(u64),
    ctl: fn() -> u64,
}

const VIRTUAL: Timer = Timer {
    name: "vtimer",
    intid: VTIMER,
    count: || sysreg!(read "cntvct_el0"),
    set_cval: |v| sysreg!(write "cntv_cval_el0", v),
    set_ctl: |v| sysreg!(write "cntv_ctl_el0", v),
    ctl: || sysreg!(read "cntv_ctl_el0"),
};

const PHYSICAL: Timer = Timer {
    name: "ptimer",
    intid: PTIMER,
    count: || sysreg!(read "cntpct_el0"),
    set_cval: |v| sysreg!(write "cntp_cval_el0", v),
    set_ctl: |v| sysreg!(write "cntp_ctl_el0", v),
    ctl: || sysreg!(read "cntp_ctl_el0"),
};

/// Disables the timer's PPI, arms the timer with a compare value already reached,
/// waits for ISTATUS (bounded) and reports its control register and whether the GIC
/// shows the PPI pending. The timer is left enabled.
fn pending_while_disabled(rd: usize, t: &Timer) {
    write32(rd + GICR_ICENABLER0, 1 << t.intid);
    (t.set_cval)((t.count)());
    (t.set_ctl)(CTL_ENABLE);
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(WAIT_US));
    while (t.ctl)() & 4 == 0 && timer::counter() < deadline {}
    let ctl = (t.ctl)();
    let p = gic_pending(rd, t.intid);
    println!(
        "probe: timers: {} ppi-disabled ctl={ctl:#x} gic-pending={p}",
        t.name
    );
}

fn virtual_timer(rd: usize) {
    let t = &VIRTUAL;
    pending_while_disabled(rd, t);
    (t.set_ctl)(CTL_ENABLE | CTL_IMASK);
    let ctl = (t.ctl)();
    let p = gic_pending(rd, t.intid);
    println!("probe: timers: vtimer masked ctl={ctl:#x} gic-pending={p}");
    (t.set_ctl)(0);
    let p = gic_pending(rd, t.intid);
    println!("probe: timers: vtimer stopped gic-pending={p}");
}

fn physical_timer(rd: usize) {
    let a = sysreg!(read "cntpct_el0");
    timer::delay_us(10);
    let b = sysreg!(read "cntpct_el0");
    println!("probe: timers: ptimer counter advances={}", yes(b > a));

    let tval = timer::us_to_ticks(SHOT_US);
    let before = sysreg!(read "cntpct_el0");
    sysreg!(write "cntp_tval_el0", tval);
    let after = sysreg!(read "cntpct_el0");
    let cval = sysreg!(read "cntp_cval_el0");
    // Long enough for the count to move at any counter frequency QEMU has.
    timer::delay_us(10);
    // TVAL is a signed 32-bit down-count: negative once the deadline has passed, which
    // a loaded host may let happen within the delay; that still counted down.
    let left = i64::from(sysreg!(read "cntp_tval_el0") as u32 as i32);
    let cval_ok = cval >= before.wrapping_add(tval) && cval <= after.wrapping_add(tval);
    let counts_down = left < tval as i64;
    println!(
        "probe: timers: ptimer tval cval-ok={} tval-counts-down={}",
        yes(cval_ok),
        yes(counts_down)
    );
    sysreg!(write "cntp_ctl_el0", CTL_ENABLE);
    irq::enable();
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(WAIT_US));
    while TAKEN.load(Ordering::Acquire) == 0 && timer::counter() < deadline {
        core::hint::spin_loop();
    }
    irq::disable();
    match TAKEN.load(Ordering::Acquire) {
        0 => println!("probe: timers: ptimer irq=none"),
        id => println!(
            "probe: timers: ptimer irq={id} ctl-in-handler={:#x}",
            CTL_IN_HANDLER.load(Ordering::Relaxed)
        ),
    }
    // Past its compare value, TVAL (signed, 32 bits) is negative.
    let left = sysreg!(read "cntp_tval_el0") as u32 as i32;
    println!(
        "probe: timers: ptimer tval-after-expiry negative={}",
        yes(left < 0)
    );

    pending_while_disabled(rd, &PHYSICAL);
    (PHYSICAL.set_ctl)(0);
}
