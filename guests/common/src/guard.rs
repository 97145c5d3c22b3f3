//! Guarded accesses: run code that may take a synchronous exception and get the
//! exception back as a value instead of a crash.
//!
//! Discipline: per-vCPU slots indexed by `cpu::index()`. Only the owning vCPU touches
//! its slot (the exception is taken on the same vCPU that armed it), so Relaxed
//! atomics suffice; they are atomics only because statics must be `Sync`. While
//! armed, every synchronous exception on that vCPU is skipped (see `Fault::skip_len`) and the first
//! one is recorded. Inside [`call_at`] the first exception instead resumes at the
//! instruction after the branch (the slot's `resume` address, 0 everywhere else).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cpu;
use crate::exception::Fault;
use crate::MAX_VCPUS;

struct Slot {
    armed: AtomicBool,
    caught: AtomicBool,
    esr: AtomicU64,
    far: AtomicU64,
    elr: AtomicU64,
    /// Where to resume after a fault inside `call_at` (0: skip the instruction).
    resume: AtomicU64,
}

static SLOTS: [Slot; MAX_VCPUS] = [const {
    Slot {
        armed: AtomicBool::new(false),
        caught: AtomicBool::new(false),
        esr: AtomicU64::new(0),
        far: AtomicU64::new(0),
        elr: AtomicU64::new(0),
        resume: AtomicU64::new(0),
    }
}; MAX_VCPUS];

fn slot() -> &'static Slot {
    &SLOTS[cpu::index() % MAX_VCPUS]
}

/// Called by the trap handler: records `fault` if this vCPU is inside `catch`.
pub(crate) fn record(fault: &Fault) -> bool {
    let s = slot();
    if !s.armed.load(Ordering::Relaxed) {
        return false;
    }
    if !s.caught.swap(true, Ordering::Relaxed) {
        s.esr.store(fault.esr, Ordering::Relaxed);
        s.far.store(fault.far, Ordering::Relaxed);
        s.elr.store(fault.elr, Ordering::Relaxed);
    }
    true
}

/// Where the trap handler resumes after recording `fault` at `elr`: the return point of
/// an active [`call_at`] (taken once), else past the faulting instruction.
pub(crate) fn resume_address(fault: &Fault, elr: u64) -> u64 {
    match slot().resume.swap(0, Ordering::Relaxed) {
        0 => elr.wrapping_add(fault.skip_len()),
        ret => ret,
    }
}

/// Runs `f`; any synchronous exception it takes is skipped, and the first one is
/// returned as `Err`. Not reentrant (a nested `catch` disarms the outer one).
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
    let s = slot();
    s.caught.store(false, Ordering::Relaxed);
    s.armed.store(true, Ordering::SeqCst);
    let r = f();
    s.armed.store(false, Ordering::SeqCst);
    if s.caught.load(Ordering::Relaxed) {
        Err(Fault {
            esr: s.esr.load(Ordering::Relaxed),
            far: s.far.load(Ordering::Relaxed),
            elr: s.elr.load(Ordering::Relaxed),
        })
    } else {
        Ok(r)
    }
}

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
    let resume = &slot().resume;
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
                r = in(reg) resume.as_ptr(),
                out("x16") _,
                clobber_abi("C"),
            );
        }
    });
    resume.store(0, Ordering::Relaxed);
    r
}
