//! What CPUID says, decoded from raw register values (the backend runs the
//! instruction; the decoding is tested on the host).

/// The CPU vendor, from leaf 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Intel,
    Amd,
    Other,
}

impl Vendor {
    /// From leaf 0's `ebx`, `edx`, `ecx` (the 12-byte vendor string in that order).
    pub fn from_leaf0(ebx: u32, edx: u32, ecx: u32) -> Vendor {
        let mut s = [0u8; 12];
        s[..4].copy_from_slice(&ebx.to_le_bytes());
        s[4..8].copy_from_slice(&edx.to_le_bytes());
        s[8..].copy_from_slice(&ecx.to_le_bytes());
        match &s {
            b"GenuineIntel" => Vendor::Intel,
            b"AuthenticAMD" => Vendor::Amd,
            _ => Vendor::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Vendor::Intel => "intel",
            Vendor::Amd => "amd",
            Vendor::Other => "unknown",
        }
    }
}

/// Raw CPUID registers of the leaves [`Features`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leaves {
    /// Leaf 1: `ecx`, `edx`.
    pub l1_ecx: u32,
    pub l1_edx: u32,
    /// Leaf 7 subleaf 0: `ebx` (0 when the leaf does not exist).
    pub l7_ebx: u32,
    /// Leaf 0x8000_0001: `ecx`, `edx` (0 when the leaf does not exist).
    pub e1_ecx: u32,
    pub e1_edx: u32,
}

/// The features the boot path and the vendor detection use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    pub vmx: bool,
    pub svm: bool,
    pub x2apic: bool,
    pub apic: bool,
    pub nx: bool,
    pub long_mode: bool,
    pub smep: bool,
    pub smap: bool,
}

const fn bit(v: u32, n: u32) -> bool {
    v & (1 << n) != 0
}

impl Features {
    pub fn decode(l: &Leaves) -> Features {
        Features {
            vmx: bit(l.l1_ecx, 5),
            x2apic: bit(l.l1_ecx, 21),
            apic: bit(l.l1_edx, 9),
            smep: bit(l.l7_ebx, 7),
            smap: bit(l.l7_ebx, 20),
            svm: bit(l.e1_ecx, 2),
            nx: bit(l.e1_edx, 20),
            long_mode: bit(l.e1_edx, 29),
        }
    }
}

/// The initial APIC id in leaf 1 `ebx` bits 31-24 (the low 8 bits of the id).
pub const fn leaf1_apic_id(ebx: u32) -> u32 {
    ebx >> 24
}

/// What a guest sees for CPUID `leaf`, from the hardware's answer `r` (eax, ebx,
/// ecx, edx): the hypervisor-present bit set, VMX and SMX (leaf 1) and SVM
/// (0x8000_0001) hidden, since a guest cannot use them (their instructions raise
/// #UD, and CR4.VMXE and SMXE are refused). Hidden too, for MSRs the hypervisor
/// does not keep per vCPU (a guest would get #GP on them): PAT (leaf 1 and
/// 0x8000_0001 EDX bit 16; IA32_PAT, the memory types come from the second stage),
/// RDTSCP (0x8000_0001 EDX bit 27) and RDPID (leaf 7 ECX bit 22; reserved in the
/// subleaves other than 0), whose IA32_TSC_AUX the host's would be; and machine
/// check (leaf 1 EDX bits 7 MCE and 14 MCA: the banks are the machine's, which the
/// hypervisor does not give a guest); IA32_TSC_ADJUST (leaf 7 EBX bit 1: the
/// guest's TSC is the VMCS's or VMCB's offset, not this MSR); and APERF/MPERF
/// (leaf 6 ECX bit 0), which Linux would read at every timer tick and get #GP. And
/// MONITOR/MWAIT (leaf 1 ECX bit 3): neither exits, so a guest idling in MWAIT
/// would wait on its monitored line, unseen by the hypervisor; without it guests
/// idle with HLT, which exits and which the hypervisor's interrupt delivery ends.
/// And the thermal and power controls whose MSRs are the machine's: ACPI thermal
/// monitor and clock control and TM (leaf 1 EDX bits 22 and 29: Linux then writes
/// IA32_THERM_INTERRUPT without a safe accessor), TM2, Enhanced SpeedStep and the
/// performance-capabilities MSR (leaf 1 ECX bits 8, 7 and 15), the digital thermal
/// sensor, power-limit notification and package thermal management (leaf 6 EAX bits
/// 0, 4 and 6), hardware P-states and HDC (leaf 6 EAX bits 7-11 and 13: Linux's
/// intel_pstate would write IA32_PM_ENABLE) and the energy-performance bias (leaf 6
/// ECX bit 3).
///
/// The bits, leaf by leaf, are the table [`HIDDEN`]; the hypervisor bit is the one
/// set.
pub const fn for_guest(leaf: u32, r: [u32; 4]) -> [u32; 4] {
    let mut out = r;
    let mut i = 0;
    while i < HIDDEN.len() {
        let (l, mask) = HIDDEN[i];
        if l == leaf {
            let mut k = 0;
            while k < 4 {
                out[k] &= !mask[k];
                k += 1;
            }
        }
        i += 1;
    }
    if leaf == 1 {
        out[2] |= HYPERVISOR;
    }
    out
}

