//! ICC_SGI1R_EL1 in both interrupt modes (reserved SGIs, targets outside the VM), the
//! other SGI registers, and the Group-1 CPU interface registers, which only an
//! untrusted direct-mode guest reaches (through the hypervisor).

use super::*;
use crate::sysregs::CpuIfReg;
use crate::testing::{esr_sysreg, HW_PATTERN};
use rtvisor_config::guest;
use rtvisor_config::tables::DirectTrust;
use rtvisor_core::testkit::{DIRECT, VIRT, VIRTIO_INTID};
use std::vec::Vec;

const SGI1R: (u64, u64, u64, u64, u64) = (3, 0, 12, 11, 5);
const ASGI1R: (u64, u64, u64, u64, u64) = (3, 0, 12, 11, 6);
const SGI0R: (u64, u64, u64, u64, u64) = (3, 0, 12, 11, 7);

/// An ICC_SGI1R_EL1 value: SGI `intid` to the Aff0 values in `list` (plus 16 * `rs`)
/// of cluster `aff1`.
fn sgi(intid: u64, list: u64, aff1: u64, rs: u64) -> u64 {
    intid << 24 | list | aff1 << 16 | rs << 44
}
const IRM: u64 = 1 << 40;

/// Writes `value` to ICC_SGI1R_EL1 (through x2) from vCPU 0 of VM `vm` (both vCPUs
/// running); checks the write was consumed within VM `vm` and returns the calls of its
/// GIC's hardware side.
fn write_sgi1r(w: &World, vm: usize, value: u64) -> Vec<HwCall> {
    w.start(vm, 1);
    let other = w.vms[1 - vm].snapshot();
    let regs = frame(&[0, 0, value]);
    let syn = Syn {
        esr: esr_sysreg(SGI1R, 2, true),
        ..Syn::default()
    };
    let r = testing::run(w, vm, 0, 8, syn, regs);
    let mut expect = regs;
    expect.elr += 4;
    assert_eq!(r.next, Some(Next::Resume), "{value:#x}");
    assert_eq!(
        (r.frame.x, r.frame.elr),
        (expect.x, expect.elr),
        "{value:#x}"
    );
    assert_eq!(r.calls, [], "{value:#x}");
    assert_eq!(r.hw[1 - vm], [], "{value:#x}");
    assert_eq!(w.vms[1 - vm].snapshot(), other, "{value:#x}");
    let [a, b] = r.hw;
    if vm == 0 {
        a
    } else {
        b
    }
}

#[test]
fn virtual_mode_sgis_stay_in_the_vms_vgic() {
    // (value, vCPUs that get SGI `intid` pending)
    let cases = [
        (sgi(3, 0b10, 0, 0), [false, true]),
        (sgi(3, 0b01, 0, 0), [true, false]),
        (sgi(3, 0b11, 0, 0), [true, true]),
        (sgi(14, 0b11, 0, 0), [true, true]), // virtual SGIs: the guest's own
        (sgi(15, 0b11, 0, 0), [true, true]),
        (sgi(3, 0b1100, 0, 0), [false, false]), // no vCPUs 2 and 3
        (sgi(3, 0b11, 1, 0), [false, false]),   // Aff1 1
        (sgi(3, 0b11, 0, 1), [false, false]),   // Aff0 16, 17
        (sgi(3, 0b11, 0, 0) | 1 << 32, [false, false]), // Aff2 1
        (sgi(3, 0b11, 0, 0) | 1 << 48, [false, false]), // Aff3 1
        (sgi(3, 0, 0, 0) | IRM, [false, true]), // everyone but the sender
        (sgi(15, 0, 0, 0) | IRM, [false, true]),
    ];
    for (value, pending) in cases {
        let w = World::one(VIRT);
        let hw = write_sgi1r(&w, 0, value);
        let intid = (value >> 24 & 0xf) as u32;
        let gic = w.vms[0].chip.model().lock();
        assert_eq!(
            [gic.is_pending(0, intid), gic.is_pending(1, intid)],
            pending,
            "{value:#x}"
        );
        for c in &hw {
            match c {
                HwCall::Changed {
                    me: Some(0),
                    notify,
                    ..
                } => assert_eq!(notify.kick & !0b11, 0, "{value:#x}: kick outside the VM"),
                other => panic!("{value:#x}: {other:?}"),
            }
        }
    }
}

#[test]
fn direct_mode_sgis_reach_only_the_vms_cores_and_never_the_reserved_ones() {
    // VM 1 runs on cores 2 and 3 (Aff0 2 and 3); VM 0 on cores 0 and 1.
    let cases: [(u64, &[usize]); 12] = [
        (sgi(3, 1 << 3, 0, 0), &[1]),
        (sgi(3, 1 << 2, 0, 0), &[0]),
        (sgi(3, 0b1111, 0, 0), &[0, 1]),
        (sgi(3, 0b0011, 0, 0), &[]), // VM 0's cores
        (sgi(14, 0b1100, 0, 0), &[]),
        (sgi(15, 0b1100, 0, 0), &[]),
        (sgi(3, 0b1100, 1, 0), &[]),
        (sgi(3, 0b1100, 0, 1), &[]),
        (sgi(3, 0b1100, 0, 0) | 1 << 32, &[]),
        (sgi(3, 0, 0, 0) | IRM, &[1]),
        (sgi(14, 0, 0, 0) | IRM, &[]),
        (sgi(15, 0xffff, 0, 0) | IRM, &[]),
    ];
    for (value, to) in cases {
        let w = World::new(VIRT, DIRECT);
        let hw = write_sgi1r(&w, 1, value);
        let intid = (value >> 24 & 0xf) as u32;
        let expect: Vec<_> = to
            .iter()
            .map(|&vcpu| HwCall::SendSgi {
                vm: 1,
                vcpu,
                sgi: intid,
            })
            .collect();
        assert_eq!(hw, expect, "{value:#x}");
    }
}

