//! Guarded accesses on aarch64: each is one `ldr`/`str` (single register, no
//! writeback), so a fault is skipped by advancing ELR by 4; `call_at` registers its
//! return point as the resume address.

use crate::exception::Fault;
use crate::guard::{catch, resume_slot};

/// `ldr x, [addr]` (64-bit, single register, no writeback), guarded.
pub fn read_u64(addr: usize) -> Result<u64, Fault> {
    catch(|| {
        let mut value: u64 = 0;
        // SAFETY: a raw load from an arbitrary address: a fault is caught by `catch`
        // and skipped, leaving `value` as initialised; no Rust object is aliased.
        unsafe {
            core::arch::asm!("ldr {v}, [{a}]", a = in(reg) addr, v = inout(reg) value,
                options(nostack, preserves_flags));
        }
        value
    })
}

/// `ldr w, [addr]` (32-bit, single register, no writeback), guarded.
pub fn read_u32(addr: usize) -> Result<u32, Fault> {
    catch(|| {
        let mut value: u32 = 0;
        // SAFETY: as in `read_u64`.
        unsafe {
            core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = inout(reg) value,
                options(nostack, preserves_flags));
        }
        value
    })
}

/// `str x, [addr]` (64-bit, single register, no writeback), guarded.
///
/// # Safety
/// `addr` must not be memory of this program (image, stacks, device tree) or a
/// device whose state the program relies on: the store bypasses Rust's model.
pub unsafe fn write_u64(addr: usize, value: u64) -> Result<(), Fault> {
    catch(|| {
        // SAFETY: the caller guarantees `addr` is outside this program's memory; a
        // fault is caught by `catch` and skipped.
        unsafe {
            core::arch::asm!("str {v}, [{a}]", a = in(reg) addr, v = in(reg) value,
                options(nostack, preserves_flags));
        }
    })
}

/// `str w, [addr]` (32-bit, single register, no writeback), guarded.
///
/// # Safety
/// As for [`write_u64`].
pub unsafe fn write_u32(addr: usize, value: u32) -> Result<(), Fault> {
    catch(|| {
        // SAFETY: the caller guarantees `addr` is outside this program's memory; a
        // fault is caught by `catch` and skipped.
        unsafe {
            core::arch::asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) value,
                options(nostack, preserves_flags));
        }
    })
}

/// Branches with link to `addr` (an instruction fetch there) and comes back: the
/// first synchronous exception taken meanwhile (an instruction abort at `addr`, or
/// whatever the code there raises) is returned as `Err`, and execution resumes right
/// after the branch, not at the faulting instruction. `Ok(())` means code at `addr`
/// ran and returned (`ret`) by itself.
///
/// # Safety
/// Whatever is at `addr` may run before it faults. It must be unmapped or not
/// executable, or code that faults at once (e.g. zeros, an undefined instruction), or
/// code that follows the procedure-call standard: a return after a fault in the
/// middle skips the rest of it, with SP and callee-saved registers as it left them.
pub unsafe fn call_at(addr: usize) -> Result<(), Fault> {
    let resume = resume_slot();
    let r = catch(|| {
        // SAFETY: the caller guarantees what runs at `addr`. The return point (label
        // 2) goes into this vCPU's `resume` word with a plain 64-bit store, the
        // same as a Relaxed atomic store; only this vCPU's trap handler reads it.
        // All caller-saved registers are declared clobbered.
        unsafe {
            core::arch::asm!(
                "adr x16, 2f",
                "str x16, [{r}]",
                "blr {a}",
                "2:",
                a = in(reg) addr,
                r = in(reg) resume,
                out("x16") _,
                clobber_abi("C"),
            );
        }
    });
    crate::guard::clear_resume();
    r
}
