//! Run-time state of one VM and its lifecycle: vCPU power states (PSCI), stop and
//! restart. The state is shared by the VM's physical CPUs behind a spin lock; each
//! operation is short and never waits on the guest.
//!
//! Discipline: the lock is taken only on exits that change or read power state (PSCI,
//! stop, restart, the start check on a parked CPU), never on the hot path of emulated
//! device accesses. Nothing here allocates.

use crate::psci::PsciError;
use crate::sync::Mutex;

/// Most vCPUs one VM can have (the machine contract's limit).
pub const MAX_VCPUS: usize = rtvisor_config::contract::MAX_VCPUS;

/// Why a VM stopped or restarted, recorded for logs and the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The guest called PSCI SYSTEM_OFF.
    SystemOff,
    /// The guest called PSCI SYSTEM_RESET.
    SystemReset,
    /// Every vCPU called CPU_OFF.
    AllVcpusOff,
    /// An asynchronous SError from the guest.
    SError(u64),
    /// An exit the hypervisor cannot handle.
    UnhandledExit(u64),
    /// A command of the hypervisor shell.
    Shell,
    /// Its watchdog expired (not kicked in time).
    Watchdog,
}

impl StopReason {
    /// Whether this counts as a crash for the restart policy.
    pub const fn is_crash(self) -> bool {
        matches!(
            self,
            Self::SError(_) | Self::UnhandledExit(_) | Self::Watchdog
        )
    }
}

impl core::fmt::Display for StopReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::SystemOff => f.write_str("system-off"),
            Self::SystemReset => f.write_str("system-reset"),
            Self::AllVcpusOff => f.write_str("all vcpus off"),
            Self::SError(esr) => write!(f, "serror esr={esr:#x}"),
            Self::UnhandledExit(esr) => write!(f, "unhandled exit esr={esr:#x}"),
            Self::Shell => f.write_str("shell"),
            Self::Watchdog => f.write_str("watchdog"),
        }
    }
}

/// Lifecycle state of the whole VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    /// Not started yet, or stopped.
    Stopped,
    /// At least vCPU 0 has been started.
    Running,
}

/// PSCI power state of one vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// Off: its physical CPU is parked.
    Off,
    /// Asked to start; its physical CPU has not picked the request up yet.
    Pending(Start),
    /// Running guest code (or handling one of its exits).
    On,
}

/// How a parked physical CPU should start its vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Guest-physical entry point.
    pub entry: u64,
    /// Value for x0.
    pub context: u64,
    /// Reload the VM's images first (a boot or restart of the whole VM).
    pub fresh_boot: bool,
}

#[derive(Debug)]
struct Shared {
    vcpus: usize,
    state: VmState,
    power: [Power; MAX_VCPUS],
    restarts: u32,
    last_stop: Option<StopReason>,
}

/// Result of an operation that changed other vCPUs: the caller kicks their physical
/// CPUs (bit `i` set = vCPU `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kicks(pub u32);

impl Default for VmLife {
    fn default() -> Self {
        Self::new()
    }
}

impl Kicks {
    /// vCPU indices to kick.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_VCPUS).filter(move |i| self.0 & (1 << i) != 0)
    }
}

/// Run-time lifecycle state of one VM.
#[derive(Debug)]
pub struct VmLife {
    shared: Mutex<Shared>,
}

impl VmLife {
    /// A VM that has not been booted.
    pub const fn new() -> Self {
        Self {
            shared: Mutex::new(Shared {
                vcpus: 0,
                state: VmState::Stopped,
                power: [Power::Off; MAX_VCPUS],
                restarts: 0,
                last_stop: None,
            }),
        }
    }

    /// Number of vCPUs.
    pub fn vcpus(&self) -> usize {
        self.shared.lock().vcpus
    }

    /// Starts the VM with `vcpus` vCPUs (clamped to [`MAX_VCPUS`]): vCPU 0 becomes
    /// pending at `entry` with x0 = `context`. Returns the vCPUs to kick, or `None` if
    /// it was already running.
    pub fn boot(&self, vcpus: usize, entry: u64, context: u64) -> Option<Kicks> {
        let mut s = self.shared.lock();
        if s.state == VmState::Running {
            return None;
        }
        s.vcpus = vcpus.min(MAX_VCPUS);
        s.state = VmState::Running;
        s.power = [Power::Off; MAX_VCPUS];
        s.power[0] = Power::Pending(Start {
            entry,
            context,
            fresh_boot: true,
        });
        Some(Kicks(1))
    }

    /// PSCI CPU_ON for vCPU `target`.
    pub fn cpu_on(&self, target: usize, entry: u64, context: u64) -> Result<Kicks, PsciError> {
        let mut s = self.shared.lock();
        if target >= s.vcpus {
            return Err(PsciError::InvalidParameters);
        }
        if s.state != VmState::Running {
            return Err(PsciError::Denied);
        }
        match s.power[target] {
            Power::On => Err(PsciError::AlreadyOn),
            Power::Pending(_) => Err(PsciError::OnPending),
            Power::Off => {
                s.power[target] = Power::Pending(Start {
                    entry,
                    context,
                    fresh_boot: false,
                });
                Ok(Kicks(1 << target))
            }
        }
    }

    /// PSCI CPU_OFF from vCPU `me`. Returns `true` when no vCPU is left on or pending.
    pub fn cpu_off(&self, me: usize) -> bool {
        let mut s = self.shared.lock();
        if let Some(p) = s.power.get_mut(me) {
            *p = Power::Off;
        }
        s.power.iter().all(|p| *p == Power::Off)
    }

