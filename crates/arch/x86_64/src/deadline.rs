//! The arithmetic of the hypervisor's timer, plain code tested on the host:
//! - a CPU's APIC timer serves more than one deadline (the watchdog's, the guest
//!   timer of the vCPU there): [`earliest`] picks the one to program;
//! - without TSC-deadline mode the APIC timer counts down from an initial count at a
//!   rate measured against the TSC at boot ([`rate`]); [`initial_count`] turns a TSC
//!   distance into that count.
//!
//! - on VT-x the guest also gets a VMX-preemption timer for that deadline
//!   ([`preemption_count`]), so that the hypervisor's deadline ends the guest's run
//!   even where an external interrupt would not (Bochs 2.7 does not exit on one while
//!   the guest runs with RFLAGS.IF clear).
//!
//! Deadlines are TSC values; 0 means none, as IA32_TSC_DEADLINE has it.

/// The earlier of two deadlines (0: none).
pub const fn earliest(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) if a < b => a,
        (_, b) => b,
    }
}

/// Whether deadline `at` (0: none) passed at TSC `now`.
pub const fn passed(at: u64, now: u64) -> bool {
    at != 0 && now >= at
}

/// Whether a CPU's wake is the guest timer's alone: only the APIC timer's
/// interrupt is pending (`timer_only`: no kick with it), the guest timer's deadline
/// `guest` passed at `now` and the watchdog's `watchdog` did not (the general way
/// would expire the guest timer and do nothing else). The short way of a halted
/// vCPU's wake, `advance::guest_soon`, is this with its advance 0.
pub const fn guest_alone(timer_only: bool, now: u64, guest: u64, watchdog: u64) -> bool {
    timer_only && passed(guest, now) && !passed(watchdog, now)
}

/// APIC timer counts per 2^32 TSC ticks, from `counts` counted over `tsc` ticks
/// (0 when nothing was counted: the timer does not run).
pub fn rate(counts: u64, tsc: u64) -> u64 {
    if tsc == 0 {
        return 0;
    }
    let r = ((u128::from(counts) << 32) + u128::from(tsc) / 2) / u128::from(tsc);
    u64::try_from(r).unwrap_or(u64::MAX)
}

/// The initial count that fires `ticks` TSC ticks from now at `rate` ([`rate`]):
/// rounded up so that the timer never fires before the deadline, at least 1 (0 would
/// stop the timer), at most the register's range (a longer wait fires early and the
/// caller re-arms).
pub fn initial_count(ticks: u64, rate: u64) -> u32 {
    let c = (u128::from(ticks) * u128::from(rate)).div_ceil(1 << 32);
    u32::try_from(c).unwrap_or(u32::MAX).max(1)
}

/// The divide configuration (the APIC's divide register value) and initial count that
/// fire `ticks` TSC ticks from now at `rate` (counts at divide by 1, [`rate`]): divide
/// by 1 while the count fits the register, else the smallest power-of-two divider up
/// to 128 that makes it fit (each count then lasts that many, rounded up: never
/// early); a wait beyond divide-by-128's range fires early, at its end. A direct-mode
/// guest's TSC deadline on a one-shot timer (`passthru::vdeadline`), whose far
/// deadlines the guest must not see fire early, takes this, in two steps
/// ([`divide_shift`] before the TSC read the count is taken from, then
/// [`count_at`]) so that little runs between that read and the count's write.
pub fn one_shot(ticks: u64, rate: u64) -> (u32, u32) {
    let shift = divide_shift(ticks, rate);
    (divide_config(shift), count_at(ticks, rate, shift))
}

/// The power of two (0..=7) [`one_shot`] divides by for a wait of `ticks`.
pub fn divide_shift(ticks: u64, rate: u64) -> u32 {
    let counts = u128::from(ticks) * u128::from(rate);
    let mut shift = 0;
    while shift < 7 && counts > u128::from(u32::MAX) << (32 + shift) {
        shift += 1;
    }
    shift
}

/// The initial count that fires `ticks` TSC ticks from now at `rate` with the APIC
/// dividing by 2^`shift`: rounded up, at least 1, at most the register's range.
pub fn count_at(ticks: u64, rate: u64, shift: u32) -> u32 {
    if shift == 0 {
        // The common case, with constant shifts (it runs between the TSC read and
        // the count's write).
        return initial_count(ticks, rate);
    }
    let total = 32 + shift.min(7);
    let c = (u128::from(ticks) * u128::from(rate) + ((1u128 << total) - 1)) >> total;
    u32::try_from(c).unwrap_or(u32::MAX).max(1)
}

/// The APIC divide register value for division by 2^`shift` (0..=7): bits 0, 1 and 3
/// hold shift - 1, and 0b1011 is divide by 1.
pub const fn divide_config(shift: u32) -> u32 {
    if shift == 0 {
        0b1011
    } else {
        let v = (shift - 1) & 7;
        (v & 3) | (v & 4) << 1
    }
}

