//! The local APIC timer of an [`X2Apic`]: one-shot, periodic and TSC-deadline
//! modes on the guest's TSC, its expiry, and the count the guest reads.

use super::{timer_mode, Effect, X2Apic, LVT_MASKED};

impl X2Apic {
    /// The guest TSC at which the timer fires next, if armed.
    pub const fn deadline(&self) -> Option<u64> {
        self.deadline
    }

    /// The timer fired at guest TSC `now` (the backend's timer reached
    /// [`deadline`](Self::deadline)): its vector is accepted unless masked; a periodic
    /// timer is re-armed. Returns the next deadline. Early or stale calls change
    /// nothing.
    pub fn expire(&mut self, now: u64) -> Option<u64> {
        self.now = now;
        let at = self.deadline?;
        if now < at {
            return Some(at);
        }
        let lvt = self.lvt_timer();
        if lvt & LVT_MASKED == 0 {
            self.accept(lvt as u8, false);
        }
        self.deadline = match self.mode() {
            timer_mode::PERIODIC => {
                let period = self.period();
                let behind = (now - at) / period.max(1);
                let next = at.saturating_add(period.saturating_mul(behind.saturating_add(1)));
                self.timer_start = next.saturating_sub(period);
                Some(next)
            }
            _ => None,
        };
        self.deadline
    }

    pub(super) fn lvt_timer(&self) -> u32 {
        self.lvt.get(1).copied().unwrap_or(LVT_MASKED)
    }

    pub(super) fn mode(&self) -> u32 {
        (self.lvt_timer() >> 17) & 3
    }

    /// TSC ticks per count (the divide configuration: bits 0, 1 and 3).
    pub(super) fn divisor(&self) -> u64 {
        let code = (self.divide & 3) | ((self.divide >> 1) & 4);
        if code == 7 {
            1
        } else {
            2 << code
        }
    }

    /// TSC ticks of one period (count modes).
    pub(super) fn period(&self) -> u64 {
        u64::from(self.timer_init).saturating_mul(self.divisor())
    }

    pub(super) fn arm(&mut self, at: Option<u64>) -> Effect {
        self.deadline = at;
        Effect::Timer(at)
    }

    /// The current count (count modes).
    pub(super) fn current(&self) -> u32 {
        if self.deadline.is_none() || self.mode() == timer_mode::TSC_DEADLINE {
            return 0;
        }
        let elapsed = self.now.saturating_sub(self.timer_start) / self.divisor();
        let init = u64::from(self.timer_init);
        u32::try_from(init.saturating_sub(elapsed)).unwrap_or(0)
    }
}