#[test]
fn the_other_sgi_registers_and_reads_do_nothing() {
    for spec in [VIRT, DIRECT] {
        for (id, write) in [
            (SGI1R, false),
            (ASGI1R, true),
            (SGI0R, true),
            (ASGI1R, false),
        ] {
            let w = World::one(spec);
            w.start(0, 1);
            let before = w.states();
            let value = sgi(3, 0b11, 0, 0) | IRM;
            let regs = frame(&[0, value]);
            let syn = Syn {
                esr: esr_sysreg(id, 1, write),
                ..Syn::default()
            };
            let r = testing::run(&w, 0, 0, 8, syn, regs);
            let mut expect = regs;
            expect.elr += 4;
            if !write {
                expect.x[1] = 0;
            }
            assert_eq!(
                (r.next, r.frame.x, r.frame.elr),
                (Some(Next::Resume), expect.x, expect.elr)
            );
            assert_eq!((r.calls, r.hw), (std::vec![], [std::vec![], std::vec![]]));
            assert_eq!(w.states(), before);
        }
    }
}

/// An access of VM 0's vCPU 0 to the CPU interface register `id` (x3), VM 0 in mode
/// `spec`.
fn cpu_if(spec: rtvisor_core::testkit::Spec, id: (u64, u64, u64, u64, u64), write: bool) -> Raw {
    cpu_if_value(spec, id, write, u64::from(VIRTIO_INTID))
}

/// As [`cpu_if`], with x3 = `value`.
fn cpu_if_value(
    spec: rtvisor_core::testkit::Spec,
    id: (u64, u64, u64, u64, u64),
    write: bool,
    value: u64,
) -> Raw {
    let w = World::one(spec);
    let syn = Syn {
        esr: esr_sysreg(id, 3, write),
        ..Syn::default()
    };
    testing::run(&w, 0, 0, 8, syn, frame(&[0, 0, 0, value]))
}

#[test]
fn an_untrusted_direct_guest_reaches_its_cpu_interface_through_the_hypervisor() {
    const IAR1: (u64, u64, u64, u64, u64) = (3, 0, 12, 12, 0);
    const EOIR1: (u64, u64, u64, u64, u64) = (3, 0, 12, 12, 1);
    const BPR1: (u64, u64, u64, u64, u64) = (3, 0, 12, 12, 3);
    const AP1R0: (u64, u64, u64, u64, u64) = (3, 0, 12, 9, 0);
    let iface = |reg, write| HwCall::CpuInterface { reg, write };
    // Acknowledge: read on the guest's behalf.
    let r = cpu_if(DIRECT, IAR1, false);
    assert_eq!(
        (r.frame.x[3], &r.hw[0]),
        (HW_PATTERN, &std::vec![iface(CpuIfReg::Iar1, None)])
    );
    // End of interrupt: written for it, when it names one of the VM's own interrupts
    // (its doorbell, its virtual timer, an SGI it may use) or a special INTID.
    for intid in [guest::doorbell_intid(0), 27, 1, 1023] {
        let r = cpu_if_value(DIRECT, EOIR1, true, u64::from(intid));
        assert_eq!(
            r.hw[0],
            [iface(CpuIfReg::Eoir1, Some(intid.into()))],
            "{intid}"
        );
    }
    // Another VM's SPI (VM 1's device), an SPI nobody has, the hypervisor's SGI and
    // timer: dropped, reported.
    for intid in [VIRTIO_INTID, 200, crate::chip::SGI_KICK, 26] {
        let r = cpu_if_value(DIRECT, EOIR1, true, u64::from(intid));
        assert_eq!(r.hw[0], [], "{intid}");
        let what = Contained::IgnoredRegister(0xc661);
        assert_eq!(r.calls, [HostCall::Contained { vm: 0, what }], "{intid}");
        assert_eq!(r.el1.taken, [], "{intid}");
    }
    // Active priorities and the binary point: dropped, reported.
    for (id, key) in [(AP1R0, 0xc648), (BPR1, 0xc663)] {
        let r = cpu_if(DIRECT, id, true);
        assert_eq!(r.hw[0], [], "{id:?}");
        let what = Contained::IgnoredRegister(key);
        assert_eq!(r.calls, [HostCall::Contained { vm: 0, what }], "{id:?}");
        assert_eq!(r.el1.taken, [], "{id:?}");
    }
    // A trusted direct guest, or a virtual-mode one, never traps them: refused.
    for spec in [DIRECT.trust(DirectTrust::Trusted), VIRT] {
        for (id, write) in [(IAR1, false), (EOIR1, true), (AP1R0, true)] {
            let r = cpu_if(spec, id, write);
            assert_eq!(r.hw[0], [], "{id:?}");
            // Undefined Instruction (EC 0) taken to EL1h.
            assert_eq!(r.el1.taken.len(), 1, "{id:?}");
            assert_eq!(r.el1.taken[0].0 >> 26, 0, "{id:?}");
            assert_eq!(r.frame.elr, VBAR + 0x200, "{id:?}");
        }
    }
}
