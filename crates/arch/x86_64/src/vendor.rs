//! What the virtualization extensions of each vendor offer, decoded from their
//! capability MSRs (Intel VT-x) or CPUID leaf 0x8000_000A (AMD-V). Plain code; the
//! `vmx` and `svm` modules read the registers and turn the extension on.

/// IA32_VMX_BASIC and friends (Intel SDM volume 3, appendix A).
pub mod msr {
    pub const FEATURE_CONTROL: u32 = 0x3A;
    pub const VMX_BASIC: u32 = 0x480;
    pub const VMX_PROCBASED_CTLS: u32 = 0x482;
    pub const VMX_MISC: u32 = 0x485;
    pub const VMX_CR0_FIXED0: u32 = 0x486;
    pub const VMX_CR0_FIXED1: u32 = 0x487;
    pub const VMX_CR4_FIXED0: u32 = 0x488;
    pub const VMX_CR4_FIXED1: u32 = 0x489;
    pub const VMX_PROCBASED_CTLS2: u32 = 0x48B;
    pub const VMX_EPT_VPID_CAP: u32 = 0x48C;
    pub const VMX_TRUE_PROCBASED_CTLS: u32 = 0x48E;
    pub const EFER: u32 = 0xC000_0080;
    /// AMD: VM_CR (bit 4: SVM disabled by firmware).
    pub const VM_CR: u32 = 0xC001_0114;
    /// AMD: the host save area's physical address.
    pub const VM_HSAVE_PA: u32 = 0xC001_0117;
}

/// IA32_FEATURE_CONTROL bits.
pub const FC_LOCK: u64 = 1;
pub const FC_VMX_OUTSIDE_SMX: u64 = 1 << 2;

/// What IA32_FEATURE_CONTROL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureControl {
    /// Locked with VMX allowed outside SMX: use as is.
    Enabled,
    /// Not locked: write `value` (lock + VMX outside SMX) first.
    Unlocked { value: u64 },
    /// Locked by firmware with VMX off: VMXON would fault.
    Disabled,
}

impl FeatureControl {
    pub fn decode(v: u64) -> FeatureControl {
        if v & FC_LOCK == 0 {
            FeatureControl::Unlocked {
                value: v | FC_LOCK | FC_VMX_OUTSIDE_SMX,
            }
        } else if v & FC_VMX_OUTSIDE_SMX != 0 {
            FeatureControl::Enabled
        } else {
            FeatureControl::Disabled
        }
    }
}

/// A control register value with the VMX fixed bits applied: bits set in `fixed0`
/// must be 1, bits clear in `fixed1` must be 0.
pub const fn apply_fixed(value: u64, fixed0: u64, fixed1: u64) -> u64 {
    (value | fixed0) & fixed1
}

/// Intel VT-x capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmxCaps {
    /// The VMCS revision id that a VMXON region and every VMCS start with.
    pub revision: u32,
    /// Bytes of a VMXON region / VMCS (at most 4096).
    pub region_size: u32,
    pub secondary: bool,
    pub ept: bool,
    pub vpid: bool,
    pub unrestricted_guest: bool,
    pub ept_2m: bool,
    pub ept_4level: bool,
    pub ept_wb: bool,
    /// Virtual-interrupt delivery for x2APIC mode: the TPR shadow, "virtualize
    /// x2APIC mode", APIC-register virtualization and virtual-interrupt delivery
    /// may all be on (`vmx::apicv`).
    pub apicv: bool,
}

impl VmxCaps {
    /// From IA32_VMX_BASIC, the processor-based controls MSR (the TRUE one when
    /// BASIC bit 55 says it exists), the secondary controls and IA32_VMX_EPT_VPID_CAP.
    /// Allowed-1 settings are the high 32 bits of a controls MSR.
    pub fn decode(basic: u64, procbased: u64, procbased2: u64, ept_vpid: u64) -> VmxCaps {
        let secondary = procbased >> 32 & (1 << 31) != 0;
        let allowed2 = if secondary { procbased2 >> 32 } else { 0 };
        let ept = allowed2 & (1 << 1) != 0;
        let caps = if ept { ept_vpid } else { 0 };
        VmxCaps {
            revision: (basic & 0x7FFF_FFFF) as u32,
            region_size: ((basic >> 32) & 0x1FFF) as u32,
            secondary,
            ept,
            vpid: allowed2 & (1 << 5) != 0,
            unrestricted_guest: allowed2 & (1 << 7) != 0,
            ept_2m: caps & (1 << 16) != 0,
            ept_4level: caps & (1 << 6) != 0,
            ept_wb: caps & (1 << 14) != 0,
            apicv: procbased >> 32 & (1 << 21) != 0 && allowed2 & 0x310 == 0x310,
        }
    }

    /// Whether IA32_VMX_BASIC bit 55 says the TRUE controls MSRs exist.
    pub const fn has_true_ctls(basic: u64) -> bool {
        basic & (1 << 55) != 0
    }
}

