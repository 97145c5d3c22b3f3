//! A deterministic random walk: thousands of random exits with random registers from
//! the vCPUs of two VMs (one per interrupt mode), mixed with the idle loop starting
//! pending vCPUs and shell stops, starts and restarts. After every step: nothing
//! panicked, the other VM is untouched, an emulated access was skipped and a refused
//! one got exactly one abort, calls answer success or an architectural error code,
//! and each VM's lifecycle is consistent.

use super::random::{exit, Rng};
use super::world::{Spec, DIRECT, VIRT};
use super::*;
use crate::handler::{shell_restart, shell_start, shell_stop, Contained, Next};
use crate::hypercall;
use crate::psci::{self, PsciError};
use crate::vm::VmState;
use rtvisor_config::tables::RestartPolicy;

/// What a call may leave in x0: success values and PSCI/SMCCC error codes.
fn architectural(x0: u64) -> bool {
    use PsciError::*;
    let ok = [0, 1, 2, psci::VERSION_1_1, hypercall::VERSION];
    let errors = [
        NotSupported,
        InvalidParameters,
        Denied,
        AlreadyOn,
        OnPending,
        InternalFailure,
        InvalidAddress,
    ];
    ok.contains(&x0) || errors.iter().any(|e| e.to_x0() == x0)
}

/// What the walk reached, so a walk that stops exercising the handler fails.
#[derive(Debug, Default)]
struct Reached {
    emulated: u32,
    aborted: u32,
    calls: u32,
    parked_stopped: u32,
    stops: u32,
    restarts: u32,
    starts: u32,
}

/// Checks one exit of running vCPU `me` of VM `vm`: `before` are its registers, `o`
/// the outcome.
fn check_exit(
    w: &World,
    vm: usize,
    me: usize,
    exit: VcpuExit,
    before: &FakeRegs,
    o: &Outcome,
    seen: &mut Reached,
) {
    let what = (vm, me, exit);
    let only_changed =
        |n: Option<u8>| (0..31).all(|i| Some(i as u8) == n || o.regs.x[i] == before.x[i]);
    match exit {
        VcpuExit::DataAbort {
            ipa,
            far,
            write,
            access,
        } => {
            assert_eq!(o.next, Next::Resume, "{what:x?}");
            let refused = o.contained().contains(&Contained::DataAbort(ipa));
            if refused {
                seen.aborted += 1;
                assert_eq!(
                    (o.regs.skipped, o.regs.injected.as_slice()),
                    (0, &[Injected::DataAbort { far, write }][..]),
                    "{what:x?}"
                );
                assert!(only_changed(None), "{what:x?}");
            } else {
                seen.emulated += 1;
                assert_eq!(
                    (o.regs.skipped, o.regs.injected.as_slice()),
                    (1, &[][..]),
                    "{what:x?}"
                );
                let load = access.filter(|a| !a.write).map(|a| a.reg);
                assert!(only_changed(load), "{what:x?}");
            }
        }
        VcpuExit::Call { conduit, .. } => {
            seen.calls += 1;
            assert_eq!(
                o.regs.skipped,
                u32::from(conduit == Conduit::Smc),
                "{what:x?}"
            );
            assert_eq!(o.regs.injected, [], "{what:x?}");
            if o.next == Next::Resume {
                assert!(architectural(o.x0()), "{what:x?}: x0 = {:#x}", o.x0());
                assert!(only_changed(Some(0)), "{what:x?}");
            } else {
                assert!(only_changed(None), "{what:x?}");
            }
        }
        VcpuExit::SysReg(acc) => {
            assert_eq!(o.next, Next::Resume, "{what:x?}");
            let undef = o.regs.injected == [Injected::Undef];
            assert!(undef != (o.regs.skipped == 1), "{what:x?}: {o:?}");
            assert!(undef || o.regs.injected.is_empty(), "{what:x?}");
            assert!(only_changed(acc.read.then_some(acc.rt)), "{what:x?}");
        }
        VcpuExit::InstructionAbort { far, .. } => {
            assert_eq!(
                o.regs.injected,
                [Injected::InstructionAbort { far }],
                "{what:x?}"
            );
            assert_eq!((o.next, o.regs.skipped), (Next::Resume, 0), "{what:x?}");
        }
        VcpuExit::Wfx => assert_eq!((o.next, o.regs.skipped), (Next::Resume, 1)),
        VcpuExit::Interrupt => assert_eq!((o.next, &o.regs), (Next::Resume, before)),
        VcpuExit::SError { .. } | VcpuExit::Unknown { .. } => {
            assert_eq!((o.next, &o.regs), (Next::Park, before), "{what:x?}");
        }
    }
    assert_eq!(
        w.vms[vm].life.should_run(crate::ids::VcpuId::new(me)),
        o.next == Next::Resume,
        "{what:x?}"
    );
}

