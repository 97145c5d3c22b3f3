//! The vendor's virtualization extension on this CPU, by CPUID: VMX on Intel, SVM on
//! AMD.

use crate::cpuid::Vendor;
use crate::svm::{self, SvmError};
use crate::vendor::{SvmCaps, VmxCaps};
use crate::vmx::{self, VmxError};
use core::fmt;

/// What turning on the extension found.
#[derive(Debug, Clone, Copy)]
pub enum Virt {
    Vmx(Result<VmxCaps, VmxError>),
    Svm(Result<SvmCaps, SvmError>),
    Unknown,
}

/// Turns on (and for VMX, enters and leaves) the extension on CPU `index`.
pub fn probe(vendor: Vendor, index: usize) -> Virt {
    match vendor {
        Vendor::Intel => Virt::Vmx(vmx::probe(index)),
        Vendor::Amd => Virt::Svm(svm::probe(index)),
        Vendor::Other => Virt::Unknown,
    }
}

impl Virt {
    pub fn ok(&self) -> bool {
        matches!(self, Virt::Vmx(Ok(_)) | Virt::Svm(Ok(_)))
    }
}

impl fmt::Display for Virt {
    /// `vmx on: ...` (VMXON and VMXOFF succeeded), `svm on: ...`, or what failed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Virt::Vmx(Ok(c)) => write!(f, "vmx on: {c}"),
            Virt::Vmx(Err(e)) => write!(f, "vmx failed: {e:?}"),
            Virt::Svm(Ok(c)) => write!(f, "svm on: {c}"),
            Virt::Svm(Err(e)) => write!(f, "svm failed: {e:?}"),
            Virt::Unknown => write!(f, "no known virtualization extension"),
        }
    }
}
