//! Direct mode: a VM's distributor and redistributor accesses reach the physical GIC
//! only for what it owns (VM 1: cores 2 and 3, SPI 48 of its device, doorbell SPI
//! 127), never the hypervisor's private interrupts or another partition's; its PL011
//! and doorbell GPIO have no interrupt.

use super::*;
use crate::chip::RESERVED_PRIVATE;
use crate::testing::HW_PATTERN;
use rtvisor_config::guest;
use rtvisor_core::testkit::{DIRECT, VIRT, VIRTIO_INTID};
use std::vec::Vec;
use Width::{Byte as B1, Double as B8, Word as B4};

const GICD: u64 = guest::VGIC_DIST_IPA;
const GICR: u64 = guest::VGIC_REDIST_IPA;
const FRAME: u64 = 0x2_0000;
const SGI_BASE: u64 = 0x1_0000;

/// One access of VM 1's vCPU 0 (x1 = `x1`), emulated; returns x1 after, the host's
/// calls and VM 1's hardware calls.
fn access(ipa: u64, width: Width, write: bool, x1: u64) -> (u64, Vec<HostCall>, Vec<HwCall>) {
    let w = World::new(VIRT, DIRECT);
    let r = emulated(&w, 1, ipa, width, write, x1);
    let [_, hw] = r.hw;
    (r.frame.x[1], r.calls, hw)
}

fn hw_write(redist: Option<usize>, off: u64, width: Width, value: u64) -> HwCall {
    HwCall::Write {
        vm: 1,
        redist,
        off,
        width,
        value,
    }
}

fn hw_read(redist: Option<usize>, off: u64, width: Width) -> HwCall {
    HwCall::Read {
        vm: 1,
        redist,
        off,
        width,
    }
}

#[test]
fn distributor_writes_reach_only_the_vms_own_spis() {
    let all = 0xffff_ffff;
    // ISENABLER0 (private, banked), 1 (SPI 48 in bit 16), 2 (none), 3 (SPI 127 in bit 31).
    let cases = [
        (0x100, None),
        (0x104, Some(1 << (VIRTIO_INTID - 32))),
        (0x108, None),
        (0x10c, Some(1 << 31)),
        (0x184, Some(1 << (VIRTIO_INTID - 32))), // ICENABLER1
        (0x204, Some(1 << (VIRTIO_INTID - 32))), // ISPENDR1
    ];
    for (off, reaches) in cases {
        let (_, calls, hw) = access(GICD + off, B4, true, all);
        let expect: Vec<_> = reaches
            .map(|v| hw_write(None, off, B4, v))
            .into_iter()
            .collect();
        assert_eq!((calls, hw), (std::vec![], expect), "{off:#x}");
    }
    // Reads show only the owned bits of the hardware value.
    let (x1, _, hw) = access(GICD + 0x104, B4, false, 0);
    assert_eq!(x1, HW_PATTERN & (1 << (VIRTIO_INTID - 32)));
    assert_eq!(hw, [hw_read(None, 0x104, B4)]);
    // GICD_CTLR is the hypervisor's: a fixed view, writes never reach it.
    assert_eq!(access(GICD, B4, false, 0).0, 0x52);
    assert_eq!(access(GICD, B4, false, 0).2, []);
    assert_eq!(access(GICD, B4, true, 0).2, []);
}

#[test]
fn a_route_is_written_only_to_the_vms_own_cores() {
    let irouter = |intid: u32| 0x6000 + 8 * u64::from(intid);
    let off = irouter(VIRTIO_INTID);
    let bad = HostCall::Contained {
        vm: 1,
        what: Contained::BadRoute(VIRTIO_INTID),
    };
    for (value, ok) in [
        (2, true),
        (3, true),
        (0, false),
        (1, false),
        (1 << 31, false),
    ] {
        let (_, calls, hw) = access(GICD + off, B8, true, value);
        if ok {
            assert_eq!(
                (calls, hw),
                (std::vec![], std::vec![hw_write(None, off, B8, value)])
            );
        } else {
            assert_eq!(
                (calls, hw),
                (std::vec![bad.clone()], std::vec![]),
                "{value:#x}"
            );
        }
    }
    // Another partition's SPI (the console UART's, 33): not even looked at.
    assert_eq!(access(GICD + irouter(33), B8, true, 2).2, []);
    let (x1, _, hw) = access(GICD + irouter(33), B8, false, 2);
    assert_eq!((x1, hw), (0, std::vec![]));
}

