//! TSC-deadline mode for a direct-mode guest whose core's local APIC has none (QEMU
//! 7.2's TCG models an xAPIC with one-shot and periodic timers only): plain code,
//! tested on the host, that says what the core's APIC gets for each of the guest's
//! timer writes.
//!
//! Why: in one-shot mode a guest arms its timer with a count relative to the moment
//! of its write. Where that write exits (the xAPIC page is read-only to a direct
//! guest, as its ICR must stay with the hypervisor), the count starts only when the
//! hypervisor performs it, so every arm is late by the exit's length. A deadline is
//! absolute: the hypervisor turns it into a one-shot count at the moment it writes
//! the count, so the arming exit is off the timer's path and the interrupt still
//! reaches the guest with no hypervisor code in between.
//!
//! The guest sees the mode as the Intel SDM (vol. 3A, 11.5.4.1) describes it, but for
//! what its reads of the APIC page show (they reach the core's APIC unseen): the LVT
//! timer's mode field reads one-shot, and the current count counts down.
//! - The LVT timer in TSC-deadline mode (bits 18:17 = 10b) is written to the core as
//!   one-shot with the same vector and mask; any other mode as the guest wrote it.
//! - A write that changes the mode disarms the timer (the count is cleared and the
//!   deadline forgotten).
//! - In TSC-deadline mode writes of the initial count are ignored; in any other
//!   mode writes of IA32_TSC_DEADLINE are ignored and reads of it return 0.
//! - IA32_TSC_DEADLINE reads back the armed deadline until it passes, then 0 (the
//!   hardware clears it when the timer fires); 0 disarms.

/// The LVT timer's mode field (bits 18:17).
pub const LVT_MODE: u32 = 3 << 17;
/// Its TSC-deadline value.
pub const LVT_TSC_DEADLINE: u32 = 2 << 17;

/// One core's emulated TSC-deadline state (its guest's view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VirtualDeadline {
    /// The guest's LVT timer is in TSC-deadline mode.
    on: bool,
    /// The armed deadline (guest TSC; 0: none).
    at: u64,
}

/// What the core's APIC gets for a guest's LVT timer write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LvtWrite {
    /// Clear the initial count first (the mode changed: the timer is disarmed).
    pub disarm: bool,
    /// The value written to the core's LVT timer.
    pub value: u32,
}

/// What the core's timer does for a guest's write of IA32_TSC_DEADLINE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// Nothing (not in TSC-deadline mode: the write is ignored).
    Ignore,
    /// Stop the timer (a write of 0).
    Disarm,
    /// Fire when the guest's TSC reaches this value (at once if it has).
    At(u64),
}

impl VirtualDeadline {
    /// A core's state at reset: not in TSC-deadline mode, nothing armed.
    pub const fn new() -> Self {
        Self { on: false, at: 0 }
    }

    /// Whether the guest's timer is in TSC-deadline mode.
    pub const fn on(&self) -> bool {
        self.on
    }

    /// The guest writes `value` to its LVT timer.
    pub fn lvt(&mut self, value: u32) -> LvtWrite {
        let on = value & LVT_MODE == LVT_TSC_DEADLINE;
        let disarm = on != self.on;
        if disarm {
            self.at = 0;
        }
        self.on = on;
        LvtWrite {
            disarm,
            value: if on { value & !LVT_MODE } else { value },
        }
    }

    /// Whether the guest's write of the initial count reaches the core (not in
    /// TSC-deadline mode).
    pub const fn initial_count(&self) -> bool {
        !self.on
    }

    /// The guest writes `value` to IA32_TSC_DEADLINE.
    pub fn write(&mut self, value: u64) -> Arm {
        if !self.on {
            return Arm::Ignore;
        }
        self.at = value;
        if value == 0 {
            Arm::Disarm
        } else {
            Arm::At(value)
        }
    }