/// The VMX-preemption timer's value that exits the guest `ticks` TSC ticks from now
/// or just after, never before (it counts down once every 2^`shift` ticks,
/// IA32_VMX_MISC bits 4:0); at most the field's range.
pub fn preemption_count(ticks: u64, shift: u32) -> u32 {
    let step = 1u64 << shift.min(31);
    u32::try_from(ticks.div_ceil(step)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_keeps_divide_by_1_while_the_count_fits() {
        let r = rate(1, 1);
        assert_eq!(one_shot(1_000, r), (0b1011, 1_000));
        assert_eq!(one_shot(0, r), (0b1011, 1));
        assert_eq!(one_shot(u64::from(u32::MAX), r), (0b1011, u32::MAX));
        // One tick more: divide by 2, rounded up.
        assert_eq!(one_shot(u64::from(u32::MAX) + 1, r), (0b0000, 1 << 31));
        assert_eq!(
            one_shot(u64::from(u32::MAX) + 2, r),
            (0b0000, (1 << 31) + 1)
        );
    }

    #[test]
    fn one_shot_never_fires_early_within_divide_by_128() {
        let r = rate(1, 1);
        for ticks in [
            1u64 << 33,
            (1 << 35) + 7,
            (1 << 38) + 1,
            128 * u64::from(u32::MAX),
        ] {
            let (config, count) = one_shot(ticks, r);
            let shift = (0..=7).find(|&s| divide_config(s) == config).unwrap();
            let lasts = u64::from(count) << shift;
            assert!(lasts >= ticks && lasts - ticks < 1 << shift, "{ticks}");
        }
        // Beyond: the longest count at divide by 128 (it fires early; the caller knows).
        assert_eq!(one_shot(u64::MAX, r), (0b1010, u32::MAX));
    }

    #[test]
    fn divide_configs_are_the_sdms() {
        let sdm = [
            0b1011, 0b0000, 0b0001, 0b0010, 0b0011, 0b1000, 0b1001, 0b1010,
        ];
        for (shift, want) in sdm.iter().enumerate() {
            assert_eq!(
                divide_config(shift as u32),
                *want,
                "divide by {}",
                1 << shift
            );
        }
    }

    #[test]
    fn earliest_ignores_none() {
        assert_eq!(earliest(0, 0), 0);
        assert_eq!(earliest(0, 7), 7);
        assert_eq!(earliest(9, 0), 9);
        assert_eq!(earliest(9, 7), 7);
        assert_eq!(earliest(5, 7), 5);
    }

    /// What the general way does on a wake: the guest timer expires when its
    /// deadline passed, the watchdog's check runs when its own did, a kick is
    /// handled; the short way must be taken exactly when that is the guest timer's
    /// expiry alone.
    #[test]
    fn the_short_way_is_taken_exactly_for_the_guest_timer_alone() {
        let times = [0u64, 1, 99, 100, 101, u64::MAX - 1, u64::MAX];
        let mut short = 0;
        for timer_only in [false, true] {
            for now in times {
                for guest in times {
                    for watchdog in times {
                        let guest_expires = guest != 0 && now >= guest;
                        let watchdog_checks = watchdog != 0 && now >= watchdog;
                        let general_does_guest_alone =
                            timer_only && guest_expires && !watchdog_checks;
                        assert_eq!(
                            guest_alone(timer_only, now, guest, watchdog),
                            general_does_guest_alone,
                            "{timer_only} {now} {guest} {watchdog}"
                        );
                        short += usize::from(general_does_guest_alone);
                    }
                }
            }
        }
        assert!(short > 0);
        // None and a future deadline never expire; a kick always goes the general way.
        assert!(!guest_alone(true, 50, 0, 0));
        assert!(!guest_alone(true, 50, 51, 0));
        assert!(!guest_alone(false, 50, 50, 0));
        assert!(!guest_alone(true, 50, 50, 50));
        assert!(guest_alone(true, 50, 50, 51));
    }

    #[test]
    fn preemption_never_exits_early() {
        assert_eq!(preemption_count(0, 5), 0);
        assert_eq!(preemption_count(64, 5), 2);
        assert_eq!(preemption_count(65, 5), 3);
        assert_eq!(preemption_count(7, 0), 7);
        assert_eq!(preemption_count(u64::MAX, 5), u32::MAX);
        // A shift past the field's width does not overflow.
        assert_eq!(preemption_count(1 << 40, 63), 1 << 9);
    }

    #[test]
    fn counts_follow_the_measured_rate() {
        // QEMU: APIC timer at 1 GHz, TSC at 2 GHz: one count per two ticks.
        let r = rate(10_000_000, 20_000_000);
        assert_eq!(r, 1 << 31);
        assert_eq!(initial_count(2_000, r), 1_000);
        // Rounded up: 3 ticks is 1.5 counts, fired after 2 (never early).
        assert_eq!(initial_count(3, r), 2);
        // Equal rates.
        assert_eq!(initial_count(12_345, rate(5, 5)), 12_345);
        // A deadline now or past still fires (count 0 would stop the timer).
        assert_eq!(initial_count(0, r), 1);
        // Too far: the register's range; the caller re-arms when it fires early.
        assert_eq!(initial_count(u64::MAX, r), u32::MAX);
        // No rate measured: nothing counted, no division by zero.
        assert_eq!(rate(0, 0), 0);
        assert_eq!(initial_count(1_000, 0), 1);
    }
}
