//! The guest's SMCCC calls (HVC or SMC): PSCI and the SMCCC queries, rtvisor's own
//! hypercalls in the vendor-specific hypervisor range, their function identifiers and
//! return codes. [`call`] decodes a call into a [`VcpuExit`] for the exit handler, or
//! answers it here when the ABI alone knows the answer (versions, features);
//! [`encode`] turns the handler's answer into x0.

use rtvisor_core::exit::{VcpuExit, HYPERCALL_ARGS};
use rtvisor_core::seam::{CallError, CpuPower, Reply};

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_SUSPEND (32-bit).
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// CPU_SUSPEND (64-bit).
pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
/// CPU_OFF.
pub const CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON (32-bit).
pub const CPU_ON_32: u32 = 0x8400_0003;
/// AFFINITY_INFO (32-bit).
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// MIGRATE_INFO_TYPE.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// PSCI_FEATURES.
pub const PSCI_FEATURES: u32 = 0x8400_000A;
/// CPU_ON (64-bit).
pub const CPU_ON_64: u32 = 0xC400_0003;
/// AFFINITY_INFO (64-bit).
pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
/// SMCCC_VERSION.
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// SMCCC_ARCH_FEATURES.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;

/// PSCI version reported to guests: 1.1.
pub const VERSION_1_1: u64 = 0x0001_0001;
/// MIGRATE_INFO_TYPE answer: no trusted OS that needs migration.
pub const MIGRATE_NOT_PRESENT: u64 = 2;

/// rtvisor's hypercalls: SMCCC owner 6 (vendor-specific hypervisor service), fast
/// calls, SMC32 (`0x8600_00nn`) or SMC64 (`0xC600_00nn`); `nn` is the call number.
const OWNER_MASK: u32 = 0xbfff_ff00;
const OWNER_VENDOR_HYP: u32 = 0x8600_0000;
/// The SMC64 bit of a function id.
const SMC64: u32 = 0x4000_0000;

/// The MPIDR affinity fields (Aff3, Aff2, Aff1, Aff0) a CPU is named by.
pub const AFF_MASK: u64 = 0xff_00ff_ffff;

/// The SMC64 function id of rtvisor hypercall number `nn`.
pub const fn hypercall_fid(nn: u32) -> u64 {
    (0xc600_0000 | nn) as u64
}

/// PSCI / SMCCC error codes, as the guest sees them in x0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum PsciError {
    /// NOT_SUPPORTED (also SMCCC's unknown-function answer).
    NotSupported = -1,
    /// INVALID_PARAMETERS.
    InvalidParameters = -2,
    /// DENIED.
    Denied = -3,
    /// ALREADY_ON.
    AlreadyOn = -4,
    /// ON_PENDING.
    OnPending = -5,
    /// INTERNAL_FAILURE.
    InternalFailure = -6,
    /// INVALID_ADDRESS.
    InvalidAddress = -9,
}

impl PsciError {
    /// The value placed in x0 (sign-extended to 64 bits).
    pub const fn to_x0(self) -> u64 {
        self as i32 as i64 as u64
    }
}

/// A PSCI or SMCCC function, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// PSCI_VERSION.
    Version,
    /// PSCI_FEATURES for a function id.
    Features(u32),
    /// CPU_ON: target MPIDR, entry point, context id.
    CpuOn {
        /// Target MPIDR (affinity fields).
        target: u64,
        /// Guest-physical entry point.
        entry: u64,
        /// Passed in x0 to the started vCPU.
        context: u64,
    },
    /// CPU_SUSPEND (any power state).
    CpuSuspend,
    /// CPU_OFF.
    CpuOff,
    /// AFFINITY_INFO (level 0 only is supported).
    AffinityInfo {
        /// Target MPIDR.
        target: u64,
        /// Lowest affinity level.
        level: u64,
    },
    /// MIGRATE_INFO_TYPE.
    MigrateInfoType,
    /// SYSTEM_OFF.
    SystemOff,
    /// SYSTEM_RESET.
    SystemReset,
    /// SMCCC_VERSION.
    SmcccVersion,
    /// SMCCC_ARCH_FEATURES.
    SmcccArchFeatures(u32),
    /// Anything else: answered NOT_SUPPORTED.
    Unknown(u32),
}

