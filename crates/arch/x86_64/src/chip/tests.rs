//! The x2APICs of the core's test kit's two VMs, reached as the exit handler reaches
//! them (trapped MSRs), with a fake hardware side that records what it was asked.

use super::*;
use rtvisor_core::exit::{RegClass, VcpuExit};
use rtvisor_core::seam::Fault;
use rtvisor_core::testkit::{Outcome, Rng, TestChip, World, VIRT};
use rtvisor_vdev::x2apic::{msr, TSC_DEADLINE_MSR};
use std::cell::{Cell, RefCell};
use std::vec::Vec;

/// What the fake hardware side was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HwCall {
    Pending(usize, usize),
    Timer(usize, usize, Option<u64>),
    /// A physical fixed IPI to a direct-mode vCPU's core: (VM, vCPU, vector).
    Sent(usize, usize, u8),
    /// A forwarded pin changed: (VM, pin, entry, ended).
    Forwarded(usize, u32, u64, bool),
}

#[derive(Debug, Default)]
struct FakeHw {
    tsc: Cell<u64>,
    calls: RefCell<Vec<HwCall>>,
}

impl ApicHw for FakeHw {
    fn guest_tsc(&self, _: VmId) -> u64 {
        self.tsc.get()
    }
    fn pending(&self, vm: VmId, vcpu: VcpuId) {
        self.calls
            .borrow_mut()
            .push(HwCall::Pending(vm.index(), vcpu.index()));
    }
    fn timer(&self, vm: VmId, vcpu: VcpuId, at: Option<u64>) {
        self.calls
            .borrow_mut()
            .push(HwCall::Timer(vm.index(), vcpu.index(), at));
    }
    /// VM n's vCPU v runs on the core with APIC id 0x10 * (n + 1) + v (two each).
    fn core_apic_id(&self, vm: VmId, vcpu: VcpuId) -> Option<u32> {
        (vcpu.index() < 2).then(|| 0x10 * (vm.index() as u32 + 1) + vcpu.index() as u32)
    }
    fn send_to_core(&self, vm: VmId, vcpu: VcpuId, vector: u8) {
        self.calls
            .borrow_mut()
            .push(HwCall::Sent(vm.index(), vcpu.index(), vector));
    }
    fn forwarded(&self, vm: VmId, pin: u32, entry: u64, ended: bool) {
        self.calls
            .borrow_mut()
            .push(HwCall::Forwarded(vm.index(), pin, entry, ended));
    }
}

impl TestChip for Lapics<FakeHw> {
    type State = (Vec<X2Apic>, IoApic);

    fn for_vm(cfg: &'static VmConfig) -> Self {
        let l = Lapics::new(FakeHw::default());
        l.reset(cfg);
        l
    }

    fn state(&self) -> (Vec<X2Apic>, IoApic) {
        let apics = self.apics.iter().map(|a| a.lock().clone()).collect();
        (apics, self.ioapic.lock().clone())
    }
}

type W = World<Lapics<FakeHw>>;

fn wrmsr(w: &W, vm: usize, vcpu: usize, id: u32, value: u64) -> Outcome {
    w.run(
        vm,
        vcpu,
        VcpuExit::SysReg {
            id,
            class: crate::adapt::msr_class(id),
            write: true,
            value,
        },
    )
}

fn rdmsr(w: &W, vm: usize, vcpu: usize, id: u32) -> Outcome {
    w.run(
        vm,
        vcpu,
        VcpuExit::SysReg {
            id,
            class: RegClass::IrqChip,
            write: false,
            value: 0,
        },
    )
}

fn calls(w: &W, vm: usize) -> Vec<HwCall> {
    w.vms[vm].chip.hw().calls.borrow_mut().drain(..).collect()
}

/// Both VMs booted with both vCPUs on, every APIC software-enabled.
fn world() -> W {
    let w = W::new(VIRT, VIRT);
    for vm in 0..2 {
        w.start(vm, 1);
        for v in 0..2 {
            wrmsr(&w, vm, v, msr::SVR, 0x1ff);
        }
        calls(&w, vm);
    }
    w
}

