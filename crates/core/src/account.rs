//! Interference accounting: why a physical CPU entered the hypervisor, and for whom.
//!
//! Every entry into the hypervisor from the guest running on a CPU (aarch64: every
//! exception from EL1 to EL2, the vectors' fast paths included) counts once, under
//! one [`Cause`]. Its time (the counter read when the entry begins and when it ends)
//! goes to the VM that owns the CPU when the cause is that VM's own doing, and to
//! "anyone else" otherwise. The hypervisor keeps an [`Account`] per CPU; the shell
//! (`cpu stats`) and the benchmark's measurement window read differences of two.

use core::fmt;

/// Why the hypervisor was entered on a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A call of the owning VM's vCPU (hypercall, PSCI, SMCCC; fast path included).
    Call,
    /// A stage-2 fault of the vCPU: an emulated device access or a refused one.
    Mmio,
    /// A trapped system-register access of the vCPU.
    SysReg,
    /// A trapped WFI or WFE of the vCPU.
    Wfx,
    /// Any other synchronous exit of the vCPU.
    Trap,
    /// The vCPU's own timer (virtual mode; fast path included).
    Timer,
    /// The interrupt controller's maintenance interrupt (a list-register refresh of the
    /// vCPU's virtual interrupt controller).
    Maintenance,
    /// A kick from another vCPU of the same VM (its IPIs, its lifecycle calls).
    Ipi,
    /// A passed-through device interrupt for the owning VM.
    Spi,
    /// A kick caused by another VM, or by the shell (an IPI or lifecycle change that
    /// another partition or the operator asked for).
    Kick,
    /// A doorbell another VM rang.
    Doorbell,
    /// Shell and console work (the console's receive interrupt).
    Shell,
    /// The hypervisor's own timer: the watchdogs.
    Watchdog,
    /// An interrupt entry that found nothing to do, or an interrupt no one owns.
    Spurious,
}

impl Cause {
    /// Number of causes.
    pub const COUNT: usize = 14;
    /// Every cause, in column order; `cause as usize` indexes this.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Call,
        Self::Mmio,
        Self::SysReg,
        Self::Wfx,
        Self::Trap,
        Self::Timer,
        Self::Maintenance,
        Self::Ipi,
        Self::Spi,
        Self::Kick,
        Self::Doorbell,
        Self::Shell,
        Self::Watchdog,
        Self::Spurious,
    ];

    /// Column heading and key in the window report.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Mmio => "mmio",
            Self::SysReg => "sysreg",
            Self::Wfx => "wfx",
            Self::Trap => "trap",
            Self::Timer => "timer",
            Self::Maintenance => "maint",
            Self::Ipi => "ipi",
            Self::Spi => "spi",
            Self::Kick => "kick",
            Self::Doorbell => "bell",
            Self::Shell => "shell",
            Self::Watchdog => "wdog",
            Self::Spurious => "spur",
        }
    }

    /// Whether the time of such an entry is spent on behalf of the VM that owns the
    /// CPU (its own exits, timer, interrupt controller, IPIs and devices); the others
    /// are interference from outside it.
    pub const fn is_own(self) -> bool {
        (self as usize) <= Self::Spi as usize
    }
}

/// One CPU's counts: entries by [`Cause`], and the time spent in the hypervisor
/// (nanoseconds) on behalf of its owning VM and of anyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Entries, indexed like [`Cause::ALL`].
    pub entries: [u64; Cause::COUNT],
    /// Time on behalf of the owning VM.
    pub own_ns: u64,
    /// Time on behalf of anyone else.
    pub other_ns: u64,
}

impl Account {
    /// What happened between `earlier` and `self` (counters wrap at 2^64).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            entries: core::array::from_fn(|i| self.entries[i].wrapping_sub(earlier.entries[i])),
            own_ns: self.own_ns.wrapping_sub(earlier.own_ns),
            other_ns: self.other_ns.wrapping_sub(earlier.other_ns),
        }
    }

    /// Entries of cause `c`.
    pub fn of(&self, c: Cause) -> u64 {
        self.entries[c as usize]
    }

    /// Every entry.
    pub fn total(&self) -> u64 {
        self.entries.iter().fold(0, |a, &n| a.wrapping_add(n))
    }

    /// Entries on behalf of anyone but the owning VM.
    pub fn foreign(&self) -> u64 {
        Cause::ALL
            .iter()
            .filter(|c| !c.is_own())
            .fold(0, |a, &c| a.wrapping_add(self.of(c)))
    }
}

/// `entries=N call=.. mmio=.. ... own_ns=.. other_ns=..`: the form of the window
/// report on the console (`cargo xtask bench` parses it).
impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entries={}", self.total())?;
        for c in Cause::ALL {
            write!(f, " {}={}", c.name(), self.of(c))?;
        }
        write!(f, " own_ns={} other_ns={}", self.own_ns, self.other_ns)
    }
}

/// `ticks` of a counter running at `hz` in nanoseconds, rounded down: whole seconds
/// and the rest apart, so no 128-bit division (exact while `hz` is below 18 GHz; it
/// wraps past 2^64 ns, 584 years).
pub fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    const NS: u64 = 1_000_000_000;
    let hz = hz.max(1);
    (ticks / hz)
        .wrapping_mul(NS)
        .wrapping_add((ticks % hz).wrapping_mul(NS) / hz)
}

