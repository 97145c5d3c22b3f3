//! Guarded accesses in forms a hypervisor cannot emulate from the syndrome alone
//! (ESR.ISV = 0: pairs, writeback) or of odd widths, to throw at pages that must
//! refuse them. Each is one fixed instruction run under `guard::catch`.

use guest_common::exception::Fault;
use guest_common::guard;

/// `strb w, [addr]`, guarded.
///
/// # Safety
/// `addr` must not be memory of this program (image, stacks, device tree) or a device
/// whose state it relies on.
pub unsafe fn write_u8(addr: usize, value: u8) -> Result<(), Fault> {
    guard::catch(|| {
        // SAFETY: the caller guarantees `addr` is outside this program's memory; a
        // fault is caught by `catch` and skipped.
        unsafe {
            core::arch::asm!("strb {v:w}, [{a}]", a = in(reg) addr, v = in(reg) value,
                options(nostack, preserves_flags));
        }
    })
}

/// `stp x, x, [addr]` (16 bytes, no valid syndrome), guarded.
///
/// # Safety
/// As for [`write_u8`].
pub unsafe fn write_pair(addr: usize, a: u64, b: u64) -> Result<(), Fault> {
    guard::catch(|| {
        // SAFETY: as in `write_u8`.
        unsafe {
            core::arch::asm!("stp {x}, {y}, [{a}]", a = in(reg) addr, x = in(reg) a,
                y = in(reg) b, options(nostack, preserves_flags));
        }
    })
}

/// `ldp x, x, [addr]` (16 bytes, no valid syndrome), guarded.
pub fn read_pair(addr: usize) -> Result<(u64, u64), Fault> {
    guard::catch(|| {
        let (mut a, mut b) = (0u64, 0u64);
        // SAFETY: a raw load pair from an arbitrary address: a fault is caught by
        // `catch` and skipped, leaving the registers as initialised.
        unsafe {
            core::arch::asm!("ldp {x}, {y}, [{a}]", a = in(reg) addr, x = inout(reg) a,
                y = inout(reg) b, options(nostack, preserves_flags));
        }
        (a, b)
    })
}

/// `str w, [addr], #4` (post-index writeback, no valid syndrome), guarded.
///
/// # Safety
/// As for [`write_u8`].
pub unsafe fn write_u32_post(addr: usize, value: u32) -> Result<(), Fault> {
    guard::catch(|| {
        let mut a = addr;
        // SAFETY: as in `write_u8`; the base register is a scratch copy.
        unsafe {
            core::arch::asm!("str {v:w}, [{a}], #4", a = inout(reg) a, v = in(reg) value,
                options(nostack, preserves_flags));
        }
        let _ = a;
    })
}
