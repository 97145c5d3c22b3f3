//! The first cases on every architecture: another VM's RAM, the hypervisor and a
//! device, read (and another VM's RAM written), at the host addresses the bootargs
//! name. Contained when the access faults, or, where the architecture's convention is
//! that unclaimed addresses read all-ones and drop writes (x86: [`crate::arch::UNCLAIMED`]),
//! when that is what comes back.

use guest_common::{guard, BootInfo};

use crate::arch::{contained_by_fault, UNCLAIMED};
use crate::report::{contained, leak, target, Outcome};

/// Value write-other-vm writes ("PROBE!!!").
pub const WRITE_PATTERN: u64 = 0x2121_2145_424f_5250;

pub fn read_case(boot: &BootInfo, case: &str, key: &str) -> Outcome {
    let Some(addr) = target(boot, case, key) else {
        return Outcome::Skipped;
    };
    match guard::read_u64(addr) {
        Ok(v) if Some(v) == UNCLAIMED => contained(case, format_args!("reads all-ones")),
        Ok(v) => leak(case, format_args!("read {:#x} from {:#x}", v, addr)),
        Err(f) => contained_by_fault(case, &f),
    }
}

pub fn write_case(boot: &BootInfo, case: &str, key: &str) -> Outcome {
    let Some(addr) = target(boot, case, key) else {
        return Outcome::Skipped;
    };
    // SAFETY: `addr` is the other VM's memory by the scenario's bootargs, never this
    // guest's own image, stack or boot tables; writing it is the point of the test.
    match unsafe { guard::write_u64(addr, WRITE_PATTERN) } {
        Ok(()) => match guard::read_u64(addr) {
            Ok(v) if Some(v) == UNCLAIMED => {
                contained(case, format_args!("write dropped, reads all-ones"))
            }
            Ok(v) => leak(
                case,
                format_args!("write to {:#x} accepted, reads back {:#x}", addr, v),
            ),
            Err(_) => leak(case, format_args!("write to {:#x} accepted", addr)),
        },
        Err(f) => contained_by_fault(case, &f),
    }
}
