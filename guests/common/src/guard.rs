//! Guarded accesses: run code that may take a synchronous exception and get the
//! exception back as a value instead of a crash.
//!
//! Discipline: per-vCPU slots indexed by `cpu::index()`. Only the owning vCPU touches
//! its slot (the exception is taken on the same vCPU that armed it), so Relaxed
//! atomics suffice; they are atomics only because statics must be `Sync`. While
//! armed, every synchronous exception on that vCPU is skipped (see `Fault::skip_len`) and the first
//! one is recorded.

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
}

static SLOTS: [Slot; MAX_VCPUS] = [const {
    Slot {
        armed: AtomicBool::new(false),
        caught: AtomicBool::new(false),
        esr: AtomicU64::new(0),
        far: AtomicU64::new(0),
        elr: AtomicU64::new(0),
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
