//! The lifecycle side of exits: a vCPU whose VM is stopping, stopped or restarting
//! parks on whatever exit and nothing it asked for happens; SError and unknown exit
//! classes stop or restart the VM per its restart policy, once.

use super::world::{Spec, DIRECT, ENTRY, VIRT};
use super::*;
use crate::exit::AccessWidth::{B1, B4};
use crate::handler::{shell_restart, shell_stop, Next};
use crate::hypercall::fid64;
use crate::psci;
use crate::vm::{StopReason, VmState};
use rtvisor_config::guest;
use rtvisor_config::tables::RestartPolicy;

/// Every kind of exit, with the registers it is made with.
fn exits() -> std::vec::Vec<(&'static str, std::vec::Vec<u64>, VcpuExit)> {
    let f = |fid: u32| u64::from(fid);
    let smc = call(Conduit::Smc);
    let sgi = (3 << 24) | 0b1111 | (1 << 40);
    std::vec![
        ("wfi", std::vec![], VcpuExit::Wfx),
        ("interrupt", std::vec![], VcpuExit::Interrupt),
        ("CPU_ON", std::vec![f(psci::CPU_ON_64), 1, ENTRY], HVC),
        ("CPU_ON smc", std::vec![f(psci::CPU_ON_64), 1, ENTRY], smc),
        ("CPU_OFF", std::vec![f(psci::CPU_OFF)], HVC),
        ("SYSTEM_OFF", std::vec![f(psci::SYSTEM_OFF)], HVC),
        ("SYSTEM_RESET", std::vec![f(psci::SYSTEM_RESET)], smc),
        (
            "AFFINITY_INFO",
            std::vec![f(psci::AFFINITY_INFO_64), 0, 0],
            HVC
        ),
        ("PSCI_VERSION", std::vec![f(psci::PSCI_VERSION)], HVC),
        ("unknown call", std::vec![0x8400_0001], HVC),
        (
            "hvc #1",
            std::vec![f(psci::SYSTEM_OFF)],
            VcpuExit::Call {
                conduit: Conduit::Hvc,
                imm: 1
            }
        ),
        ("ring", std::vec![fid64(1), 0], HVC),
        ("watchdog arm", std::vec![fid64(0x10), 100], HVC),
        (
            "uart write",
            std::vec![u64::from(b'x')],
            mmio(guest::VUART_IPA, B1, true, 0)
        ),
        (
            "gicd write",
            std::vec![0x12],
            mmio(guest::VGIC_DIST_IPA, B4, true, 0)
        ),
        (
            "gicr read",
            std::vec![],
            mmio(guest::VGIC_REDIST_IPA + 8, B4, false, 0)
        ),
        (
            "doorbell page",
            std::vec![0],
            mmio(guest::DOORBELL_IPA, B4, true, 0)
        ),
        (
            "gpio write",
            std::vec![0xff],
            mmio(guest::DOORBELL_GPIO_IPA + 0x410, B4, true, 0)
        ),
        (
            "outside the map",
            std::vec![],
            mmio(0x0a00_0000, B4, true, 0)
        ),
        (
            "no syndrome",
            std::vec![],
            mmio_with(guest::VUART_IPA, None, true)
        ),
        (
            "instruction abort",
            std::vec![],
            VcpuExit::InstructionAbort {
                ipa: Ipa::new(0),
                far: 0
            }
        ),
        (
            "sgi",
            std::vec![sgi],
            sysreg(SysRegId::new(3, 0, 12, 11, 5), 0, false)
        ),
        (
            "unknown sysreg",
            std::vec![],
            sysreg(SysRegId::new(3, 0, 15, 0, 0), 0, true)
        ),
        (
            "raz sysreg",
            std::vec![],
            sysreg(SysRegId::new(3, 0, 1, 0, 1), 0, true)
        ),
        (
            "serror",
            std::vec![],
            VcpuExit::SError {
                syndrome: 0xbe00_0000
            }
        ),
        (
            "unknown exit",
            std::vec![],
            VcpuExit::Unknown {
                syndrome: 0xfc00_0000
            }
        ),
    ]
}

/// How the VM of the exiting vCPU stopped running it.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// `vm stop` from the shell: every vCPU off, the VM stopped.
    Shell,
    /// `vm restart` from the shell: vCPU 0 pending a fresh boot, the others off.
    Restart,
    /// vCPU 1 called SYSTEM_OFF.
    SystemOff,
}

#[test]
fn every_exit_of_a_vcpu_whose_vm_is_not_running_it_only_parks() {
    for mode in [VIRT, DIRECT] {
        for stop in [Stop::Shell, Stop::Restart, Stop::SystemOff] {
            for (name, args, exit) in exits() {
                for vcpu in [0, 1] {
                    let what = (mode.mode, stop, name, vcpu);
                    let w = stopped(mode, stop);
                    let before = w.states();
                    let o = w.run(0, vcpu, FakeRegs::with(&args), exit);
                    assert_eq!(o.next, Next::Park, "{what:?}");
                    assert_eq!(o.regs, FakeRegs::with(&args), "{what:?}");
                    assert_eq!(o.calls, [], "{what:?}");
                    let after = w.states();
                    assert_eq!(after, before, "{what:?}");
                }
            }
        }
    }
}

