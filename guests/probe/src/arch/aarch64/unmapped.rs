//! `unmapped-*`: a guarded 64-bit read and write of one address of each class this VM
//! must not reach, and `unmapped-fetch*`: a guarded branch there (an instruction
//! fetch). Contained = the accesses fault, or (reported as such) read as zero and
//! ignore writes. A value read, or a write that reads back, is a LEAK.

use guest_common::{guard, BootInfo};

use super::How;
use crate::memory::WRITE_PATTERN;
use crate::report::{contained, leak, number, Outcome, Tally};

/// IPA size of a VM (stage-2 input, VTCR_EL2.T0SZ = 25).
const IPA_LIMIT: usize = 1 << 39;
/// GICv3 redistributor frame (RD_base + SGI_base) per vCPU.
const GICR_FRAME: usize = 0x2_0000;

/// Fixed addresses of the QEMU `virt` map that a VM is not given.
const FIXED: &[(&str, usize)] = &[
    // QEMU `virt`'s platform bus (dynamic sysbus devices). (The flash at 0 is emulated.)
    ("unmapped-platform-bus", 0x0c00_0000),
    // Just past the 64 KiB distributor: where a GICv2 CPU interface would be.
    ("unmapped-gicd-end", 0x0801_0000),
    // The GICv2 hypervisor control frame of QEMU `virt`.
    ("unmapped-gich", 0x0803_0000),
    ("unmapped-gits", 0x0808_0000),
    ("unmapped-pl011-end", 0x0900_1000),
    ("unmapped-doorbell-end", 0x0901_1000),
    ("unmapped-fwcfg", 0x0902_0000),
    ("unmapped-pcie-ecam", 0x3f00_0000),
    ("unmapped-ram-below", 0x3fff_fff8),
    ("unmapped-ipa-top", IPA_LIMIT - 8),
    ("unmapped-ipa-limit", IPA_LIMIT),
    ("unmapped-pa-limit", 1 << 52),
    ("unmapped-va-top", usize::MAX - 7),
];

/// Reads, writes and reads back `addr`.
pub fn attack(case: &str, addr: usize) -> Outcome {
    let read = guard::read_u64(addr);
    // SAFETY: `addr` is outside this VM's RAM and devices (the caller's classes), so
    // it is not this program's memory; reaching it at all is what is being tested.
    let write = unsafe { guard::write_u64(addr, WRITE_PATTERN) };
    let back = write.ok().map(|()| guard::read_u64(addr));
    match (read, write, back) {
        (Ok(v), _, _) if v != 0 => leak(case, format_args!("read {:#x} from {:#x}", v, addr)),
        (_, _, Some(Ok(v))) if v != 0 => leak(
            case,
            format_args!("write to {:#x} accepted, reads back {:#x}", addr, v),
        ),
        (Err(r), Err(w), _) => contained(
            case,
            format_args!("{:#x}: read {}, write {}", addr, How(&r), How(&w)),
        ),
        (Err(r), Ok(()), _) => contained(
            case,
            format_args!(
                "{:#x}: read {}, write ignored without a fault",
                addr,
                How(&r)
            ),
        ),
        (Ok(_), Err(w), _) => contained(
            case,
            format_args!(
                "{:#x}: read as zero without a fault, write {}",
                addr,
                How(&w)
            ),
        ),
        (Ok(_), Ok(()), _) => contained(
            case,
            format_args!("{:#x}: no fault, reads as zero, ignores writes", addr),
        ),
    }
}

/// The redistributor frame just past this VM's own (`arm,gic-v3` reg[1] + size, else
/// QEMU's base + one frame per vCPU).
fn gicr_beyond(boot: &BootInfo) -> usize {
    let from_dt = boot
        .fdt
        .as_ref()
        .and_then(|f| f.find_compatible(&["arm,gic-v3"]))
        .and_then(|n| n.reg())
        .and_then(|mut r| r.nth(1))
        .and_then(|r| Some(r.starting_address as usize + r.size?));
    from_dt.unwrap_or(0x080a_0000 + GICR_FRAME * boot.cpu_count())
}

/// The first address past this VM's RAM (`/memory` reg).
fn ram_end(boot: &BootInfo) -> Option<usize> {
    let fdt = boot.fdt.as_ref()?;
    let node = fdt.all_nodes().find(|n| n.name.starts_with("memory"))?;
    let r = node.reg()?.next()?;
    Some(r.starting_address as usize + r.size?)
}

pub fn run_all(boot: &BootInfo, tally: &mut Tally) {
    for &(case, addr) in FIXED {
        tally.add(attack(case, addr));
    }
    tally.add(attack("unmapped-gicr-other", gicr_beyond(boot)));
    if let Some(end) = ram_end(boot) {
        tally.add(attack("unmapped-ram-end", end));
    }
    for (case, key) in [
        ("unmapped-hypervisor", "hypervisor"),
        ("unmapped-device", "device"),
    ] {
        if let Some(addr) = number(boot, key) {
            tally.add(attack(case, addr as usize));
        }
    }
    tally.add(fetch("unmapped-fetch", 0x0900_1000));
    tally.add(fetch("unmapped-fetch-mmio", 0x0900_0000));
    tally.add(fetch("unmapped-fetch-ipa-limit", IPA_LIMIT));
    if let Some(addr) = number(boot, "other-vm") {
        tally.add(fetch("unmapped-fetch-other-vm", addr as usize));
    }
    if let Some(addr) = number(boot, "ro-shm") {
        tally.add(fetch_shared("fetch-ro-shm", addr as usize));
    }
}

/// A branch to `addr`, which must not be executable for this VM.
fn fetch(case: &str, addr: usize) -> Outcome {
    // SAFETY: `addr` is no memory of this VM (unmapped, an emulated device or another
    // VM's RAM), so nothing there can run; the fetch faults and `call_at` returns.
    match unsafe { guard::call_at(addr) } {
        Err(f) => contained(case, format_args!("{:#x}: {}", addr, How(&f))),
        Ok(()) => leak(case, format_args!("code at {:#x} ran and returned", addr)),
    }
}

/// A branch into the read-only shared region: executing it is no leak (the peers
/// share it on purpose), but what happens is reported. The region holds zeros here
/// (an undefined instruction), unless a peer wrote code.
fn fetch_shared(case: &str, addr: usize) -> Outcome {
    // SAFETY: the region is zero-filled by the hypervisor and the victim never writes
    // it, so the first instruction is UDF #0: it faults at once and `call_at` returns.
    match unsafe { guard::call_at(addr) } {
        Err(f) if f.ec() == 0 => contained(
            case,
            format_args!(
                "{:#x}: executable, its zeros are an undefined instruction",
                addr
            ),
        ),
        Err(f) => contained(case, format_args!("{:#x}: {}", addr, How(&f))),
        Ok(()) => contained(case, format_args!("{:#x}: a peer's code ran", addr)),
    }
}
