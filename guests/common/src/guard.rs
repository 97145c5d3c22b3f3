//! Guarded accesses: run code that may take an exception and get the exception back
//! as a value instead of a crash.
//!
//! Discipline: per-vCPU slots indexed by `cpu::index()`. Only the owning vCPU touches
//! its slot (the exception is taken on the same vCPU that armed it), so Relaxed
//! atomics suffice; they are atomics only because statics must be `Sync`. While
//! armed, every exception on that vCPU resumes past the faulting instruction and the
//! first one is recorded. Where it resumes: the slot's `resume` address when one is
//! set (taken once: `call_at`'s return point on aarch64, the label after every
//! guarded instruction on x86_64, whose instructions have no fixed length), else the
//! next instruction (aarch64: ELR + 4, or ELR for SVC/HVC/SMC).
//!
//! The accessors are the architecture's ([`read_u64`], [`write_u64`], ...: one
//! fixed instruction each, so a hypervisor can emulate it from the exit alone).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use crate::arch::guard_ops::{call_at, read_u32, read_u64, write_u32, write_u64};
use crate::cpu;
use crate::exception::Fault;
use crate::MAX_VCPUS;

struct Slot {
    armed: AtomicBool,
    caught: AtomicBool,
    /// The first fault, as `Fault::to_words` packs it.
    words: [AtomicU64; 4],
    /// Where to resume after the next fault (0: skip the instruction if the
    /// architecture can).
    resume: AtomicU64,
}

static SLOTS: [Slot; MAX_VCPUS] = [const {
    Slot {
        armed: AtomicBool::new(false),
        caught: AtomicBool::new(false),
        words: [const { AtomicU64::new(0) }; 4],
        resume: AtomicU64::new(0),
    }
}; MAX_VCPUS];

fn slot() -> &'static Slot {
    &SLOTS[cpu::index() % MAX_VCPUS]
}

/// This vCPU's resume word, for the architecture's guarded instructions.
pub fn resume_slot() -> *mut u64 {
    slot().resume.as_ptr()
}

/// Clears this vCPU's resume word.
pub(crate) fn clear_resume() {
    slot().resume.store(0, Ordering::Relaxed);
}

/// Called by the trap handler: if this vCPU is inside `catch`, records `fault` and
/// returns where to resume (None: not armed, or no way to resume past it).
pub(crate) fn record(fault: &Fault) -> Option<u64> {
    let s = slot();
    if !s.armed.load(Ordering::Relaxed) {
        return None;
    }
    let resume = match s.resume.swap(0, Ordering::Relaxed) {
        0 => fault.return_address()?,
        ret => ret,
    };
    if !s.caught.swap(true, Ordering::Relaxed) {
        for (w, v) in s.words.iter().zip(fault.to_words()) {
            w.store(v, Ordering::Relaxed);
        }
    }
    Some(resume)
}

/// Runs `f`; any exception it takes is skipped, and the first one is returned as
/// `Err`. Not reentrant (a nested `catch` disarms the outer one).
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
    let s = slot();
    s.caught.store(false, Ordering::Relaxed);
    s.armed.store(true, Ordering::SeqCst);
    let r = f();
    s.armed.store(false, Ordering::SeqCst);
    if s.caught.load(Ordering::Relaxed) {
        Err(Fault::from_words(core::array::from_fn(|i| {
            s.words[i].load(Ordering::Relaxed)
        })))
    } else {
        Ok(r)
    }
}