/// AMD-V capabilities, from CPUID leaf 0x8000_000A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvmCaps {
    pub revision: u8,
    /// Number of ASIDs (ASID 0 is the host's).
    pub asids: u32,
    pub npt: bool,
    pub nrips: bool,
    pub flush_by_asid: bool,
}

impl SvmCaps {
    pub fn decode(eax: u32, ebx: u32, edx: u32) -> SvmCaps {
        SvmCaps {
            revision: (eax & 0xFF) as u8,
            asids: ebx,
            npt: edx & 1 != 0,
            nrips: edx & (1 << 3) != 0,
            flush_by_asid: edx & (1 << 6) != 0,
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl core::fmt::Display for VmxCaps {
    /// `ept=yes unrestricted-guest=yes vpid=yes ept-2m=yes ept-4level=yes revision=N`
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ept={} unrestricted-guest={} vpid={} ept-2m={} ept-4level={} apicv={} revision={:#x}",
            yes(self.ept),
            yes(self.unrestricted_guest),
            yes(self.vpid),
            yes(self.ept_2m),
            yes(self.ept_4level),
            yes(self.apicv),
            self.revision
        )
    }
}

impl core::fmt::Display for SvmCaps {
    /// `npt=yes asids=16 nrips=yes flush-by-asid=no revision=N`
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "npt={} asids={} nrips={} flush-by-asid={} revision={}",
            yes(self.npt),
            self.asids,
            yes(self.nrips),
            yes(self.flush_by_asid),
            self.revision
        )
    }
}

/// VM_CR bit 4: firmware disabled SVM.
pub const VM_CR_SVMDIS: u64 = 1 << 4;
/// EFER.SVME.
pub const EFER_SVME: u64 = 1 << 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_control() {
        assert_eq!(
            FeatureControl::decode(0),
            FeatureControl::Unlocked { value: 5 }
        );
        assert_eq!(FeatureControl::decode(5), FeatureControl::Enabled);
        assert_eq!(FeatureControl::decode(1), FeatureControl::Disabled);
        assert_eq!(FeatureControl::decode(3), FeatureControl::Disabled);
    }

    #[test]
    fn fixed_bits() {
        // CR0 fixed0 PE|NE|PG, fixed1 all but CD/NW.
        let v = apply_fixed(0x6000_0011, 0x8000_0021, 0xFFFF_FFFF_9FFF_FFFF);
        assert_eq!(v, 0x8000_0031);
    }

    #[test]
    fn vmx_caps() {
        let basic = (1u64 << 55) | (0x1000u64 << 32) | 0x0000_0004;
        let proc_ = (1u64 << 31) << 32;
        let proc2 = ((1u64 << 1) | (1 << 5) | (1 << 7)) << 32;
        let ept = (1 << 6) | (1 << 14) | (1 << 16);
        let c = VmxCaps::decode(basic, proc_, proc2, ept);
        assert_eq!((c.revision, c.region_size), (4, 0x1000));
        assert!(c.ept && c.vpid && c.unrestricted_guest && c.ept_2m && c.ept_4level && c.ept_wb);
        assert!(VmxCaps::has_true_ctls(basic));
        // Without "activate secondary controls" allowed, none of them count.
        let none = VmxCaps::decode(basic, 0, proc2, ept);
        assert!(
            !none.secondary && !none.ept && !none.vpid && !none.unrestricted_guest && !none.ept_2m
        );
        // Allowed-0 bits (the low half) are not capabilities.
        let low = VmxCaps::decode(basic, proc_, proc2 >> 32, ept);
        assert!(!low.ept && !low.unrestricted_guest);
    }

    #[test]
    fn svm_caps() {
        let c = SvmCaps::decode(1, 16, 1 | (1 << 3));
        assert_eq!((c.revision, c.asids), (1, 16));
        assert!(c.npt && c.nrips && !c.flush_by_asid);
        assert!(!SvmCaps::decode(1, 8, 0).npt);
        assert_eq!(
            format!("{c}"),
            "npt=yes asids=16 nrips=yes flush-by-asid=no revision=1"
        );
    }

    #[test]
    fn vmx_caps_text() {
        let c = VmxCaps::decode(4, (1u64 << 31) << 32, 0x82u64 << 32, 1 << 6);
        assert_eq!(
            format!("{c}"),
            "ept=yes unrestricted-guest=yes vpid=no ept-2m=no ept-4level=yes apicv=no revision=0x4"
        );
        let v = VmxCaps::decode(4, (1u64 << 31 | 1 << 21) << 32, 0x392u64 << 32, 1 << 6);
        assert!(v.apicv);
        // Without the TPR shadow, or without one of the three secondary controls: no.
        assert!(!VmxCaps::decode(4, (1u64 << 31) << 32, 0x392u64 << 32, 0).apicv);
        assert!(!VmxCaps::decode(4, (1u64 << 31 | 1 << 21) << 32, 0x192u64 << 32, 0).apicv);
    }
}
