//! Interrupts: the registered handler and the entry stamp, the same on every
//! architecture; taking, masking and ending them and the interrupt controller are the
//! architecture's (GICv3 on aarch64, the local APIC on x86_64), re-exported here.
//!
//! Discipline: one handler for all vCPUs, registered before any vCPU unmasks
//! interrupts (Release/Acquire through `HANDLER`). The handler runs with interrupts
//! masked and must stay short: it is on the measured path of the next interrupt.
//!
//! Interrupt ids: the timer's is [`crate::timer::INTERRUPT`], IPI `n` is [`ipi`]`(n)`
//! (SGI n on aarch64, a vector on x86_64).

use crate::hook::Hook;

pub use crate::arch::irq::{
    disable, enable, enable_line, init_cpu, init_global, ipi, send_ipi, wait_forever, wait_masked,
    IrqError,
};

/// Counter values read by the interrupt entry before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The cycle counter at entry (PMCCNTR_EL0 on aarch64, the TSC on x86_64).
    pub pmc: u64,
    /// The timer's counter at entry (CNTVCT_EL0 on aarch64, the TSC on x86_64).
    pub cnt: u64,
}

/// A guest interrupt handler: `(interrupt id, entry stamp)`.
pub type IrqHandler = fn(u32, Stamp);

// SAFETY: a function pointer: one usize, never null.
unsafe impl crate::hook::FnPointer for IrqHandler {}

/// The handler.
static HANDLER: Hook<IrqHandler> = Hook::new();

/// Registers the interrupt handler shared by all vCPUs.
pub fn set_handler(handler: IrqHandler) {
    HANDLER.set(handler);
}

/// The registered handler, if any (the architecture's dispatch calls it).
#[inline(always)]
pub(crate) fn handler() -> Option<IrqHandler> {
    HANDLER.get()
}
