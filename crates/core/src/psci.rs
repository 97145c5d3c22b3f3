//! SMCCC and PSCI function identifiers and return codes, and decoding of a guest call.

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_SUSPEND (32-bit).
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
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

/// A decoded guest call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
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

/// Decodes a call from the function id in x0 and the arguments in x1..x3. For SMC32
/// calls the upper halves of the arguments are ignored, as SMCCC says.
pub fn decode(x0: u64, x1: u64, x2: u64, x3: u64) -> Call {
    let fid = x0 as u32;
    let w = |v: u64| v as u32 as u64;
    match fid {
        PSCI_VERSION => Call::Version,
        PSCI_FEATURES => Call::Features(x1 as u32),
        CPU_ON_64 => Call::CpuOn {
            target: x1,
            entry: x2,
            context: x3,
        },
        CPU_ON_32 => Call::CpuOn {
            target: w(x1),
            entry: w(x2),
            context: w(x3),
        },
        CPU_OFF => Call::CpuOff,
        AFFINITY_INFO_64 => Call::AffinityInfo {
            target: x1,
            level: x2,
        },
        AFFINITY_INFO_32 => Call::AffinityInfo {
            target: w(x1),
            level: w(x2),
        },
        MIGRATE_INFO_TYPE => Call::MigrateInfoType,
        SYSTEM_OFF => Call::SystemOff,
        SYSTEM_RESET => Call::SystemReset,
        SMCCC_VERSION => Call::SmcccVersion,
        SMCCC_ARCH_FEATURES => Call::SmcccArchFeatures(x1 as u32),
        other => Call::Unknown(other),
    }
}

/// Function ids this hypervisor implements (for PSCI_FEATURES).
pub const IMPLEMENTED: &[u32] = &[
    PSCI_VERSION,
    PSCI_FEATURES,
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
pub fn stateless(x0: u64, x1: u64) -> Option<u64> {
    match decode(x0, x1, 0, 0) {
        Call::Version | Call::SmcccVersion => Some(VERSION_1_1),
        Call::Features(fid) => Some(features(fid)),
        Call::SmcccArchFeatures(fid) if fid == SMCCC_ARCH_FEATURES => Some(0),
        Call::SmcccArchFeatures(_) => Some(PsciError::NotSupported.to_x0()),
        Call::MigrateInfoType => Some(MIGRATE_NOT_PRESENT),
        _ => None,
    }
}

/// vCPU index named by a guest MPIDR, given the affinity each vCPU sees (`mpidrs[i]`
/// for vCPU `i`); only the affinity fields are compared.
pub fn vcpu_of_mpidr(mpidrs: &[u64], mpidr: u64) -> Option<usize> {
    const AFF_MASK: u64 = 0xff_00ff_ffff;
    mpidrs
        .iter()
        .position(|&m| m & AFF_MASK == mpidr & AFF_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_widths() {
        assert_eq!(
            decode(CPU_ON_32 as u64, 0xffff_ffff_0000_0001, 0x4008_0000, 7),
            Call::CpuOn {
                target: 1,
                entry: 0x4008_0000,
                context: 7
            }
        );
        assert_eq!(
            decode(CPU_ON_64 as u64, 1, 0x1_4008_0000, 7),
            Call::CpuOn {
                target: 1,
                entry: 0x1_4008_0000,
                context: 7
            }
        );
        assert_eq!(decode(0xdead_0000_8400_0000, 0, 0, 0), Call::Version);
        assert_eq!(decode(0x8600_ff01, 0, 0, 0), Call::Unknown(0x8600_ff01));
    }

    #[test]
    fn error_codes_are_sign_extended() {
        assert_eq!(PsciError::NotSupported.to_x0(), u64::MAX);
        assert_eq!(PsciError::AlreadyOn.to_x0(), (-4i64) as u64);
    }

    #[test]
    fn features_lists_only_implemented() {
        assert_eq!(features(SYSTEM_RESET), 0);
        assert_eq!(features(CPU_SUSPEND_32), PsciError::NotSupported.to_x0());
    }

    #[test]
    fn stateless_calls_need_no_vm() {
        assert_eq!(stateless(PSCI_VERSION as u64, 0), Some(VERSION_1_1));
        assert_eq!(stateless(PSCI_FEATURES as u64, CPU_ON_64 as u64), Some(0));
        assert_eq!(
            stateless(MIGRATE_INFO_TYPE as u64, 0),
            Some(MIGRATE_NOT_PRESENT)
        );
        assert_eq!(stateless(CPU_ON_64 as u64, 1), None);
        assert_eq!(stateless(SYSTEM_OFF as u64, 0), None);
        assert_eq!(stateless(0x8600_ff01, 0), None);
    }

    #[test]
    fn mpidr_mapping() {
        // Virtual mode: vCPU i has Aff0 = i.
        let virt = [0, 1];
        assert_eq!(vcpu_of_mpidr(&virt, 0x8000_0001), Some(1));
        assert_eq!(vcpu_of_mpidr(&virt, 0x100), None);
        assert_eq!(vcpu_of_mpidr(&virt, 0x1_0000_0000), None);
        // Direct mode: the cores' real MPIDRs.
        let direct = [2, 3];
        assert_eq!(vcpu_of_mpidr(&direct, 0x8000_0003), Some(1));
        assert_eq!(vcpu_of_mpidr(&direct, 1), None);
    }
}
