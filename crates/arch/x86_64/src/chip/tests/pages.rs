//! The xAPIC page and the I/O APIC of the test kit's x86 VMs, reached as the exit
//! handler reaches them (MMIO exits, COM1 by port I/O).

use super::*;
use rtvisor_addr::Ipa;
use rtvisor_config::contract::x86_64::{COM1_GSI, COM1_PORT, IOAPIC_GPA, LAPIC_GPA};
use rtvisor_core::testkit::X86;
use rtvisor_vdev::ioapic::{off as io, reg, rte};
use rtvisor_vdev::x2apic::xapic::off;

pub(super) fn mmio(w: &W, vm: usize, vcpu: usize, addr: u64, value: Option<u32>) -> Outcome {
    w.run(
        vm,
        vcpu,
        VcpuExit::Mmio {
            addr: Ipa::new(addr),
            width: Width::Word,
            write: value.is_some(),
            value: value.map_or(0, u64::from),
        },
    )
}

fn load(w: &W, vm: usize, vcpu: usize, addr: u64) -> Option<u64> {
    mmio(w, vm, vcpu, addr, None).vcpu.loaded
}

pub(super) fn out(w: &W, vm: usize, port: u16, value: u8) {
    w.run(
        vm,
        0,
        VcpuExit::Pio {
            port,
            width: Width::Byte,
            write: true,
            value: value.into(),
        },
    );
}

/// Both x86 VMs with both vCPUs on.
pub(super) fn x86() -> W {
    let w = W::new(X86, X86);
    for vm in 0..2 {
        w.start(vm, 1);
        calls(&w, vm);
    }
    w
}

/// vCPU `v` of VM `vm` into xAPIC mode (through disabled), software-enabled.
fn to_xapic(w: &W, vm: usize, v: usize) {
    wrmsr(w, vm, v, APIC_BASE, LAPIC_GPA);
    wrmsr(w, vm, v, APIC_BASE, LAPIC_GPA | 1 << 11);
    mmio(w, vm, v, LAPIC_GPA + off::SVR, Some(0x1ff));
}

/// Entry `pin` of VM `vm`'s I/O APIC.
pub(super) fn program(w: &W, vm: usize, pin: u32, low: u32, dest: u8) {
    for (idx, v) in [(1, u32::from(dest) << 24), (0, low)] {
        mmio(
            w,
            vm,
            0,
            IOAPIC_GPA + io::IOREGSEL,
            Some(reg::REDIR0 + 2 * pin + idx),
        );
        mmio(w, vm, 0, IOAPIC_GPA + io::IOWIN, Some(v));
    }
}

#[test]
fn page_answers_in_xapic_mode_only() {
    let w = x86();
    // x2APIC mode: no page (all-ones, writes ignored).
    assert_eq!(load(&w, 0, 1, LAPIC_GPA + off::ID), Some(0xffff_ffff));
    let o = mmio(&w, 0, 1, LAPIC_GPA + off::TPR, Some(0x20));
    assert!(o.vcpu.injected.is_empty());
    assert_eq!(rdmsr(&w, 0, 1, msr::TPR).vcpu.loaded, Some(0));
    to_xapic(&w, 0, 1);
    assert_eq!(rdmsr(&w, 0, 1, APIC_BASE).vcpu.loaded, Some(0xfee0_0800));
    assert_eq!(load(&w, 0, 1, LAPIC_GPA + off::ID), Some(1 << 24));
    assert_eq!(load(&w, 0, 1, LAPIC_GPA + off::SVR), Some(0x1ff));
    assert_eq!(load(&w, 0, 1, LAPIC_GPA + 0x10), Some(0), "a gap");
    assert_eq!(rdmsr(&w, 0, 1, msr::TPR).vcpu.injected, [Fault::Undefined]);
    // vCPU 0 still has its x2APIC.
    assert_eq!(rdmsr(&w, 0, 0, msr::ID).vcpu.loaded, Some(0));
    assert_eq!(load(&w, 0, 0, LAPIC_GPA + off::ID), Some(0xffff_ffff));
}