#[test]
fn apic_base_starts_in_x2apic_mode_and_stays_put() {
    let w = world();
    assert_eq!(rdmsr(&w, 0, 0, APIC_BASE).vcpu.loaded, Some(0xfee0_0d00));
    assert_eq!(rdmsr(&w, 0, 1, APIC_BASE).vcpu.loaded, Some(0xfee0_0c00));
    // The same value, or with BSP (read-only) set: nothing changes.
    for v in [0xfee0_0c00, 0xfee0_0d00] {
        let o = wrmsr(&w, 0, 1, APIC_BASE, v);
        assert!(o.vcpu.injected.is_empty() && o.vcpu.skipped == 1);
    }
    // A move, x2APIC straight to xAPIC, a reserved bit.
    for v in [0x1000_0c00, 0xfee0_0800, 0xfee0_0c01] {
        let o = wrmsr(&w, 0, 1, APIC_BASE, v);
        assert_eq!(o.vcpu.injected, [Fault::Undefined], "{v:#x}");
    }
    assert_eq!(rdmsr(&w, 0, 1, APIC_BASE).vcpu.loaded, Some(0xfee0_0c00));
}

#[test]
fn identity_and_refusals() {
    let w = world();
    assert_eq!(rdmsr(&w, 1, 1, msr::ID).vcpu.loaded, Some(1));
    assert_eq!(rdmsr(&w, 1, 1, msr::LDR).vcpu.loaded, Some(0b10));
    for (id, write) in [
        (0x801, false),
        (msr::EOI, false),
        (msr::ID, true),
        (0x8ff, true),
    ] {
        let o = if write {
            wrmsr(&w, 0, 0, id, 0)
        } else {
            rdmsr(&w, 0, 0, id)
        };
        assert_eq!(o.vcpu.injected, [Fault::Undefined], "{id:#x}");
    }
}

#[test]
fn fixed_ipis_stay_in_the_vm() {
    let w = world();
    let other = w.vms[1].snapshot();
    // Physical destination APIC id 1.
    wrmsr(&w, 0, 0, msr::ICR, (1 << 32) | 0x41);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x41));
    // An APIC id the VM does not have: nobody.
    wrmsr(&w, 0, 0, msr::ICR, (7 << 32) | 0x42);
    assert_eq!(calls(&w, 0), []);
    // All but self; all including self; logical cluster 0, vCPU 1's bit.
    wrmsr(&w, 0, 0, msr::ICR, (3 << 18) | 0x43);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    wrmsr(&w, 0, 1, msr::ICR, (2 << 18) | 0x44);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0), HwCall::Pending(0, 1)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x44));
    wrmsr(&w, 0, 0, msr::ICR, (0b10 << 32) | (1 << 11) | 0x45);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    let irr = w.vms[0].chip.apic(VcpuId::new(1)).unwrap().lock().state().1;
    assert!(irr.get(0x43) && irr.get(0x44) && irr.get(0x45) && !irr.get(0x42));
    // NMI, INIT and SIPI by shorthand: dropped.
    for v in [
        (4 << 8) | (3 << 18),
        (5 << 8) | (1 << 14) | (3 << 18),
        (6 << 8) | (3 << 18) | 8,
    ] {
        wrmsr(&w, 0, 0, msr::ICR, v);
        assert_eq!(calls(&w, 0), [], "{v:#x}");
    }
    assert_eq!(w.vms[1].snapshot(), other, "VM 1 untouched");
    assert_eq!(calls(&w, 1), []);
}

#[test]
fn self_ipi_and_eoi() {
    let w = world();
    let o = wrmsr(&w, 0, 0, msr::SELF_IPI, 0x50);
    assert_eq!(o.vcpu.skipped, 1);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0)]);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(0)), Some(0x50));
    assert_eq!(rdmsr(&w, 0, 0, msr::ISR0 + 2).vcpu.loaded, Some(1 << 16));
    wrmsr(&w, 0, 0, msr::EOI, 0);
    assert_eq!(rdmsr(&w, 0, 0, msr::ISR0 + 2).vcpu.loaded, Some(0));
}

