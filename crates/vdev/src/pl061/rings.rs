//! Doorbell toggles of input lines recorded without the PL061's lock ([`Rings`]).
//!
//! A doorbell toggles one input line; while the guest has that line's interrupt
//! masked (`GPIOIE` bit clear) a toggle cannot change the interrupt line, so the
//! ringing CPU only records it in one atomic word, and whoever next holds the model
//! (a guest access, a reset, a ring of an unmasked line) applies what was recorded
//! first ([`Pending::apply`]). Applying is exact: of `n` toggles of a line only the
//! parity (its final level) and whether both directions occurred (`n >= 2`: every
//! edge the line's configuration latches has happened) show in the model, so `n`
//! toggles are replayed as 0, 1, 2 or 3.
//!
//! The word: bits 7:0 the `GPIOIE` mirror (published by the model's holder together
//! with taking what was recorded), 15:8 lines toggled at least once, 23:16 at least
//! twice, 31:24 toggled an odd number of times.

use super::{Pl061, LINES};
use core::sync::atomic::{AtomicU32, Ordering};

const ONCE: u32 = 8;
const MANY: u32 = 16;
const ODD: u32 = 24;

/// Toggles recorded without the lock, and the interrupt mask they depend on.
#[derive(Debug, Default)]
pub struct Rings(AtomicU32);

/// Toggles taken from [`Rings`], to apply to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Pending(u32);

impl Rings {
    /// Nothing recorded, every line's interrupt masked (the PL061's reset state).
    pub const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// Records a toggle of input line `line` when the guest has its interrupt masked
    /// (true); false when it has not (the caller toggles it in the model, under its
    /// lock, to drive the interrupt line). A line past the last is not a line: true,
    /// nothing recorded (toggling it changes nothing).
    #[inline]
    pub fn ring(&self, line: u32) -> bool {
        if line >= LINES {
            return true;
        }
        let bit = 1u32 << line;
        let mut w = self.0.load(Ordering::Relaxed);
        loop {
            if w & bit != 0 {
                return false;
            }
            let once = (w >> ONCE) & bit;
            let new = w | once << MANY | bit << ONCE;
            let new = new ^ bit << ODD;
            match self
                .0
                .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }

    /// Takes what was recorded, leaving the mask as it is (the model's holder, before
    /// it looks at the model).
    pub fn take(&self) -> Pending {
        Pending(self.0.fetch_and(0xff, Ordering::AcqRel) & !0xff)
    }

    /// Takes what was recorded and publishes `ie`, the model's `GPIOIE` now (its
    /// holder, when it is done with it: a toggle recorded after this sees the new
    /// mask).
    pub fn publish(&self, ie: u8) -> Pending {
        Pending(self.0.swap(u32::from(ie), Ordering::AcqRel) & !0xff)
    }
}

impl Pending {
    /// Nothing to apply.
    pub const NONE: Pending = Pending(0);

    /// Replays the toggles on `gpio`, as many of each line as change the model as
    /// all of them would have.
    pub fn apply(self, gpio: &mut Pl061) {
        for line in 0..LINES {
            let bit = 1u32 << line;
            let once = (self.0 >> ONCE) & bit != 0;
            let many = (self.0 >> MANY) & bit != 0;
            let odd = (self.0 >> ODD) & bit != 0;
            let n = match (once, many, odd) {
                (false, _, _) => 0,
                (true, false, _) => 1,
                (true, true, false) => 2,
                (true, true, true) => 3,
            };
            for _ in 0..n {
                gpio.toggle_input(line);
            }
        }
    }
}
