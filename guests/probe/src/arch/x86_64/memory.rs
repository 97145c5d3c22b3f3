//! Another VM's RAM, the hypervisor and a device: read, and written (another VM's
//! RAM). Under rtvisor the addresses are not mapped: all-ones on reads and dropped
//! writes (the x86 convention for unclaimed addresses), or a fault.

use guest_common::{guard, BootInfo};

use super::contained_by_fault;
use crate::report::{contained, leak, target, Outcome};

/// Value write-other-vm writes ("PROBE!!!").
const WRITE_PATTERN: u64 = 0x2121_2145_424f_5250;

pub fn read_case(boot: &BootInfo, case: &str, key: &str) -> Outcome {
    let Some(addr) = target(boot, case, key) else {
        return Outcome::Skipped;
    };
    match guard::read_u64(addr) {
        Ok(u64::MAX) => contained(case, format_args!("reads all-ones")),
        Ok(v) => leak(case, format_args!("read {:#x} from {:#x}", v, addr)),
        Err(f) => contained_by_fault(case, &f),
    }
}

pub fn write_case(boot: &BootInfo, case: &str, key: &str) -> Outcome {
    let Some(addr) = target(boot, case, key) else {
        return Outcome::Skipped;
    };
    // SAFETY: `addr` is another VM's memory by the bootargs, never this guest's own
    // image, stacks or boot tables; writing it is the point of the test.
    match unsafe { guard::write_u64(addr, WRITE_PATTERN) } {
        Ok(()) => match guard::read_u64(addr) {
            Ok(v) if v == WRITE_PATTERN => leak(
                case,
                format_args!("write to {:#x} accepted, reads back {:#x}", addr, v),
            ),
            Ok(v) => contained(case, format_args!("write dropped, reads {:#x}", v)),
            Err(f) => contained_by_fault(case, &f),
        },
        Err(f) => contained_by_fault(case, &f),
    }
}