/// What marks the hypervisor's report of a measurement window on the console.
pub const WINDOW_MARK: &str = "el2 window";

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::vec::Vec;

    #[test]
    fn ticks_convert_to_ns_as_exact_128_bit_arithmetic_would() {
        let ticks = [
            0,
            1,
            61,
            62_499_999,
            62_500_000,
            1 << 40,
            u64::MAX / 1_000_000_000,
        ];
        for hz in [1, 24_000_000, 62_500_000, 1_000_000_000, 3_000_000_007] {
            for t in ticks {
                let want = (u128::from(t) * 1_000_000_000 / u128::from(hz)) as u64;
                assert_eq!(ticks_to_ns(t, hz), want, "{t} ticks at {hz} Hz");
            }
        }
        assert_eq!(
            ticks_to_ns(5, 0),
            5_000_000_000,
            "a zero frequency counts as 1 Hz"
        );
    }

    #[test]
    fn all_indexes_its_own_position() {
        for (i, c) in Cause::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{}", c.name());
        }
    }

    #[test]
    fn own_causes_are_the_vms_doing_and_the_rest_are_not() {
        let own: Vec<_> = Cause::ALL
            .iter()
            .filter(|c| c.is_own())
            .map(|c| c.name())
            .collect();
        assert_eq!(
            own,
            ["call", "mmio", "sysreg", "wfx", "trap", "timer", "maint", "ipi", "spi"]
        );
        assert!(!Cause::Kick.is_own() && !Cause::Doorbell.is_own());
        assert!(!Cause::Watchdog.is_own() && !Cause::Shell.is_own());
    }

    #[test]
    fn since_subtracts_and_wraps() {
        let mut a = Account::default();
        a.entries[Cause::Timer as usize] = 5;
        a.entries[Cause::Kick as usize] = 1;
        a.own_ns = 100;
        let mut b = a;
        b.entries[Cause::Timer as usize] = 7;
        b.entries[Cause::Kick as usize] = 0; // wrapped
        b.own_ns = 164;
        b.other_ns = 32;
        let d = b.since(&a);
        assert_eq!(d.of(Cause::Timer), 2);
        assert_eq!(d.of(Cause::Kick), u64::MAX);
        assert_eq!((d.own_ns, d.other_ns), (64, 32));
    }

    #[test]
    fn totals_split_own_from_foreign() {
        let mut a = Account::default();
        a.entries[Cause::Call as usize] = 3;
        a.entries[Cause::Doorbell as usize] = 2;
        a.entries[Cause::Spurious as usize] = 1;
        assert_eq!((a.total(), a.foreign()), (6, 3));
    }

    #[test]
    fn the_report_names_every_cause_and_both_times() {
        let mut a = Account::default();
        a.entries[Cause::Timer as usize] = 1000;
        a.own_ns = 38_000;
        let s = format!("{a}");
        assert!(s.starts_with("entries=1000 call=0 mmio=0 "), "{s}");
        assert!(s.contains(" timer=1000 "), "{s}");
        assert!(s.ends_with(" spur=0 own_ns=38000 other_ns=0"), "{s}");
        assert_eq!(s.matches('=').count(), Cause::COUNT + 3);
    }
}

/// The physical interrupts the hypervisor counts per CPU (`irq stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqKind {
    /// The hypervisor's own inter-processor interrupts (kick, halt; aarch64: its
    /// Group-0 SGIs).
    Sgi,
    /// EL1 timer interrupts (aarch64: the virtual and the physical timer's) forwarded
    /// to a virtual-mode vCPU by the exit path.
    /// The exception vector's fast path (arch crate, `fast.rs`) injects the timer
    /// without leaving the vector whenever a list register is free, and those are not
    /// counted: this is a lower bound, often zero for a guest that ticks steadily.
    Vtimer,
    /// Interrupt-controller maintenance interrupts (aarch64: the GIC's, for a
    /// list-register refresh).
    Maintenance,
    /// Passed-through SPIs forwarded to their VM.
    Spi,
    /// Console receive interrupts for the shell (x86_64: polls of COM1 that read
    /// something, on the shell's CPU).
    Uart,
    /// Interrupt exits that found nothing to acknowledge, and (aarch64) interrupts no
    /// one owns; x86_64 counts interrupt exits and HLT wakes that found nothing, not
    /// the stubs of stray vectors.
    Spurious,
}

impl IrqKind {
    /// Number of kinds.
    pub const COUNT: usize = 6;
    /// Every kind, in column order; `kind as usize` indexes this.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Sgi,
        Self::Vtimer,
        Self::Maintenance,
        Self::Spi,
        Self::Uart,
        Self::Spurious,
    ];

    /// Column heading.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sgi => "sgi",
            Self::Vtimer => "vtimer",
            Self::Maintenance => "maint",
            Self::Spi => "spi",
            Self::Uart => "uart",
            Self::Spurious => "spurious",
        }
    }
}
