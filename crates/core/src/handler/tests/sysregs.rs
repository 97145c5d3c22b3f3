//! Trapped system registers: ICC_SGI1R_EL1 in both interrupt modes (reserved SGIs,
//! targets outside the VM), the other SGI registers, unknown and IMPLEMENTATION
//! DEFINED registers (Undefined Instruction), and the read-as-zero ones.

use super::world::{DIRECT, VIRT};
use super::*;
use crate::handler::{Contained, Next};

const SGI1R: SysRegId = SysRegId::new(3, 0, 12, 11, 5);
const ASGI1R: SysRegId = SysRegId::new(3, 0, 12, 11, 6);
const SGI0R: SysRegId = SysRegId::new(3, 0, 12, 11, 7);

/// An ICC_SGI1R_EL1 value: SGI `intid` to the Aff0 values in `list` (plus 16 * `rs`)
/// of cluster `aff1`.
fn sgi(intid: u64, list: u64, aff1: u64, rs: u64) -> u64 {
    intid << 24 | list | aff1 << 16 | rs << 44
}
const IRM: u64 = 1 << 40;

/// Writes `value` to ICC_SGI1R_EL1 from vCPU 0 of VM `vm` (both vCPUs running);
/// checks the write was consumed within VM `vm` and returns the host calls.
fn write_sgi1r(w: &World, vm: usize, value: u64) -> std::vec::Vec<HostCall> {
    w.start(vm, 1);
    let other = w.vms[1 - vm].snapshot();
    let o = w.run(
        vm,
        0,
        FakeRegs::with(&[0, 0, value]),
        sysreg(SGI1R, 2, false),
    );
    let mut expect = FakeRegs::with(&[0, 0, value]);
    expect.skipped = 1;
    assert_eq!((o.next, &o.regs), (Next::Resume, &expect), "{value:#x}");
    assert!(
        o.calls.iter().all(|c| c.vm() == vm),
        "{value:#x}: {:?}",
        o.calls
    );
    assert_eq!(w.vms[1 - vm].snapshot(), other, "{value:#x}");
    o.calls
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
        let calls = write_sgi1r(&w, 0, value);
        let intid = (value >> 24 & 0xf) as u32;
        let gic = w.vms[0].gic.lock();
        assert_eq!(
            [gic.is_pending(0, intid), gic.is_pending(1, intid)],
            pending,
            "{value:#x}"
        );
        for c in &calls {
            match c {
                HostCall::VgicChanged {
                    me: Some(0),
                    notify,
                    ..
                } => {
                    assert_eq!(notify.kick & !0b11, 0, "{value:#x}: kick outside the VM")
                }
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
        let calls = write_sgi1r(&w, 1, value);
        let intid = (value >> 24 & 0xf) as u32;
        let expect: std::vec::Vec<_> = to
            .iter()
            .map(|&vcpu| HostCall::SendSgi {
                vm: 1,
                vcpu,
                sgi: intid,
            })
            .collect();
        assert_eq!(calls, expect, "{value:#x}");
    }
}

#[test]
fn the_other_sgi_registers_and_reads_do_nothing() {
    for spec in [VIRT, DIRECT] {
        for (id, read) in [
            (SGI1R, true),
            (ASGI1R, false),
            (SGI0R, false),
            (ASGI1R, true),
        ] {
            let w = World::one(spec);
            w.start(0, 1);
            let before = w.states();
            let value = sgi(3, 0b11, 0, 0) | IRM;
            let o = w.run(0, 0, FakeRegs::with(&[0, value]), sysreg(id, 1, read));
            let mut expect = FakeRegs::with(&[0, if read { 0 } else { value }]);
            expect.skipped = 1;
            assert_eq!(
                (o.next, o.regs, o.calls),
                (Next::Resume, expect, std::vec![])
            );
            assert_eq!(w.states(), before);
        }
    }
}

#[test]
fn unknown_and_implementation_defined_registers_are_undefined() {
    let cases = [
        (SysRegId::new(3, 0, 15, 0, 0), "unknown"), // IMPLEMENTATION DEFINED space
        (SysRegId::new(3, 1, 15, 2, 0), "unknown"), // CPUACTLR_EL1 (Cortex-A57)
        (SysRegId::new(3, 0, 11, 0, 0), "unknown"), // IMPLEMENTATION DEFINED space
        (SysRegId::new(3, 4, 1, 1, 0), "unknown"),  // HCR_EL2
        (SysRegId::new(3, 3, 14, 2, 0), "CNTP_*_EL0"), // CNTP_TVAL_EL0
        (SysRegId::new(3, 3, 14, 2, 1), "CNTP_*_EL0"), // CNTP_CTL_EL0
        (SysRegId::new(3, 3, 14, 2, 2), "CNTP_*_EL0"), // CNTP_CVAL_EL0
        (SysRegId::new(1, 0, 7, 6, 1), "unknown"),  // a cache maintenance op
    ];
    for (id, name) in cases {
        for read in [false, true] {
            let w = World::one(VIRT);
            let before = w.states();
            let o = w.run(0, 0, FakeRegs::new(), sysreg(id, 4, read));
            let mut expect = FakeRegs::new();
            expect.injected.push(Injected::Undef);
            assert_eq!((o.next, &o.regs), (Next::Resume, &expect), "{id:?}");
            let what = Contained::UndefSysReg(name);
            assert_eq!(o.calls, [HostCall::Contained { vm: 0, what }], "{id:?}");
            assert_eq!(w.states(), before, "{id:?}");
        }
    }
}

#[test]
fn read_as_zero_registers_ignore_writes() {
    let ids = [
        SysRegId::new(3, 0, 1, 0, 1), // ACTLR_EL1
        SysRegId::new(2, 0, 0, 2, 2), // MDSCR_EL1
        SysRegId::new(2, 0, 0, 0, 4), // DBGBVR0_EL1
        SysRegId::new(2, 0, 1, 0, 4), // OSLAR_EL1
        SysRegId::new(2, 3, 0, 1, 0), // MDCCSR_EL0
    ];
    for id in ids {
        for (read, rt) in [(true, 5), (false, 5), (true, 31), (false, 31)] {
            let w = World::one(VIRT);
            let before = w.states();
            let o = w.run(0, 0, FakeRegs::new(), sysreg(id, rt, read));
            let mut expect = FakeRegs::new();
            expect.skipped = 1;
            if read && rt != 31 {
                expect.x[usize::from(rt)] = 0;
            }
            assert_eq!(
                (o.next, o.regs, o.calls),
                (Next::Resume, expect, std::vec![]),
                "{id:?}"
            );
            assert_eq!(w.states(), before, "{id:?}");
        }
    }
}
