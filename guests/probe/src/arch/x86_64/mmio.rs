//! Unclaimed MMIO with the plain MOVs a driver uses (`mov eax, [rdx]` and
//! `mov [rdx], eax`; 8-byte and REX ones, `mov r9, [rdx]` and `mov [rdx], r9`,
//! which the hypervisor decodes), at the `hypervisor=` and `other-vm=` addresses,
//! outside this VM's RAM. Under rtvisor such an access is completed the x86 way:
//! the read gives all-ones, the write is dropped. A value other than all-ones is a
//! LEAK; a fault also stops the access (contained).

use guest_common::exception::Fault;
use guest_common::{guard, BootInfo};

use super::How;
use crate::report::{contained, leak, target, Outcome};

/// What the store writes ("PROB"; "PROBE64!").
const PATTERN: u32 = 0x424f_5250;
const PATTERN64: u64 = 0x2134_3645_424f_5250;

/// `mov r9, qword ptr [rdx]` (REX.W|REX.R), guarded.
fn load64(addr: usize) -> Result<u64, Fault> {
    guard::catch(|| {
        let mut v: u64 = 0;
        // SAFETY: as in `load32`.
        unsafe {
            guest_common::guarded!("mov r9, qword ptr [rdx]", in("rdx") addr, inout("r9") v,)
        };
        v
    })
}

/// `mov qword ptr [rdx], r9`, guarded.
fn store64(addr: usize, v: u64) -> Result<(), Fault> {
    guard::catch(|| {
        // SAFETY: as in `store32`.
        unsafe { guest_common::guarded!("mov qword ptr [rdx], r9", in("rdx") addr, in("r9") v,) };
    })
}

/// `mov eax, dword ptr [rdx]`, guarded.
fn load32(addr: usize) -> Result<u32, Fault> {
    guard::catch(|| {
        let mut v: u32 = 0;
        // SAFETY: a load from an address outside this VM's RAM (the bootargs'); a
        // fault is caught by `catch`; no Rust object is aliased.
        unsafe {
            guest_common::guarded!("mov eax, dword ptr [rdx]", in("rdx") addr, inout("eax") v,)
        };
        v
    })
}

/// `mov dword ptr [rdx], eax`, guarded.
fn store32(addr: usize, v: u32) -> Result<(), Fault> {
    guard::catch(|| {
        // SAFETY: `addr` is the other VM's memory by the bootargs, never this
        // guest's own image, stack or boot tables; writing it is the point.
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
    let widen = |r: Result<u32, Fault>| {
        r.map(|v| {
            if v == u32::MAX {
                u64::MAX
            } else {
                u64::from(v)
            }
        })
    };
    let read = widen(load32(hv));
    let write = store32(other, PATTERN);
    let back = widen(load32(other));
    let read64 = load64(hv);
    let write64 = store64(other, PATTERN64);
    let back64 = load64(other);
    let (read, write, back) = match (read, write, back) {
        (Ok(u64::MAX), Ok(()), Ok(u64::MAX)) => (read64, write64, back64),
        other => other,
    };
    match (read, write, back) {
        (Ok(u64::MAX), Ok(()), Ok(u64::MAX)) => contained(
            CASE,
            format_args!("32- and 64-bit MOVs: reads all-ones, writes dropped"),
        ),
        (Ok(v), _, _) if v != u64::MAX => leak(CASE, format_args!("read {:#x} from {:#x}", v, hv)),
        (_, _, Ok(v)) if v != u64::MAX => leak(
            CASE,
            format_args!("write to {:#x} accepted, reads back {:#x}", other, v),
        ),
        (Err(f), _, _) | (_, Err(f), _) | (_, _, Err(f)) => {
            contained(CASE, format_args!("32-bit MOVs refused: {}", How(&f)))
        }
        _ => leak(CASE, format_args!("unexpected outcome")),
    }
}
