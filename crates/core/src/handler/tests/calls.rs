//! PSCI calls: CPU_ON, AFFINITY_INFO, CPU_OFF, SYSTEM_OFF and SYSTEM_RESET with
//! good and bad arguments, both conduits, immediates, unknown function ids, the SMC32
//! and SMC64 conventions.

use super::world::{DIRECT, ENTRY, RAM_BASE, RAM_SIZE, VIRT};
use super::*;
use crate::handler::{Contained, Next};
use crate::psci::{self, PsciError};
use crate::vm::{StopReason, VmState};
use rtvisor_config::tables::RestartPolicy;

const ERR_PARAMS: u64 = PsciError::InvalidParameters.to_x0();
const ERR_ADDRESS: u64 = PsciError::InvalidAddress.to_x0();
const NOT_SUPPORTED: u64 = PsciError::NotSupported.to_x0();
const CPU_ON_64: u64 = psci::CPU_ON_64 as u64;
const CPU_ON_32: u64 = psci::CPU_ON_32 as u64;
const AFFINITY_64: u64 = psci::AFFINITY_INFO_64 as u64;
const AFFINITY_32: u64 = psci::AFFINITY_INFO_32 as u64;

/// A call of vCPU 0 of VM `vm` that must answer `x0` and change nothing else: no host
/// call, no register but x0, neither VM's state.
fn refused(w: &World, vm: usize, args: &[u64], x0: u64) {
    let before = w.states();
    let o = w.hvc(vm, 0, args);
    let mut expect = FakeRegs::with(args);
    expect.x[0] = x0;
    assert_eq!((o.next, &o.regs), (Next::Resume, &expect), "{args:x?}");
    assert_eq!(o.calls, [], "{args:x?}");
    assert_eq!(w.states(), before, "{args:x?}");
}

#[test]
fn cpu_on_starts_an_off_vcpu_at_its_entry() {
    // Virtual mode: vCPU 1 is MPIDR 1. Direct mode (VM 1): it is core 3's MPIDR.
    for (vm, target) in [(0, 1), (1, 3)] {
        let w = World::new(VIRT, DIRECT);
        let o = w.hvc(vm, 0, &[CPU_ON_64, target, ENTRY + 0x100, 7]);
        assert_eq!((o.next, o.x0(), o.regs.skipped), (Next::Resume, 0, 0));
        assert_eq!(o.calls, [HostCall::Kick { vm, vcpu: 1 }]);
        let start = w.vms[vm]
            .life
            .take_start(crate::ids::VcpuId::new(1))
            .expect("pending");
        assert_eq!(
            (start.entry, start.context, start.fresh_boot),
            (ENTRY + 0x100, 7, false)
        );
    }
    // A direct-mode VM names its vCPUs by their cores' MPIDRs, not by index.
    refused(
        &World::new(VIRT, DIRECT),
        1,
        &[CPU_ON_64, 1, ENTRY, 0],
        ERR_PARAMS,
    );
}

#[test]
fn cpu_on_refuses_bad_targets_and_entries_outside_ram() {
    let end = RAM_BASE + RAM_SIZE;
    let cases = [
        (2, ENTRY, ERR_PARAMS),             // no such vCPU
        (0x100, ENTRY, ERR_PARAMS),         // Aff1
        (0x1_0000_0001, ENTRY, ERR_PARAMS), // Aff3
        (0xff_ffff_ffff, ENTRY, ERR_PARAMS),
        (0, ENTRY, PsciError::AlreadyOn.to_x0()), // itself
        (1, 0, ERR_ADDRESS),
        (1, RAM_BASE - 4, ERR_ADDRESS),
        (1, end, ERR_ADDRESS),
        (1, end - 2, ERR_ADDRESS),
        (1, 0x0900_0000, ERR_ADDRESS),
        (1, u64::MAX - 1, ERR_ADDRESS),
        (1, 0x1_0000_0000 | ENTRY, ERR_ADDRESS),
    ];
    for (target, entry, x0) in cases {
        refused(&World::one(VIRT), 0, &[CPU_ON_64, target, entry, 0], x0);
    }
    let o = World::one(VIRT).hvc(0, 0, &[CPU_ON_64, 1, end - 4, 0]);
    assert_eq!(o.x0(), 0, "the last word of RAM is a valid entry");
}

#[test]
fn cpu_on_of_a_pending_or_running_vcpu() {
    let w = World::one(VIRT);
    assert_eq!(w.hvc(0, 0, &[CPU_ON_64, 1, ENTRY, 0]).x0(), 0);
    refused(
        &w,
        0,
        &[CPU_ON_64, 1, ENTRY, 0],
        PsciError::OnPending.to_x0(),
    );
    assert!(w.vms[0].take_start(1));
    refused(
        &w,
        0,
        &[CPU_ON_64, 1, ENTRY, 0],
        PsciError::AlreadyOn.to_x0(),
    );
}

