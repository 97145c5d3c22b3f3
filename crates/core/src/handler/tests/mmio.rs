//! Memory and port accesses: every emulated region at every width, reads and writes,
//! bad widths, addresses outside the map, accesses the backend could not decode,
//! and instruction fetches; the interrupt controller's regions reach it with their
//! offsets, and the devices' lines are driven through it. Ports are in `ports.rs`.

use super::*;
use crate::handler::{Contained, Next};
use crate::mmio::DeviceKind;
use crate::seam::Fault;
use crate::testkit::{ChipCall, CHIP_PATTERN, DIRECT, VIRT};
use rtvisor_config::guest;
use Width::{Byte as B1, Double as B8, Half as B2, Word as B4};

const ALL: &[Width] = &[B1, B2, B4, B8];
const GICD: u64 = guest::VGIC_DIST_IPA;
const GICR: u64 = guest::VGIC_REDIST_IPA;
const UART: u64 = guest::VUART_IPA;
const BELL: u64 = guest::DOORBELL_IPA;
const GPIO: u64 = guest::DOORBELL_GPIO_IPA;

/// An address of VM 0 (2 vCPUs) outside the interrupt controller, and the widths
/// emulated there; every other width gets a bus fault.
const MAP: &[(&str, u64, &[Width])] = &[
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

/// Runs one access of VM `vm`'s vCPU 0 and checks it was emulated: stepped over,
/// nothing injected or reported contained, only VM `vm` named, the other VM untouched.
fn emulated(w: &World, vm: usize, ipa: u64, width: Width, write: bool) -> Outcome {
    let other = w.vms[1 - vm].snapshot();
    let o = w.run(vm, 0, mmio(ipa, width, write, 0x5eed_0000_0000_0001));
    let what = (ipa, width, write);
    assert_eq!(o.next, Next::Resume, "{what:x?}");
    assert_eq!(o.vcpu.skipped, 1, "{what:x?}");
    assert_eq!(o.vcpu.injected, [], "{what:x?}");
    assert_eq!(o.contained(), [], "{what:x?}");
    assert!(
        o.calls.iter().all(|c| c.vm() == vm),
        "{what:x?} {:?}",
        o.calls
    );
    assert_eq!(w.vms[1 - vm].snapshot(), other, "{what:x?}");
    assert_eq!(
        o.vcpu.loaded.is_some(),
        !write,
        "{what:x?}: a load completes"
    );
    o
}

/// Runs `exit` of VM `vm`'s vCPU 0 and checks that a bus fault was injected and
/// nothing else happened: not stepped over, both VMs unchanged, one
/// `Contained::BadAccess` reported.
fn faulted(w: &World, vm: usize, exit: VcpuExit) {
    let (addr, write) = match exit {
        VcpuExit::Mmio { addr, write, .. } | VcpuExit::MemFault { addr, write } => (addr, write),
        _ => unreachable!(),
    };
    let before = w.states();
    let o = w.run(vm, 0, exit);
    assert_eq!(o.next, Next::Resume, "{exit:x?}");
    let mut expect = FakeVcpu::new();
    expect.injected.push(Fault::Bus { write });
    assert_eq!(o.vcpu, expect, "{exit:x?}");
    let contained = HostCall::Contained {
        vm,
        what: Contained::BadAccess(addr),
    };
    assert_eq!(o.calls, [contained], "{exit:x?}");
    assert_eq!(w.states(), before, "{exit:x?}");
}

#[test]
fn every_device_at_every_width() {
    for &(_, ipa, ok) in MAP {
        for &width in ALL {
            for write in [false, true] {
                let w = one(VIRT);
                if ok.contains(&width) {
                    emulated(&w, 0, ipa, width, write);
                } else {
                    faulted(&w, 0, mmio(ipa, width, write, 1));
                }
            }
        }
    }
}

#[test]
fn the_interrupt_controller_gets_its_regions_at_their_offsets() {
    // (address, kind, offset in the region): redistributor frames stay region-relative.
    let cases = [
        (GICD, DeviceKind::GicDist, 0),
        (GICD + 0xffe8, DeviceKind::GicDist, 0xffe8),
        (GICR + 0x8, DeviceKind::GicRedist, 0x8),
        (GICR + 0x3_0400, DeviceKind::GicRedist, 0x3_0400),
    ];
    for (ipa, kind, off) in cases {
        for write in [false, true] {
            let w = one(VIRT);
            let o = emulated(&w, 0, ipa, B4, write);
            let value = write.then_some(0x5eed_0000_0000_0001);
            let call = ChipCall::Mmio {
                me: 0,
                kind,
                off,
                width: B4,
                value,
            };
            assert_eq!(w.vms[0].chip.take(), [call], "{ipa:#x}");
            assert_eq!(w.vms[1].chip.take(), [], "{ipa:#x}");
            if !write {
                assert_eq!(o.vcpu.loaded, Some(CHIP_PATTERN & 0xffff_ffff));
            }
        }
    }
    // What the chip refuses (here: misaligned) is a bus fault.
    faulted(&one(VIRT), 0, mmio(GICD + 2, B4, false, 0));
}

#[test]
fn outside_the_map_or_not_decoded_is_a_bus_fault() {
    for &ipa in OUTSIDE {
        for (&width, write) in ALL.iter().zip([false, true, true, false]) {
            faulted(&one(VIRT), 0, mmio(ipa, width, write, 1));
        }
    }
    // Inside every region, but the backend could not decode the access.
    for ipa in [GICD, GICR, UART, BELL, GPIO] {
        for write in [false, true] {
            for spec in [VIRT, DIRECT] {
                let exit = VcpuExit::MemFault {
                    addr: Ipa::new(ipa),
                    write,
                };
                let w = one(spec);
                faulted(&w, 0, exit);
                assert_eq!(w.vms[0].chip.take(), []);
            }
        }
    }
}

#[test]
fn stores_reach_the_device_as_the_backend_decoded_them() {
    let w = one(VIRT);
    let dir = GPIO + 0x400;
    w.run(0, 0, mmio(dir, B1, true, 0x0f));
    assert_eq!(w.run(0, 0, mmio(dir, B4, false, 0)).vcpu.loaded, Some(0x0f));
    w.run(0, 0, mmio(dir, B4, true, 0));
    assert_eq!(w.run(0, 0, mmio(dir, B4, false, 0)).vcpu.loaded, Some(0));
}

#[test]
fn without_shared_memory_in_the_image_the_doorbell_gpio_reads_zero_and_ignores_writes() {
    let w = one(VIRT);
    w.host.doorbells.set(false);
    let dir = GPIO + 0x400;
    w.run(0, 0, mmio(dir, B1, true, 0x0f));
    assert_eq!(w.run(0, 0, mmio(dir, B4, false, 0)).vcpu.loaded, Some(0));
    // Its PrimeCell id, which a driver probes, is not there either; nothing drives
    // its line.
    let id = w.run(0, 0, mmio(GPIO + 0xffc, B4, false, 0));
    assert_eq!(id.vcpu.loaded, Some(0));
    assert_eq!(w.vms[0].chip.take(), []);
    // With shared memory the same accesses reach the model.
    w.host.doorbells.set(true);
    assert_eq!(
        w.run(0, 0, mmio(GPIO + 0xffc, B4, false, 0)).vcpu.loaded,
        Some(0xb1)
    );
}

#[test]
fn the_uart_prints_lines_of_its_own_vm_and_drives_its_line() {
    let w = one(VIRT);
    w.host.live.set(true);
    let mut calls = std::vec::Vec::new();
    for b in b"hi\n" {
        let o = w.run(0, 0, mmio(UART, B1, true, u64::from(*b)));
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
    // After each access, the UART's line (INTID 33 of the machine) follows the model.
    let level = ChipCall::Level {
        me: Some(0),
        line: guest::VUART_INTID,
        level: false,
    };
    assert_eq!(w.vms[0].chip.take(), [level.clone(), level.clone(), level]);
}

#[test]
fn console_input_raises_the_uart_line() {
    let w = one(VIRT);
    // UARTIMSC: the receive interrupt.
    w.run(0, 0, mmio(UART + 0x38, B4, true, 1 << 4));
    w.vms[0].chip.take();
    let taken = crate::devices::console_input(b"ab", &w.ctx(0), &w.host);
    assert_eq!(taken, 2);
    let raised = ChipCall::Level {
        me: None,
        line: guest::VUART_INTID,
        level: true,
    };
    assert_eq!(w.vms[0].chip.take(), [raised]);
}

#[test]
fn a_doorbell_toggles_the_gpio_line_only_when_its_level_changes() {
    let w = one(VIRT);
    // GPIOIBE, GPIOIE: every line interrupts, on both edges (as gpio-keys sets it).
    w.run(0, 0, mmio(GPIO + 0x408, B4, true, 0xff));
    w.run(0, 0, mmio(GPIO + 0x410, B4, true, 0xff));
    w.vms[0].chip.take();
    crate::devices::gpio_doorbell(1, &w.ctx(0), &w.host);
    let level = |l| ChipCall::Level {
        me: None,
        line: guest::DOORBELL_GPIO_INTID,
        level: l,
    };
    assert_eq!(w.vms[0].chip.take(), [level(true)]);
    // Pending already: another ring changes nothing the chip sees.
    crate::devices::gpio_doorbell(1, &w.ctx(0), &w.host);
    assert_eq!(w.vms[0].chip.take(), []);
}

#[test]
fn the_doorbell_page_rings_only_regions_the_vm_is_a_peer_of() {
    let ring = |vm: usize, value: u64| {
        let w = World::new(VIRT, DIRECT);
        let o = w.run(vm, 0, mmio(BELL, B4, true, value));
        assert_eq!(
            (o.next, o.vcpu.skipped, o.vcpu.injected),
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
    assert_eq!(ring(1, 0), [r(1, 0)]);
    assert_eq!(ring(1, 1), [r(1, 1), bad(1, 1)]);
    assert_eq!(
        ring(0, 0xffff_ffff),
        [r(0, 0xffff_ffff), bad(0, 0xffff_ffff)]
    );
    // Other widths and offsets do not ring.
    let w = one(VIRT);
    for (ipa, width) in [(BELL, B1), (BELL, B2), (BELL + 4, B4)] {
        let o = w.run(0, 0, mmio(ipa, width, true, 0));
        assert_eq!((o.vcpu.skipped, o.calls), (1, std::vec![]));
    }
}

#[test]
fn fetch_faults_are_injected_wherever_they_are() {
    for ipa in [0, GICD, UART + 0x10, 0x4000_0000, 0x0a00_0000, u64::MAX - 3] {
        for spec in [VIRT, DIRECT] {
            let w = one(spec);
            let before = w.states();
            let addr = Ipa::new(ipa);
            let o = w.run(0, 0, VcpuExit::FetchFault { addr });
            assert_eq!(o.next, Next::Resume);
            let mut expect = FakeVcpu::new();
            expect.injected.push(Fault::Fetch);
            assert_eq!(o.vcpu, expect);
            let what = Contained::BadFetch(addr);
            assert_eq!(o.calls, [HostCall::Contained { vm: 0, what }]);
            assert_eq!(w.states(), before);
        }
    }
}