/// Leaf 1 ECX: running under a hypervisor.
const HYPERVISOR: u32 = 1 << 31;

/// What guests do not see: (leaf, bits cleared in [EAX, EBX, ECX, EDX]).
const HIDDEN: [(u32, [u32; 4]); 4] = [
    // ECX: MONITOR 3, VMX 5, SMX 6, EST 7, TM2 8, PDCM 15.
    // EDX: MCE 7, MCA 14, PAT 16, ACPI 22, TM 29.
    (
        1,
        [
            0,
            0,
            1 << 3 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 15,
            1 << 7 | 1 << 14 | 1 << 16 | 1 << 22 | 1 << 29,
        ],
    ),
    // EAX: digital thermal sensor 0, power-limit notification 4, package thermal
    // management 6, HWP and its notification, activity window, EPP and package
    // request 7-11, HDC 13 (IA32_PM_ENABLE and the HWP MSRs are the machine's).
    // ECX: APERF/MPERF 0, energy-performance bias 3.
    (
        6,
        [1 | 1 << 4 | 1 << 6 | 0x1f << 7 | 1 << 13, 0, 1 | 1 << 3, 0],
    ),
    // EBX: IA32_TSC_ADJUST 1. ECX: RDPID 22.
    (7, [0, 1 << 1, 1 << 22, 0]),
    // ECX: SVM 2. EDX: PAT 16, RDTSCP 27.
    (0x8000_0001, [0, 0, 1 << 2, 1 << 16 | 1 << 27]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_see_a_hypervisor_and_no_vmx_or_svm() {
        assert_eq!(for_guest(1, [1, 2, 0x20, 4]), [1, 2, 1 << 31, 4]);
        assert_eq!(for_guest(1, [1, 2, 0x61, 4]), [1, 2, 1 << 31 | 1, 4]);
        assert_eq!(for_guest(0x8000_0001, [0, 0, 0x7, 0]), [0, 0, 0x3, 0]);
        assert_eq!(for_guest(0, [7, 8, 9, 10]), [7, 8, 9, 10]);
    }

    #[test]
    fn guests_see_no_pat_rdtscp_rdpid_or_machine_check() {
        let all = [u32::MAX; 4];
        assert_eq!(for_guest(1, all)[3] & (1 << 7 | 1 << 14 | 1 << 16), 0);
        assert_eq!(for_guest(7, all)[2] & (1 << 22), 0);
        assert_eq!(for_guest(0x8000_0001, all)[3] & (1 << 16 | 1 << 27), 0);
        assert_eq!(for_guest(7, all)[1], !(1 << 1));
    }

    #[test]
    fn guests_see_no_tsc_adjust_aperf_mperf_or_mwait() {
        let all = [u32::MAX; 4];
        assert_eq!(for_guest(7, all)[1] & 1 << 1, 0);
        assert_eq!(
            for_guest(6, all),
            [
                !(1 | 1 << 4 | 1 << 6 | 0x1f << 7 | 1 << 13),
                u32::MAX,
                !(1 | 1 << 3),
                u32::MAX
            ]
        );
        assert_eq!(for_guest(1, all)[2] & 1 << 3, 0, "no MONITOR/MWAIT");
    }

    #[test]
    fn guests_see_no_thermal_or_power_controls() {
        let all = [u32::MAX; 4];
        let l1 = for_guest(1, all);
        assert_eq!(l1[3] & (1 << 22 | 1 << 29), 0, "ACPI, TM");
        assert_eq!(l1[2] & (1 << 7 | 1 << 8 | 1 << 15), 0, "EST, TM2, PDCM");
        // The rest of leaf 1 stays (SSE3, x2APIC, the hypervisor bit; FPU, APIC).
        assert_eq!(l1[2] & (1 | 1 << 21 | 1 << 31), 1 | 1 << 21 | 1 << 31);
        assert_eq!(l1[3] & (1 | 1 << 9), 1 | 1 << 9);
    }

    #[test]
    fn vendors() {
        // "GenuineIntel": ebx "Genu", edx "ineI", ecx "ntel".
        let w = |s: &[u8; 4]| u32::from_le_bytes(*s);
        assert_eq!(
            Vendor::from_leaf0(w(b"Genu"), w(b"ineI"), w(b"ntel")),
            Vendor::Intel
        );
        assert_eq!(
            Vendor::from_leaf0(w(b"Auth"), w(b"enti"), w(b"cAMD")),
            Vendor::Amd
        );
        assert_eq!(
            Vendor::from_leaf0(w(b"Auth"), w(b"ntel"), w(b"enti")),
            Vendor::Other
        );
    }

    #[test]
    fn feature_bits() {
        let f = Features::decode(&Leaves {
            l1_ecx: 1 << 5 | 1 << 21,
            l1_edx: 1 << 9,
            l7_ebx: 1 << 7,
            e1_ecx: 0,
            e1_edx: 1 << 20 | 1 << 29,
        });
        assert!(f.vmx && f.x2apic && f.apic && f.smep && f.nx && f.long_mode);
        assert!(!f.svm && !f.smap);
        let amd = Features::decode(&Leaves {
            e1_ecx: 1 << 2,
            l7_ebx: 1 << 20,
            ..Leaves::default()
        });
        assert!(amd.svm && amd.smap && !amd.vmx);
        assert_eq!(leaf1_apic_id(0x0300_0800), 3);
    }
}
