//! A function pointer that one side registers and others call (the guest's exception
//! hook, its interrupt handler, its secondary main): stored as an address in an
//! atomic, so it can live in a static without `static mut`.
//!
//! Discipline: registered before any vCPU can call it (Release), read with Acquire.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The function pointer types a [`Hook`] may hold (each implements it where it is
/// defined).
///
/// # Safety
/// The type must be a function pointer (the size of a `usize`, never null).
pub unsafe trait FnPointer: Copy {}

// SAFETY: a function pointer: one usize, never null.
unsafe impl FnPointer for fn(usize) -> ! {}

/// A registered function of type `F`, or none.
pub struct Hook<F> {
    raw: AtomicUsize,
    _f: PhantomData<F>,
}

impl<F: FnPointer> Hook<F> {
    /// No function registered.
    pub const fn new() -> Self {
        const { assert!(core::mem::size_of::<F>() == core::mem::size_of::<usize>()) };
        Self {
            raw: AtomicUsize::new(0),
            _f: PhantomData,
        }
    }

    /// Registers `f` (replacing any earlier one).
    pub fn set(&self, f: F) {
        // SAFETY: `F` is a function pointer (`FnPointer`), the size of a usize.
        let raw = unsafe { core::mem::transmute_copy::<F, usize>(&f) };
        self.raw.store(raw, Ordering::Release);
    }

    /// The registered function, if any.
    pub fn get(&self) -> Option<F> {
        let raw = self.raw.load(Ordering::Acquire);
        if raw == 0 {
            return None;
        }
        // SAFETY: `raw` is non-zero, so it was stored by `set` from an `F`.
        Some(unsafe { core::mem::transmute_copy::<usize, F>(&raw) })
    }
}

impl<F: FnPointer> Default for Hook<F> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the hook is an atomic usize; `F` is a function pointer, Send and Sync.
unsafe impl<F> Sync for Hook<F> {}
