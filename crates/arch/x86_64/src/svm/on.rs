//! AMD-V: turn SVM on for this CPU (EFER.SVME, VM_HSAVE_PA).

use crate::cpu::{self, rdmsr, wrmsr};
use crate::vendor::{msr, SvmCaps, EFER_SVME, VM_CR_SVMDIS};

/// Why SVM could not be turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvmError {
    /// CPUID has no SVM.
    NotSupported,
    /// VM_CR.SVMDIS is set.
    DisabledByFirmware,
    /// No host save page for this CPU.
    BadPage,
    /// EFER.SVME or VM_HSAVE_PA did not keep the value written.
    NotAccepted,
}

/// Sets EFER.SVME and VM_HSAVE_PA (this CPU's own page) on CPU `index`; returns what
/// AMD-V offers. SVM stays on (it costs nothing until VMRUN).
pub fn probe(index: usize) -> Result<SvmCaps, SvmError> {
    if !cpu::features().svm {
        return Err(SvmError::NotSupported);
    }
    // SAFETY: VM_CR exists on every CPU with SVM.
    if unsafe { rdmsr(msr::VM_CR) } & VM_CR_SVMDIS != 0 {
        return Err(SvmError::DisabledByFirmware);
    }
    // SAFETY: this is CPU `index`, and this is the only place that takes its page.
    let (page, pa) = unsafe { crate::percpu::vendor_page(index) }.ok_or(SvmError::BadPage)?;
    page.0.fill(0);
    // SAFETY: setting SVME only enables the SVM instructions; VM_HSAVE_PA gets a
    // 4 KiB-aligned page that belongs to this CPU alone.
    let (efer, hsave) = unsafe {
        wrmsr(msr::EFER, rdmsr(msr::EFER) | EFER_SVME);
        wrmsr(msr::VM_HSAVE_PA, pa);
        (rdmsr(msr::EFER), rdmsr(msr::VM_HSAVE_PA))
    };
    if efer & EFER_SVME == 0 || hsave != pa {
        return Err(SvmError::NotAccepted);
    }
    let [a, b, _, d] = cpu::cpuid(0x8000_000A, 0);
    Ok(SvmCaps::decode(a, b, d))
}
