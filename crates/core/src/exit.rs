//! The one enum every architecture backend turns a VM exit into.
//!
//! The arch crate decodes its syndrome registers into a [`VcpuExit`]; everything after
//! that (PSCI, device emulation, fault policy) is arch-neutral and lives in this crate.

use rtvisor_addr::Ipa;

/// How the guest called the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// HVC instruction (the return address already points past it).
    Hvc,
    /// Trapped SMC instruction (the return address points at it; skip it).
    Smc,
}

/// Access width of a trapped load/store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessWidth {
    /// 8 bits.
    B1,
    /// 16 bits.
    B2,
    /// 32 bits.
    B4,
    /// 64 bits.
    B8,
}

impl AccessWidth {
    /// Width in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::B1 => 1,
            Self::B2 => 2,
            Self::B4 => 4,
            Self::B8 => 8,
        }
    }
}

/// A load or store the hardware fully described (valid instruction syndrome), so it can
/// be emulated without decoding the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioAccess {
    /// Store (`true`) or load.
    pub write: bool,
    /// Access width.
    pub width: AccessWidth,
    /// Transfer register (31 = xzr/wzr).
    pub reg: u8,
    /// Sign-extend a load into the register.
    pub sign_extend: bool,
    /// The register is 64-bit (`x`); otherwise 32-bit (`w`), upper half zeroed.
    pub reg64: bool,
}

/// A trapped system-register access (MRS/MSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysRegAccess {
    /// Encoding of the register.
    pub reg: SysRegId,
    /// General-purpose register (31 = xzr).
    pub rt: u8,
    /// Read (`MRS`) or write (`MSR`).
    pub read: bool,
}

/// A system-register encoding `op0, op1, CRn, CRm, op2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysRegId {
    /// op0.
    pub op0: u8,
    /// op1.
    pub op1: u8,
    /// CRn.
    pub crn: u8,
    /// CRm.
    pub crm: u8,
    /// op2.
    pub op2: u8,
}

impl SysRegId {
    /// A register encoding.
    pub const fn new(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> Self {
        Self {
            op0,
            op1,
            crn,
            crm,
            op2,
        }
    }
}

/// Why a vCPU left guest mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuExit {
    /// HVC or SMC: an SMCCC call (function id in x0).
    Call {
        /// HVC or SMC.
        conduit: Conduit,
        /// The instruction's immediate; SMCCC calls use 0.
        imm: u16,
    },
    /// A stage-2 data abort.
    DataAbort {
        /// Faulting guest-physical address.
        ipa: Ipa,
        /// Faulting guest-virtual address (for the abort injected back).
        far: u64,
        /// The access, when the syndrome describes it.
        access: Option<MmioAccess>,
        /// Whether it was a write (valid even without a full syndrome).
        write: bool,
    },
    /// A stage-2 instruction abort.
    InstructionAbort {
        /// Faulting guest-physical address.
        ipa: Ipa,
        /// Faulting guest-virtual address.
        far: u64,
    },
    /// A trapped MRS/MSR.
    SysReg(SysRegAccess),
    /// A trapped WFI or WFE.
    Wfx,
    /// A physical interrupt for the hypervisor (its SGIs); handled by the backend.
    Interrupt,
    /// An asynchronous SError from the guest: its state cannot be trusted.
    SError {
        /// Syndrome.
        syndrome: u64,
    },
    /// An exception class this hypervisor does not handle.
    Unknown {
        /// Raw syndrome register.
        syndrome: u64,
    },
}
