//! rtvisor's own hypercalls, by number. How a guest makes one is its backend's ABI
//! ([`VcpuExit::Hypercall`](crate::exit::VcpuExit::Hypercall): on aarch64 an SMCCC
//! fast call `0xC600_00nn` or `0x8600_00nn` with the arguments in x1.. and the result
//! in x0); the numbers, arguments and results are the same everywhere:
//!
//! | nr   | call            | argument 0                         | result          |
//! |------|-----------------|------------------------------------|-----------------|
//! | 0x00 | VERSION         | -                                  | major << 16 \| minor |
//! | 0x01 | DOORBELL_RING   | shared-memory region number        | 0, or INVALID_PARAMETERS when the VM is not a peer |
//! | 0x10 | WATCHDOG_ARM    | timeout in ms (0 disarms)          | 0, or INVALID_PARAMETERS above 60 s |
//! | 0x11 | WATCHDOG_KICK   | -                                  | 0, or DENIED when not armed |
//! | 0x20 | EL2_WINDOW      | 0 opens, 1 closes a window         | 0, or NOT_SUPPORTED for another argument |
//!
//! A doorbell raises the region's doorbell interrupt (edge) in every other peer. A
//! watchdog that is not kicked within its timeout counts as a crash of the VM
//! (`StopReason::Watchdog`): it is restarted or left stopped per its restart policy.
//! EL2_WINDOW brackets a measurement: the hypervisor reports on its console what it
//! did on the calling vCPU's CPU between the two calls, neither call included
//! ([`crate::account`]).

use crate::exit::HYPERCALL_ARGS;
use crate::seam::CallError;

/// Version of this interface.
pub const VERSION: u64 = 1 << 16;
/// The longest watchdog timeout.
pub const WATCHDOG_MAX_MS: u64 = 60_000;

/// VERSION.
pub const NR_VERSION: u64 = 0x00;
/// DOORBELL_RING.
pub const NR_DOORBELL_RING: u64 = 0x01;
/// WATCHDOG_ARM.
pub const NR_WATCHDOG_ARM: u64 = 0x10;
/// WATCHDOG_KICK.
pub const NR_WATCHDOG_KICK: u64 = 0x11;

/// EL2_WINDOW.
pub const NR_EL2_WINDOW: u64 = 0x20;

/// A decoded rtvisor hypercall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypercall {
    /// VERSION.
    Version,
    /// DOORBELL_RING of region `index`.
    Ring(u64),
    /// WATCHDOG_ARM with a timeout in ms (0: disarm).
    WatchdogArm(u64),
    /// WATCHDOG_KICK.
    WatchdogKick,
    /// EL2_WINDOW: open (`false`) or close (`true`) the caller's measurement window.
    El2Window(bool),
    /// Another number.
    Unknown(u64),
}

/// The call number `nr` names, with its arguments.
pub fn decode(nr: u64, args: [u64; HYPERCALL_ARGS]) -> Hypercall {
    match nr {
        NR_VERSION => Hypercall::Version,
        NR_DOORBELL_RING => Hypercall::Ring(args[0]),
        NR_WATCHDOG_ARM => Hypercall::WatchdogArm(args[0]),
        NR_WATCHDOG_KICK => Hypercall::WatchdogKick,
        NR_EL2_WINDOW if args[0] <= 1 => Hypercall::El2Window(args[0] == 1),
        other => Hypercall::Unknown(other),
    }
}

/// Checks a watchdog timeout.
pub fn watchdog_timeout(ms: u64) -> Result<u64, CallError> {
    if ms > WATCHDOG_MAX_MS {
        Err(CallError::InvalidParameters)
    } else {
        Ok(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_number() {
        assert_eq!(decode(0, [7, 7]), Hypercall::Version);
        assert_eq!(decode(1, [3, 9]), Hypercall::Ring(3));
        assert_eq!(decode(0x10, [500, 0]), Hypercall::WatchdogArm(500));
        assert_eq!(decode(0x11, [1, 1]), Hypercall::WatchdogKick);
        assert_eq!(decode(0x20, [0, 5]), Hypercall::El2Window(false));
        assert_eq!(decode(0x20, [1, 5]), Hypercall::El2Window(true));
        assert_eq!(decode(0x20, [2, 0]), Hypercall::Unknown(0x20));
        assert_eq!(decode(0x42, [0, 0]), Hypercall::Unknown(0x42));
        assert_eq!(decode(1 << 32, [0, 0]), Hypercall::Unknown(1 << 32));
    }

    #[test]
    fn watchdog_timeout_is_bounded() {
        assert_eq!(watchdog_timeout(0), Ok(0));
        assert_eq!(watchdog_timeout(WATCHDOG_MAX_MS), Ok(WATCHDOG_MAX_MS));
        assert_eq!(
            watchdog_timeout(WATCHDOG_MAX_MS + 1),
            Err(CallError::InvalidParameters)
        );
    }
}