/// Decodes a function from its id in x0 and the arguments in x1..x3. For SMC32
/// calls the upper halves of the arguments are ignored, as SMCCC says.
#[inline]
pub fn function(x0: u64, x1: u64, x2: u64, x3: u64) -> Function {
    let fid = x0 as u32;
    let w = |v: u64| v as u32 as u64;
    match fid {
        PSCI_VERSION => Function::Version,
        PSCI_FEATURES => Function::Features(x1 as u32),
        CPU_ON_64 => Function::CpuOn {
            target: x1,
            entry: x2,
            context: x3,
        },
        CPU_ON_32 => Function::CpuOn {
            target: w(x1),
            entry: w(x2),
            context: w(x3),
        },
        CPU_SUSPEND_32 | CPU_SUSPEND_64 => Function::CpuSuspend,
        CPU_OFF => Function::CpuOff,
        AFFINITY_INFO_64 => Function::AffinityInfo {
            target: x1,
            level: x2,
        },
        AFFINITY_INFO_32 => Function::AffinityInfo {
            target: w(x1),
            level: w(x2),
        },
        MIGRATE_INFO_TYPE => Function::MigrateInfoType,
        SYSTEM_OFF => Function::SystemOff,
        SYSTEM_RESET => Function::SystemReset,
        SMCCC_VERSION => Function::SmcccVersion,
        SMCCC_ARCH_FEATURES => Function::SmcccArchFeatures(x1 as u32),
        other => Function::Unknown(other),
    }
}

/// Function ids this hypervisor implements (for PSCI_FEATURES).
pub const IMPLEMENTED: &[u32] = &[
    PSCI_VERSION,
    PSCI_FEATURES,
    CPU_SUSPEND_32,
    CPU_SUSPEND_64,
    CPU_ON_32,
    CPU_ON_64,
    CPU_OFF,
    AFFINITY_INFO_32,
    AFFINITY_INFO_64,
    MIGRATE_INFO_TYPE,
    SYSTEM_OFF,
    SYSTEM_RESET,
    SMCCC_VERSION,
];

/// Answer to PSCI_FEATURES(fid): 0 when implemented, NOT_SUPPORTED otherwise.
pub fn features(fid: u32) -> u64 {
    if IMPLEMENTED.contains(&fid) {
        0
    } else {
        PsciError::NotSupported.to_x0()
    }
}

/// The answer to a call that needs no VM or vCPU state (version and feature
/// queries), or `None` when the call needs the full exit handler.
#[inline]
pub fn stateless(x0: u64, x1: u64) -> Option<u64> {
    match function(x0, x1, 0, 0) {
        Function::Version | Function::SmcccVersion => Some(VERSION_1_1),
        Function::Features(fid) => Some(features(fid)),
        Function::SmcccArchFeatures(fid) if fid == SMCCC_ARCH_FEATURES => Some(0),
        Function::SmcccArchFeatures(_) => Some(PsciError::NotSupported.to_x0()),
        Function::MigrateInfoType => Some(MIGRATE_NOT_PRESENT),
        // A standby that a wake-up event ends at once: PSCI lets a suspend return
        // SUCCESS early, and a pinned vCPU that spins instead of sleeping costs no
        // other VM anything. The power state is not looked at (its format is the
        // platform's); a power-down request is demoted to this standby, so the call
        // always returns to its caller.
        Function::CpuSuspend => Some(0),
        _ => None,
    }
}

/// What the function id alone says about a call (the light HVC/SMC path's first look).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    /// Answered by the ABI alone (version and feature queries): the value for x0.
    Answer(u64),
    /// No service here implements it: NOT_SUPPORTED, nothing to decide.
    Unknown,
    /// A call for the exit handler ([`stateful_call`]).
    Handler,
}

/// PSCI calls the exit handler answers (their number within the PSCI range, SMC32 or
/// SMC64): CPU_OFF, CPU_ON, AFFINITY_INFO, SYSTEM_OFF, SYSTEM_RESET.
const PSCI_STATEFUL: u32 = 1 << 2 | 1 << 3 | 1 << 4 | 1 << 8 | 1 << 9;

/// [`stateless`], and whether a call it declines is unknown (no service here
/// implements it). The version path is `stateless` alone; the rest is a mask test on
/// the function id, never a second decode.
#[inline]
pub fn quick(x0: u64, x1: u64) -> Quick {
    if let Some(v) = stateless(x0, x1) {
        return Quick::Answer(v);
    }
    let fid = x0 as u32;
    let n = fid & 0xff;
    let psci = fid & !SMC64 & !0xff == PSCI_VERSION;
    let stateful = psci && n < 32 && PSCI_STATEFUL >> n & 1 != 0;
    if stateful || fid & OWNER_MASK == OWNER_VENDOR_HYP {
        Quick::Handler
    } else {
        Quick::Unknown
    }
}

