//! Guarded accesses on x86. An x86 instruction has no fixed length, so a fault is
//! never skipped blindly: each guarded instruction first stores the address right
//! after itself into this vCPU's resume slot ([`crate::guarded!`]), and the trap
//! handler resumes there.

use crate::exception::Fault;
use crate::guard::catch;

/// One instruction (an `asm!` template and its operands) whose fault resumes right
/// after it: `guarded!("mov {v}, qword ptr [{a}]", a = in(reg) x, ...)`. It expands to
/// the `asm!` call: write it inside an `unsafe` block whose `SAFETY:` comment says what
/// the instruction may do, inside [`crate::guard::catch`], which reports the fault.
/// Before the instruction, the address of label 2 (right after it) goes into this
/// vCPU's resume slot with a plain 64-bit store (a Relaxed atomic store; only this
/// vCPU's trap handler reads it); the scratch register is declared.
#[macro_export]
macro_rules! guarded {
    ($insn:literal, $($operands:tt)*) => {
        core::arch::asm!(
            "lea {gc_resume}, [rip + 2f]",
            "mov qword ptr [{gc_slot}], {gc_resume}",
            $insn,
            "2:",
            $($operands)*
            gc_slot = in(reg) $crate::guard::resume_slot(),
            gc_resume = out(reg) _,
            options(nostack),
        )
    };
}

/// `mov r64, [addr]`, guarded.
pub fn read_u64(addr: usize) -> Result<u64, Fault> {
    catch(|| {
        let mut value: u64 = 0;
        // SAFETY: a raw load from an arbitrary address: a fault is caught by `catch`
        // and resumes past it, leaving `value` as initialised; no Rust object is
        // aliased.
        unsafe {
            crate::guarded!("mov {v}, qword ptr [{a}]", a = in(reg) addr, v = inout(reg) value,)
        };
        value
    })
}

/// `mov r32, [addr]`, guarded.
pub fn read_u32(addr: usize) -> Result<u32, Fault> {
    catch(|| {
        let mut value: u32 = 0;
        // SAFETY: as in `read_u64`.
        unsafe {
            crate::guarded!("mov {v:e}, dword ptr [{a}]", a = in(reg) addr, v = inout(reg) value,)
        };
        value
    })
}

/// `mov [addr], r64`, guarded.
///
/// # Safety
/// `addr` must not be memory of this program (image, stacks, boot tables) or a
/// device whose state the program relies on: the store bypasses Rust's model.
pub unsafe fn write_u64(addr: usize, value: u64) -> Result<(), Fault> {
    catch(|| {
        // SAFETY: the caller guarantees `addr` is outside this program's memory; a
        // fault is caught by `catch` and resumes past the store.
        unsafe {
            crate::guarded!("mov qword ptr [{a}], {v}", a = in(reg) addr, v = in(reg) value,)
        };
    })
}

/// `mov [addr], r32`, guarded.
///
/// # Safety
/// As for [`write_u64`].
pub unsafe fn write_u32(addr: usize, value: u32) -> Result<(), Fault> {
    catch(|| {
        // SAFETY: as in `write_u64`.
        unsafe {
            crate::guarded!("mov dword ptr [{a}], {v:e}", a = in(reg) addr, v = in(reg) value,)
        };
    })
}

/// Calls `addr` (an instruction fetch there) and comes back: the first exception
/// taken meanwhile is returned as `Err`, and execution resumes right after the call.
/// `Ok(())` means code at `addr` ran and returned by itself.
///
/// # Safety
/// Whatever is at `addr` may run before it faults. It must be unmapped or not
/// executable, or code that faults at once, or code that follows the C calling
/// convention: a return after a fault in the middle skips the rest of it, with RSP
/// restored from the resume point.
pub unsafe fn call_at(addr: usize) -> Result<(), Fault> {
    let slot = crate::guard::resume_slot();
    let r = catch(|| {
        // SAFETY: the caller guarantees what runs at `addr`. The resume point (label
        // 2) goes into this vCPU's resume slot as in `guarded!`; RSP is kept in R12
        // (callee-saved) and restored at label 2, whether the callee returned or
        // faulted. All caller-saved registers are declared clobbered.
        unsafe {
            core::arch::asm!(
                "lea r11, [rip + 2f]",
                "mov qword ptr [rdi], r11",
                "mov r12, rsp",
                "call rsi",
                "2:",
                "mov rsp, r12",
                in("rsi") addr,
                in("rdi") slot,
                out("r12") _,
                clobber_abi("C"),
            );
        }
    });
    crate::guard::clear_resume();
    r
}