    /// What the guest reads from IA32_TSC_DEADLINE when its TSC is `now`.
    pub fn read(&self, now: u64) -> u64 {
        if self.on && self.at != 0 && now < self.at {
            self.at
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: u32 = 0x30;
    const MASKED: u32 = 1 << 16;
    const PERIODIC: u32 = 1 << 17;

    /// One step of a guest's timer programming and what must follow.
    enum Step {
        /// LVT write: (value, expected disarm, expected value on the core).
        Lvt(u32, bool, u32),
        /// Initial-count write: whether it reaches the core.
        Count(bool),
        /// IA32_TSC_DEADLINE write and the expected arm.
        Write(u64, Arm),
        /// IA32_TSC_DEADLINE read at a TSC, and the value read.
        Read(u64, u64),
    }
    use Step::*;

    const CASES: &[(&str, &[Step])] = &[
        (
            "reset: one-shot, deadline writes ignored, reads 0",
            &[Count(true), Write(500, Arm::Ignore), Read(0, 0)],
        ),
        (
            "deadline mode reaches the core as one-shot, vector and mask kept",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR | MASKED, true, VECTOR | MASKED),
                Lvt(LVT_TSC_DEADLINE | VECTOR, false, VECTOR),
            ],
        ),
        (
            "arm, read back until it passes, then 0",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Write(1_000, Arm::At(1_000)),
                Read(999, 1_000),
                Read(1_000, 0),
                Read(5_000, 0),
            ],
        ),
        (
            "0 disarms",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Write(1_000, Arm::At(1_000)),
                Write(0, Arm::Disarm),
                Read(10, 0),
            ],
        ),
        (
            "a deadline in the past arms (it fires at once)",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Write(1, Arm::At(1)),
            ],
        ),
        (
            "initial count ignored in deadline mode, passed in the others",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Count(false),
                Lvt(VECTOR, true, VECTOR),
                Count(true),
                Lvt(PERIODIC | VECTOR, false, PERIODIC | VECTOR),
                Count(true),
            ],
        ),
        (
            "leaving deadline mode disarms and forgets the deadline",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Write(1_000, Arm::At(1_000)),
                Lvt(VECTOR, true, VECTOR),
                Read(10, 0),
                Write(2_000, Arm::Ignore),
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Read(10, 0),
            ],
        ),
        (
            "re-writing the LVT in deadline mode keeps the deadline",
            &[
                Lvt(LVT_TSC_DEADLINE | VECTOR, true, VECTOR),
                Write(1_000, Arm::At(1_000)),
                Lvt(LVT_TSC_DEADLINE | VECTOR | MASKED, false, VECTOR | MASKED),
                Read(10, 1_000),
            ],
        ),
        (
            "the reserved mode 11b is passed as written (not deadline mode)",
            &[
                Lvt(LVT_MODE | VECTOR, false, LVT_MODE | VECTOR),
                Count(true),
            ],
        ),
    ];

    #[test]
    fn every_case() {
        for (what, steps) in CASES {
            let mut v = VirtualDeadline::new();
            for (i, step) in steps.iter().enumerate() {
                match *step {
                    Lvt(value, disarm, hw) => {
                        assert_eq!(v.lvt(value), LvtWrite { disarm, value: hw }, "{what}: {i}")
                    }
                    Count(passes) => assert_eq!(v.initial_count(), passes, "{what}: {i}"),
                    Write(value, arm) => assert_eq!(v.write(value), arm, "{what}: {i}"),
                    Read(now, got) => assert_eq!(v.read(now), got, "{what}: {i}"),
                }
            }
        }
    }

    /// Whatever the guest writes, the core's LVT never gets the TSC-deadline mode
    /// (which its APIC does not have), and only the mode field is changed.
    #[test]
    fn the_core_never_sees_deadline_mode() {
        let mut v = VirtualDeadline::new();
        for value in (0..=u32::MAX).step_by(0x1_0003) {
            let w = v.lvt(value);
            assert_ne!(w.value & LVT_MODE, LVT_TSC_DEADLINE, "{value:#x}");
            assert_eq!(w.value & !LVT_MODE, value & !LVT_MODE, "{value:#x}");
        }
    }
}
