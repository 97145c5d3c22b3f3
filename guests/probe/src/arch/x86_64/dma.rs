//! `pci-dma`: the given function (the virtio-blk-pci disk of `pci-msix`) is asked
//! to read sector 0 into memory this guest may not write:
//! - each host address of `dma-targets=` (the scenario names the hypervisor's image
//!   and the other VMs' RAM), which this guest cannot see: the hypervisor and the
//!   other VMs must go on as before (the test watches them);
//! - `dma-ro=`, a shared page mapped read-only into this guest, which it can read:
//!   the page must not change. A device that wrote there wrote where this guest's
//!   own stores cannot, and is a leak. (Whether a request completes says nothing:
//!   QEMU completes one whose buffer its IOMMU refused, and drops the data.)
//!
//! - `dma-irq=`, an address in the interrupt range (0xFEEx_xxxx): the first four
//!   bytes of sector 1 (a fixed interrupt, vector 0xE1) are written there. Without
//!   interrupt remapping the write is an interrupt to the core the address names (the
//!   scenario names `rt`'s, which counts it as a stray); with it, the address names a
//!   remapping entry the hypervisor gave nobody, and nothing arrives.
//!
//! The device is reset before each attempt, and at the end one read into this
//! guest's own buffer must bring the disk's signature (`disk-magic=`), so that a dead
//! device does not pass as a contained one.

use guest_common::args::parse_u64;
use guest_common::BootInfo;

use super::pci::Bdf;
use super::virtio::Virtio;
use crate::report::{contained, leak, number, Outcome};

const CASE: &str = "pci-dma";

fn read_u64(at: u64) -> u64 {
    // SAFETY: `dma-ro=` names a shared page mapped (read-only) into this guest.
    unsafe { core::ptr::read_volatile(at as *const u64) }
}

pub fn dma(boot: &BootInfo, own: Bdf, v: &Virtio) -> Outcome {
    let (Some(list), Some(ro)) = (boot.args().get("dma-targets"), number(boot, "dma-ro")) else {
        return leak(
            CASE,
            format_args!("dma-targets= and dma-ro= not both given"),
        );
    };
    let want = number(boot, "disk-magic");
    let mut aimed = 0;
    for t in list.split(',') {
        let Some(at) = parse_u64(t.trim()) else {
            return leak(CASE, format_args!("dma target {t:?} is not a number"));
        };
        if !v.start(own) {
            return leak(CASE, format_args!("the device did not start"));
        }
        v.submit_into(0, at);
        let _ = v.completed(0);
        aimed += 1;
    }
    let Some(irq) = number(boot, "dma-irq") else {
        return leak(CASE, format_args!("dma-irq= not given"));
    };
    if !v.start(own) {
        return leak(CASE, format_args!("the device did not start"));
    }
    v.submit_split(0, 1, irq, 4);
    let _ = v.completed(0);
    let before = read_u64(ro);
    if !v.start(own) {
        return leak(CASE, format_args!("the device did not start"));
    }
    v.submit_into(0, ro);
    let _ = v.completed(0);
    let after = read_u64(ro);
    if after != before || Some(after) == want {
        return leak(
            CASE,
            format_args!("the read-only page at {ro:#x} changed: {before:#x} -> {after:#x}"),
        );
    }
    if !v.start(own) || !v.read_sector(0) {
        let (used, status, device) = v.state();
        return leak(
            CASE,
            format_args!(
                "the read into this guest's own buffer failed (used {used}, request status \
                 {status:#x}, device status {device:#x})"
            ),
        );
    }
    let magic = Virtio::magic();
    match want {
        Some(w) if w == magic => contained(
            CASE,
            format_args!(
                "{aimed} reads aimed at foreign memory, one at the interrupt range \
                 ({irq:#x}); the read-only page at {ro:#x} kept {after:#x}; into its own \
                 buffer: sector 0 {magic:#x}"
            ),
        ),
        _ => leak(
            CASE,
            format_args!("own read: sector 0 {magic:#x} (want {want:x?})"),
        ),
    }
}