#[test]
fn tsc_deadline_timer_on_the_guest_tsc() {
    let w = world();
    let hw = w.vms[0].chip.hw();
    wrmsr(&w, 0, 1, msr::LVT_TIMER, (2 << 17) | 0xec);
    assert_eq!(
        calls(&w, 0),
        [HwCall::Timer(0, 1, None)],
        "entering the mode stops it"
    );
    hw.tsc.set(1_000);
    wrmsr(&w, 0, 1, TSC_DEADLINE_MSR, 5_000);
    assert_eq!(calls(&w, 0), [HwCall::Timer(0, 1, Some(5_000))]);
    // The hypervisor's timer fired: the vector is pending, nothing re-armed.
    hw.tsc.set(5_010);
    w.vms[0].chip.expire(VmId::new(0), VcpuId::new(1));
    assert_eq!(
        calls(&w, 0),
        [HwCall::Timer(0, 1, None), HwCall::Pending(0, 1)]
    );
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0xec));
    // Periodic count mode re-arms.
    wrmsr(&w, 0, 0, msr::TIMER_DIVIDE, 0xb);
    wrmsr(&w, 0, 0, msr::LVT_TIMER, (1 << 17) | 0xed);
    wrmsr(&w, 0, 0, msr::TIMER_INIT, 100);
    assert_eq!(calls(&w, 0), [HwCall::Timer(0, 0, Some(5_110))]);
    hw.tsc.set(5_110);
    w.vms[0].chip.expire(VmId::new(0), VcpuId::new(0));
    assert_eq!(
        calls(&w, 0),
        [HwCall::Timer(0, 0, Some(5_210)), HwCall::Pending(0, 0)]
    );
}

#[test]
fn reset_returns_every_apic() {
    let w = world();
    wrmsr(&w, 0, 1, msr::TPR, 0x20);
    w.vms[0].chip.reset(w.vms[0].cfg);
    let a = w.vms[0].chip.apic(VcpuId::new(1)).unwrap().lock().clone();
    assert_eq!(a, X2Apic::new(1));
    // A disabled APIC comes back in x2APIC mode.
    wrmsr(&w, 0, 1, APIC_BASE, 0xfee0_0000);
    w.vms[0].chip.reset(w.vms[0].cfg);
    assert_eq!(rdmsr(&w, 0, 1, APIC_BASE).vcpu.loaded, Some(0xfee0_0c00));
}

/// Random x2APIC accesses of every vCPU of both VMs and timer expiries: nothing
/// panics, a VM's accesses never change the other VM's APICs nor ask its hardware
/// side for anything, and only refused accesses fault.
#[test]
fn random_walk_keeps_vms_apart() {
    let w = world();
    let mut r = Rng(0x00a1_1ce5);
    let ids = [
        msr::TPR,
        msr::EOI,
        msr::SVR,
        msr::ICR,
        msr::ICR,
        msr::SELF_IPI,
        msr::LVT_TIMER,
        msr::TIMER_INIT,
        msr::TIMER_DIVIDE,
        TSC_DEADLINE_MSR,
        APIC_BASE,
        msr::ESR,
        0x801,
    ];
    for step in 0..20_000 {
        let vm = r.index(2);
        let v = r.index(2);
        let other = w.vms[1 - vm].chip.state();
        w.vms[vm].chip.hw().tsc.set(step * 10);
        let id = r.pick(&ids);
        let value = match r.below(4) {
            0 => r.next(),
            1 => r.below(0x100),
            2 => {
                (r.below(4) << 32)
                    | (r.below(4) << 18)
                    | (r.below(2) << 11)
                    | (r.below(7) << 8)
                    | r.below(0x100)
            }
            _ => 0,
        };
        let o = if r.below(3) == 0 {
            w.vms[vm].chip.expire(VmId::new(vm), VcpuId::new(v));
            None
        } else if r.below(2) == 0 {
            Some(rdmsr(&w, vm, v, id))
        } else {
            Some(wrmsr(&w, vm, v, id, value))
        };
        if r.below(4) == 0 {
            let _ = w.vms[vm].chip.ack(VcpuId::new(v));
        }
        if let Some(o) = o {
            assert!(o.vcpu.injected.iter().all(|f| *f == Fault::Undefined));
            assert_eq!(o.vcpu.skipped, u32::from(o.vcpu.injected.is_empty()));
        }
        kept_apart(&w, vm, &other, step);
    }
}

