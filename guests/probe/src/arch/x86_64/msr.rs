//! Model-specific registers by class: EFER, the APIC base, the SYSCALL/SYSENTER
//! MSRs (guest state, which a VM owns), the VMX/SVM control MSRs (which it must not
//! see) and MSRs that do not exist (#GP). Every write is undone.

use core::fmt::Write;

use guest_common::exception::Fault;
use guest_common::guard;

use super::How;
use crate::report::{contained, leak, Outcome, Text};

const EFER: u32 = 0xc000_0080;
const EFER_LME: u64 = 1 << 8;
const EFER_SVME: u64 = 1 << 12;
const APIC_BASE: u32 = 0x1b;

/// RDMSR, guarded.
pub fn rdmsr(msr: u32) -> Result<u64, Fault> {
    guard::catch(|| {
        let (mut lo, mut hi) = (0u32, 0u32);
        // SAFETY: reading an MSR has no memory effects; #GP is caught by `catch`.
        unsafe {
            guest_common::guarded!("rdmsr", in("ecx") msr, inout("eax") lo, inout("edx") hi,)
        };
        u64::from(hi) << 32 | u64::from(lo)
    })
}

/// WRMSR, guarded. The caller says why the value is harmless should it stick.
pub fn wrmsr(msr: u32, v: u64) -> Result<(), Fault> {
    guard::catch(|| {
        let (lo, hi) = (v as u32, (v >> 32) as u32);
        // SAFETY: the caller documents why the value is harmless to this VM should it
        // stick; #GP is caught by `catch`.
        unsafe { guest_common::guarded!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi,) };
    })
}

/// EFER: SVME set (nested SVM, which no VM gets), LME cleared in long mode (#GP by
/// the architecture), a reserved bit set (#GP). Contained when none sticks.
pub fn efer() -> Outcome {
    const CASE: &str = "msr-efer";
    let before = match rdmsr(EFER) {
        Ok(v) => v,
        Err(f) => return contained(CASE, format_args!("EFER read refused: {}", How(&f))),
    };
    let svme = wrmsr(EFER, before | EFER_SVME);
    let after = rdmsr(EFER).unwrap_or(before);
    let _ = wrmsr(EFER, before);
    let lme = wrmsr(EFER, before & !EFER_LME);
    let reserved = wrmsr(EFER, before | 1 << 20);
    let _ = wrmsr(EFER, before);
    if after & EFER_SVME != 0 && before & EFER_SVME == 0 {
        return leak(
            CASE,
            format_args!("EFER.SVME stuck ({:#x} -> {:#x})", before, after),
        );
    }
    if lme.is_ok() || reserved.is_ok() {
        return leak(
            CASE,
            format_args!(
                "EFER accepted LME clear={} reserved bit={}",
                lme.is_ok(),
                reserved.is_ok()
            ),
        );
    }
    let mut how = Text::new();
    let _ = match svme {
        Err(f) => write!(how, "refused: {}", How(&f)),
        Ok(()) => write!(how, "ignored"),
    };
    contained(
        CASE,
        format_args!(
            "EFER {:#x}: SVME {}; LME clear and reserved bit refused",
            before,
            how.as_str()
        ),
    )
}

/// The APIC base moved over `other-vm` (or 0x1000_0000): contained when refused or
/// ignored; undone either way.
pub fn apic_base() -> Outcome {
    const CASE: &str = "msr-apic-base";
    let before = match rdmsr(APIC_BASE) {
        Ok(v) => v,
        Err(f) => return contained(CASE, format_args!("APIC base read refused: {}", How(&f))),
    };
    let moved = (before & 0xfff) | 0x1000_0000;
    let w = wrmsr(APIC_BASE, moved);
    let after = rdmsr(APIC_BASE).unwrap_or(before);
    let _ = wrmsr(APIC_BASE, before);
    match (w, after == moved) {
        (_, true) => leak(
            CASE,
            format_args!("APIC base moved to {:#x}", after & !0xfff),
        ),
        (Err(f), false) => contained(CASE, format_args!("move refused: {}", How(&f))),
        (Ok(()), false) => contained(CASE, format_args!("move ignored, base {:#x}", after)),
    }
}

/// SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE: guest state the
/// VM owns. Each is written, read back and restored; contained when each write
/// stayed this vCPU's (read back as written, or refused).
pub fn sysenter_star() -> Outcome {
    const CASE: &str = "msr-sysenter-star";
    const MSRS: [(u32, u64); 8] = [
        (0x174, 0x10),
        (0x175, 0xffff_8000_0000_1000),
        (0x176, 0xffff_8000_0000_2000),
        (0xc000_0081, 0x0023_0010_0000_0000),
        (0xc000_0082, 0xffff_8000_0000_3000),
        (0xc000_0083, 0xffff_8000_0000_4000),
        (0xc000_0084, 0x4700),
        (0xc000_0102, 0xffff_8000_0000_5000),
    ];
    let (mut kept, mut refused) = (0, 0);
    for (msr, v) in MSRS {
        let before = rdmsr(msr);
        match wrmsr(msr, v) {
            Ok(()) => {
                if rdmsr(msr) == Ok(v) {
                    kept += 1;
                }
                if let Ok(b) = before {
                    let _ = wrmsr(msr, b);
                }
            }
            Err(_) => refused += 1,
        }
    }
    if kept + refused != MSRS.len() {
        return leak(
            CASE,
            format_args!(
                "{} of {} writes neither kept nor refused",
                MSRS.len() - kept - refused,
                MSRS.len()
            ),
        );
    }
    contained(
        CASE,
        format_args!(
            "{} guest-owned MSRs: {} kept (this vCPU's state), {} refused; restored",
            MSRS.len(),
            kept,
            refused
        ),
    )
}

/// IA32_FEATURE_CONTROL, the VMX capability MSRs, VM_CR and VM_HSAVE_PA: no VM gets
/// VMX or SVM. Contained when each access faults, or reads zero and writes do not
/// stick.
pub fn vmx_svm_control() -> Outcome {
    const CASE: &str = "msr-vmx-svm-control";
    // (msr, name, a write that would enable VMX/SVM for the guest, or 0 for none)
    const MSRS: [(u32, &str, u64); 6] = [
        (0x3a, "FEATURE_CONTROL", 0x5),
        (0x480, "VMX_BASIC", 0),
        (0x481, "VMX_PINBASED_CTLS", 0),
        (0x48b, "VMX_PROCBASED_CTLS2", 0),
        (0xc001_0114, "VM_CR", 0),
        (0xc001_0117, "VM_HSAVE_PA", 0x1000_0000),
    ];
    let mut how = Text::new();
    for (msr, name, v) in MSRS {
        let read = rdmsr(msr);
        if let Ok(r) = read {
            if r != 0 && msr != 0x3a && msr != 0xc001_0114 {
                return leak(CASE, format_args!("{} reads {:#x}", name, r));
            }
        }
        if v != 0 {
            let w = wrmsr(msr, v);
            let back = rdmsr(msr);
            if let Ok(b) = read {
                let _ = wrmsr(msr, b);
            }
            if w.is_ok() && back == Ok(v) {
                return leak(CASE, format_args!("{} took {:#x}", name, v));
            }
        }
        let sep = if how.as_str().is_empty() { "" } else { ", " };
        let _ = match read {
            Err(f) => write!(how, "{}{} {}", sep, name, How(&f)),
            Ok(r) => write!(how, "{}{} {:#x}", sep, name, r),
        };
    }
    contained(CASE, format_args!("{}", how.as_str()))
}

/// MSRs that exist nowhere: each read must raise #GP.
pub fn unknown() -> Outcome {
    const CASE: &str = "msr-unknown";
    const MSRS: [u32; 4] = [0x0000_0bad, 0x4000_1234, 0xc001_0bad, 0xdead_beef];
    let mut first = None;
    for msr in MSRS {
        match rdmsr(msr) {
            Ok(v) => return leak(CASE, format_args!("MSR {:#x} reads {:#x}", msr, v)),
            Err(f) => {
                first.get_or_insert(f);
            }
        }
    }
    let f = first.expect("four MSRs tried");
    contained(
        CASE,
        format_args!("{} reads refused, e.g. {}", MSRS.len(), How(&f)),
    )
}
