//! The hypervisor's lock: a spin lock whose wait loop runs a relax hook the
//! platform installs at boot. On aarch64 the hook is the YIELD hint (as Linux's
//! `cpu_relax`): a waiting core tells the hardware, or an emulator running the cores
//! one after another, that it is only waiting, so the lock holder gets to run. Until
//! a hook is installed (and on the host), waiting uses `core::hint::spin_loop`.

use spin::relax::RelaxStrategy;
use spin::Once;

static RELAX: Once<fn()> = Once::new();

/// Installs the wait hook (once; later calls are ignored).
pub fn set_relax(f: fn()) {
    RELAX.call_once(|| f);
}

/// The wait strategy of [`Mutex`].
#[derive(Debug)]
pub struct Relax;

impl RelaxStrategy for Relax {
    #[inline]
    fn relax() {
        match RELAX.get() {
            Some(f) => f(),
            None => core::hint::spin_loop(),
        }
    }
}

/// A spin lock that waits with [`Relax`].
pub type Mutex<T> = spin::mutex::Mutex<T, Relax>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_works_with_and_without_a_hook() {
        let m: Mutex<u32> = Mutex::new(1);
        *m.lock() += 1;
        set_relax(core::hint::spin_loop);
        *m.lock() += 1;
        assert_eq!(*m.lock(), 3);
        assert!(m.try_lock().is_some());
    }
}
