//! rtvisor's own hypercalls, in the SMCCC range for vendor-specific hypervisor
//! services (owner 6), fast calls, SMC64 (`0xC600_00nn`) or SMC32 (`0x8600_00nn`);
//! arguments in x1.., result in x0 (0 or a negative SMCCC/PSCI error code).
//!
//! | nn   | call            | x1                                 | result          |
//! |------|-----------------|------------------------------------|-----------------|
//! | 0x00 | VERSION         | -                                  | major << 16 \| minor |
//! | 0x01 | DOORBELL_RING   | shared-memory region number        | 0, or INVALID_PARAMETERS when the VM is not a peer |
//! | 0x10 | WATCHDOG_ARM    | timeout in ms (0 disarms)          | 0, or INVALID_PARAMETERS above 60 s |
//! | 0x11 | WATCHDOG_KICK   | -                                  | 0, or DENIED when not armed |
//!
//! A doorbell raises the region's doorbell interrupt (edge) in every other peer. A
//! watchdog that is not kicked within its timeout counts as a crash of the VM
//! (`StopReason::Watchdog`): it is restarted or left stopped per its restart policy.

use crate::psci::PsciError;

/// Version of this interface.
pub const VERSION: u64 = 1 << 16;
/// The longest watchdog timeout.
pub const WATCHDOG_MAX_MS: u64 = 60_000;

const OWNER_MASK: u32 = 0xbfff_ff00;
const OWNER_VENDOR_HYP: u32 = 0x8600_0000;

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
    /// Another number in rtvisor's range.
    Unknown(u32),
}

/// Decodes x0/x1, or `None` when x0 is not in rtvisor's range. The function id is
/// W0 (SMCCC): the upper half of x0 is ignored, as for PSCI.
pub fn decode(x0: u64, x1: u64) -> Option<Hypercall> {
    let fid = x0 as u32;
    if fid & OWNER_MASK != OWNER_VENDOR_HYP {
        return None;
    }
    // SMC32 callers only define the low half of each argument.
    let arg = if fid & 0x4000_0000 == 0 {
        x1 & 0xffff_ffff
    } else {
        x1
    };
    Some(match fid & 0xff {
        0x00 => Hypercall::Version,
        0x01 => Hypercall::Ring(arg),
        0x10 => Hypercall::WatchdogArm(arg),
        0x11 => Hypercall::WatchdogKick,
        _ => Hypercall::Unknown(fid),
    })
}

/// The SMC64 function id of call number `nn`.
pub const fn fid64(nn: u32) -> u64 {
    (0xc600_0000 | nn) as u64
}

/// Checks a watchdog timeout.
pub fn watchdog_timeout(ms: u64) -> Result<u64, PsciError> {
    if ms > WATCHDOG_MAX_MS {
        Err(PsciError::InvalidParameters)
    } else {
        Ok(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rtvisor_calls_in_both_widths() {
        assert_eq!(decode(fid64(0), 0), Some(Hypercall::Version));
        assert_eq!(decode(fid64(1), 3), Some(Hypercall::Ring(3)));
        assert_eq!(
            decode(0x8600_0001, 0xffff_ffff_0000_0002),
            Some(Hypercall::Ring(2))
        );
        assert_eq!(decode(fid64(0x10), 500), Some(Hypercall::WatchdogArm(500)));
        assert_eq!(decode(fid64(0x11), 0), Some(Hypercall::WatchdogKick));
        assert_eq!(
            decode(fid64(0x42), 0),
            Some(Hypercall::Unknown(0xc600_0042))
        );
        // The function id is W0: the upper half of x0 does not matter (as for PSCI).
        assert_eq!(decode(0xffff_ffff_c600_0001, 4), Some(Hypercall::Ring(4)));
    }

    #[test]
    fn other_owners_are_not_ours() {
        for x0 in [
            0x8400_0000u64,
            0xc400_0003,
            0xc500_0001,
            0x1_c700_0001,
            0xc700_0001,
            0,
        ] {
            assert_eq!(decode(x0, 0), None, "{x0:#x}");
        }
    }

    #[test]
    fn watchdog_timeout_is_bounded() {
        assert_eq!(watchdog_timeout(0), Ok(0));
        assert_eq!(watchdog_timeout(WATCHDOG_MAX_MS), Ok(WATCHDOG_MAX_MS));
        assert_eq!(
            watchdog_timeout(WATCHDOG_MAX_MS + 1),
            Err(PsciError::InvalidParameters)
        );
    }
}
