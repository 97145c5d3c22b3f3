//! A deterministic random walk: thousands of random exits from the vCPUs of two VMs
//! (one per interrupt mode), mixed with the idle loop starting pending vCPUs and
//! shell stops, starts and restarts. After every step: nothing panicked, the other VM
//! (its state and its interrupt controller) is untouched, an emulated access was
//! stepped over and a refused one got exactly one fault, every call that resumes was
//! answered, and each VM's lifecycle is consistent. One walk is on the x86_64 machine
//! (RAM from 0, the ports).

use super::random::{exit, Rng};
use super::*;
use crate::handler::{completed, shell_restart, shell_start, shell_stop, Contained, Next};
use crate::ids::VcpuId;
use crate::seam::{CpuPower, Fault};
use crate::testkit::{DIRECT, VIRT, X86, X86_64};
use crate::vm::{GiveUp, Kicks, VmState};
use rtvisor_config::tables::RestartPolicy;

/// What the walk reached, so a walk that stops exercising the handler fails.
#[derive(Debug, Default)]
struct Reached {
    emulated: u32,
    faulted: u32,
    calls: u32,
    parked_stopped: u32,
    stops: u32,
    restarts: u32,
    starts: u32,
    unresponsive: u32,
}

/// Checks one exit of running vCPU `me` of VM `vm` from its outcome `o`.
fn check_exit(w: &World, vm: usize, me: usize, exit: VcpuExit, o: &Outcome, seen: &mut Reached) {
    let what = (vm, me, exit);
    let v = &o.vcpu;
    let untouched = *v == FakeVcpu::new();
    match exit {
        VcpuExit::Mmio { addr, write, .. } => {
            assert_eq!(o.next, Next::Resume, "{what:x?}");
            if o.contained().contains(&Contained::BadAccess(addr)) {
                seen.faulted += 1;
                let mut expect = FakeVcpu::new();
                expect.injected.push(Fault::Bus { write });
                assert_eq!(*v, expect, "{what:x?}");
            } else {
                seen.emulated += 1;
                assert_eq!(
                    (v.skipped, v.injected.as_slice()),
                    (1, &[][..]),
                    "{what:x?}"
                );
                assert_eq!(v.loaded.is_some(), !write, "{what:x?}");
            }
        }
        VcpuExit::MemFault { write, .. } => {
            assert_eq!(v.injected, [Fault::Bus { write }], "{what:x?}");
            assert_eq!((o.next, v.skipped), (Next::Resume, 0), "{what:x?}");
        }
        // A port is never a fault: emulated, or an empty bus (a load reads all ones).
        VcpuExit::Pio {
            port, width, write, ..
        } => {
            assert_eq!(o.next, Next::Resume, "{what:x?}");
            assert_eq!((v.skipped, v.injected.len()), (1, 0), "{what:x?}");
            assert_eq!(v.loaded.is_some(), !write, "{what:x?}");
            if o.contained().contains(&Contained::BadPort(port)) {
                seen.faulted += 1;
                assert!(write || v.loaded == Some(width.mask()), "{what:x?}");
            } else {
                seen.emulated += 1;
            }
        }
        VcpuExit::CpuOn { .. }
        | VcpuExit::CpuState { .. }
        | VcpuExit::Hypercall { .. }
        | VcpuExit::UnknownCall { .. } => {
            seen.calls += 1;
            assert_eq!(o.next, Next::Resume, "{what:x?}");
            assert!(v.returned.is_some(), "{what:x?}: answered");
            assert_eq!((v.skipped, v.loaded, v.injected.len()), (0, None, 0));
        }
        VcpuExit::CpuOff | VcpuExit::SystemOff | VcpuExit::SystemReset => {
            seen.calls += 1;
            assert_eq!(o.next, Next::Park, "{what:x?}");
            assert!(untouched, "{what:x?}: {v:?}");
        }
        VcpuExit::SysReg { write, .. } => {
            assert_eq!(o.next, Next::Resume, "{what:x?}");
            if v.injected == [Fault::Undefined] {
                assert_eq!((v.skipped, v.loaded), (0, None), "{what:x?}");
            } else {
                assert_eq!((v.skipped, v.injected.len()), (1, 0), "{what:x?}");
                assert_eq!(v.loaded.is_some(), !write, "{what:x?}");
            }
        }
        VcpuExit::FetchFault { .. } => {
            assert_eq!(v.injected, [Fault::Fetch], "{what:x?}");
            assert_eq!((o.next, v.skipped), (Next::Resume, 0), "{what:x?}");
        }
        VcpuExit::Halt => assert_eq!((o.next, v.skipped), (Next::Resume, 1)),
        VcpuExit::Interrupt => assert!(o.next == Next::Resume && untouched),
        VcpuExit::Fatal { .. } => assert!(o.next == Next::Park && untouched, "{what:x?}"),
    }
    let on = w.vms[vm].life.should_run(VcpuId::new(me));
    assert_eq!(on, o.next == Next::Resume, "{what:x?}");
}

