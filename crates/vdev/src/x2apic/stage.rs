//! The timer's expiry staged before a halted vCPU's CPU sleeps.
//!
//! A vCPU that halts with its timer armed is most often woken by that timer alone
//! (an RT guest's interrupt-driven wait). Before its CPU sleeps, the backend stages
//! the expiry ([`X2Apic::stage_expiry`]): the vector the timer will make the one to
//! inject. On the wake, [`X2Apic::commit_expiry`] only checks that nothing changed
//! the APIC since (every change counts in its [`Stamp`]) and takes the vector into
//! service as [`expire`](X2Apic::expire), [`pending`](X2Apic::pending) and
//! [`take`](X2Apic::take) would; after any change it refuses, and the backend takes
//! the unstaged way, which looks at the APIC afresh.
//!
//! Only what does not depend on the time of the wake is staged: a one-shot or
//! TSC-deadline timer, unmasked, whose vector would be injected at once (no vector
//! to inject before it, none of its class held back by priority). A periodic timer
//! re-arms from the time of the wake; it is not staged.

use super::{timer_mode, Mode, X2Apic, LVT_MASKED, SVR_ENABLE};

/// The count of an APIC's changes. It tells changes apart, not states: two APICs
/// compare equal whatever their stamps.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Stamp(pub(super) u32);

impl Stamp {
    pub(super) const fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

impl PartialEq for Stamp {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Stamp {}

/// A staged expiry: the APIC's stamp when staged, its deadline and the vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerStage {
    stamp: u32,
    at: u64,
    vector: u8,
}

impl TimerStage {
    /// The guest TSC at which the staged expiry is due.
    pub const fn due(&self) -> u64 {
        self.at
    }
}

impl X2Apic {
    /// Stages the timer's expiry (see the module's text); `None` when there is
    /// nothing to stage: a vector to inject already, no deadline, a periodic or
    /// masked timer, a vector that priority would hold back.
    pub fn stage_expiry(&self) -> Option<TimerStage> {
        let at = self.deadline?;
        let lvt = self.lvt_timer();
        let vector = lvt as u8;
        // What `expire` would accept (a hardware-disabled APIC, a masked timer or an
        // illegal vector accepts nothing), and what `pending` would then return:
        // with nothing to inject before, the timer's vector, if it is the highest
        // requested and above the priority (SVR's enable is in `pending`).
        let accepted = self.mode != Mode::Disabled && lvt & LVT_MASKED == 0 && vector >= 16;
        let periodic = self.mode() == timer_mode::PERIODIC;
        if !accepted || periodic || self.pending().is_some() || self.svr & SVR_ENABLE == 0 {
            return None;
        }
        let highest = self.irr.highest().is_none_or(|h| h < vector);
        if !highest || u32::from(vector) & 0xf0 <= self.ppr() & 0xf0 {
            return None;
        }
        Some(TimerStage {
            stamp: self.stamp.0,
            at,
            vector,
        })
    }

    /// The wake at guest TSC `now` of a staged expiry `s`: when nothing changed the
    /// APIC since it was staged and the deadline passed, the timer's vector is taken
    /// into service, the timer disarmed, and the vector returned for the backend to
    /// inject; otherwise nothing changes and `None` says so.
    pub fn commit_expiry(&mut self, s: &TimerStage, now: u64) -> Option<u8> {
        if self.stamp.0 != s.stamp || now < s.at {
            return None;
        }
        // What `expire` and `take` do to a vector not requested before: edge
        // triggered, in service, the timer disarmed.
        self.now = now;
        self.stamp = self.stamp.next();
        self.tmr.set(s.vector, false);
        self.isr.set(s.vector, true);
        self.deadline = None;
        Some(s.vector)
    }
}

#[cfg(test)]
mod tests;
