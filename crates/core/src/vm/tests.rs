use super::*;

/// vCPU `i`.
fn v(i: usize) -> VcpuId {
    VcpuId::new(i)
}

/// What a stop of `vm` reports when its last vCPU parks.
fn stopped(reason: StopReason, late: bool) -> Parked {
    Parked::Stopped { reason, late }
}

fn stopping(kicks: u32, done: bool) -> Stopping {
    Stopping {
        kicks: Kicks(kicks),
        done,
        was_stopped: false,
    }
}

#[test]
fn boot_then_cpu_on_and_off() {
    let vm = VmLife::new();
    assert_eq!(
        vm.cpu_on(v(0), 0x4008_0000, 1),
        Err(CallError::InvalidParameters)
    );
    assert_eq!(vm.boot(2, 0x4008_0000, 0x4000_0000), Some(Kicks(1)));
    assert_eq!(vm.boot(2, 0, 0), None);
    let s0 = vm.take_start(v(0)).unwrap();
    assert!(s0.fresh_boot());
    assert!(vm.loading(), "a fresh boot reloads the images");
    vm.loaded();
    assert!(!vm.loading());
    assert_eq!(s0.context, 0x4000_0000);
    assert_eq!(vm.take_start(v(0)), None);
    assert_eq!(vm.cpu_state(v(1)), Ok(CpuPower::Off));
    assert_eq!(vm.cpu_on(v(1), 0x4008_0100, 1), Ok(Kicks(2)));
    assert_eq!(vm.cpu_state(v(1)), Ok(CpuPower::OnPending));
    assert_eq!(vm.cpu_on(v(1), 0x4008_0100, 1), Err(CallError::OnPending));
    let s1 = vm.take_start(v(1)).unwrap();
    assert!(!s1.fresh_boot());
    assert!(!vm.loading(), "a CPU_ON start reloads nothing");
    assert_eq!((s1.entry, s1.context), (0x4008_0100, 1));
    assert_eq!(vm.cpu_on(v(1), 0, 0), Err(CallError::AlreadyOn));
    assert_eq!(vm.cpu_state(v(1)), Ok(CpuPower::On));
    assert!(!vm.cpu_off(v(1)));
    assert_eq!(vm.cpu_state(v(1)), Ok(CpuPower::Off));
    assert_eq!(vm.cpu_on(v(2), 0, 0), Err(CallError::InvalidParameters));
    assert!(vm.cpu_off(v(0)));
}

/// A 2-vCPU VM with both vCPUs running.
fn running_pair() -> VmLife {
    let vm = VmLife::new();
    vm.boot(2, 1, 2);
    vm.take_start(v(0));
    vm.loaded();
    vm.cpu_on(v(1), 3, 4).unwrap();
    vm.take_start(v(1));
    vm
}

#[test]
fn stop_is_confirmed_only_when_every_vcpu_parked() {
    let vm = running_pair();
    let s = vm.stop(StopReason::Shell).unwrap();
    assert_eq!(s, stopping(3, false));
    assert_eq!(vm.status().0, VmState::Stopping);
    assert!(!vm.should_run(v(0)));
    assert_eq!(
        vm.cpu_state(v(1)),
        Ok(CpuPower::On),
        "still on until it parks"
    );
    assert_eq!(vm.stop(StopReason::Shell), None, "counted once");
    assert_eq!(vm.parked(v(0)), Parked::Nothing);
    assert_eq!(vm.status().0, VmState::Stopping);
    assert!(!vm.settled());
    assert_eq!(vm.parked(v(1)), stopped(StopReason::Shell, false));
    assert_eq!(vm.status(), (VmState::Stopped, 0, Some(StopReason::Shell)));
    assert!(vm.settled());
    // A second park of the same CPU (its idle loop) changes nothing.
    assert_eq!(vm.parked(v(1)), Parked::Nothing);
}

#[test]
fn the_asking_vcpu_acknowledges_after_asking() {
    let vm = running_pair();
    assert!(!vm.cpu_off(v(1)));
    let s = vm.stop(StopReason::SystemOff).unwrap();
    assert_eq!(s, stopping(1, false));
    assert_eq!(vm.parked(v(0)), stopped(StopReason::SystemOff, false));
    assert_eq!(vm.status().0, VmState::Stopped);
    // Nothing was running: confirmed at once.
    let vm = running_pair();
    assert!(!vm.cpu_off(v(1)));
    assert!(vm.cpu_off(v(0)));
    let s = vm.stop(StopReason::AllVcpusOff).unwrap();
    assert_eq!(s, stopping(0, true));
}

