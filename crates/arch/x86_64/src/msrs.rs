//! Which MSRs a guest reaches without an exit. Only state the hardware switches
//! between guest and host, or state the hypervisor never uses, qualifies: on Intel
//! the VMCS guest-state fields (FS/GS base, SYSENTER_*) and the SYSCALL MSRs and
//! KERNEL_GS_BASE ([`HELD_BY_CPU`]: the hypervisor has no user mode, never runs
//! SYSCALL or SWAPGS, and runs one vCPU per CPU, so the guest may own them in the CPU
//! itself; VT-x resets them when a vCPU starts); on AMD the VMCB save area that
//! VMRUN, VMLOAD and VMSAVE switch (all of these). Every other MSR exits: the engines
//! answer unknown ones with #GP ([`crate::exit::default_answer`]).

/// One MSR let through, for reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passthrough {
    pub msr: u32,
    pub name: &'static str,
    /// Intel switches it (VMCS guest state).
    pub vmx: bool,
    /// AMD switches it (VMCB save area).
    pub svm: bool,
}

const fn both(msr: u32, name: &'static str) -> Passthrough {
    Passthrough {
        msr,
        name,
        vmx: true,
        svm: true,
    }
}

pub const PASSTHROUGH: &[Passthrough] = &[
    both(0x174, "SYSENTER_CS"),
    both(0x175, "SYSENTER_ESP"),
    both(0x176, "SYSENTER_EIP"),
    both(0xC000_0081, "STAR"),
    both(0xC000_0082, "LSTAR"),
    both(0xC000_0083, "CSTAR"),
    both(0xC000_0084, "SFMASK"),
    both(0xC000_0100, "FS_BASE"),
    both(0xC000_0101, "GS_BASE"),
    both(0xC000_0102, "KERNEL_GS_BASE"),
];

/// The MSRs a VT-x guest owns in the CPU itself (let through, and switched by
/// neither the VMCS nor the hypervisor), with their values at reset (STAR, LSTAR,
/// CSTAR, SFMASK, KERNEL_GS_BASE: all zero). The VMX engine writes these when a vCPU
/// starts or restarts, so nothing of a VM's previous life or of another VM that ran
/// on the CPU before reaches it.
pub const HELD_BY_CPU: &[(u32, u64)] = &[
    (0xC000_0081, 0),
    (0xC000_0082, 0),
    (0xC000_0083, 0),
    (0xC000_0084, 0),
    (0xC000_0102, 0),
];

/// IA32_EFER.
pub const EFER: u32 = 0xC000_0080;
/// The EFER bits a guest may set: SCE (SYSCALL), LME (long mode), NXE (no-execute);
/// LMA (long mode active) is the CPU's and keeps its value.
pub const EFER_GUEST: u64 = 1 | 1 << 8 | 1 << 11;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;

/// The guest's EFER after it writes `new` over `old` (both without the
/// hypervisor's bits), or `None`: a reserved bit (#GP), LME changed while long mode
/// is active.
pub const fn efer_write(old: u64, new: u64) -> Option<u64> {
    if new & !(EFER_GUEST | EFER_LMA) != 0 {
        return None;
    }
    if old & EFER_LMA != 0 && (new ^ old) & (1 << 8) != 0 {
        return None;
    }
    Some((new & EFER_GUEST) | (old & EFER_LMA))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svm::maps::Msrpm;
    use crate::vmx::bitmaps::Bitmap;

    #[test]
    fn efer_writes_keep_to_the_guest_bits() {
        assert_eq!(efer_write(0, 0x100), Some(0x100));
        assert_eq!(efer_write(0x100, 0x901), Some(0x901));
        // LMA is the CPU's: a write neither sets nor clears it.
        assert_eq!(efer_write(0x500, 0x900), Some(0xD00));
        assert_eq!(efer_write(0, 0x400), Some(0));
        // SVME (bit 12) and any reserved bit: #GP.
        assert_eq!(efer_write(0x100, 0x1100), None);
        assert_eq!(efer_write(0, 1 << 63), None);
        // LME may not change while long mode is active.
        assert_eq!(efer_write(0x500, 0x400), None);
    }

    #[test]
    fn nothing_the_hypervisor_owns_is_let_through() {
        // EFER, APIC base, the VMX capability MSRs, FEATURE_CONTROL, VM_CR,
        // VM_HSAVE_PA, PAT, TSC, the x2APIC range.
        let owned = [
            0xC000_0080,
            0x1B,
            0x480,
            0x48F,
            0x3A,
            0xC001_0114,
            0xC001_0117,
            0x277,
            0x10,
            0x830,
        ];
        for p in PASSTHROUGH {
            assert!(!owned.contains(&p.msr), "{}", p.name);
            assert!(p.svm, "{}: AMD switches everything Intel does", p.name);
            assert!(p.vmx, "{}: VT-x keeps it too", p.name);
        }
        // Each one fits the vendor's bitmap.
        let (mut m, mut b) = (Msrpm::ALL, Bitmap::ALL);
        for p in PASSTHROUGH {
            assert!(m.pass(p.msr, true, true), "{}", p.name);
            if p.vmx {
                assert!(b.pass_msr(p.msr, true, true), "{}", p.name);
            }
        }
        assert!(!b.msr_exits(0xC000_0100, true) && !b.msr_exits(0xC000_0082, false));
        assert!(b.msr_exits(0xC000_0080, true) && b.msr_exits(0xC000_0103, false));
        assert!(m.intercepts(0xC000_0080, true));
    }

    #[test]
    fn what_the_cpu_holds_for_a_vmx_guest_is_reset() {
        // The SYSCALL MSRs and KERNEL_GS_BASE: let through on VT-x, switched by no
        // VMCS field, so each is in the reset list; the VMCS switches the others.
        let vmcs = [0x174, 0x175, 0x176, 0xC000_0100, 0xC000_0101];
        for p in PASSTHROUGH {
            let held = HELD_BY_CPU.iter().any(|&(m, _)| m == p.msr);
            assert_eq!(held, !vmcs.contains(&p.msr), "{}", p.name);
        }
        for &(m, v) in HELD_BY_CPU {
            assert!(PASSTHROUGH.iter().any(|p| p.msr == m && p.vmx), "{m:#x}");
            assert_eq!(v, 0, "{m:#x}: zero at reset");
        }
        assert_eq!(HELD_BY_CPU.len(), 5);
    }
}