/// After a step of VM `vm`: the other VM's chip is still `other` and its hardware
/// side was asked nothing; `vm`'s was asked only about its own two vCPUs.
fn kept_apart(w: &W, vm: usize, other: &<Lapics<FakeHw> as TestChip>::State, step: u64) {
    assert_eq!(&w.vms[1 - vm].chip.state(), other, "step {step}");
    assert_eq!(calls(w, 1 - vm), [], "step {step}");
    for c in calls(w, vm) {
        let (x, t) = match c {
            HwCall::Pending(x, t) | HwCall::Timer(x, t, _) | HwCall::Sent(x, t, _) => (x, t),
            HwCall::Forwarded(x, ..) => (x, 0),
        };
        assert_eq!(x, vm);
        assert!(t < 2);
    }
}

/// What vCPU `v` of VM 0 would be injected now.
fn pending(w: &W, v: usize) -> Option<u8> {
    w.vms[0].chip.apic(VcpuId::new(v)).unwrap().lock().pending()
}

#[test]
fn priority_holds_back_and_eoi_moves_on() {
    let w = world();
    // Two vectors for vCPU 1, by IPI: the higher is taken first.
    wrmsr(&w, 0, 0, msr::ICR, (1 << 32) | 0x51);
    wrmsr(&w, 0, 0, msr::ICR, (1 << 32) | 0x62);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x62));
    // 0x51 is of a lower class than 0x62 in service: held back until its EOI.
    assert_eq!(pending(&w, 1), None);
    assert_eq!(rdmsr(&w, 0, 1, msr::PPR).vcpu.loaded, Some(0x60));
    wrmsr(&w, 0, 1, msr::EOI, 0);
    assert_eq!(pending(&w, 1), Some(0x51));
    // TPR at the vector's class holds it back too; lowering it lets it through.
    wrmsr(&w, 0, 1, msr::TPR, 0x50);
    assert_eq!(pending(&w, 1), None);
    wrmsr(&w, 0, 1, msr::TPR, 0x40);
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x51));
    wrmsr(&w, 0, 1, msr::EOI, 0);
    assert_eq!(pending(&w, 1), None);
    assert_eq!(rdmsr(&w, 0, 1, msr::ISR0 + 2).vcpu.loaded, Some(0));
    // A software-disabled APIC injects nothing.
    wrmsr(&w, 0, 0, msr::SELF_IPI, 0x70);
    wrmsr(&w, 0, 0, msr::SVR, 0xff);
    assert_eq!(pending(&w, 0), None);
}

#[test]
fn lowest_priority_reaches_one_vcpu() {
    let w = world();
    // Both vCPUs named (all including self); vCPU 0 runs at TPR 0x30: vCPU 1 takes it.
    wrmsr(&w, 0, 0, msr::TPR, 0x30);
    calls(&w, 0);
    wrmsr(&w, 0, 0, msr::ICR, (2 << 18) | (1 << 8) | 0x48);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    assert_eq!(pending(&w, 1), Some(0x48));
    assert_eq!(pending(&w, 0), None);
    // Equal priorities: the first named, vCPU 0.
    assert_eq!(w.vms[0].chip.ack(VcpuId::new(1)), Some(0x48));
    wrmsr(&w, 0, 1, msr::EOI, 0);
    wrmsr(&w, 0, 0, msr::TPR, 0);
    calls(&w, 0);
    wrmsr(&w, 0, 1, msr::ICR, (2 << 18) | (1 << 8) | 0x49);
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 0)]);
}