#[test]
fn smc32_calls_ignore_the_upper_halves_smc64_calls_do_not() {
    let upper = 0xdead_beef_0000_0000;
    let w = World::one(VIRT);
    assert_eq!(
        w.hvc(0, 0, &[CPU_ON_32, upper | 1, upper | ENTRY, upper | 7])
            .x0(),
        0
    );
    let start = w.vms[0]
        .life
        .take_start(crate::ids::VcpuId::new(1))
        .expect("pending");
    assert_eq!((start.entry, start.context), (ENTRY, 7));
    refused(
        &World::one(VIRT),
        0,
        &[CPU_ON_64, upper | 1, ENTRY, 0],
        ERR_PARAMS,
    );
    refused(
        &World::one(VIRT),
        0,
        &[CPU_ON_64, 1, upper | ENTRY, 0],
        ERR_ADDRESS,
    );
    // AFFINITY_INFO: the level's upper half.
    let w = World::one(VIRT);
    assert_eq!(w.hvc(0, 0, &[AFFINITY_32, 1, upper]).x0(), 1);
    refused(&w, 0, &[AFFINITY_64, 1, upper], ERR_PARAMS);
    // The function id is W0 in both conventions.
    assert_eq!(w.hvc(0, 0, &[upper | AFFINITY_64, 1, 0]).x0(), 1);
}

#[test]
fn affinity_info_at_each_level() {
    for (spec, vm, target) in [(VIRT, 0, 1), (DIRECT, 1, 3)] {
        let w = World::new(VIRT, spec);
        let info = |level: u64| w.hvc(vm, 0, &[AFFINITY_64, target, level]).x0();
        assert_eq!(info(0), 1, "off");
        assert_eq!(w.hvc(vm, 0, &[CPU_ON_64, target, ENTRY, 0]).x0(), 0);
        assert_eq!(info(0), 2, "on pending");
        assert!(w.vms[vm].take_start(1));
        assert_eq!(info(0), 0, "on");
        // Only level 0 is implemented (PSCI 1.0 makes the others optional).
        for level in [1, 2, 3, 4, u64::MAX] {
            refused(&w, vm, &[AFFINITY_64, target, level], ERR_PARAMS);
        }
        for bad in [target + 8, 0x100, 0x1_0000_0000] {
            refused(&w, vm, &[AFFINITY_64, bad, 0], ERR_PARAMS);
        }
    }
}

/// VM 0 with policy `restart` and both vCPUs on.
fn two_running(restart: RestartPolicy) -> World {
    let w = World::one(VIRT.restart(restart));
    w.start(0, 1);
    w
}

#[test]
fn cpu_off_parks_and_the_last_one_stops_the_vm_per_its_policy() {
    use RestartPolicy::{Always, Never, OnCrash};
    // Every vCPU is off already: the stop is confirmed at once.
    let stopped = |reason| {
        std::vec![
            HostCall::VmStopping { vm: 0, reason },
            HostCall::VmStopped {
                vm: 0,
                reason,
                late: false
            },
        ]
    };
    let restarting = |reason| std::vec![HostCall::VmRestarting { vm: 0, reason }];
    for (policy, last) in [
        (Never, stopped(StopReason::AllVcpusOff)),
        (OnCrash, stopped(StopReason::AllVcpusOff)),
        (Always, restarting(StopReason::AllVcpusOff)),
    ] {
        let w = two_running(policy);
        let o = w.hvc(0, 1, &[u64::from(psci::CPU_OFF)]);
        assert_eq!((o.next, o.calls), (Next::Park, std::vec![]), "{policy:?}");
        assert_eq!(
            w.vms[0].life.affinity_info(crate::ids::VcpuId::new(1)),
            Ok(1)
        );
        assert_eq!(w.vms[0].life.status().0, VmState::Running);
        let other = w.vms[1].snapshot();
        let o = w.hvc(0, 0, &[u64::from(psci::CPU_OFF)]);
        assert_eq!((o.next, o.calls), (Next::Park, last), "{policy:?}");
        let restarted = policy == Always;
        let state = if restarted {
            VmState::Running
        } else {
            VmState::Stopped
        };
        assert_eq!(w.vms[0].life.status().0, state);
        assert_eq!(
            w.vms[0].life.affinity_info(crate::ids::VcpuId::new(0)),
            Ok(if restarted { 2 } else { 1 })
        );
        assert_eq!(w.vms[1].snapshot(), other);
    }
}