#[test]
fn xapic_ipis_by_logical_flat_and_cluster() {
    let w = x86();
    for v in 0..2 {
        to_xapic(&w, 0, v);
        mmio(&w, 0, v, LAPIC_GPA + off::LDR, Some(1 << (24 + v)));
    }
    calls(&w, 0);
    // Flat, vCPU 1's bit.
    mmio(&w, 0, 0, LAPIC_GPA + off::ICR_HIGH, Some(0x02 << 24));
    mmio(&w, 0, 0, LAPIC_GPA + off::ICR_LOW, Some((1 << 11) | 0x41));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x41));
    mmio(&w, 0, 1, LAPIC_GPA + off::EOI, Some(0));
    // Physical 0xFF: both.
    mmio(&w, 0, 1, LAPIC_GPA + off::ICR_HIGH, Some(0xff << 24));
    mmio(&w, 0, 1, LAPIC_GPA + off::ICR_LOW, Some(0x42));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0), HwCall::Pending(0, 1)]);
    for v in 0..2 {
        assert_eq!(w.vms[0].chip.ack(VcpuId::new(v)), Some(0x42));
    }
    // Cluster model: cluster 0, member bits 0 and 1 (LDR 0x01 and 0x02).
    for v in 0..2 {
        mmio(&w, 0, v, LAPIC_GPA + off::DFR, Some(0x0fff_ffff));
    }
    calls(&w, 0);
    mmio(&w, 0, 0, LAPIC_GPA + off::ICR_HIGH, Some(0x03 << 24));
    mmio(&w, 0, 0, LAPIC_GPA + off::ICR_LOW, Some((1 << 11) | 0x43));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0), HwCall::Pending(0, 1)]);
    mmio(&w, 0, 0, LAPIC_GPA + off::ICR_HIGH, Some(0x13 << 24));
    mmio(&w, 0, 0, LAPIC_GPA + off::ICR_LOW, Some((1 << 11) | 0x44));
    assert_eq!(calls(&w, 0), [], "cluster 1 is nobody");
    assert_eq!(calls(&w, 1), []);
}

#[test]
fn io_apic_identity() {
    let w = x86();
    mmio(&w, 0, 0, IOAPIC_GPA + io::IOREGSEL, Some(reg::VERSION));
    assert_eq!(load(&w, 0, 0, IOAPIC_GPA + io::IOWIN), Some(0x002f_0020));
    mmio(&w, 0, 0, IOAPIC_GPA + io::IOREGSEL, Some(reg::ID));
    assert_eq!(load(&w, 0, 0, IOAPIC_GPA + io::IOWIN), Some(0));
    let o = mmio(&w, 0, 0, IOAPIC_GPA + 0x20, None);
    assert_eq!(o.vcpu.loaded, Some(0));
}

#[test]
fn com1_reaches_the_vcpu_through_the_io_apic() {
    let w = x86();
    wrmsr(&w, 0, 1, msr::SVR, 0x1ff);
    // Edge, fixed, vector 0x34, physical destination 1.
    program(&w, 0, COM1_GSI, 0x34, 1);
    calls(&w, 0);
    // The transmitter-empty interrupt on: the line rises.
    out(&w, 0, COM1_PORT + 1, 0x02);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x34));
    assert_eq!(calls(&w, 1), [], "VM 1 untouched");
    // Off and on again: another edge.
    out(&w, 0, COM1_PORT + 1, 0);
    out(&w, 0, COM1_PORT + 1, 0x02);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
}

#[test]
fn level_lines_wait_for_the_eoi_broadcast() {
    let w = x86();
    wrmsr(&w, 0, 0, msr::SVR, 0x1ff);
    program(&w, 0, COM1_GSI, 0x35 | rte::LEVEL as u32, 0);
    out(&w, 0, COM1_PORT + 1, 0x02);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x35));
    let (_, _, tmr) = w.vms[0].chip.apic(VcpuId::new(0)).unwrap().lock().state();
    assert!(tmr.get(0x35));
    let entry = |w: &W| {
        w.vms[0]
            .chip
            .ioapic()
            .lock()
            .entry(COM1_GSI as usize)
            .unwrap()
    };
    assert_ne!(entry(&w) & rte::REMOTE_IRR, 0);
    // The line is still high: the EOI sends it again.
    calls(&w, 0);
    wrmsr(&w, 0, 0, msr::EOI, 0);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x35));
    // The line low, then the EOI: remote IRR clear, nothing sent.
    out(&w, 0, COM1_PORT + 1, 0);
    wrmsr(&w, 0, 0, msr::EOI, 0);
    assert_eq!(entry(&w) & rte::REMOTE_IRR, 0);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), None);
}