/// Each VM's lifecycle agrees with itself and with what the host was told.
fn check_lifecycle(w: &World, calls: &[HostCall], seen: &mut Reached) {
    for (id, vm) in w.vms.iter().enumerate() {
        let s = vm.snapshot();
        let on = s
            .power
            .iter()
            .filter(|p| **p != Some(CpuPower::Off))
            .count();
        match s.status.0 {
            VmState::Stopped => assert_eq!(on, 0, "VM {id} stopped with vCPUs on: {s:?}"),
            VmState::Running => assert!(on > 0, "VM {id} running with every vCPU off: {s:?}"),
            // Some vCPU has not acknowledged (it still reads as on).
            VmState::Stopping | VmState::Unresponsive => {
                assert!(
                    on > 0,
                    "VM {id} {:?} with every vCPU off: {s:?}",
                    s.status.0
                );
                // A stop waits for acknowledgements; an unresponsive VM waits no more.
                let waits = s.status.0 == VmState::Stopping;
                assert_eq!(!vm.life.settled(), waits, "{s:?}");
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
                    // Booted again at once, or waiting for vCPUs to park (or given up
                    // on them since).
                    let booted =
                        (s.status.0, s.power[0]) == (VmState::Running, Some(CpuPower::OnPending));
                    let waits = matches!(s.status.0, VmState::Stopping | VmState::Unresponsive);
                    assert!(booted || waits, "{c:?}: {s:?}");
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
        let on = w.vms[vm].life.should_run(VcpuId::new(me));
        if r.below(300) == 0 {
            // The shell.
            w.host.take();
            match r.below(3) {
                0 => shell_stop(&w.ctx(vm), &w.host),
                1 => shell_start(&w.ctx(vm), &w.host),
                _ => _ = shell_restart(&w.ctx(vm), &w.host),
            }
            if r.below(2) == 0 {
                // The settle bound ran out before the vCPUs parked: what the
                // hypervisor's `settle` does then.
                match w.vms[vm].life.give_up() {
                    GiveUp::Settled => {}
                    GiveUp::Completed(done) => completed(done, None, &w.ctx(vm), &w.host),
                    GiveUp::Unresponsive(late) => {
                        seen.unresponsive += 1;
                        assert_ne!(late, Kicks(0), "unresponsive with nobody late");
                        assert_eq!(w.vms[vm].life.status().0, VmState::Unresponsive);
                    }
                }
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
        let exit = exit(&mut r, &w.vms[vm]);
        let other = w.vms[1 - vm].snapshot();
        let mine = w.vms[vm].snapshot();
        w.vms.iter().for_each(|v| _ = v.chip.take());
        let o = w.run(vm, me, exit);
        assert!(
            o.calls.iter().all(|c| c.vm() == vm),
            "{exit:x?}: {:?}",
            o.calls
        );
        assert_eq!(w.vms[1 - vm].snapshot(), other, "{exit:x?}");
        assert_eq!(w.vms[1 - vm].chip.take(), [], "{exit:x?}");
        if on {
            check_exit(&w, vm, me, exit, &o, &mut seen);
        } else {
            seen.parked_stopped += 1;
            assert_eq!(o.next, Next::Park, "{exit:x?}");
            assert_eq!((&o.vcpu, o.calls.as_slice()), (&FakeVcpu::new(), &[][..]));
            assert_eq!(w.vms[vm].chip.take(), [], "{exit:x?}");
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
        (0x5eed_0f00_8600_0064, [X86, DIRECT.on(X86_64)]),
    ];
    for (seed, modes) in runs {
        let seen = walk(seed, 20_000, modes);
        let reached = [
            seen.emulated,
            seen.faulted,
            seen.calls,
            seen.parked_stopped,
            seen.stops + seen.restarts,
            seen.starts,
        ];
        assert!(
            reached.iter().all(|&n| n >= 100),
            "{seed:#x}: the walk must reach every path: {seen:?}"
        );
        assert!(
            seen.unresponsive > 0,
            "{seed:#x}: never unresponsive: {seen:?}"
        );
    }
}
