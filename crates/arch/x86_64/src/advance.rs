//! The early wake of a halted vCPU's guest timer, plain arithmetic tested on the
//! host.
//!
//! A vCPU that halts with its guest timer armed sleeps on its CPU until the
//! hypervisor's APIC timer fires; then the interrupt's gate, the guest timer's expiry,
//! the injection and the world switch all come before the guest's own interrupt
//! entry. So that the guest does not wait for them, the APIC timer of a halted vCPU
//! is programmed [`Advance`] ticks before the guest's deadline ([`wake_at`]): the
//! wake does that work before the deadline ([`guest_soon`]), then holds the CPU until
//! the TSC reaches the deadline and enters the guest. The guest never takes its
//! interrupt before its deadline: the hold ends only when the TSC has reached it.
//!
//! The advance follows what the wakes cost ([`Advance::after`]): each one measured
//! from the early time the APIC timer was programmed for to the start of the hold;
//! a wake that took longer than the advance raises it at once, a shorter one lowers it
//! by an eighth of the difference. It stays within [`ADVANCE_MIN`]..=[`ADVANCE_MAX`],
//! so a hold never lasts longer than [`ADVANCE_MAX`] ticks.
//!
//! Deadlines are TSC values; 0 means none, as IA32_TSC_DEADLINE has it.

use crate::deadline::{earliest, passed};

/// The advance a CPU starts with, in TSC ticks: more than a wake's path costs on the
/// emulators and on hardware, so the first wakes are not late either.
pub const ADVANCE_START: u64 = 512;
/// The least advance: a wake's slack never drops below this.
pub const ADVANCE_MIN: u64 = 64;
/// The most advance, and so the longest hold of a CPU (TSC ticks): a wake measured
/// slower than this (an emulator's stall, an SMI) raises the advance only this far.
pub const ADVANCE_MAX: u64 = 16384;

/// How early a CPU's halted vCPU is woken for its guest timer, in TSC ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance(pub u64);

impl Default for Advance {
    fn default() -> Self {
        Advance(ADVANCE_START)
    }
}

impl Advance {
    /// The advance after a wake whose path cost `cost` ticks (from the early time
    /// the APIC timer was programmed for to the start of the hold): at least the cost
    /// with a quarter and [`ADVANCE_MIN`] added as margin; raised to that at once,
    /// lowered towards it by an eighth of the difference.
    pub fn after(self, cost: u64) -> Advance {
        let target = cost
            .saturating_add(cost / 4)
            .saturating_add(ADVANCE_MIN)
            .min(ADVANCE_MAX);
        let next = if target >= self.0 {
            target
        } else {
            self.0 - (self.0 - target) / 8
        };
        Advance(next.clamp(ADVANCE_MIN, ADVANCE_MAX))
    }

    /// The advance as a CPU keeps it in a word (0: not set yet, the start value).
    pub const fn from_word(w: u64) -> Advance {
        if w == 0 {
            Advance(ADVANCE_START)
        } else {
            Advance(w)
        }
    }
}

/// Where a halted vCPU's CPU programs its APIC timer: the earlier of the watchdog's
/// deadline `watchdog` and the guest timer's `guest`, the latter `advance` early, and
/// whether it is that early wake (`Some(at)`: the APIC timer's time). A watchdog due
/// before or at the guest's deadline leaves both where they are (its check is the
/// general way's, [`guest_soon`] refuses such a wake), as does a deadline closer to
/// the TSC's start than the advance.
pub const fn wake_at(guest: u64, watchdog: u64, advance: Advance) -> (u64, bool) {
    let exact = earliest(guest, watchdog);
    if guest == 0 || (watchdog != 0 && watchdog <= guest) || guest <= advance.0 {
        return (exact, false);
    }
    (guest - advance.0, true)
}