#[test]
fn a_pending_vcpu_is_withdrawn_without_acknowledgement() {
    let vm = VmLife::new();
    vm.boot(2, 1, 2);
    vm.take_start(v(0));
    vm.cpu_on(v(1), 3, 4).unwrap();
    let s = vm.stop(StopReason::Shell).unwrap();
    assert_eq!(s.kicks, Kicks(1), "only the running vCPU acknowledges");
    assert_eq!(vm.take_start(v(1)), None);
}

#[test]
fn restart_boots_vcpu0_only_after_every_acknowledgement() {
    let vm = running_pair();
    let s = vm.restart(StopReason::SystemReset, 1, 2).unwrap();
    assert_eq!(s, stopping(3, false));
    assert_eq!(vm.parked(v(1)), Parked::Nothing);
    assert_eq!(vm.take_start(v(0)), None, "vCPU 0 has not parked yet");
    assert_eq!(vm.parked(v(0)), Parked::Restart(Kicks(1)));
    assert!(vm.take_start(v(0)).unwrap().fresh_boot());
    assert_eq!(vm.take_start(v(1)), None);
    assert_eq!(vm.status().0, VmState::Running);
    assert_eq!(vm.status().1, 1);
}

#[test]
fn a_vcpu_that_never_parks_makes_the_vm_unresponsive() {
    let vm = running_pair();
    vm.restart(StopReason::Shell, 1, 2).unwrap();
    assert_eq!(vm.parked(v(0)), Parked::Nothing);
    assert_eq!(vm.give_up(), GiveUp::Unresponsive(Kicks(2)));
    assert_eq!(vm.status().0, VmState::Unresponsive);
    // Not restarted, not startable, not restartable: its memory may be in use.
    assert_eq!(vm.take_start(v(0)), None);
    assert_eq!(vm.boot(2, 1, 2), None);
    assert_eq!(vm.restart(StopReason::Shell, 1, 2), None);
    assert_eq!(vm.stop(StopReason::Shell), None);
    assert_eq!(vm.cpu_on(v(0), 1, 2), Err(CallError::Denied));
    // Whatever the zombie vCPU asks, it is not running any more: its SYSTEM_OFF
    // starts nothing; its park is the late acknowledgement, and only now may the VM
    // start again.
    assert!(!vm.should_run(v(1)));
    assert_eq!(vm.stop(StopReason::SystemOff), None);
    assert_eq!(vm.parked(v(1)), stopped(StopReason::Shell, true));
    assert_eq!(vm.give_up(), GiveUp::Settled);
    assert_eq!(vm.take_start(v(0)), None, "a late stop does not restart");
    assert!(vm.boot(2, 1, 2).is_some());
}

#[test]
fn a_late_acknowledgement_stops_an_unresponsive_vm() {
    let vm = running_pair();
    vm.stop(StopReason::Shell).unwrap();
    vm.parked(v(0));
    assert_eq!(vm.give_up(), GiveUp::Unresponsive(Kicks(2)));
    assert_eq!(vm.parked(v(1)), stopped(StopReason::Shell, true));
    assert_eq!(vm.status().0, VmState::Stopped);
    assert_eq!(vm.boot(2, 1, 2), Some(Kicks(1)));
}

#[test]
fn a_restart_in_progress_becomes_a_stop() {
    let vm = running_pair();
    vm.restart(StopReason::Shell, 1, 2).unwrap();
    assert_eq!(vm.stop(StopReason::Shell), None);
    vm.parked(v(0));
    assert_eq!(vm.parked(v(1)), stopped(StopReason::Shell, false));
    assert_eq!(vm.take_start(v(0)), None);
}

