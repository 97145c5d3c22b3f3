//! A VM's doorbell GPIO: the PL061 model behind its lock, and the doorbell toggles
//! recorded without it ([`Rings`]) while the guest has the rung line's interrupt
//! masked. Whoever locks the model gets it with every recorded toggle applied, so the
//! guest never sees the difference; a ring costs one atomic update instead of the
//! lock and the model.

use crate::sync::Mutex;
use rtvisor_vdev::pl061::{Pl061, Rings};
use spin::mutex::MutexGuard;

/// The doorbell GPIO of one VM.
#[derive(Debug, Default)]
pub struct DoorbellGpio {
    model: Mutex<Pl061>,
    rings: Rings,
}

impl DoorbellGpio {
    /// In reset state, nothing recorded.
    pub const fn new() -> Self {
        Self {
            model: Mutex::new(Pl061::new()),
            rings: Rings::new(),
        }
    }

    /// Locks the model, with every toggle recorded so far applied.
    pub fn lock(&self) -> MutexGuard<'_, Pl061> {
        let mut g = self.model.lock();
        self.rings.take().apply(&mut g);
        g
    }

    /// The holder of `g` is done with it: its interrupt mask is published for the
    /// rings that follow, and the toggles recorded meanwhile are applied.
    pub fn done(&self, g: &mut Pl061) {
        self.rings.publish(g.ie()).apply(g);
    }

    /// Records a doorbell's toggle of line `line` without the lock, when its interrupt
    /// is masked (true); false: toggle it under the lock.
    #[inline]
    pub fn ring(&self, line: u32) -> bool {
        self.rings.ring(line)
    }

    /// Back to reset (input levels kept, as [`Pl061::reset`]).
    pub fn reset(&self) {
        let mut g = self.lock();
        g.reset();
        self.done(&mut g);
    }
}