/// VM 0 in `mode` with both vCPUs started, then stopped as `stop` says. A restart
/// policy of `always` shows any stop or restart the exit would wrongly cause.
fn stopped(mode: Spec, stop: Stop) -> World {
    let w = World::one(mode.restart(RestartPolicy::Always));
    w.start(0, 1);
    match stop {
        Stop::Shell => shell_stop(&w.ctx(0), &w.host),
        Stop::Restart => assert!(shell_restart(&w.ctx(0), &w.host)),
        Stop::SystemOff => {
            let w = World::one(mode);
            w.start(0, 1);
            let off = u64::from(psci::SYSTEM_OFF);
            assert_eq!(w.hvc(0, 1, &[off]).next, Next::Park);
            // vCPU 1 acknowledged by asking; vCPU 0 has not parked yet.
            assert_eq!(w.vms[0].life.status().0, VmState::Stopping);
            return w;
        }
    }
    // Stopping: neither vCPU has parked yet.
    assert_eq!(w.vms[0].life.status().0, VmState::Stopping);
    w
}

#[test]
fn exits_of_a_running_vcpu_do_not_park_unless_they_stop_it() {
    for spec in [VIRT, DIRECT] {
        for (name, args, exit) in exits() {
            let w = World::one(spec);
            w.start(0, 1);
            let o = w.run(0, 1, FakeRegs::with(&args), exit);
            let stops = matches!(
                name,
                "CPU_OFF" | "SYSTEM_OFF" | "SYSTEM_RESET" | "serror" | "unknown exit"
            );
            let next = if stops { Next::Park } else { Next::Resume };
            assert_eq!(o.next, next, "{:?} {name}", spec.mode);
            assert_eq!(
                w.vms[0].life.should_run(crate::ids::VcpuId::new(1)),
                !stops,
                "{:?} {name}",
                spec.mode
            );
        }
    }
}

#[test]
fn serror_and_unknown_exits_against_each_restart_policy() {
    use RestartPolicy::{Always, Never, OnCrash};
    let exits = [
        (
            VcpuExit::SError {
                syndrome: 0xbf00_0002,
            },
            StopReason::SError(0xbf00_0002),
        ),
        (
            VcpuExit::Unknown {
                syndrome: 0x3f << 26,
            },
            StopReason::UnhandledExit(0x3f << 26),
        ),
    ];
    for spec in [VIRT, DIRECT] {
        for (exit, reason) in exits {
            for policy in [Never, OnCrash, Always] {
                let what = (spec.mode, reason, policy);
                let w = World::one(spec.restart(policy));
                w.start(0, 1);
                let other = w.vms[1].snapshot();
                let o = w.run(0, 1, FakeRegs::new(), exit);
                let restarted = policy != Never;
                let report = if restarted {
                    HostCall::VmRestarting { vm: 0, reason }
                } else {
                    HostCall::VmStopping { vm: 0, reason }
                };
                let kick = HostCall::Kick { vm: 0, vcpu: 0 };
                let settle = HostCall::Settle { vm: 0 };
                assert_eq!(o.next, Next::Park, "{what:?}");
                assert_eq!(o.regs, FakeRegs::new(), "{what:?}");
                assert_eq!(o.calls, [report, kick, settle], "{what:?}");
                // Nothing is confirmed while vCPU 0 has not parked.
                let restarts = u32::from(restarted);
                let stopping = (VmState::Stopping, restarts, Some(reason));
                assert_eq!(w.vms[0].life.status(), stopping, "{what:?}");
                // vCPU 0 was still in the guest and faults too before it sees the
                // kick: the VM is stopped or restarted once.
                let o = w.run(0, 0, FakeRegs::new(), exit);
                assert_eq!((o.next, o.calls), (Next::Park, std::vec![]), "{what:?}");
                assert_eq!(w.vms[0].life.status(), stopping, "{what:?}");
                // Its CPU parks: the stop is confirmed, or vCPU 0 boots again.
                w.park(0, 0);
                let confirm = if restarted {
                    std::vec![]
                } else {
                    std::vec![HostCall::VmStopped {
                        vm: 0,
                        reason,
                        late: false,
                    }]
                };
                assert_eq!(w.host.take(), confirm, "{what:?}");
                let state = if restarted {
                    VmState::Running
                } else {
                    VmState::Stopped
                };
                let status = (state, restarts, Some(reason));
                assert_eq!(w.vms[0].life.status(), status, "{what:?}");
                let power0 = if restarted { 2 } else { 1 };
                assert_eq!(w.vms[0].snapshot().power, [Some(power0), Some(1)]);
                assert_eq!(w.vms[1].snapshot(), other, "{what:?}");
            }
        }
    }
}
