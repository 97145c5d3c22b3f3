//! A vCPU's VMCS controls from the capability MSRs (unrestricted guest, EPT, VPID,
//! I/O and MSR bitmaps, HLT and the host's interrupts and NMIs exiting, the
//! preemption timer when there is one), and the invalidation of a VM's cached
//! translations.

use super::controls::{self, adjust};
use super::engine::{VmxFail, VmxSetup, CR0_OWNED, CR4_OWNED};
use super::fields::*;
use super::vmcs::vmwrite;
use crate::cpu::rdmsr;
use crate::vendor::{msr, VmxCaps};
use core::arch::asm;

/// The VMX-preemption timer as the controls set it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timer {
    /// Its rate (IA32_VMX_MISC bits 4:0), when it is on.
    pub shift: Option<u32>,
    /// "Save VMX-preemption timer value": an exit keeps what is left of the count.
    pub saved: bool,
}

fn caps_msr(pair: (u32, u32), true_ctls: bool) -> u64 {
    // SAFETY: the VMX capability MSRs exist (VMX is on); the TRUE ones only when
    // IA32_VMX_BASIC says so.
    unsafe { rdmsr(if true_ctls { pair.1 } else { pair.0 }) }
}

/// Writes the controls of the current VMCS for `s`, with the TPR shadow on
/// virtual-APIC page `vapic` where the CPU has it; also returns whether the CPU has
/// virtual-interrupt delivery for x2APIC mode (`apicv.rs`, whose secondary controls
/// go on while the guest's APIC is in x2APIC mode).
pub(super) fn controls(s: &VmxSetup, vapic: u64) -> Result<(Timer, bool), VmxFail> {
    // SAFETY: IA32_VMX_BASIC exists with VMX.
    let t = VmxCaps::has_true_ctls(unsafe { rdmsr(msr::VMX_BASIC) });
    let m = VmxFail::Missing;
    let mut timer = Timer::default();
    let pinv = adjust(
        PIN_CONTROLS,
        caps_msr(controls::msr::PIN, t),
        pin::EXTERNAL_INTERRUPT | pin::NMI,
        pin::PREEMPTION_TIMER,
    )
    .map_err(m)?;
    if pinv & pin::PREEMPTION_TIMER != 0 {
        // SAFETY: IA32_VMX_MISC exists with VMX.
        let misc = unsafe { rdmsr(msr::VMX_MISC) };
        timer.shift = Some((misc & 0x1F) as u32);
        vmwrite(GUEST_PREEMPTION_TIMER, u64::from(u32::MAX))?;
    }
    let procv = adjust(
        PROC_CONTROLS,
        caps_msr(controls::msr::PROC, t),
        proc::TSC_OFFSETTING
            | proc::HLT
            // CR8 is the emulated x2APIC's TPR (`crate::cr`), never the CPU's.
            | proc::CR8_LOAD
            | proc::CR8_STORE
            | proc::IO_BITMAPS
            | proc::MSR_BITMAPS
            | proc::SECONDARY,
        proc::TPR_SHADOW,
    )
    .map_err(m)?;
    // SAFETY: the secondary controls MSR exists when "activate secondary" may be 1
    // (checked by the adjust above).
    let p2caps = unsafe { rdmsr(controls::msr::PROC2) };
    let proc2v = adjust(
        PROC_CONTROLS2,
        p2caps,
        proc2::EPT | proc2::VPID | proc2::UNRESTRICTED,
        // INVPCID runs in the guest, on its VPID's translations only (INVLPG
        // exiting stays off); Linux uses it whenever CPUID offers it.
        proc2::WBINVD | proc2::INVPCID,
    )
    .map_err(m)?;
    let apicv_may = (p2caps >> 32) as u32 & super::apicv::PROC2_APICV;
    let apicv = procv & proc::TPR_SHADOW != 0 && apicv_may == super::apicv::PROC2_APICV;
    if procv & proc::TPR_SHADOW != 0 {
        // With the TPR shadow the page must be valid even while CR8 still exits.
        vmwrite(VIRTUAL_APIC_PAGE, vapic)?;
        vmwrite(TPR_THRESHOLD, 0)?;
    }
    let exitv = adjust(
        EXIT_CONTROLS,
        caps_msr(controls::msr::EXIT, t),
        exit_ctl::HOST_64BIT | exit_ctl::LOAD_EFER | exit_ctl::SAVE_EFER,
        exit_ctl::SAVE_PAT | exit_ctl::LOAD_PAT | exit_ctl::SAVE_PREEMPTION_TIMER,
    )
    .map_err(m)?;
    timer.saved = exitv & exit_ctl::SAVE_PREEMPTION_TIMER != 0;
    let entryv = adjust(
        ENTRY_CONTROLS,
        caps_msr(controls::msr::ENTRY, t),
        entry_ctl::LOAD_EFER,
        entry_ctl::LOAD_PAT,
    )
    .map_err(m)?;
    for (f, v) in [
        (PIN_CONTROLS, pinv),
        (PROC_CONTROLS, procv),
        (PROC_CONTROLS2, proc2v),
        (EXIT_CONTROLS, exitv),
        (ENTRY_CONTROLS, entryv),
        (EXCEPTION_BITMAP, 0),
    ] {
        vmwrite(f, u64::from(v))?;
    }
    vmwrite(IO_BITMAP_A, s.io_a.raw())?;
    vmwrite(IO_BITMAP_B, s.io_b.raw())?;
    vmwrite(MSR_BITMAP, s.msr_bitmap.raw())?;
    vmwrite(EPT_POINTER, s.eptp)?;
    vmwrite(VPID, u64::from(s.vpid))?;
    vmwrite(VMCS_LINK_POINTER, u64::MAX)?;
    vmwrite(CR4_MASK, CR4_OWNED)?;
    vmwrite(CR4_SHADOW, 0)?;
    vmwrite(CR0_MASK, CR0_OWNED)?;
    Ok((timer, apicv))
}

/// Drops the VM's cached translations: INVEPT single-context (all-context when the
/// CPU has only that) and INVVPID single-context for `vpid`.
pub fn invalidate(eptp: u64, vpid: u16) {
    // SAFETY: IA32_VMX_EPT_VPID_CAP exists when EPT is on (the caller's setup).
    let cap = unsafe { rdmsr(msr::VMX_EPT_VPID_CAP) };
    let ept_type: u64 = if cap & (1 << 25) != 0 { 1 } else { 2 };
    let vpid_type: u64 = if cap & (1 << 41) != 0 { 1 } else { 2 };
    let ept_desc = [eptp, 0u64];
    let vpid_desc = [u64::from(vpid), 0u64];
    // SAFETY: INVEPT/INVVPID only drop cached translations; the descriptors are
    // valid 16-byte memory. An unsupported type fails without effect.
    unsafe {
        if cap & (1 << 20) != 0 {
            asm!("invept {t}, [{d}]", t = in(reg) ept_type, d = in(reg) &ept_desc, options(nostack));
        }
        if cap & (1 << 32) != 0 {
            asm!("invvpid {t}, [{d}]", t = in(reg) vpid_type, d = in(reg) &vpid_desc, options(nostack));
        }
    }
}
