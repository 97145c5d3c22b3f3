//! IRQ dispatch: the IRQ vector (boot.rs) stamps PMCCNTR_EL0/CNTVCT_EL0, saves the
//! frame and calls [`dispatch`], which acknowledges the interrupt (ICC_IAR1_EL1),
//! calls the registered handler and ends it (ICC_EOIR1_EL1, EOImode 0: priority drop
//! and deactivation in one write).
//!
//! Discipline: one handler for all vCPUs, registered before any vCPU unmasks IRQs
//! (Release/Acquire through `HANDLER`). The handler runs with IRQs masked and must
//! stay short: it is on the measured path of the next interrupt.

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::exception::TrapFrame;

/// Counter values read by the IRQ vector before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// PMCCNTR_EL0 at IRQ entry.
    pub pmc: u64,
    /// CNTVCT_EL0 at IRQ entry.
    pub cnt: u64,
}

/// A guest IRQ handler: `(INTID, entry stamp)`.
pub type IrqHandler = fn(u32, Stamp);

/// The handler (an `IrqHandler` stored as an address; 0 = none).
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// First special INTID (1020..=1023 are spurious/special: nothing to end).
const INTID_SPECIAL: u32 = 1020;

/// Registers the IRQ handler shared by all vCPUs.
pub fn set_handler(handler: IrqHandler) {
    HANDLER.store(handler as usize, Ordering::Release);
}

fn handler() -> Option<IrqHandler> {
    let raw = HANDLER.load(Ordering::Acquire);
    if raw == 0 {
        return None;
    }
    // SAFETY: HANDLER only ever holds 0 or an `IrqHandler` stored by `set_handler`;
    // function pointers and usize have the same size.
    Some(unsafe { core::mem::transmute::<usize, IrqHandler>(raw) })
}

/// Called by the trap code for an IRQ at the current EL; false = no handler
/// registered (the caller reports the IRQ as unexpected).
pub(crate) fn dispatch(frame: &TrapFrame) -> bool {
    let Some(handler) = handler() else {
        return false;
    };
    let stamp = Stamp {
        pmc: frame.stamp[0],
        cnt: frame.stamp[1],
    };
    let iar: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority pending Group 1
    // interrupt; it is ended below (or it is a special INTID that needs no end).
    unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nomem, nostack, preserves_flags)) };
    let intid = (iar & 0xff_ffff) as u32;
    if (INTID_SPECIAL..1024).contains(&intid) {
        return true;
    }
    handler(intid, stamp);
    // SAFETY: writing the acknowledged INTID to ICC_EOIR1_EL1 ends that interrupt.
    unsafe { asm!("msr icc_eoir1_el1, {}", in(reg) iar, options(nomem, nostack, preserves_flags)) };
    true
}

/// Unmasks IRQs (DAIF.I = 0).
pub fn enable() {
    // SAFETY: clearing PSTATE.I lets IRQs be taken; the vectors are installed by the
    // boot code and handle them. `nomem` is not claimed: handlers touch memory.
    unsafe { asm!("msr daifclr, #2", "isb", options(nostack, preserves_flags)) };
}

/// Masks IRQs (DAIF.I = 1).
pub fn disable() {
    // SAFETY: setting PSTATE.I only defers IRQs.
    unsafe { asm!("msr daifset, #2", options(nostack, preserves_flags)) };
}

/// Waits for an interrupt with IRQs masked, then lets it be taken: masks IRQs,
/// returns at once if `done()` holds, else WFI, unmask (the pending IRQ is taken
/// here), mask again. Race-free: an IRQ that arrives before the WFI keeps it from
/// sleeping. Returns with IRQs masked.
pub fn wait_masked(mut done: impl FnMut() -> bool) {
    loop {
        disable();
        if done() {
            return;
        }
        // SAFETY: WFI suspends until an interrupt is pending (masked or not); then
        // clearing PSTATE.I takes it, and setting it again restores the mask.
        unsafe {
            asm!(
                "wfi",
                "msr daifclr, #2",
                "isb",
                "msr daifset, #2",
                options(nostack, preserves_flags)
            )
        };
    }
}
