//! CPU and system calls: CpuOn, CpuState, CpuOff, SystemOff and SystemReset with
//! good and bad targets and entries, against each restart policy; calls nobody
//! implements.

use super::*;
use crate::handler::{Contained, Next};
use crate::seam::CpuPower;
use crate::testkit::{DIRECT, ENTRY, RAM_BASE, RAM_SIZE, VIRT};
use crate::vm::{StopReason, VmState};
use rtvisor_config::tables::RestartPolicy;

const ERR_PARAMS: Result<Reply, CallError> = Err(CallError::InvalidParameters);
const ERR_ADDRESS: Result<Reply, CallError> = Err(CallError::InvalidAddress);
const OK: Result<Reply, CallError> = Ok(Reply::Value(0));

fn cpu_on(target: u64, entry: u64, arg: u64) -> VcpuExit {
    VcpuExit::CpuOn { target, entry, arg }
}

/// An exit of vCPU 0 of VM `vm` that must answer `r` and change nothing else: no host
/// call, no other answer, neither VM's state.
fn refused(w: &World, vm: usize, exit: VcpuExit, r: Result<Reply, CallError>) {
    let before = w.states();
    let o = w.run(vm, 0, exit);
    assert_eq!((o.next, &o.vcpu), (Next::Resume, &answered(r)), "{exit:x?}");
    assert_eq!(o.calls, [], "{exit:x?}");
    assert_eq!(w.states(), before, "{exit:x?}");
}

#[test]
fn cpu_on_starts_an_off_vcpu_at_its_entry() {
    // Virtual mode: vCPU 1 is CPU id 1. Direct mode (VM 1): it is core 3's.
    for (vm, target) in [(0, 1), (1, 3)] {
        let w = World::new(VIRT, DIRECT);
        let o = w.run(vm, 0, cpu_on(target, ENTRY + 0x100, 7));
        assert_eq!((o.next, &o.vcpu), (Next::Resume, &answered(OK)));
        assert_eq!(o.calls, [HostCall::Kick { vm, vcpu: 1 }]);
        let start = w.vms[vm].life.take_start(crate::ids::VcpuId::new(1));
        let start = start.expect("pending");
        assert_eq!(
            (start.entry, start.context, start.fresh_boot()),
            (ENTRY + 0x100, 7, false)
        );
    }
    // A direct-mode VM names its vCPUs by their cores' ids, not by index.
    refused(
        &World::new(VIRT, DIRECT),
        1,
        cpu_on(1, ENTRY, 0),
        ERR_PARAMS,
    );
}

#[test]
fn cpu_on_refuses_bad_targets_and_entries_outside_ram() {
    let end = RAM_BASE + RAM_SIZE;
    let cases = [
        (2, ENTRY, ERR_PARAMS), // no such vCPU
        (0x100, ENTRY, ERR_PARAMS),
        (0x1_0000_0001, ENTRY, ERR_PARAMS),
        (u64::MAX, ENTRY, ERR_PARAMS),
        (0, ENTRY, Err(CallError::AlreadyOn)), // itself
        (1, 0, ERR_ADDRESS),
        (1, RAM_BASE - 4, ERR_ADDRESS),
        (1, end, ERR_ADDRESS),
        (1, end - 2, ERR_ADDRESS),
        (1, 0x0900_0000, ERR_ADDRESS),
        (1, u64::MAX - 1, ERR_ADDRESS),
        (1, 0x1_0000_0000 | ENTRY, ERR_ADDRESS),
    ];
    for (target, entry, r) in cases {
        refused(&one(VIRT), 0, cpu_on(target, entry, 0), r);
    }
    let o = one(VIRT).run(0, 0, cpu_on(1, end - 4, 0));
    assert_eq!(
        returned(&o),
        Some(OK),
        "the last word of RAM is a valid entry"
    );
}

#[test]
fn cpu_on_of_a_pending_or_running_vcpu() {
    let w = one(VIRT);
    assert_eq!(returned(&w.run(0, 0, cpu_on(1, ENTRY, 0))), Some(OK));
    refused(&w, 0, cpu_on(1, ENTRY, 0), Err(CallError::OnPending));
    assert!(w.vms[0].take_start(1));
    refused(&w, 0, cpu_on(1, ENTRY, 0), Err(CallError::AlreadyOn));
}

#[test]
fn cpu_state_of_each_vcpu() {
    for (spec, vm, target) in [(VIRT, 0, 1), (DIRECT, 1, 3)] {
        let w = World::new(VIRT, spec);
        let state = |target: u64| returned(&w.run(vm, 0, VcpuExit::CpuState { target }));
        assert_eq!(state(target), Some(Ok(Reply::Power(CpuPower::Off))));
        assert_eq!(returned(&w.run(vm, 0, cpu_on(target, ENTRY, 0))), Some(OK));
        assert_eq!(state(target), Some(Ok(Reply::Power(CpuPower::OnPending))));
        assert!(w.vms[vm].take_start(1));
        assert_eq!(state(target), Some(Ok(Reply::Power(CpuPower::On))));
        for bad in [target + 8, 0x100, 0x1_0000_0000] {
            refused(&w, vm, VcpuExit::CpuState { target: bad }, ERR_PARAMS);
        }
    }
}

/// VM 0 with policy `restart` and both vCPUs on.
fn two_running(restart: RestartPolicy) -> World {
    let w = one(VIRT.restart(restart));
    w.start(0, 1);
    w
}