/// The number and arguments of an rtvisor hypercall (an SMCCC call with immediate 0
/// and function id W0 = `x0`), or `None` for another call. The arguments of an SMC32
/// call are their low halves.
#[inline]
pub fn hypercall(x0: u64, x1: u64, x2: u64) -> Option<(u64, [u64; HYPERCALL_ARGS])> {
    let fid = x0 as u32;
    if fid & OWNER_MASK != OWNER_VENDOR_HYP {
        return None;
    }
    let w = |v: u64| if fid & SMC64 == 0 { v & 0xffff_ffff } else { v };
    Some((u64::from(fid & 0xff), [w(x1), w(x2)]))
}

/// What a guest's SMCCC call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Answered by the ABI alone: the value for x0.
    Answer(u64),
    /// For the exit handler.
    Exit(VcpuExit),
}

/// Decodes the call of an `HVC #imm` or `SMC #imm` with x0..x3 = `x`. Only immediate 0
/// is SMCCC; the function id is W0 (the upper half of x0 is ignored) and the
/// arguments of an SMC32 call are their low halves.
#[inline]
pub fn call(imm: u16, x: [u64; 4]) -> Call {
    if imm == 0 {
        if let Some(v) = stateless(x[0], x[1]) {
            return Call::Answer(v);
        }
    }
    stateful_call(imm, x)
}

/// [`call`] for a call that [`stateless`] has already declined (the HVC fast path
/// asks it first, and must not pay for it twice).
pub fn stateful_call(imm: u16, x: [u64; 4]) -> Call {
    let [x0, x1, x2, x3] = x;
    if imm != 0 {
        return Call::Answer(PsciError::NotSupported.to_x0());
    }
    let fid = x0 as u32;
    if let Some((nr, args)) = hypercall(x0, x1, x2) {
        return Call::Exit(VcpuExit::Hypercall { nr, args });
    }
    Call::Exit(match function(x0, x1, x2, x3) {
        Function::CpuOn {
            target,
            entry,
            context,
        } => VcpuExit::CpuOn {
            target: target & AFF_MASK,
            entry,
            arg: context,
        },
        Function::CpuOff => VcpuExit::CpuOff,
        // Only level 0 is implemented (PSCI 1.0 makes the others optional).
        Function::AffinityInfo { level: 0, target } => VcpuExit::CpuState {
            target: target & AFF_MASK,
        },
        Function::AffinityInfo { .. } => {
            return Call::Answer(PsciError::InvalidParameters.to_x0());
        }
        Function::SystemOff => VcpuExit::SystemOff,
        Function::SystemReset => VcpuExit::SystemReset,
        Function::Unknown(fid) => VcpuExit::UnknownCall { id: u64::from(fid) },
        // Answered by `stateless` above.
        Function::Version
        | Function::Features(_)
        | Function::SmcccVersion
        | Function::SmcccArchFeatures(_)
        | Function::MigrateInfoType
        | Function::CpuSuspend => VcpuExit::UnknownCall { id: u64::from(fid) },
    })
}

/// The x0 a call's answer is.
pub fn encode(r: Result<Reply, CallError>) -> u64 {
    match r {
        Ok(Reply::Value(v)) => v,
        // AFFINITY_INFO: ON 0, OFF 1, ON_PENDING 2.
        Ok(Reply::Power(CpuPower::On)) => 0,
        Ok(Reply::Power(CpuPower::Off)) => 1,
        Ok(Reply::Power(CpuPower::OnPending)) => 2,
        Err(e) => PsciError::of(e).to_x0(),
    }
}

impl PsciError {
    /// The PSCI code of a call error.
    pub const fn of(e: CallError) -> Self {
        match e {
            CallError::NotSupported => Self::NotSupported,
            CallError::InvalidParameters => Self::InvalidParameters,
            CallError::Denied => Self::Denied,
            CallError::AlreadyOn => Self::AlreadyOn,
            CallError::OnPending => Self::OnPending,
            CallError::InvalidAddress => Self::InvalidAddress,
        }
    }
}

#[cfg(test)]
mod tests;