#[test]
fn one_shot_count_timer_fires_once() {
    let w = world();
    let hw = w.vms[0].chip.hw();
    hw.tsc.set(2_000);
    // Divide by 2 (code 0), one-shot, 50 counts: 100 TSC ticks.
    wrmsr(&w, 0, 1, msr::TIMER_DIVIDE, 0);
    wrmsr(&w, 0, 1, msr::LVT_TIMER, 0xee);
    wrmsr(&w, 0, 1, msr::TIMER_INIT, 50);
    assert_eq!(calls(&w, 0), [HwCall::Timer(0, 1, Some(2_100))]);
    // Early: nothing pending, still armed.
    hw.tsc.set(2_050);
    w.vms[0].chip.expire(VmId::new(0), VcpuId::new(1));
    assert_eq!(calls(&w, 0), [HwCall::Timer(0, 1, Some(2_100))]);
    assert_eq!(pending(&w, 1), None);
    hw.tsc.set(2_100);
    w.vms[0].chip.expire(VmId::new(0), VcpuId::new(1));
    assert_eq!(
        calls(&w, 0),
        [HwCall::Timer(0, 1, None), HwCall::Pending(0, 1)]
    );
    assert_eq!(pending(&w, 1), Some(0xee));
}

#[test]
fn expire_here_is_expire_without_the_pending_call() {
    // The same timer state expired both ways: the same APIC state and timer call;
    // only `expire` reports the pending vector (for a vCPU elsewhere to be kicked).
    let (a, b) = (world(), world());
    for w in [&a, &b] {
        w.vms[0].chip.hw().tsc.set(1_000);
        wrmsr(w, 0, 1, msr::LVT_TIMER, (2 << 17) | 0xec);
        wrmsr(w, 0, 1, TSC_DEADLINE_MSR, 5_000);
        calls(w, 0);
        w.vms[0].chip.hw().tsc.set(5_010);
    }
    a.vms[0].chip.expire(VmId::new(0), VcpuId::new(1));
    b.vms[0].chip.expire_here(VmId::new(0), VcpuId::new(1));
    assert_eq!(
        calls(&a, 0),
        [HwCall::Timer(0, 1, None), HwCall::Pending(0, 1)]
    );
    assert_eq!(calls(&b, 0), [HwCall::Timer(0, 1, None)]);
    let state = |w: &W| w.vms[0].chip.apic(VcpuId::new(1)).unwrap().lock().state();
    assert_eq!(state(&a), state(&b));
    assert_eq!(b.vms[0].chip.ack(VcpuId::new(1)), Some(0xec));
}

#[test]
fn cr8_is_the_tpr() {
    let w = world();
    let l = &w.vms[0].chip;
    let (vm, v1) = (VmId::new(0), VcpuId::new(1));
    assert_eq!(l.tpr(vm, v1, Some(0x50)), Some(0x50));
    assert_eq!(rdmsr(&w, 0, 1, msr::TPR).vcpu.loaded, Some(0x50));
    // A vector of TPR's class is held back until CR8 drops below it.
    wrmsr(&w, 0, 0, msr::ICR, (1 << 32) | 0x55);
    calls(&w, 0);
    assert_eq!(pending(&w, 1), None);
    assert_eq!(l.tpr(vm, v1, None), Some(0x50));
    assert_eq!(calls(&w, 0), [], "a read tells nobody");
    assert_eq!(l.tpr(vm, v1, Some(0x40)), Some(0x40));
    assert_eq!(calls(&w, 0), [HwCall::Pending(0, 1)]);
    assert_eq!(pending(&w, 1), Some(0x55));
    assert_eq!(l.tpr(vm, VcpuId::new(MAX_VCPUS), None), None);
    assert_eq!(
        rdmsr(&w, 1, 1, msr::TPR).vcpu.loaded,
        Some(0),
        "VM 1 untouched"
    );
}

mod lines;
mod pages;