/// Each VM's lifecycle agrees with itself and with what the host was told.
fn check_lifecycle(w: &World, calls: &[HostCall], seen: &mut Reached) {
    for (id, vm) in w.vms.iter().enumerate() {
        let s = vm.snapshot();
        let on = s.power.iter().filter(|p| **p != Some(1)).count();
        match s.status.0 {
            VmState::Stopped => assert_eq!(on, 0, "VM {id} stopped with vCPUs on: {s:?}"),
            VmState::Running => assert!(on > 0, "VM {id} running with every vCPU off: {s:?}"),
            // Some vCPU has not acknowledged (it still reads as on to AFFINITY_INFO).
            VmState::Stopping | VmState::Unresponsive => {
                assert!(
                    on > 0,
                    "VM {id} {:?} with every vCPU off: {s:?}",
                    s.status.0
                );
                assert!(!vm.life.settled(), "{s:?}");
            }
        }
        for c in calls.iter().filter(|c| c.vm() == id) {
            match c {
                HostCall::VmStopped { .. } => {
                    seen.stops += 1;
                    assert_eq!(s.status.0, VmState::Stopped, "{c:?}");
                }
                HostCall::VmRestarting { .. } => {
                    seen.restarts += 1;
                    // Booted again at once, or waiting for vCPUs to park.
                    let booted = (s.status.0, s.power[0]) == (VmState::Running, Some(2));
                    assert!(booted || s.status.0 == VmState::Stopping, "{c:?}: {s:?}");
                }
                HostCall::Kick { vcpu, .. } => assert!(*vcpu < vm.cfg.cpus.len(), "{c:?}"),
                _ => {}
            }
        }
    }
}

fn walk(seed: u64, steps: u32, modes: [Spec; 2]) -> Reached {
    let mut r = Rng(seed);
    let policies = [
        RestartPolicy::Never,
        RestartPolicy::OnCrash,
        RestartPolicy::Always,
    ];
    let spec = |s: Spec, r: &mut Rng| s.restart(r.pick(&policies));
    let w = World::new(spec(modes[0], &mut r), spec(modes[1], &mut r));
    let mut seen = Reached::default();
    for _ in 0..steps {
        let vm = r.below(2) as usize;
        let me = r.below(2) as usize;
        let on = w.vms[vm].life.should_run(crate::ids::VcpuId::new(me));
        if r.below(300) == 0 {
            // The shell.
            w.host.take();
            match r.below(3) {
                0 => shell_stop(&w.ctx(vm), &w.host),
                1 => shell_start(&w.ctx(vm), &w.host),
                _ => _ = shell_restart(&w.ctx(vm), &w.host),
            }
            check_lifecycle(&w, &w.host.take(), &mut seen);
            continue;
        }
        if !on && r.below(8) != 0 {
            // Its CPU's idle loop, and now and then the shell starting a stopped VM.
            if w.vms[vm].life.status().0 == VmState::Stopped && r.below(10) == 0 {
                shell_start(&w.ctx(vm), &w.host);
                w.host.take();
            }
            // It parks (acknowledging a stop or restart), then takes a pending start.
            w.host.take();
            w.park(vm, me);
            seen.starts += u32::from(w.vms[vm].take_start(me));
            check_lifecycle(&w, &w.host.take(), &mut seen);
            continue;
        }
        let (exit, regs) = exit(&mut r, &w.vms[vm].mpidrs);
        let other = w.vms[1 - vm].snapshot();
        let mine = w.vms[vm].snapshot();
        let o = w.run(vm, me, regs.clone(), exit);
        assert!(
            o.calls.iter().all(|c| c.vm() == vm),
            "{exit:x?}: {:?}",
            o.calls
        );
        assert_eq!(w.vms[1 - vm].snapshot(), other, "{exit:x?}");
        if on {
            check_exit(&w, vm, me, exit, &regs, &o, &mut seen);
        } else {
            seen.parked_stopped += 1;
            assert_eq!(
                (o.next, &o.regs, o.calls.as_slice()),
                (Next::Park, &regs, &[][..]),
                "{exit:x?}"
            );
            assert_eq!(w.vms[vm].snapshot(), mine, "{exit:x?}");
        }
        check_lifecycle(&w, &o.calls, &mut seen);
    }
    seen
}

#[test]
fn random_exits_keep_every_invariant() {
    let runs = [
        (0x9e37_79b9_7f4a_7c15, [VIRT, DIRECT]),
        (0x0123_4567_89ab_cdef, [DIRECT, VIRT]),
        (0xdead_beef_cafe_f00d, [VIRT, VIRT]),
    ];
    for (seed, modes) in runs {
        let seen = walk(seed, 20_000, modes);
        let reached = [
            seen.emulated,
            seen.aborted,
            seen.calls,
            seen.parked_stopped,
            seen.stops + seen.restarts,
            seen.starts,
        ];
        assert!(
            reached.iter().all(|&n| n >= 100),
            "{seed:#x}: the walk must reach every path: {seen:?}"
        );
    }
}
