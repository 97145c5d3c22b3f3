//! Intel VT-x: enter VMX root operation on this CPU: [`probe`] enters and leaves it
//! at boot, [`on`] enters it again to stay (for the VMCS engine).

use crate::cpu::{self, rdmsr, wrmsr};
use crate::vendor::{apply_fixed, msr, FeatureControl, VmxCaps};
use core::arch::asm;

/// Why VMX could not be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmxError {
    /// CPUID has no VMX.
    NotSupported,
    /// IA32_FEATURE_CONTROL is locked with VMX off.
    DisabledByFirmware,
    /// The VMXON region would not fit a page, or no page for this CPU.
    BadRegion,
    /// VMXON failed (CF or ZF set).
    VmxonFailed,
}

fn caps() -> VmxCaps {
    // SAFETY: the VMX capability MSRs exist when CPUID reports VMX (checked by the
    // caller); the secondary and EPT/VPID MSRs are read only when the ones before
    // say they exist.
    unsafe {
        let basic = rdmsr(msr::VMX_BASIC);
        let proc_msr = if VmxCaps::has_true_ctls(basic) {
            msr::VMX_TRUE_PROCBASED_CTLS
        } else {
            msr::VMX_PROCBASED_CTLS
        };
        let procbased = rdmsr(proc_msr);
        let first = VmxCaps::decode(basic, procbased, 0, 0);
        let procbased2 = if first.secondary {
            rdmsr(msr::VMX_PROCBASED_CTLS2)
        } else {
            0
        };
        let second = VmxCaps::decode(basic, procbased, procbased2, 0);
        let ept_vpid = if second.ept || second.vpid {
            rdmsr(msr::VMX_EPT_VPID_CAP)
        } else {
            0
        };
        VmxCaps::decode(basic, procbased, procbased2, ept_vpid)
    }
}

/// Enters VMX root operation on CPU `index` with its own VMXON region, then leaves it;
/// returns what VT-x offers.
pub fn probe(index: usize) -> Result<VmxCaps, VmxError> {
    if !cpu::features().vmx {
        return Err(VmxError::NotSupported);
    }
    // SAFETY: IA32_FEATURE_CONTROL exists on every CPU with VMX.
    let fc = unsafe { rdmsr(msr::FEATURE_CONTROL) };
    match FeatureControl::decode(fc) {
        FeatureControl::Enabled => {}
        // SAFETY: unlocked: setting lock + VMX-outside-SMX is the documented enable.
        FeatureControl::Unlocked { value } => unsafe { wrmsr(msr::FEATURE_CONTROL, value) },
        FeatureControl::Disabled => return Err(VmxError::DisabledByFirmware),
    }
    let caps = caps();
    if caps.region_size as usize > 4096 {
        return Err(VmxError::BadRegion);
    }
    // SAFETY: this is CPU `index`, and this is the only place that takes its page.
    let (page, pa) = unsafe { crate::percpu::vendor_page(index) }.ok_or(VmxError::BadRegion)?;
    page.0.fill(0);
    page.0[..4].copy_from_slice(&caps.revision.to_le_bytes());
    // SAFETY: the fixed-bit MSRs exist with VMX; the values keep PE, PG and every bit
    // the hypervisor set (fixed bits only add required ones) and set CR4.VMXE.
    unsafe {
        let cr0 = apply_fixed(
            cpu::cr0(),
            rdmsr(msr::VMX_CR0_FIXED0),
            rdmsr(msr::VMX_CR0_FIXED1),
        );
        cpu::write_cr0(cr0);
        let cr4 = cpu::cr4() | cpu::CR4_VMXE;
        let cr4 = apply_fixed(cr4, rdmsr(msr::VMX_CR4_FIXED0), rdmsr(msr::VMX_CR4_FIXED1));
        cpu::write_cr4(cr4);
    }
    let failed: u8;
    // SAFETY: VMXON takes the physical address of this CPU's zeroed, 4 KiB-aligned
    // region headed by the revision id; CR0/CR4 satisfy the fixed bits. VMXOFF leaves
    // at once (nothing runs in VMX root operation yet).
    unsafe {
        asm!(
            "vmxon [{pa}]",
            "setna {failed}",
            "jna 2f",
            "vmxoff",
            "2:",
            pa = in(reg) &pa,
            failed = out(reg_byte) failed,
            options(nostack)
        );
    }
    if failed != 0 {
        return Err(VmxError::VmxonFailed);
    }
    Ok(caps)
}

/// Enters VMX root operation again on CPU `index` (after [`probe`] prepared its
/// region, CR0 and CR4) and stays there.
pub fn on(index: usize) -> Result<(), VmxError> {
    // SAFETY: this is CPU `index`; the probe's reference to the page is gone.
    let (page, pa) = unsafe { crate::percpu::vendor_page(index) }.ok_or(VmxError::BadRegion)?;
    if page.0[..4] == [0; 4] || cpu::cr4() & cpu::CR4_VMXE == 0 {
        return Err(VmxError::BadRegion);
    }
    let failed: u8;
    // SAFETY: the region carries the revision id (written by the probe) and CR0/CR4
    // still satisfy the fixed bits; VMX root operation changes nothing the hypervisor
    // relies on.
    unsafe {
        asm!(
            "vmxon [{pa}]",
            "setna {failed}",
            pa = in(reg) &pa,
            failed = out(reg_byte) failed,
            options(nostack)
        );
    }
    if failed != 0 {
        return Err(VmxError::VmxonFailed);
    }
    Ok(())
}
