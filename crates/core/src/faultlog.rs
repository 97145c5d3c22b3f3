//! The log of a VM's contained faults: each fault the hypervisor answers for a guest
//! (an injected abort, an Undefined Instruction) is worth a `warn` line, since the guest
//! often dies of it without a word. A guest that faults in a loop must not flood the
//! console, so per VM the first fault is reported in full and later ones only as a
//! count, at most one line per period, the latest fault named.
//!
//! Refused calls and ignored writes (an unknown SMCCC function, a doorbell or route
//! the VM may not use) are not faults: guests probe with them, so they stay at `debug`.
//!
//! Lock-free (atomics only): any vCPU of the VM may report at the same time.

use crate::handler::Contained;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// What [`FaultLog::note`] says to print for one fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The VM's first fault since it (re)started: print it in full.
    First,
    /// `count` faults (this one included) since the last line: print the count and this
    /// one.
    More {
        /// Faults not reported yet, this one included.
        count: u64,
    },
}

/// Per-VM fault counter and rate limit.
#[derive(Debug)]
pub struct FaultLog {
    /// Faults since the VM (re)started.
    count: AtomicU64,
    /// How many of them a line has covered.
    reported: AtomicU64,
    /// Counter value before which no count line is printed.
    next: AtomicU64,
}

impl FaultLog {
    /// No fault yet.
    pub const fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            next: AtomicU64::new(0),
        }
    }

    /// Counts one fault at time `now`; says whether to print a line (at most one per
    /// `period` after the first).
    pub fn note(&self, now: u64, period: u64) -> Option<Report> {
        let n = self.count.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        if n == 1 {
            self.next
                .store(now.saturating_add(period), Ordering::Release);
            self.reported.store(1, Ordering::Release);
            return Some(Report::First);
        }
        let next = self.next.load(Ordering::Acquire);
        if now < next {
            return None;
        }
        let later = now.saturating_add(period);
        // One vCPU wins the line; the others' faults go into the next one.
        self.next
            .compare_exchange(next, later, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let count = n.saturating_sub(self.reported.swap(n, Ordering::AcqRel));
        (count > 0).then_some(Report::More { count })
    }

    /// The VM stops or restarts: forgets its faults, so the first one of its next run
    /// is reported in full. Returns how many were never reported.
    pub fn reset(&self) -> u64 {
        let n = self.count.swap(0, Ordering::AcqRel);
        let reported = self.reported.swap(0, Ordering::AcqRel);
        self.next.store(0, Ordering::Release);
        n.saturating_sub(reported)
    }
}

impl Default for FaultLog {
    fn default() -> Self {
        Self::new()
    }
}

/// The contained events that are guest faults, logged at `warn`; `None` for refused
/// calls and ignored writes. `register_name` names a trapped register by the backend's
/// number.
pub fn fault(what: Contained, register_name: fn(u32) -> &'static str) -> Option<Fault> {
    match what {
        Contained::BadAccess(_)
        | Contained::BadFetch(_)
        | Contained::BadPort(_)
        | Contained::RefusedRegister(_) => Some(Fault {
            what,
            register_name,
        }),
        Contained::IgnoredRegister(_)
        | Contained::UnknownCall(_)
        | Contained::UnknownHypercall(_)
        | Contained::BadDoorbell(_)
        | Contained::BadRoute(_) => None,
    }
}

/// A contained guest fault, printed as what happened, where, and what was done.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    what: Contained,
    register_name: fn(u32) -> &'static str,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.what {
            Contained::BadAccess(ipa) => write!(
                f,
                "data access to IPA {:#x} refused: bus fault injected",
                ipa.raw()
            ),
            Contained::BadFetch(ipa) => write!(
                f,
                "instruction fetch from IPA {:#x} refused: fault injected",
                ipa.raw()
            ),
            // The port as u32: the image's hexadecimal formatters are the u32 and u64
            // ones, no 16-bit one.
            Contained::BadPort(port) => write!(
                f,
                "access to I/O port {:#x} refused: answered as an empty bus",
                u32::from(port)
            ),
            // A register the backend has no name for is named by its number (x86_64:
            // the MSR; aarch64: the packed system-register encoding).
            Contained::RefusedRegister(id) => match (self.register_name)(id) {
                n if n.starts_with("unknown") => {
                    write!(f, "access to register {n} {id:#x} refused: fault injected")
                }
                n => write!(f, "access to register {n} refused: fault injected"),
            },
            other => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use rtvisor_addr::Ipa;
    use std::format;

    #[test]
    fn first_in_full_then_a_count_per_period() {
        let log = FaultLog::new();
        assert_eq!(log.note(100, 10), Some(Report::First));
        assert_eq!(log.note(101, 10), None);
        assert_eq!(log.note(109, 10), None);
        // Three faults since the first line: 101, 109 and this one.
        assert_eq!(log.note(110, 10), Some(Report::More { count: 3 }));
        assert_eq!(log.note(111, 10), None);
        assert_eq!(log.note(125, 10), Some(Report::More { count: 2 }));
        assert_eq!(log.note(126, 10), None);
        assert_eq!(log.reset(), 1);
        // The next run's first fault is reported in full again.
        assert_eq!(log.note(127, 10), Some(Report::First));
        assert_eq!(log.reset(), 0);
    }

    #[test]
    fn a_million_faults_print_few_lines() {
        let log = FaultLog::new();
        let lines = (0..1_000_000u64)
            .filter(|&t| log.note(t, 1000).is_some())
            .count();
        assert_eq!(lines, 1000);
    }

    #[test]
    fn only_faults_are_warned_about() {
        let name = |_: u32| "PMCR_EL0";
        let abort = fault(Contained::BadAccess(Ipa::new(0x1234_0000)), name).unwrap();
        let text = format!("{abort}");
        assert_eq!(
            text,
            "data access to IPA 0x12340000 refused: bus fault injected"
        );
        let reg = fault(Contained::RefusedRegister(0xdc80), name).unwrap();
        assert_eq!(
            format!("{reg}"),
            "access to register PMCR_EL0 refused: fault injected"
        );
        let unknown = fault(Contained::RefusedRegister(0xc001_1029), |_| "unknown MSR").unwrap();
        assert_eq!(
            format!("{unknown}"),
            "access to register unknown MSR 0xc0011029 refused: fault injected"
        );
        assert!(fault(Contained::BadFetch(Ipa::new(0)), name).is_some());
        assert!(fault(Contained::BadPort(0x80), name).is_some());
        assert!(fault(Contained::IgnoredRegister(0xc648), name).is_none());
        assert!(fault(Contained::UnknownCall(0x8400_00ff), name).is_none());
        assert!(fault(Contained::BadDoorbell(3), name).is_none());
    }

    #[test]
    fn the_debug_line_names_the_kind_and_its_number_in_hex() {
        assert_eq!(format!("{}", Contained::BadPort(0x3f8)), "BadPort(0x3f8)");
        assert_eq!(
            format!("{}", Contained::BadAccess(Ipa::new(0x1000))),
            "BadAccess(0x1000)"
        );
        assert_eq!(
            format!("{}", Contained::UnknownCall(0x8400_00ff)),
            "UnknownCall(0x840000ff)"
        );
        assert_eq!(format!("{}", Contained::BadRoute(33)), "BadRoute(0x21)");
    }
}
