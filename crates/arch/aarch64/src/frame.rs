//! The saved guest register frame. The exception vectors push it on the EL2 stack in
//! exactly this layout (see `asm.rs`); keep the two in step.

/// Size of [`GuestRegs`] in bytes, as the assembly uses it.
pub const FRAME_SIZE: usize = 272;

/// General-purpose registers and return state of a vCPU at an exception.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
pub struct GuestRegs {
    /// x0..x30.
    pub x: [u64; 31],
    /// ELR_EL2: where the guest resumes.
    pub elr: u64,
    /// SPSR_EL2: the guest's PSTATE.
    pub spsr: u64,
    pad: u64,
}

const _: () = assert!(core::mem::size_of::<GuestRegs>() == FRAME_SIZE);

/// SPSR for entering a guest at EL1h with D, A, I, F masked.
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

impl GuestRegs {
    /// A fresh vCPU: all registers zero but x0, entering at `entry` in EL1h with
    /// interrupts masked.
    pub fn boot(entry: u64, x0: u64) -> Self {
        let mut r = Self::default();
        r.x[0] = x0;
        r.elr = entry;
        r.spsr = SPSR_EL1H_MASKED;
        r
    }
}
