//! Data aborts: every emulated region of a virtual-mode VM at every width, reads and
//! writes, bad widths, no valid syndrome and addresses outside the map; the filtered
//! physical GIC of a direct-mode VM; instruction aborts.

use super::world::{DIRECT, VIRT};
use super::*;
use crate::exit::AccessWidth::{B1, B2, B4, B8};
use crate::handler::{Contained, Next};
use rtvisor_config::guest;

const ALL: &[AccessWidth] = &[B1, B2, B4, B8];
const GICD: u64 = guest::VGIC_DIST_IPA;
const GICR: u64 = guest::VGIC_REDIST_IPA;
const SGI_BASE: u64 = 0x1_0000;
const UART: u64 = guest::VUART_IPA;
const BELL: u64 = guest::DOORBELL_IPA;
const GPIO: u64 = guest::DOORBELL_GPIO_IPA;

/// An address of VM 0 (virtual mode, 2 vCPUs) and the widths emulated there; every
/// other width gets an abort.
const MAP: &[(&str, u64, &[AccessWidth])] = &[
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
    ("UARTDR", UART, &[B1, B2, B4]),
    ("UARTFR", UART + 0x18, &[B1, B2, B4]),
    ("UARTICR (write-only)", UART + 0x44, &[B1, B2, B4]),
    ("UARTPeriphID0", UART + 0xfe0, &[B1, B2, B4]),
    ("no UART register", UART + 0x800, ALL),
    ("doorbell", BELL, &[B1, B2, B4]),
    ("doorbell page, no register", BELL + 0x800, &[B1, B2, B4]),
    ("GPIODATA", GPIO + 0x3fc, &[B1, B2, B4]),
    ("GPIODIR", GPIO + 0x400, &[B1, B2, B4]),
    ("GPIOIE", GPIO + 0x410, &[B1, B2, B4]),
    ("GPIOPCellID3", GPIO + 0xffc, &[B1, B2, B4]),
];

/// Addresses of VM 0 outside its emulated regions and RAM mapping.
const OUTSIDE: &[u64] = &[
    0,
    GICD - 4,
    GICD + 0x1_0000,
    GICR - 4,
    GICR + 0x4_0000, // a third vCPU's frame: VM 0 has two
    UART + 0x1000,
    GPIO + 0x1000,
    0x0a00_0000, // VM 1's passed-through device
    0x0800_0000 + 0x10_0000,
    0xffff_ffff_ffff_f000,
];

/// Runs one access of VM `vm`'s vCPU 0 and checks it was emulated: skipped, nothing
/// injected or reported contained, only VM `vm` named, the other VM untouched.
fn emulated(w: &World, vm: usize, ipa: u64, width: AccessWidth, write: bool) -> Outcome {
    let other = w.vms[1 - vm].snapshot();
    let o = w.run(vm, 0, FakeRegs::new(), mmio(ipa, width, write, 1));
    let what = (ipa, width, write);
    assert_eq!(o.next, Next::Resume, "{what:x?}");
    assert_eq!(o.regs.skipped, 1, "{what:x?}");
    assert_eq!(o.regs.injected, [], "{what:x?}");
    assert_eq!(o.contained(), [], "{what:x?}");
    assert!(
        o.calls.iter().all(|c| c.vm() == vm),
        "{what:x?} {:?}",
        o.calls
    );
    assert_eq!(w.vms[1 - vm].snapshot(), other, "{what:x?}");
    let mut expect = FakeRegs::new();
    expect.skipped = 1;
    if write {
        assert_eq!(o.regs, expect, "{what:x?}");
    }
    o
}

/// Runs `exit` of VM `vm`'s vCPU 0 and checks that an abort was injected at the access
/// and nothing else happened: not skipped, registers and both VMs unchanged, one
/// `Contained::DataAbort` reported.
fn aborted(w: &World, vm: usize, exit: VcpuExit) {
    let VcpuExit::DataAbort {
        ipa, far, write, ..
    } = exit
    else {
        unreachable!()
    };
    let before = w.states();
    let o = w.run(vm, 0, FakeRegs::new(), exit);
    assert_eq!(o.next, Next::Resume, "{exit:x?}");
    let mut expect = FakeRegs::new();
    expect.injected.push(Injected::DataAbort { far, write });
    assert_eq!(o.regs, expect, "{exit:x?}");
    let contained = HostCall::Contained {
        vm,
        what: Contained::DataAbort(ipa),
    };
    assert_eq!(o.calls, [contained], "{exit:x?}");
    assert_eq!(w.states(), before, "{exit:x?}");
}

#[test]
fn every_region_at_every_width() {
    for &(name, ipa, ok) in MAP {
        for &width in ALL {
            for write in [false, true] {
                let w = World::one(VIRT);
                if ok.contains(&width) {
                    let o = emulated(&w, 0, ipa, width, write);
                    assert!(
                        write || o.regs.x[1] != FakeRegs::new().x[1],
                        "{name}: a read sets its register"
                    );
                } else {
                    aborted(&w, 0, mmio(ipa, width, write, 1));
                }
            }
        }
    }
}

#[test]
fn outside_the_map_or_without_a_syndrome_is_an_abort() {
    for &ipa in OUTSIDE {
        for (&width, write) in ALL.iter().zip([false, true, true, false]) {
            aborted(&World::one(VIRT), 0, mmio(ipa, width, write, 1));
        }
    }
    // Inside every region, but the syndrome does not describe the access.
    for &(_, ipa, _) in MAP {
        for write in [false, true] {
            aborted(&World::one(VIRT), 0, mmio_with(ipa, None, write));
            aborted(&World::one(DIRECT), 0, mmio_with(ipa, None, write));
        }
    }
}