#[test]
fn only_the_shell_turns_a_stop_in_progress_into_a_restart() {
    for reason in [StopReason::SystemReset, StopReason::Watchdog] {
        let vm = running_pair();
        vm.stop(StopReason::Shell).unwrap();
        assert_eq!(vm.restart(reason, 1, 2), None, "{reason}");
        vm.parked(v(0));
        assert_eq!(
            vm.parked(v(1)),
            stopped(StopReason::Shell, false),
            "{reason}"
        );
        assert_eq!(vm.take_start(v(0)), None, "{reason}");
    }
    let vm = running_pair();
    vm.stop(StopReason::Shell).unwrap();
    assert!(vm.restart(StopReason::Shell, 1, 2).is_some());
    vm.parked(v(0));
    assert_eq!(vm.parked(v(1)), Parked::Restart(Kicks(1)));
}

#[test]
fn restart_of_a_stopped_vm_boots_it() {
    let vm = running_pair();
    vm.stop(StopReason::Shell);
    vm.parked(v(0));
    vm.parked(v(1));
    let s = vm.restart(StopReason::Shell, 5, 6).unwrap();
    let start = Stopping {
        kicks: Kicks(1),
        done: true,
        was_stopped: true,
    };
    assert_eq!(s, start);
    assert_eq!(vm.take_start(v(0)).map(|s| s.entry), Some(5));
}

#[test]
fn cpu_off_racing_a_stop_still_owes_its_acknowledgement() {
    // A stop (or restart) lands between a vCPU's on-check and its CPU_OFF: the vCPU
    // must stay `Stopping`, so its park completes the stop (or boots vCPU 0 again).
    for restart in [false, true] {
        let vm = running_pair();
        match restart {
            false => _ = vm.stop(StopReason::Shell).unwrap(),
            true => _ = vm.restart(StopReason::SystemReset, 1, 2).unwrap(),
        }
        assert!(!vm.cpu_off(v(1)), "the stop is not confirmed by CPU_OFF");
        assert_eq!(vm.power(v(1)), Power::Stopping);
        assert_eq!(vm.parked(v(0)), Parked::Nothing);
        let done = vm.parked(v(1));
        if restart {
            assert_eq!(done, Parked::Restart(Kicks(1)));
        } else {
            assert_eq!(done, stopped(StopReason::Shell, false));
        }
        assert!(vm.settled());
    }
}

#[test]
fn should_run_follows_every_power_change() {
    let vm = VmLife::new();
    assert!(!vm.should_run(v(0)));
    vm.boot(2, 1, 2);
    assert!(!vm.should_run(v(0)), "pending is not on");
    vm.take_start(v(0));
    assert!(vm.should_run(v(0)));
    vm.cpu_on(v(1), 3, 4).unwrap();
    vm.take_start(v(1));
    assert!(vm.should_run(v(1)));
    vm.restart(StopReason::Shell, 1, 2);
    assert!(!vm.should_run(v(0)) && !vm.should_run(v(1)));
    vm.parked(v(1));
    vm.parked(v(0));
    assert!(!vm.should_run(v(0)), "pending a fresh boot is not on");
    vm.take_start(v(0));
    assert!(vm.should_run(v(0)));
    assert!(!vm.should_run(v(MAX_VCPUS + 3)));
}

/// The lock-free running look gives what `status` says, through a boot, a stop and
/// the vCPUs' parking.
#[test]
fn is_running_follows_the_state() {
    let same = |vm: &VmLife| assert_eq!(vm.is_running(), vm.status().0 == VmState::Running);
    let vm = VmLife::new();
    same(&vm);
    assert!(!vm.is_running());
    let vm = running_pair();
    same(&vm);
    assert!(vm.is_running());
    assert!(vm.should_run(v(0)) && vm.should_run(v(1)));
    vm.stop(StopReason::Shell);
    same(&vm);
    assert!(!vm.is_running());
    let _ = vm.parked(v(0));
    let _ = vm.parked(v(1));
    same(&vm);
    assert!(!vm.is_running());
}

/// A vCPU's power state keeps its tagless states in [`Reload`]'s free values, so it
/// is no larger than a [`Start`] (the VM table's `.bss` placement also needs `Off`
/// to be 0 there: the benchmark's size row shows `.data` of 16 bytes when it is).
#[test]
fn power_states_take_no_tag_of_their_own() {
    assert_eq!(core::mem::size_of::<Power>(), core::mem::size_of::<Start>());
    assert_eq!(core::mem::size_of::<Power>(), 24);
    assert_eq!(
        core::mem::size_of::<Option<StopReason>>(),
        core::mem::size_of::<StopReason>()
    );
}