/// A forwarded pin (a passed-through function's INTx): the guest's entry writes and
/// the EOI that ends its level interrupt reach the hardware side, the EOI lowering
/// the line first, so nothing is sent again until the device asserts again.
#[test]
fn a_forwarded_pin_is_ended_by_the_guests_eoi() {
    let w = x86();
    wrmsr(&w, 0, 0, msr::SVR, 0x1ff);
    w.vms[0].chip.ioapic().lock().forward(23);
    let low = 0x61 | (rte::LEVEL | rte::ACTIVE_LOW) as u32;
    program(&w, 0, 23, low, 0);
    let entry = u64::from(low);
    // `program` writes the high word, then the low one: two writes reported.
    assert_eq!(
        calls(&w, 0),
        [
            HwCall::Forwarded(0, 23, u64::from(rte::MASKED as u32), false),
            HwCall::Forwarded(0, 23, entry, false)
        ]
    );
    let ctx = w.ctx(0);
    ctx.chip.forward_line(&ctx, 23, true);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x61));
    // The EOI broadcast: the pin ended, nothing sent again (the line was lowered).
    wrmsr(&w, 0, 0, msr::EOI, 0);
    assert_eq!(calls(&w, 0), [HwCall::Forwarded(0, 23, entry, true)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), None);
    // The device asserts again: delivered again. VM 1 was never asked anything.
    ctx.chip.forward_line(&ctx, 23, true);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0)]);
    assert_eq!(calls(&w, 1), []);
}

/// Random accesses to both pages, IA32_APIC_BASE and COM1's interrupt enable, by
/// every vCPU of both VMs: nothing panics, a VM never changes the other's APICs or
/// I/O APIC nor asks its hardware side for anything, and only refused accesses
/// fault.
#[test]
fn random_walk_of_the_pages_keeps_vms_apart() {
    let w = x86();
    let mut r = Rng(0x0b0b_10a9);
    for step in 0..20_000 {
        let vm = r.index(2);
        let v = r.index(2);
        let other = w.vms[1 - vm].chip.state();
        let value = match r.below(4) {
            0 => r.next() as u32,
            1 => r.below(0x100) as u32,
            2 => {
                (r.below(2) << 15
                    | r.below(2) << 11
                    | r.below(2) << 8
                    | r.pick(&[0x30, 0x31, 0x34])) as u32
            }
            _ => 0,
        };
        let o = match r.below(6) {
            0 => {
                let base = r.pick(&[LAPIC_GPA, LAPIC_GPA | 1 << 11, LAPIC_GPA | 3 << 10, 0]);
                Some(wrmsr(&w, vm, v, APIC_BASE, base))
            }
            1 => {
                out(&w, vm, COM1_PORT + 1, r.below(4) as u8);
                None
            }
            2 => Some(wrmsr(&w, vm, v, msr::EOI, 0)),
            3 => {
                let o = r.pick(&[io::IOREGSEL, io::IOWIN, io::IOWIN, io::EOI]);
                let val = if o == io::IOREGSEL {
                    r.below(0x40) as u32
                } else {
                    value
                };
                Some(mmio(&w, vm, v, IOAPIC_GPA + o, r.pick(&[None, Some(val)])))
            }
            _ => {
                let o = r.below(0x400) & !3;
                Some(mmio(&w, vm, v, LAPIC_GPA + o, r.pick(&[None, Some(value)])))
            }
        };
        if r.below(3) == 0 {
            let _ = w.vms[vm].chip.ack(VcpuId::new(v));
        }
        if let Some(o) = o {
            assert!(o.vcpu.injected.iter().all(|f| *f == Fault::Undefined));
        }
        kept_apart(&w, vm, &other, step);
    }
}

#[test]
fn a_disabled_apic_takes_nothing() {
    let w = x86();
    wrmsr(&w, 0, 0, msr::SVR, 0x1ff);
    wrmsr(&w, 0, 1, APIC_BASE, LAPIC_GPA);
    // Physical, logical, broadcast: vCPU 1 accepts none of them.
    for icr in [
        (1 << 32) | 0x41,
        (0b10 << 32) | (1 << 11) | 0x42,
        (2 << 18) | 0x43,
    ] {
        wrmsr(&w, 0, 0, msr::ICR, icr);
    }
    let (_, irr, _) = w.vms[0].chip.apic(VcpuId::new(1)).unwrap().lock().state();
    assert_eq!(irr, Default::default());
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x43));
    assert_eq!(rdmsr(&w, 0, 1, msr::ID).vcpu.injected, [Fault::Undefined]);
}