#[test]
fn loads_are_extended_as_the_syndrome_says() {
    // UARTPCellID3 reads 0xb1.
    let cases = [
        (false, true, 0xb1),
        (true, true, 0xffff_ffff_ffff_ffb1),
        (true, false, 0xffff_ffb1),
        (false, false, 0xb1),
    ];
    for (sign_extend, reg64, value) in cases {
        let w = World::one(VIRT);
        let acc = MmioAccess {
            write: false,
            width: B1,
            reg: 7,
            sign_extend,
            reg64,
        };
        let o = w.run(
            0,
            0,
            FakeRegs::new(),
            mmio_with(UART + 0xffc, Some(acc), false),
        );
        assert_eq!(o.regs.x[7], value, "sign {sign_extend} x {reg64}");
    }
    // A load into xzr changes no register.
    let o = World::one(VIRT).run(0, 0, FakeRegs::new(), mmio(UART + 0xffc, B4, false, 31));
    let mut expect = FakeRegs::new();
    expect.skipped = 1;
    assert_eq!(o.regs, expect);
}

#[test]
fn stores_take_the_register_truncated_and_xzr_as_zero() {
    let w = World::one(VIRT);
    let dir = GPIO + 0x400;
    // Only the low byte of a byte store reaches GPIODIR.
    w.run(
        0,
        0,
        FakeRegs::with(&[0, 0xffff_ff0f]),
        mmio(dir, B1, true, 1),
    );
    assert_eq!(
        w.run(0, 0, FakeRegs::new(), mmio(dir, B4, false, 2)).regs.x[2],
        0x0f
    );
    w.run(0, 0, FakeRegs::new(), mmio(dir, B4, true, 31));
    assert_eq!(
        w.run(0, 0, FakeRegs::new(), mmio(dir, B4, false, 2)).regs.x[2],
        0
    );
}

#[test]
fn the_uart_prints_lines_of_its_own_vm() {
    let w = World::one(VIRT);
    w.host.live.set(true);
    let mut calls = std::vec::Vec::new();
    for b in b"hi\n" {
        let o = w.run(
            0,
            0,
            FakeRegs::with(&[u64::from(*b)]),
            mmio(UART, B1, true, 0),
        );
        calls.extend(o.calls);
    }
    let line = HostCall::ConsoleLine {
        vm: 0,
        line: b"hi".to_vec(),
    };
    assert!(calls.contains(&line), "{calls:?}");
    let partial = |p: &[u8]| HostCall::ConsolePartial {
        vm: 0,
        pending: p.to_vec(),
    };
    assert!(calls.contains(&partial(b"h")) && calls.contains(&partial(b"hi")));
    assert!(calls.iter().all(|c| c.vm() == 0));
}

#[test]
fn the_doorbell_page_rings_only_regions_the_vm_is_a_peer_of() {
    let ring = |vm: usize, x1: u64| {
        let w = World::new(VIRT, DIRECT);
        let o = w.run(vm, 0, FakeRegs::with(&[0, x1]), mmio(BELL, B4, true, 1));
        assert_eq!(
            (o.next, o.regs.skipped, o.regs.injected),
            (Next::Resume, 1, std::vec![])
        );
        o.calls
    };
    let r = |vm, index| HostCall::Ring { vm, index };
    let bad = |vm, v| HostCall::Contained {
        vm,
        what: Contained::BadDoorbell(v),
    };
    assert_eq!(ring(0, 1), [r(0, 1)]);
    // A 32-bit store: the upper half of the register is not part of it.
    assert_eq!(ring(0, 0xffff_ffff_0000_0001), [r(0, 1)]);
    assert_eq!(ring(1, 0), [r(1, 0)]);
    assert_eq!(ring(1, 1), [r(1, 1), bad(1, 1)]);
    assert_eq!(
        ring(0, 0xffff_ffff),
        [r(0, 0xffff_ffff), bad(0, 0xffff_ffff)]
    );
    // Other widths and offsets do not ring.
    let w = World::one(VIRT);
    for (ipa, width) in [(BELL, B1), (BELL, B2), (BELL + 4, B4)] {
        let o = w.run(0, 0, FakeRegs::with(&[0, 0]), mmio(ipa, width, true, 1));
        assert_eq!((o.regs.skipped, o.calls), (1, std::vec![]));
    }
}

#[test]
fn instruction_aborts_are_injected_wherever_they_are() {
    for ipa in [
        0,
        GICD,
        UART + 0x10,
        0x4000_0000,
        0x0a00_0000,
        0xffff_ffff_ffff_fffc,
    ] {
        for spec in [VIRT, DIRECT] {
            let w = World::one(spec);
            let before = w.states();
            let exit = VcpuExit::InstructionAbort {
                ipa: Ipa::new(ipa),
                far: far_of(ipa),
            };
            let o = w.run(0, 0, FakeRegs::new(), exit);
            assert_eq!(o.next, Next::Resume);
            let mut expect = FakeRegs::new();
            expect
                .injected
                .push(Injected::InstructionAbort { far: far_of(ipa) });
            assert_eq!(o.regs, expect);
            let contained = Contained::InstructionAbort(Ipa::new(ipa));
            assert_eq!(
                o.calls,
                [HostCall::Contained {
                    vm: 0,
                    what: contained
                }]
            );
            assert_eq!(w.states(), before);
        }
    }
}
