//! IRQ dispatch: the IRQ vector (boot.rs) stamps PMCCNTR_EL0/CNTVCT_EL0, saves the
//! frame and calls [`dispatch`], which acknowledges the interrupt (ICC_IAR1_EL1),
//! calls the registered handler and ends it (ICC_EOIR1_EL1, EOImode 0: priority drop
//! and deactivation in one write). The controller side is the GICv3 (`gic.rs`):
//! interrupt ids are INTIDs, IPI `n` is SGI `n`.

use core::arch::asm;

use super::exception::TrapFrame;
use super::gic;
pub use super::gic::GicError as IrqError;
use crate::irq::{handler, Stamp};

/// First special INTID (1020..=1023 are spurious/special: nothing to end).
const INTID_SPECIAL: u32 = 1020;

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

/// The interrupt id of IPI `n`: SGI `n` (n < 16).
pub const fn ipi(n: u32) -> u32 {
    n
}

/// The machine-wide part (primary, once): the GIC bases from the device tree, then
/// the distributor.
pub fn init_global(boot: &crate::BootInfo) -> Result<(), IrqError> {
    gic::configure(boot);
    gic::init_distributor()
}

/// This vCPU's part: its redistributor and CPU interface, with the SGIs/PPIs `ids`
/// enabled and all others disabled.
pub fn init_cpu(ids: &[u32]) -> Result<(), IrqError> {
    gic::init_cpu(ids.iter().fold(0, |m, &id| m | 1 << id))
}

/// Sends IPI `id` (an SGI) to the vCPU with MPIDR `target`.
#[inline(always)]
pub fn send_ipi(id: u32, target: u64) {
    gic::send_sgi(id, target)
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

/// Waits for interrupts forever (they must be unmasked; the handler does the work).
pub fn wait_forever() -> ! {
    loop {
        // SAFETY: WFI only suspends until an interrupt.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

/// Enables device line `line` as interrupt `id`, edge-triggered, to this vCPU
/// (doorbells): on aarch64 a line is its SPI, so `id` (its INTID) is enabled
/// (Group 1) and `line` says nothing more.
pub fn enable_line(_line: u32, id: u32) {
    gic::enable_spi(id)
}
