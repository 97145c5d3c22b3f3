//! Device lines and doorbells through the I/O APIC: a doorbell is an edge on its
//! pin, routed as the guest programmed the entry; in a direct-mode VM every message
//! of the I/O APIC becomes a physical fixed IPI to the VM's own cores.

use super::pages::{mmio, out, program, x86};
use super::*;
use rtvisor_config::contract::x86_64::{doorbell_gsi, COM1_GSI, COM1_PORT, IOAPIC_GPA};
use rtvisor_core::testkit::{Spec, X86};
use rtvisor_vdev::ioapic::off as io;

/// VM 0 in direct mode (its vCPUs on the cores with APIC ids 0x10 and 0x11, as
/// `FakeHw` says), VM 1 emulated; both with both vCPUs on.
fn direct() -> W {
    let d = Spec {
        mode: rtvisor_config::tables::InterruptMode::Direct,
        ..X86
    };
    let w = W::new(d, X86);
    for vm in 0..2 {
        w.start(vm, 1);
        calls(&w, vm);
    }
    w
}

const LOWEST: u32 = 1 << 8;
const NMI: u32 = 4 << 8;
const LOGICAL: u32 = 1 << 11;
const LEVEL: u32 = 1 << 15;

#[test]
fn doorbells_are_edges_on_their_pins() {
    let w = x86();
    let other = w.vms[1].snapshot();
    let ctx = w.ctx(0);
    for v in 0..2 {
        wrmsr(&w, 0, v, msr::SVR, 0x1ff);
    }
    // Every entry resets masked: a ring before the guest routed its pin is lost.
    for line in [doorbell_gsi(0), doorbell_gsi(15), 0, 4, 48, u32::MAX] {
        ctx.chip.pulse(&ctx, &w.host, line);
        assert_eq!(calls(&w, 0), [], "{line}");
    }
    // Region 0 to vector 0x5f at vCPU 0, region 15 to 0x61 at vCPU 1.
    program(&w, 0, doorbell_gsi(0), 0x5f, 0);
    program(&w, 0, doorbell_gsi(15), 0x61, 1);
    calls(&w, 0);
    ctx.chip.pulse(&ctx, &w.host, doorbell_gsi(0));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x5f));
    ctx.chip.pulse(&ctx, &w.host, doorbell_gsi(15));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x61));
    // Each ring is one edge: two rings, two deliveries (the second after the EOI).
    ctx.chip.pulse(&ctx, &w.host, doorbell_gsi(0));
    ctx.chip.pulse(&ctx, &w.host, doorbell_gsi(0));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0); 2]);
    assert_eq!(
        w.vms[0].chip.ack(VcpuId::new(0)),
        None,
        "0x5f still in service"
    );
    wrmsr(&w, 0, 0, msr::EOI, 0);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x5f));
    assert_eq!(w.vms[1].snapshot(), other, "VM 1 untouched");
}

#[test]
fn a_direct_vms_lines_reach_its_own_cores_only() {
    let w = direct();
    // (entry, destination, what is sent): physical ids are the cores'.
    let cases: &[(u32, u8, &[HwCall])] = &[
        (0x34, 0x11, &[HwCall::Sent(0, 1, 0x34)]),
        (0x35, 0x10, &[HwCall::Sent(0, 0, 0x35)]),
        (
            0x36,
            0xff,
            &[HwCall::Sent(0, 0, 0x36), HwCall::Sent(0, 1, 0x36)],
        ),
        (0x37 | LOWEST, 0xff, &[HwCall::Sent(0, 0, 0x37)]),
        // VM 1's cores, a virtual id, logical and NMI: nothing.
        (0x38, 0x20, &[]),
        (0x39, 0x01, &[]),
        (0x3a | LOGICAL, 0x03, &[]),
        (0x3b | NMI, 0x10, &[]),
        (0x0f, 0x10, &[]),
    ];
    for &(low, dest, want) in cases {
        program(&w, 0, COM1_GSI, low, dest);
        calls(&w, 0);
        // The transmitter-empty interrupt on: the line rises; off again.
        out(&w, 0, COM1_PORT + 1, 0x02);
        out(&w, 0, COM1_PORT + 1, 0);
        assert_eq!(calls(&w, 0), want, "entry {low:#x} to {dest:#x}");
        // The emulated APICs take nothing: the cores' own do.
        for v in 0..2 {
            assert_eq!(w.vms[0].chip.ack(VcpuId::new(v)), None);
        }
        assert_eq!(calls(&w, 1), [], "VM 1 untouched");
    }
    // A doorbell the same way.
    let ctx = w.ctx(0);
    program(&w, 0, doorbell_gsi(0), 0x5f, 0x10);
    calls(&w, 0);
    ctx.chip.pulse(&ctx, &w.host, doorbell_gsi(0));
    assert_eq!(calls(&w, 0), [HwCall::Sent(0, 0, 0x5f)]);
}

#[test]
fn a_direct_vms_level_entry_waits_for_the_io_apic_eoi() {
    let w = direct();
    program(&w, 0, COM1_GSI, 0x34 | LEVEL, 0x10);
    calls(&w, 0);
    out(&w, 0, COM1_PORT + 1, 0x02);
    assert_eq!(calls(&w, 0), [HwCall::Sent(0, 0, 0x34)]);
    // Its core's EOI does not reach the emulated I/O APIC: remote IRR holds it.
    wrmsr(&w, 0, 0, msr::EOI, 0);
    out(&w, 0, COM1_PORT + 1, 0);
    out(&w, 0, COM1_PORT + 1, 0x02);
    assert_eq!(calls(&w, 0), []);
    // The I/O APIC's EOI register ends it; the line is still high: sent again.
    mmio(&w, 0, 0, IOAPIC_GPA + io::EOI, Some(0x34));
    assert_eq!(calls(&w, 0), [HwCall::Sent(0, 0, 0x34)]);
}
