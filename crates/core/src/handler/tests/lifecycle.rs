//! The lifecycle side of exits: a vCPU whose VM is stopping, stopped or restarting
//! parks on whatever exit and nothing it asked for happens; fatal exits stop or
//! restart the VM per its restart policy, once.

use super::*;
use crate::handler::{shell_restart, shell_stop, Next};
use crate::hypercall::{NR_DOORBELL_RING, NR_WATCHDOG_ARM};
use crate::seam::CpuPower;
use crate::testkit::{DIRECT, ENTRY, VIRT};
use crate::vm::{StopReason, VmState};
use rtvisor_config::guest;
use rtvisor_config::tables::RestartPolicy;
use Width::{Byte as B1, Word as B4};

/// Every kind of exit.
fn exits() -> std::vec::Vec<(&'static str, VcpuExit)> {
    let at = Ipa::new;
    std::vec![
        ("halt", VcpuExit::Halt),
        ("interrupt", VcpuExit::Interrupt),
        (
            "cpu on",
            VcpuExit::CpuOn {
                target: 1,
                entry: ENTRY,
                arg: 0
            }
        ),
        ("cpu off", VcpuExit::CpuOff),
        ("system off", VcpuExit::SystemOff),
        ("system reset", VcpuExit::SystemReset),
        ("cpu state", VcpuExit::CpuState { target: 0 }),
        ("unknown call", VcpuExit::UnknownCall { id: 0x8400_0001 }),
        ("ring", hypercall(NR_DOORBELL_RING, 0)),
        ("watchdog arm", hypercall(NR_WATCHDOG_ARM, 100)),
        (
            "uart write",
            mmio(guest::VUART_IPA, B1, true, u64::from(b'x'))
        ),
        ("gicd write", mmio(guest::VGIC_DIST_IPA, B4, true, 0x12)),
        ("gicr read", mmio(guest::VGIC_REDIST_IPA + 8, B4, false, 0)),
        ("doorbell page", mmio(guest::DOORBELL_IPA, B4, true, 0)),
        (
            "gpio write",
            mmio(guest::DOORBELL_GPIO_IPA + 0x410, B4, true, 0xff)
        ),
        ("outside the map", mmio(0x0a00_0000, B4, true, 0)),
        (
            "not decoded",
            VcpuExit::MemFault {
                addr: at(guest::VUART_IPA),
                write: true
            }
        ),
        ("fetch fault", VcpuExit::FetchFault { addr: at(0) }),
        (
            "port",
            VcpuExit::Pio {
                port: 0xcf9,
                width: B1,
                write: true,
                value: 6
            }
        ),
        ("chip register", sysreg(0x42, RegClass::IrqChip, true, 1)),
        (
            "refused register",
            sysreg(0x43, RegClass::Refused, false, 0)
        ),
        (
            "ignored register",
            sysreg(0x44, RegClass::Ignored, false, 0)
        ),
        (
            "fatal",
            VcpuExit::Fatal {
                what: "serror esr",
                code: 0xbe00_0000
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
    /// vCPU 1 powered the VM off.
    SystemOff,
}

#[test]
fn every_exit_of_a_vcpu_whose_vm_is_not_running_it_only_parks() {
    for mode in [VIRT, DIRECT] {
        for stop in [Stop::Shell, Stop::Restart, Stop::SystemOff] {
            for (name, exit) in exits() {
                for vcpu in [0, 1] {
                    let what = (mode.mode, stop, name, vcpu);
                    let w = stopped(mode, stop);
                    let before = w.states();
                    let o = w.run(0, vcpu, exit);
                    assert_eq!(o.next, Next::Park, "{what:?}");
                    assert_eq!(o.vcpu, FakeVcpu::new(), "{what:?}");
                    assert_eq!(o.calls, [], "{what:?}");
                    assert_eq!(w.vms[0].chip.take(), [], "{what:?}");
                    assert_eq!(w.states(), before, "{what:?}");
                }
            }
        }
    }
}

/// VM 0 in `mode` with both vCPUs started, then stopped as `stop` says. A restart
/// policy of `always` shows any stop or restart the exit would wrongly cause.
fn stopped(mode: Spec, stop: Stop) -> World {
    let w = one(mode.restart(RestartPolicy::Always));
    w.start(0, 1);
    match stop {
        Stop::Shell => shell_stop(&w.ctx(0), &w.host),
        Stop::Restart => assert!(shell_restart(&w.ctx(0), &w.host)),
        Stop::SystemOff => {
            let w = one(mode);
            w.start(0, 1);
            assert_eq!(w.run(0, 1, VcpuExit::SystemOff).next, Next::Park);
            // vCPU 1 acknowledged by asking; vCPU 0 has not parked yet.
            assert_eq!(w.vms[0].life.status().0, VmState::Stopping);
            w.vms[0].chip.take();
            return w;
        }
    }
    // Stopping: neither vCPU has parked yet.
    assert_eq!(w.vms[0].life.status().0, VmState::Stopping);
    w.vms[0].chip.take();
    w
}

#[test]
fn exits_of_a_running_vcpu_do_not_park_unless_they_stop_it() {
    for spec in [VIRT, DIRECT] {
        for (name, exit) in exits() {
            let w = one(spec);
            w.start(0, 1);
            let o = w.run(0, 1, exit);
            let stops = matches!(name, "cpu off" | "system off" | "system reset" | "fatal");
            let next = if stops { Next::Park } else { Next::Resume };
            assert_eq!(o.next, next, "{:?} {name}", spec.mode);
            let on = w.vms[0].life.should_run(crate::ids::VcpuId::new(1));
            assert_eq!(on, !stops, "{:?} {name}", spec.mode);
        }
    }
}

#[test]
fn fatal_exits_against_each_restart_policy() {
    use RestartPolicy::{Always, Never, OnCrash};
    let (what, code) = ("unhandled exit esr", 0x3f << 26);
    let exit = VcpuExit::Fatal { what, code };
    let reason = StopReason::Fatal { what, code };
    for spec in [VIRT, DIRECT] {
        for policy in [Never, OnCrash, Always] {
            let case = (spec.mode, policy);
            let w = one(spec.restart(policy));
            w.start(0, 1);
            let other = w.vms[1].snapshot();
            let o = w.run(0, 1, exit);
            let restarted = policy != Never;
            let mut calls = std::vec![HostCall::Quiesce { vm: 0 }];
            if restarted {
                calls.push(HostCall::VmRestarting { vm: 0, reason });
            }
            calls.push(HostCall::Kick { vm: 0, vcpu: 0 });
            calls.push(HostCall::Settle { vm: 0 });
            assert_eq!(o.next, Next::Park, "{case:?}");
            assert_eq!(o.vcpu, FakeVcpu::new(), "{case:?}");
            assert_eq!(o.calls, calls, "{case:?}");
            // Nothing is confirmed while vCPU 0 has not parked.
            let restarts = u32::from(restarted);
            let stopping = (VmState::Stopping, restarts, Some(reason));
            assert_eq!(w.vms[0].life.status(), stopping, "{case:?}");
            // vCPU 0 was still in the guest and faults too before it sees the kick:
            // the VM is stopped or restarted once.
            let o = w.run(0, 0, exit);
            assert_eq!((o.next, o.calls), (Next::Park, std::vec![]), "{case:?}");
            assert_eq!(w.vms[0].life.status(), stopping, "{case:?}");
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
            assert_eq!(w.host.take(), confirm, "{case:?}");
            let state = if restarted {
                VmState::Running
            } else {
                VmState::Stopped
            };
            assert_eq!(w.vms[0].life.status(), (state, restarts, Some(reason)));
            let power0 = if restarted {
                CpuPower::OnPending
            } else {
                CpuPower::Off
            };
            let power = [Some(power0), Some(CpuPower::Off)];
            assert_eq!(w.vms[0].snapshot().power, power, "{case:?}");
            assert_eq!(w.vms[1].snapshot(), other, "{case:?}");
            let logged = std::format!("{reason}");
            assert_eq!(logged, "unhandled exit esr=0xfc000000");
        }
    }
}