/// Whether a halted vCPU's wake at TSC `now` is its guest timer's alone, the one
/// its short way takes: only the APIC timer's interrupt is pending (`timer_only`),
/// the guest timer's deadline `guest` is at most `advance` ahead (the wake
/// [`wake_at`] programmed, or a later one), and the watchdog's `watchdog` does not
/// pass before the guest timer's expiry (at the deadline, or now if later). The
/// short way then holds the CPU until `guest` before it enters the guest.
pub const fn guest_soon(
    timer_only: bool,
    now: u64,
    guest: u64,
    watchdog: u64,
    advance: Advance,
) -> bool {
    let expiry = if now > guest { now } else { guest };
    timer_only && guest != 0 && now.saturating_add(advance.0) >= guest && !passed(watchdog, expiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::guest_alone;

    const TIMES: [u64; 9] = [0, 1, 99, 100, 101, 5000, 5100, u64::MAX - 1, u64::MAX];

    /// Without an advance, the short way is the one the wake took before: the guest
    /// timer's deadline passed, alone.
    #[test]
    fn without_advance_the_short_way_is_the_guest_timer_alone() {
        for timer_only in [false, true] {
            for now in TIMES {
                for guest in TIMES {
                    for watchdog in TIMES {
                        assert_eq!(
                            guest_soon(timer_only, now, guest, watchdog, Advance(0)),
                            guest_alone(timer_only, now, guest, watchdog),
                            "{timer_only} {now} {guest} {watchdog}"
                        );
                    }
                }
            }
        }
    }

    /// With an advance, the short way is taken at most `advance` before the guest's
    /// deadline, never past a watchdog's deadline, never with a kick.
    #[test]
    fn the_short_way_is_early_by_the_advance_at_most_and_never_skips_the_watchdog() {
        let mut taken = 0;
        for advance in [Advance(0), Advance(64), Advance(4096)] {
            for timer_only in [false, true] {
                for now in TIMES {
                    for guest in TIMES {
                        for watchdog in TIMES {
                            if !guest_soon(timer_only, now, guest, watchdog, advance) {
                                continue;
                            }
                            taken += 1;
                            assert!(timer_only);
                            assert!(guest != 0);
                            assert!(guest <= now.saturating_add(advance.0));
                            assert!(watchdog == 0 || watchdog > now.max(guest));
                        }
                    }
                }
            }
        }
        assert!(taken > 0);
        // Early by less than the advance: taken; by more: not.
        assert!(guest_soon(true, 4000, 5000, 0, Advance(1000)));
        assert!(!guest_soon(true, 3999, 5000, 0, Advance(1000)));
        // A watchdog due before the guest's deadline goes the general way.
        assert!(!guest_soon(true, 4500, 5000, 4800, Advance(1000)));
        assert!(guest_soon(true, 4500, 5000, 5001, Advance(1000)));
    }

    /// The early wake is the guest's deadline less the advance when the watchdog's is
    /// later; otherwise the earlier of the two, unchanged.
    #[test]
    fn the_apic_timer_is_early_only_for_the_guest_timer() {
        let a = Advance(1000);
        assert_eq!(wake_at(0, 0, a), (0, false));
        assert_eq!(wake_at(0, 7000, a), (7000, false));
        assert_eq!(wake_at(5000, 0, a), (4000, true));
        assert_eq!(wake_at(5000, 9000, a), (4000, true));
        assert_eq!(wake_at(5000, 5000, a), (5000, false));
        assert_eq!(wake_at(5000, 4500, a), (4500, false));
        // A deadline within the advance of the TSC's start: not early.
        assert_eq!(wake_at(1000, 0, a), (1000, false));
        assert_eq!(wake_at(1001, 0, a), (1, true));
        // Each early wake is one the short way takes.
        for guest in TIMES {
            for watchdog in TIMES {
                let (at, early) = wake_at(guest, watchdog, a);
                if early {
                    assert!(
                        guest_soon(true, at, guest, watchdog, a),
                        "{guest} {watchdog}"
                    );
                    assert!(at < guest);
                } else {
                    assert_eq!(at, earliest(guest, watchdog));
                }
            }
        }
    }

    #[test]
    fn the_advance_follows_the_cost() {
        let a = Advance::default();
        assert_eq!(a, Advance(ADVANCE_START));
        assert_eq!(Advance::from_word(0), a);
        assert_eq!(Advance::from_word(300), Advance(300));
        // A cheaper wake lowers it by an eighth of the difference, towards the cost
        // with its margin, never below.
        let target = 200 + 50 + ADVANCE_MIN;
        let mut x = a;
        for _ in 0..200 {
            let y = x.after(200);
            assert!(y.0 <= x.0 && y.0 >= target);
            x = y;
        }
        assert!(x.0 < target + 8, "{x:?}");
        // A dearer one raises it at once.
        assert_eq!(x.after(1000), Advance(1000 + 250 + ADVANCE_MIN));
        // Bounded both ways.
        assert_eq!(Advance(ADVANCE_MIN).after(0), Advance(ADVANCE_MIN));
        assert_eq!(x.after(u64::MAX), Advance(ADVANCE_MAX));
        assert_eq!(Advance(ADVANCE_MAX).after(u64::MAX), Advance(ADVANCE_MAX));
    }
}
