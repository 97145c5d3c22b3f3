//! Interrupts on x86: the stubs (boot.rs/exception.rs) stamp the TSC and call
//! [`dispatch`], which runs the registered handler and ends the interrupt at the local
//! APIC (EOI). The interrupt controller side: the local APIC (`apic.rs`); IPIs are
//! fixed-vector IPIs through the ICR.
//!
//! Interrupt ids are vectors: the timer [`super::timer::INTERRUPT`] (0x20), IPI `n`
//! at vector `IPI_BASE + n`.

use core::arch::asm;

use super::apic;
use super::exception::TrapFrame;
use crate::irq::{handler, Stamp};

/// Vector of IPI 0.
pub const IPI_BASE: u32 = 0x40;

/// The interrupt id of IPI `n` (n < 16).
pub const fn ipi(n: u32) -> u32 {
    IPI_BASE + n
}

/// Interrupt-controller setup failures (none on x86: the APIC is always there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqError {}

impl IrqError {
    pub fn name(self) -> &'static str {
        match self {}
    }
}

/// Called by the trap code for vectors 32..=255; false = no handler registered.
pub(crate) fn dispatch(frame: &TrapFrame) -> bool {
    let vector = frame.vector as u32;
    if vector == apic::SPURIOUS_VECTOR {
        return true;
    }
    let Some(handler) = handler() else {
        return false;
    };
    handler(
        vector,
        Stamp {
            pmc: frame.stamp,
            cnt: frame.stamp,
        },
    );
    apic::eoi();
    true
}

/// The machine-wide part: nothing on x86 (the boot code chose the APIC mode).
pub fn init_global(_boot: &crate::BootInfo) -> Result<(), IrqError> {
    Ok(())
}

/// This vCPU's part: enables its APIC. Vectors need no enabling on x86, so `ids`
/// only documents what the caller expects.
pub fn init_cpu(_ids: &[u32]) -> Result<(), IrqError> {
    apic::init_cpu();
    Ok(())
}

/// Sends IPI `id` (a vector) to the vCPU whose APIC id is `target`.
pub fn send_ipi(id: u32, target: u64) {
    apic::send(target, apic::ICR_FIXED, id as u8);
}

/// Unmasks interrupts (RFLAGS.IF = 1).
pub fn enable() {
    // SAFETY: STI lets interrupts be taken; the IDT handles every vector.
    unsafe { asm!("sti", options(nostack, preserves_flags)) };
}

/// Masks interrupts.
pub fn disable() {
    // SAFETY: CLI only defers interrupts.
    unsafe { asm!("cli", options(nostack, preserves_flags)) };
}

/// Waits for an interrupt with interrupts masked, then lets it be taken: masks,
/// returns at once if `done()` holds, else STI;HLT (STI's one-instruction shadow makes
/// this race-free), mask again. Returns with interrupts masked.
pub fn wait_masked(mut done: impl FnMut() -> bool) {
    loop {
        disable();
        if done() {
            return;
        }
        // SAFETY: STI; HLT sleeps until an interrupt, which is taken at once; CLI
        // restores the mask.
        unsafe { asm!("sti", "hlt", "cli", options(nostack, preserves_flags)) };
    }
}

/// Waits for interrupts forever (they are unmasked; the handler does the work).
pub fn wait_forever() -> ! {
    loop {
        // SAFETY: HLT only waits for the next interrupt.
        unsafe { asm!("hlt", options(nomem, nostack, preserves_flags)) };
    }
}

/// Enables device line `line` (a GSI: an I/O APIC pin, as the DSDT names it) as
/// interrupt `id` (a vector), edge-triggered, to this vCPU: the pin's redirection
/// entry is programmed (`ioapic::route`).
pub fn enable_line(line: u32, id: u32) {
    super::ioapic::route(line, id as u8, apic::id());
}