#[test]
fn cpu_off_parks_and_the_last_one_stops_the_vm_per_its_policy() {
    use RestartPolicy::{Always, Never, OnCrash};
    // Every vCPU is off already: the stop is confirmed at once.
    let stopped = |reason| {
        std::vec![
            HostCall::Quiesce { vm: 0 },
            HostCall::VmStopped {
                vm: 0,
                reason,
                late: false
            },
        ]
    };
    let restarting = |reason| {
        std::vec![
            HostCall::Quiesce { vm: 0 },
            HostCall::VmRestarting { vm: 0, reason },
        ]
    };
    for (policy, last) in [
        (Never, stopped(StopReason::AllVcpusOff)),
        (OnCrash, stopped(StopReason::AllVcpusOff)),
        (Always, restarting(StopReason::AllVcpusOff)),
    ] {
        let w = two_running(policy);
        let o = w.run(0, 1, VcpuExit::CpuOff);
        assert_eq!((o.next, o.calls), (Next::Park, std::vec![]), "{policy:?}");
        assert_eq!(o.vcpu, FakeVcpu::new(), "not answered: it parks");
        assert_eq!(w.vms[0].snapshot().power[1], Some(CpuPower::Off));
        assert_eq!(w.vms[0].life.status().0, VmState::Running);
        let other = w.vms[1].snapshot();
        let o = w.run(0, 0, VcpuExit::CpuOff);
        assert_eq!((o.next, o.calls), (Next::Park, last), "{policy:?}");
        let restarted = policy == Always;
        let state = if restarted {
            VmState::Running
        } else {
            VmState::Stopped
        };
        assert_eq!(w.vms[0].life.status().0, state);
        let power0 = if restarted {
            CpuPower::OnPending
        } else {
            CpuPower::Off
        };
        assert_eq!(w.vms[0].snapshot().power[0], Some(power0));
        assert_eq!(w.vms[1].snapshot(), other);
    }
}

#[test]
fn system_off_and_reset_against_each_restart_policy() {
    use RestartPolicy::{Always, Never, OnCrash};
    // (exit, policy, restarted): a reset restarts whatever the policy says.
    let cases = [
        (VcpuExit::SystemOff, Never, false),
        (VcpuExit::SystemOff, OnCrash, false),
        (VcpuExit::SystemOff, Always, true),
        (VcpuExit::SystemReset, Never, true),
        (VcpuExit::SystemReset, OnCrash, true),
        (VcpuExit::SystemReset, Always, true),
    ];
    for (exit, policy, restarted) in cases {
        let w = two_running(policy);
        let what = (exit, policy);
        // A partial console line of the old run.
        w.run(
            0,
            1,
            mmio(
                rtvisor_config::guest::VUART_IPA,
                Width::Byte,
                true,
                u64::from(b'x'),
            ),
        );
        let other = w.vms[1].snapshot();
        let o = w.run(0, 1, exit);
        let reason = if exit == VcpuExit::SystemOff {
            StopReason::SystemOff
        } else {
            StopReason::SystemReset
        };
        // Devices and watchdog are taken back before anything is published; the
        // other running vCPU is kicked, the caller is not (it parks), and the caller
        // waits for it to acknowledge.
        let mut calls = std::vec![HostCall::Quiesce { vm: 0 }];
        if restarted {
            calls.push(HostCall::VmRestarting { vm: 0, reason });
        }
        calls.push(HostCall::Kick { vm: 0, vcpu: 0 });
        calls.push(HostCall::Settle { vm: 0 });
        assert_eq!((o.next, o.calls), (Next::Park, calls), "{what:x?}");
        assert_eq!(o.vcpu, FakeVcpu::new(), "{what:x?}");
        assert_eq!(w.vms[0].life.status().0, VmState::Stopping, "{what:x?}");
        w.park(0, 0);
        let (state, restarts, last) = w.vms[0].life.status();
        assert_eq!(last, Some(reason));
        assert_eq!(restarts, u32::from(restarted), "{what:x?}");
        let state_want = if restarted {
            VmState::Running
        } else {
            VmState::Stopped
        };
        assert_eq!(state, state_want, "{what:x?}");
        let power0 = if restarted {
            CpuPower::OnPending
        } else {
            CpuPower::Off
        };
        assert_eq!(
            w.vms[0].snapshot().power,
            [Some(power0), Some(CpuPower::Off)],
            "{what:x?}"
        );
        if restarted {
            assert_eq!(w.vms[0].console.lock().line.pending(), b"", "{what:x?}");
        } else {
            assert_eq!(w.vms[0].console.lock().line.pending(), b"x", "{what:x?}");
        }
        assert_eq!(w.vms[1].snapshot(), other, "{what:x?}");
    }
}

#[test]
fn unknown_calls_are_not_supported_and_reported() {
    for id in [0x8400_0001, 0xc500_0001, 0, u64::MAX] {
        let w = one(VIRT);
        let before = w.states();
        let o = w.run(0, 0, VcpuExit::UnknownCall { id });
        let what = Contained::UnknownCall(id);
        assert_eq!(o.vcpu, answered(Err(CallError::NotSupported)), "{id:#x}");
        assert_eq!(o.calls, [HostCall::Contained { vm: 0, what }], "{id:#x}");
        assert_eq!(w.states(), before, "{id:#x}");
    }
}
