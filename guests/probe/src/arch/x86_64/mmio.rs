//! Unclaimed MMIO with the plain 32-bit MOVs a driver uses (`mov eax, [rdx]` and
//! `mov [rdx], eax`, which the hypervisor decodes), at the `hypervisor=` and
//! `other-vm=` addresses, outside this VM's RAM. Under rtvisor such an access is
//! completed the x86 way: the read gives all-ones, the write is dropped. A value
//! other than all-ones is a LEAK; a fault also stops the access (contained).

use guest_common::exception::Fault;
use guest_common::{guard, BootInfo};

use super::How;
use crate::report::{contained, leak, target, Outcome};

/// What the store writes ("PROB").
const PATTERN: u32 = 0x424f_5250;

/// `mov eax, dword ptr [rdx]`, guarded.
pub(super) fn load32(addr: usize) -> Result<u32, Fault> {
    guard::catch(|| {
        let mut v: u32 = 0;
        // SAFETY: a load from an address outside this VM's RAM (the bootargs', or its
        // I/O APIC); a fault is caught by `catch`; no Rust object is aliased.
        unsafe {
            guest_common::guarded!("mov eax, dword ptr [rdx]", in("rdx") addr, inout("eax") v,)
        };
        v
    })
}

/// `mov dword ptr [rdx], eax`, guarded.
pub(super) fn store32(addr: usize, v: u32) -> Result<(), Fault> {
    guard::catch(|| {
        // SAFETY: `addr` is the other VM's memory by the bootargs or a device page of
        // this VM's (its I/O APIC), never this guest's own image, stack or boot
        // tables; writing it is the point.
        unsafe { guest_common::guarded!("mov dword ptr [rdx], eax", in("rdx") addr, in("eax") v,) };
    })
}

pub fn unclaimed(boot: &BootInfo) -> Outcome {
    const CASE: &str = "unclaimed-mmio";
    let Some(hv) = target(boot, CASE, "hypervisor") else {
        return Outcome::Skipped;
    };
    let Some(other) = target(boot, CASE, "other-vm") else {
        return Outcome::Skipped;
    };
    let read = load32(hv);
    let write = store32(other, PATTERN);
    let back = load32(other);
    match (read, write, back) {
        (Ok(u32::MAX), Ok(()), Ok(u32::MAX)) => contained(
            CASE,
            format_args!("32-bit MOVs: reads all-ones, write dropped"),
        ),
        (Ok(v), _, _) if v != u32::MAX => leak(CASE, format_args!("read {:#x} from {:#x}", v, hv)),
        (_, _, Ok(v)) if v != u32::MAX => leak(
            CASE,
            format_args!("write to {:#x} accepted, reads back {:#x}", other, v),
        ),
        (Err(f), _, _) | (_, Err(f), _) | (_, _, Err(f)) => {
            contained(CASE, format_args!("32-bit MOVs refused: {}", How(&f)))
        }
        _ => leak(CASE, format_args!("unexpected outcome")),
    }
}