    /// PSCI AFFINITY_INFO at level 0: 0 on, 1 off, 2 on-pending.
    pub fn affinity_info(&self, target: usize) -> Result<u64, PsciError> {
        let s = self.shared.lock();
        if target >= s.vcpus {
            return Err(PsciError::InvalidParameters);
        }
        Ok(match s.power[target] {
            Power::On => 0,
            Power::Off => 1,
            Power::Pending(_) => 2,
        })
    }

    /// Called by the parked physical CPU of vCPU `me`: takes a pending start request.
    pub fn take_start(&self, me: usize) -> Option<Start> {
        let mut s = self.shared.lock();
        match s.power.get(me) {
            Some(Power::Pending(start)) => {
                let start = *start;
                s.power[me] = Power::On;
                Some(start)
            }
            _ => None,
        }
    }

    /// Whether vCPU `me` should keep running guest code (checked after a kick).
    pub fn should_run(&self, me: usize) -> bool {
        matches!(self.shared.lock().power.get(me), Some(Power::On))
    }

    /// Stops the whole VM. Returns the other vCPUs to kick, or `None` if it was already
    /// stopped (so a stop is counted once).
    pub fn stop(&self, reason: StopReason) -> Option<Kicks> {
        let mut s = self.shared.lock();
        if s.state == VmState::Stopped {
            return None;
        }
        let vcpus = s.vcpus;
        let kicks = Self::all_off(&mut s, vcpus);
        s.state = VmState::Stopped;
        s.last_stop = Some(reason);
        Some(kicks)
    }

    /// Restarts the whole VM: every vCPU off, vCPU 0 pending a fresh boot.
    pub fn restart(&self, reason: StopReason, entry: u64, context: u64) -> Kicks {
        let mut s = self.shared.lock();
        let vcpus = s.vcpus;
        let kicks = Self::all_off(&mut s, vcpus);
        s.state = VmState::Running;
        s.last_stop = Some(reason);
        s.restarts = s.restarts.saturating_add(1);
        s.power[0] = Power::Pending(Start {
            entry,
            context,
            fresh_boot: true,
        });
        Kicks(kicks.0 | 1)
    }

    fn all_off(s: &mut Shared, vcpus: usize) -> Kicks {
        let mut kicks = 0;
        for (i, p) in s.power.iter_mut().enumerate().take(vcpus) {
            if *p != Power::Off {
                kicks |= 1 << i;
            }
            *p = Power::Off;
        }
        Kicks(kicks)
    }

    /// Lifecycle state, restart count and last stop reason.
    pub fn status(&self) -> (VmState, u32, Option<StopReason>) {
        let s = self.shared.lock();
        (s.state, s.restarts, s.last_stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_then_cpu_on_and_off() {
        let vm = VmLife::new();
        assert_eq!(
            vm.cpu_on(0, 0x4008_0000, 1),
            Err(PsciError::InvalidParameters)
        );
        assert_eq!(vm.boot(2, 0x4008_0000, 0x4000_0000), Some(Kicks(1)));
        assert_eq!(vm.boot(2, 0, 0), None);
        let s0 = vm.take_start(0).unwrap();
        assert!(s0.fresh_boot);
        assert_eq!(s0.context, 0x4000_0000);
        assert_eq!(vm.take_start(0), None);
        assert_eq!(vm.affinity_info(1), Ok(1));
        assert_eq!(vm.cpu_on(1, 0x4008_0100, 1), Ok(Kicks(2)));
        assert_eq!(vm.affinity_info(1), Ok(2));
        assert_eq!(vm.cpu_on(1, 0x4008_0100, 1), Err(PsciError::OnPending));
        let s1 = vm.take_start(1).unwrap();
        assert!(!s1.fresh_boot);
        assert_eq!((s1.entry, s1.context), (0x4008_0100, 1));
        assert_eq!(vm.cpu_on(1, 0, 0), Err(PsciError::AlreadyOn));
        assert_eq!(vm.affinity_info(1), Ok(0));
        assert!(!vm.cpu_off(1));
        assert_eq!(vm.affinity_info(1), Ok(1));
        assert_eq!(vm.cpu_on(2, 0, 0), Err(PsciError::InvalidParameters));
        assert!(vm.cpu_off(0));
    }

    #[test]
    fn stop_is_counted_once_and_kicks_running_vcpus() {
        let vm = VmLife::new();
        vm.boot(2, 1, 2);
        vm.take_start(0);
        vm.cpu_on(1, 3, 4).unwrap();
        assert_eq!(vm.stop(StopReason::SystemOff), Some(Kicks(3)));
        assert_eq!(vm.stop(StopReason::SystemOff), None);
        assert!(!vm.should_run(0));
        assert_eq!(
            vm.status(),
            (VmState::Stopped, 0, Some(StopReason::SystemOff))
        );
    }

    #[test]
    fn restart_leaves_only_vcpu0_pending() {
        let vm = VmLife::new();
        vm.boot(2, 1, 2);
        vm.take_start(0);
        vm.cpu_on(1, 3, 4).unwrap();
        vm.take_start(1);
        let k = vm.restart(StopReason::SystemReset, 1, 2);
        assert_eq!(k, Kicks(3));
        assert!(!vm.should_run(1));
        assert_eq!(vm.take_start(1), None);
        assert!(vm.take_start(0).unwrap().fresh_boot);
        assert_eq!(vm.status().1, 1);
    }
}
