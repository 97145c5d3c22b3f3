//! Trapped system registers and MSRs, by the class the backend's table gives them:
//! ignored ones read as zero, refused ones fault, the interrupt controller's reach it
//! (and fault when it refuses them).

use super::*;
use crate::handler::{Contained, Next};
use crate::seam::Fault;
use crate::testkit::{ChipCall, CHIP_PATTERN, DIRECT, VIRT};

#[test]
fn ignored_registers_read_as_zero_and_ignore_writes() {
    for spec in [VIRT, DIRECT] {
        for write in [false, true] {
            let w = one(spec);
            let before = w.states();
            let o = w.run(0, 0, sysreg(0x1234, RegClass::Ignored, write, 77));
            let expect = FakeVcpu {
                loaded: (!write).then_some(0),
                skipped: 1,
                ..FakeVcpu::new()
            };
            assert_eq!(
                (o.next, o.vcpu, o.calls),
                (Next::Resume, expect, std::vec![])
            );
            assert_eq!(w.vms[0].chip.take(), []);
            assert_eq!(w.states(), before);
        }
    }
}

#[test]
fn refused_registers_fault_and_are_reported() {
    for id in [0, 0x1234, u32::MAX] {
        for write in [false, true] {
            let w = one(VIRT);
            let before = w.states();
            let o = w.run(0, 0, sysreg(id, RegClass::Refused, write, 77));
            let mut expect = FakeVcpu::new();
            expect.injected.push(Fault::Undefined);
            assert_eq!((o.next, o.vcpu), (Next::Resume, expect), "{id:#x}");
            let what = Contained::RefusedRegister(id);
            assert_eq!(o.calls, [HostCall::Contained { vm: 0, what }], "{id:#x}");
            assert_eq!(w.vms[0].chip.take(), []);
            assert_eq!(w.states(), before, "{id:#x}");
        }
    }
}

#[test]
fn the_interrupt_controllers_registers_reach_it() {
    // The fake chip answers even numbers and refuses odd ones.
    for write in [false, true] {
        let w = World::new(VIRT, DIRECT);
        w.start(1, 1);
        let o = w.run(1, 1, sysreg(0x42, RegClass::IrqChip, write, 9));
        let expect = FakeVcpu {
            loaded: (!write).then_some(CHIP_PATTERN),
            skipped: 1,
            ..FakeVcpu::new()
        };
        assert_eq!(
            (o.next, o.vcpu, o.calls),
            (Next::Resume, expect, std::vec![])
        );
        let value = write.then_some(9);
        let call = ChipCall::Register {
            me: 1,
            id: 0x42,
            value,
        };
        assert_eq!(w.vms[1].chip.take(), [call]);
        assert_eq!(w.vms[0].chip.take(), []);

        let o = w.run(1, 1, sysreg(0x43, RegClass::IrqChip, write, 9));
        let mut expect = FakeVcpu::new();
        expect.injected.push(Fault::Undefined);
        assert_eq!(o.vcpu, expect);
        let what = Contained::RefusedRegister(0x43);
        assert_eq!(o.calls, [HostCall::Contained { vm: 1, what }]);
    }
}
