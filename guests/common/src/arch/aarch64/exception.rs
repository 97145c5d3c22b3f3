//! Exception handling: the trap frame, the guest's synchronous-exception hook, and the
//! report-and-power-off path for everything unexpected.
//!
//! Order for a synchronous exception taken at the current EL:
//! 1. an armed [`crate::guard::catch`] on this vCPU records it and skips the instruction
//!    (or, inside [`crate::guard::call_at`], returns to after the branch);
//! 2. else the hook registered with [`crate::exception::set_sync_handler`] decides;
//! 3. else (or for FIQ/SError/lower-EL vectors) print ESR/ELR/FAR and SYSTEM_OFF.
//!
//! An IRQ taken at the current EL (SP_ELx) goes to [`super::irq::dispatch`]; without
//! a registered IRQ handler it is reported like the others.

use core::fmt;

use super::psci;
use crate::{cpu, guard, println};

/// Registers saved by the vector code (layout shared with `boot.rs`).
#[repr(C, align(16))]
pub struct TrapFrame {
    /// x0..x30 of the interrupted context.
    pub regs: [u64; 31],
    /// Preferred return address (ELR_ELx); written back on return.
    pub elr: u64,
    /// Saved PSTATE (SPSR_ELx); written back on return.
    pub spsr: u64,
    /// FPSR and FPCR.
    pub fp_status: [u64; 2],
    _pad: u64,
    /// q0..q31 of the interrupted context.
    pub vregs: [u128; 32],
    /// IRQ vectors only: PMCCNTR_EL0 and CNTVCT_EL0 read by the entry stub before
    /// anything else (see `boot.rs`); unspecified for other vectors.
    pub stamp: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 816);
const _: () = assert!(core::mem::offset_of!(TrapFrame, stamp) == 800);

/// A synchronous exception as the hook sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// ESR_ELx (syndrome).
    pub esr: u64,
    /// FAR_ELx (faulting address; meaningful for aborts).
    pub far: u64,
    /// ELR_ELx (address of the faulting instruction for aborts/undefined).
    pub elr: u64,
}

/// ESR.EC: unknown reason (includes undefined instructions).
pub const EC_UNKNOWN: u8 = 0x00;
/// ESR.EC: data abort taken without a change in exception level.
pub const EC_DATA_ABORT_SAME_EL: u8 = 0x25;

impl Fault {
    /// Exception class, ESR bits [31:26].
    pub fn ec(&self) -> u8 {
        ((self.esr >> 26) & 0x3f) as u8
    }
    /// Data/instruction fault status code, ESR bits [5:0] (for aborts).
    pub fn fsc(&self) -> u8 {
        (self.esr & 0x3f) as u8
    }
    /// Bytes to add to ELR to continue after the instruction that caused the
    /// exception: 0 for SVC/HVC/SMC (ELR already points past them), else 4.
    pub fn skip_len(&self) -> u64 {
        match self.ec() {
            0x15..=0x17 => 0,
            _ => 4,
        }
    }
    /// Where execution continues past the faulting instruction.
    pub(crate) fn return_address(&self) -> Option<u64> {
        Some(self.elr.wrapping_add(self.skip_len()))
    }
    /// The words `guard` keeps per vCPU.
    pub(crate) fn to_words(self) -> [u64; 4] {
        [self.esr, self.far, self.elr, 0]
    }
    pub(crate) fn from_words(w: [u64; 4]) -> Self {
        Fault {
            esr: w[0],
            far: w[1],
            elr: w[2],
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "esr={:#x} ec={:#x} elr={:#x} far={:#x}",
            self.esr,
            self.ec(),
            self.elr,
            self.far
        )
    }
}

/// What the hook wants done with a synchronous exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resume after the instruction that caused the exception (ELR += 4, or
    /// unchanged for SVC/HVC/SMC, see [`Fault::skip_len`]).
    Skip,
    /// Resume at ELR unchanged (the hook fixed the cause, or the ELR).
    Resume,
    /// Not handled: report and power off.
    Unhandled,
}

/// Guest hook for synchronous exceptions at the current EL.
pub type SyncHandler = fn(&Fault, &mut TrapFrame) -> Action;

// SAFETY: a function pointer: one usize, never null.
unsafe impl crate::hook::FnPointer for SyncHandler {}

const KIND_NAMES: [&str; 16] = [
    "sync/sp0",
    "irq/sp0",
    "fiq/sp0",
    "serror/sp0",
    "sync",
    "irq",
    "fiq",
    "serror",
    "sync/lower64",
    "irq/lower64",
    "fiq/lower64",
    "serror/lower64",
    "sync/lower32",
    "irq/lower32",
    "fiq/lower32",
    "serror/lower32",
];

/// Reads ESR/FAR of the EL the exception was taken to.
fn syndrome(el: u64) -> (u64, u64) {
    let (esr, far): (u64, u64);
    if el == 2 {
        // SAFETY: reading ESR_EL2/FAR_EL2 has no side effects; we run at EL2 here
        // (the EL2 vector table is only installed when the guest runs at EL2).
        unsafe {
            core::arch::asm!("mrs {}, esr_el2", "mrs {}, far_el2", out(reg) esr, out(reg) far,
                options(nomem, nostack, preserves_flags));
        }
    } else {
        // SAFETY: reading ESR_EL1/FAR_EL1 at EL1 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, esr_el1", "mrs {}, far_el1", out(reg) esr, out(reg) far,
                options(nomem, nostack, preserves_flags));
        }
    }
    (esr, far)
}

/// Called by the vector code with `kind = (EL << 4) | vector index` and the frame.
pub(crate) extern "C" fn trap(kind: u64, frame: &mut TrapFrame) {
    let el = kind >> 4;
    let index = (kind & 0xf) as usize;
    if index == 5 && super::irq::dispatch(frame) {
        return;
    }
    let (esr, far) = syndrome(el);
    let fault = Fault {
        esr,
        far,
        elr: frame.elr,
    };
    if index == 4 || index == 0 {
        if let Some(resume) = guard::record(&fault) {
            frame.elr = resume;
            return;
        }
        if let Some(handler) = crate::exception::sync_handler() {
            match handler(&fault, frame) {
                Action::Skip => {
                    frame.elr = frame.elr.wrapping_add(fault.skip_len());
                    return;
                }
                Action::Resume => return,
                Action::Unhandled => {}
            }
        }
    }
    println!(
        "guest: unexpected exception {} at el{} on vcpu {}: {}",
        KIND_NAMES[index],
        el,
        cpu::index(),
        fault
    );
    psci::system_off()
}