#[test]
fn redistributor_writes_never_reach_the_hypervisors_private_interrupts() {
    for (v, reg) in [(0, 0x100), (1, 0x100), (0, 0x180), (1, 0x200), (0, 0x280)] {
        let off = SGI_BASE + reg;
        let (_, _, hw) = access(GICR + FRAME * v as u64 + off, B4, true, 0xffff_ffff);
        let value = 0xffff_ffff & !u64::from(RESERVED_PRIVATE);
        assert_eq!(hw, [hw_write(Some(v), off, B4, value)], "{v} {reg:#x}");
    }
    // The priority byte of the kick SGI (15) keeps its hardware value; a guest SGI's
    // (3) takes the guest's, through the Non-secure view: 0x00 is stored as 0x80.
    for (intid, guest_owns) in [(15u64, false), (14, false), (3, true)] {
        let off = SGI_BASE + 0x400 + intid;
        let (_, _, hw) = access(GICR + off, B1, true, 0);
        let writes: Vec<_> = hw
            .iter()
            .filter_map(|c| match c {
                HwCall::Write { value, .. } => Some(*value),
                _ => None,
            })
            .collect();
        let kept = HW_PATTERN & 0xff;
        if guest_owns {
            assert_eq!(writes, [0x80], "INTID {intid}");
        } else {
            assert!(
                writes.iter().all(|&v| v == kept),
                "INTID {intid}: {writes:x?}"
            );
        }
    }
}

#[test]
fn each_redistributor_frame_is_its_own_vcpus_with_the_vms_last_bit() {
    for v in 0..2u64 {
        let (x1, _, hw) = access(GICR + FRAME * v + 0x8, B8, false, 0);
        assert_eq!(hw, [hw_read(Some(v as usize), 0x8, B8)]);
        assert_eq!(x1 & (1 << 4) != 0, v == 1, "vCPU {v}: Last");
        assert_eq!(x1 & !(1 << 4), HW_PATTERN & !(1 << 4));
    }
    // A third frame: VM 1 has two vCPUs, its map ends before.
    let w = World::new(VIRT, DIRECT);
    aborted(&w, 1, testing::dabt(GICR + FRAME * 2 + 0x8, B8, false, 1));
}

#[test]
fn the_uart_and_gpio_of_a_direct_vm_have_no_interrupt() {
    for (ipa, value) in [
        (guest::VUART_IPA + 0x38, 0x7ff), // UARTIMSC: every interrupt
        (guest::VUART_IPA, u64::from(b'x')),
        (guest::DOORBELL_GPIO_IPA + 0x410, 0xff), // GPIOIE
    ] {
        let (_, _, hw) = access(ipa, B4, true, value);
        assert_eq!(hw, [], "{ipa:#x}");
    }
}

#[test]
fn a_doorbell_of_a_direct_vm_is_its_physical_spi_pending() {
    let w = World::new(VIRT, DIRECT);
    rtvisor_core::seam::IrqChip::pulse(&w.vms[1].chip, &w.ctx(1), &w.host, 127);
    assert_eq!(
        w.vms[1].chip.hw().take(),
        [HwCall::SetPending { intid: 127 }]
    );
    // A virtual-mode VM's doorbell is injected into its model.
    rtvisor_core::seam::IrqChip::pulse(&w.vms[0].chip, &w.ctx(0), &w.host, 127);
    assert!(w.vms[0].chip.model().lock().is_pending(0, 127));
}
