//! VMREAD and VMWRITE on the current VMCS.

use super::engine::VmxFail;
use core::arch::asm;

/// Writes `field` of the current VMCS; the field's encoding on failure.
pub(super) fn vmwrite(field: u32, value: u64) -> Result<(), VmxFail> {
    let failed: u8;
    // SAFETY: a VMCS is current (VmxVcpu::new made it so before any write); VMWRITE
    // changes only that VMCS.
    unsafe {
        asm!(
            "vmwrite {f}, {v}",
            "setna {failed}",
            f = in(reg) u64::from(field),
            v = in(reg) value,
            failed = out(reg_byte) failed,
            options(nostack)
        )
    };
    if failed != 0 {
        Err(VmxFail::Write(field))
    } else {
        Ok(())
    }
}

/// Reads `field` of the current VMCS (0 when VMREAD fails).
pub(super) fn vmread(field: u32) -> u64 {
    let v: u64;
    // SAFETY: a VMCS is current; VMREAD has no side effects (a bad field reads 0 here
    // since the failure leaves the register as it was).
    unsafe {
        asm!(
            "xor {v:e}, {v:e}",
            "vmread {v}, {f}",
            f = in(reg) u64::from(field),
            v = out(reg) v,
            options(nostack)
        )
    };
    v
}