#[test]
fn system_off_and_reset_against_each_restart_policy() {
    use RestartPolicy::{Always, Never, OnCrash};
    let off = u64::from(psci::SYSTEM_OFF);
    let reset = u64::from(psci::SYSTEM_RESET);
    // (call, policy, restarted): SYSTEM_RESET restarts whatever the policy says.
    let cases = [
        (off, Never, false),
        (off, OnCrash, false),
        (off, Always, true),
        (reset, Never, true),
        (reset, OnCrash, true),
        (reset, Always, true),
    ];
    for (fid, policy, restarted) in cases {
        let w = two_running(policy);
        let what = (fid, policy);
        // A partial console line of the old run.
        w.run(
            0,
            1,
            FakeRegs::with(&[u64::from(b'x')]),
            mmio(0x0900_0000, AccessWidth::B1, true, 0),
        );
        let other = w.vms[1].snapshot();
        let o = w.hvc(0, 1, &[fid]);
        let reason = if fid == off {
            StopReason::SystemOff
        } else {
            StopReason::SystemReset
        };
        let report = if restarted {
            HostCall::VmRestarting { vm: 0, reason }
        } else {
            HostCall::VmStopping { vm: 0, reason }
        };
        // The other running vCPU is kicked, the caller is not (it parks), and the
        // caller waits for it to acknowledge.
        let kick = HostCall::Kick { vm: 0, vcpu: 0 };
        let settle = HostCall::Settle { vm: 0 };
        assert_eq!(
            (o.next, o.calls),
            (Next::Park, std::vec![report, kick, settle]),
            "{what:x?}"
        );
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
        let power0 = if restarted { 2 } else { 1 };
        assert_eq!(
            w.vms[0].snapshot().power,
            [Some(power0), Some(1)],
            "{what:x?}"
        );
        if restarted {
            assert_eq!(w.vms[0].console.lock().line.pending(), b"", "{what:x?}");
        }
        assert_eq!(w.vms[1].snapshot(), other, "{what:x?}");
    }
}

#[test]
fn smc_skips_the_instruction_hvc_does_not() {
    for (conduit, skipped) in [(Conduit::Hvc, 0), (Conduit::Smc, 1)] {
        let w = World::one(VIRT);
        let version = u64::from(psci::PSCI_VERSION);
        let o = w.run(0, 0, FakeRegs::with(&[version]), call(conduit));
        assert_eq!((o.x0(), o.regs.skipped), (psci::VERSION_1_1, skipped));
        let o = w.run(0, 0, FakeRegs::with(&[CPU_ON_64, 1, ENTRY]), call(conduit));
        assert_eq!((o.x0(), o.regs.skipped), (0, skipped));
        let o = w.run(0, 0, FakeRegs::with(&[0x8400_0001]), call(conduit));
        assert_eq!((o.x0(), o.regs.skipped), (NOT_SUPPORTED, skipped));
    }
}

#[test]
fn a_nonzero_immediate_is_not_supported_and_does_nothing() {
    for conduit in [Conduit::Hvc, Conduit::Smc] {
        for (imm, fid) in [
            (1, psci::SYSTEM_OFF),
            (0xffff, psci::SYSTEM_RESET),
            (2, psci::CPU_ON_64),
        ] {
            let w = World::one(VIRT);
            let before = w.states();
            let args = [u64::from(fid), 1, ENTRY];
            let o = w.run(0, 0, FakeRegs::with(&args), VcpuExit::Call { conduit, imm });
            let mut expect = FakeRegs::with(&args);
            expect.x[0] = NOT_SUPPORTED;
            expect.skipped = u32::from(conduit == Conduit::Smc);
            assert_eq!(
                (o.next, o.regs, o.calls),
                (Next::Resume, expect, std::vec![])
            );
            assert_eq!(w.states(), before);
        }
    }
}

#[test]
fn unknown_function_ids_are_not_supported_and_reported() {
    let fids: [u64; 9] = [
        0x8400_0001, // CPU_SUSPEND (32)
        0xc400_0001, // CPU_SUSPEND (64)
        0x8400_0005, // MIGRATE
        0x8400_000e, // SYSTEM_SUSPEND and beyond
        0x8300_0000, // SiP
        0xc500_0001, // OEM
        0x0000_0000, // not a fast call
        0x8600_0002, // rtvisor's range, no such call
        0xffff_ffff_8400_0001,
    ];
    for fid in fids {
        let w = World::one(VIRT);
        let before = w.states();
        let o = w.hvc(0, 0, &[fid, 1, ENTRY, 3]);
        let expect = FakeRegs::with(&[NOT_SUPPORTED, 1, ENTRY, 3]);
        assert_eq!((o.next, &o.regs), (Next::Resume, &expect), "{fid:#x}");
        assert_eq!(
            o.contained(),
            [Contained::UnknownCall(fid as u32)],
            "{fid:#x}"
        );
        assert_eq!(o.calls.len(), 1, "{fid:#x}");
        assert_eq!(w.states(), before, "{fid:#x}");
    }
}
