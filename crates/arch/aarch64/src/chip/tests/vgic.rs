//! Virtual mode: the emulated distributor and redistributors at every width, reads
//! and writes; a width the register does not allow gets an abort.

use super::*;
use rtvisor_config::guest;
use rtvisor_core::testkit::VIRT;
use Width::{Byte as B1, Double as B8, Half as B2, Word as B4};

const ALL: &[Width] = &[B1, B2, B4, B8];
const GICD: u64 = guest::VGIC_DIST_IPA;
const GICR: u64 = guest::VGIC_REDIST_IPA;
const SGI_BASE: u64 = 0x1_0000;

/// An address of VM 0 (virtual mode, 2 vCPUs) and the widths emulated there; every
/// other width gets an abort.
const MAP: &[(&str, u64, &[Width])] = &[
    ("GICD_CTLR", GICD, &[B4]),
    ("GICD_TYPER (read-only: writes ignored)", GICD + 0x4, &[B4]),
    ("GICD_ISENABLER1", GICD + 0x104, &[B4]),
    ("GICD_IPRIORITYR8", GICD + 0x420, &[B1, B4]),
    ("GICD_IPRIORITYR8 byte 1", GICD + 0x421, &[B1]),
    ("GICD_IPRIORITYR8 byte 2", GICD + 0x422, &[B1]),
    ("GICD_ICFGR2", GICD + 0xc08, &[B4]),
    ("GICD_IROUTER32", GICD + 0x6100, &[B4, B8]),
    ("GICD_IROUTER32 upper word", GICD + 0x6104, &[B4]),
    ("GICD_PIDR2", GICD + 0xffe8, &[B4]),
    ("no distributor register", GICD + 0x10, ALL),
    ("last distributor byte", GICD + 0xffff, ALL),
    ("GICR_CTLR vCPU 0", GICR, &[B4]),
    ("GICR_TYPER vCPU 0", GICR + 0x8, &[B4, B8]),
    ("GICR_WAKER vCPU 0", GICR + 0x14, &[B4]),
    ("GICR_TYPER vCPU 1", GICR + 0x2_0008, &[B4, B8]),
    ("GICR_ISENABLER0 vCPU 0", GICR + SGI_BASE + 0x100, &[B4]),
    (
        "GICR_IPRIORITYR0 vCPU 1",
        GICR + 0x2_0000 + SGI_BASE + 0x400,
        &[B1, B4],
    ),
    (
        "GICR_ICFGR1 vCPU 1",
        GICR + 0x2_0000 + SGI_BASE + 0xc04,
        &[B4],
    ),
    (
        "no redistributor register",
        GICR + 0x2_0000 + SGI_BASE + 0x8000,
        ALL,
    ),
];

#[test]
fn every_register_at_every_width() {
    for &(name, ipa, ok) in MAP {
        for &width in ALL {
            for write in [false, true] {
                let w = World::one(VIRT);
                if ok.contains(&width) {
                    let unchanged = frame(&[]).x[1];
                    let r = emulated(&w, 0, ipa, width, write, unchanged);
                    assert_eq!(r.calls, [], "{name}");
                    assert!(
                        write || r.frame.x[1] != unchanged,
                        "{name}: a read sets its register"
                    );
                } else {
                    aborted(&w, 0, testing::dabt(ipa, width, write, 1));
                }
            }
        }
    }
}

#[test]
fn an_enable_write_reaches_the_model_and_asks_for_a_refresh() {
    let w = World::one(VIRT);
    // GICD_CTLR: Group 1 on; then SPI 33 enabled and pending (the UART's line).
    emulated(&w, 0, GICD, B4, true, 0x12);
    emulated(&w, 0, GICD + 0x104, B4, true, 1 << 1);
    let r = emulated(&w, 0, GICD + 0x204, B4, true, 1 << 1);
    let gic = w.vms[0].chip.model().lock();
    assert!(gic.is_pending(0, 33) && gic.is_enabled(0, 33));
    drop(gic);
    let kicked = r.hw[0]
        .iter()
        .any(|c| matches!(c, HwCall::Changed { vm: 0, me: Some(0), notify } if notify.kicks(0)));
    assert!(kicked, "{:?}", r.hw[0]);
}

#[test]
fn the_timers_are_hw_linked_and_their_reads_ask_the_hardware() {
    use rtvisor_vdev::vgic::HwState;
    const ISPENDR0: u64 = GICR + SGI_BASE + 0x200;
    const ISACTIVER0: u64 = GICR + SGI_BASE + 0x300;
    let w = World::one(VIRT);
    let chip = &w.vms[0].chip;
    for v in 0..2 {
        for intid in [27, 30] {
            let link = chip.model().lock().hw_link(v, intid).map(|l| l.pintid);
            assert_eq!(link, Some(intid), "vCPU {v} INTID {intid}");
        }
    }
    // Both timers disabled in the vGIC (reset), their lines asserted in hardware.
    let high = HwState {
        pending: true,
        active: false,
    };
    chip.hw().set_line(0, 0, 27, high);
    chip.hw().set_line(0, 0, 30, high);
    chip.hw().take_asked();
    let r = emulated(&w, 0, ISPENDR0, B4, false, 0);
    assert_eq!(r.frame.x[1], 1 << 27 | 1 << 30);
    // Asked once each, as vCPU 0 reading its own frame.
    assert_eq!(
        chip.hw().take_asked(),
        [(0, 0, 0, 27, 27), (0, 0, 0, 30, 30)]
    );
    // vCPU 1's frame, read by vCPU 0: its lines are low.
    let r = emulated(&w, 0, ISPENDR0 + 0x2_0000, B4, false, 0);
    assert_eq!(r.frame.x[1], 0);
    assert_eq!(
        chip.hw().take_asked(),
        [(0, 0, 1, 27, 27), (0, 0, 1, 30, 30)]
    );
    chip.hw().set_line(
        0,
        1,
        30,
        HwState {
            pending: false,
            active: true,
        },
    );
    let r = emulated(&w, 0, ISACTIVER0 + 0x2_0000, B4, false, 0);
    assert_eq!(r.frame.x[1], 1 << 30);
    // Nothing was delivered by the reads.
    assert!(!chip.model().lock().is_pending(0, 27));
}

#[test]
fn a_direct_mode_vm_has_no_hw_links() {
    let w = World::one(rtvisor_core::testkit::DIRECT);
    for intid in [27, 30] {
        assert_eq!(w.vms[0].chip.model().lock().hw_link(0, intid), None);
    }
}
