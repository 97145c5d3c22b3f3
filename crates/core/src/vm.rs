//! Run-time state of one VM and its lifecycle: vCPU power states, stop and
//! restart. The state is shared by the VM's physical CPUs behind a spin lock; each
//! operation is short and never waits on the guest.
//!
//! Discipline: the lock is taken only on exits that change or read power state (CPU
//! on/off and state calls, stop, restart, the start check on a parked CPU), never on the hot path of emulated
//! device accesses. The check every exit makes, whether its vCPU is still on, reads a
//! copy of the on bits that the lock's guard publishes whenever it is released.
//! Nothing here allocates.

use crate::ids::VcpuId;
use crate::seam::{CallError, CpuPower};
use crate::sync::Mutex;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

/// Most vCPUs one VM can have (the machine contract's limit).
pub const MAX_VCPUS: usize = rtvisor_config::contract::MAX_VCPUS;

/// Why a VM stopped or restarted, recorded for logs and the shell. Its values start
/// at 1 so that "none yet" (`Option::None`) is 0, and a VM table that starts with no
/// stop recorded is all zero (`.bss`, not image bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// The guest powered its VM off.
    SystemOff = 1,
    /// The guest reset its VM.
    SystemReset,
    /// Every vCPU switched itself off.
    AllVcpusOff,
    /// The guest's state cannot be trusted (an SError on aarch64), or it took an exit
    /// the hypervisor does not handle: what the backend called it, and its code.
    Fatal {
        /// What happened (aarch64: `serror esr`, `unhandled exit esr`).
        what: &'static str,
        /// The backend's raw code (aarch64: ESR_EL2).
        code: u64,
    },
    /// A command of the hypervisor shell.
    Shell,
    /// Its watchdog expired (not kicked in time).
    Watchdog,
}

impl StopReason {
    /// Whether this counts as a crash for the restart policy.
    pub const fn is_crash(self) -> bool {
        matches!(self, Self::Fatal { .. } | Self::Watchdog)
    }
}

impl core::fmt::Display for StopReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::SystemOff => f.write_str("system-off"),
            Self::SystemReset => f.write_str("system-reset"),
            Self::AllVcpusOff => f.write_str("all vcpus off"),
            Self::Fatal { what, code } => write!(f, "{what}={code:#x}"),
            Self::Shell => f.write_str("shell"),
            Self::Watchdog => f.write_str("watchdog"),
        }
    }
}

/// Lifecycle state of the whole VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    /// Not started yet, or stopped: every vCPU acknowledged.
    Stopped,
    /// At least vCPU 0 has been started.
    Running,
    /// Asked to stop (or restart); some vCPUs have not acknowledged yet.
    Stopping,
    /// Some vCPUs did not acknowledge a stop in time: they may still run guest code,
    /// so the VM is neither restarted nor started again, and its memory is not
    /// reused, until they do.
    Unresponsive,
}

/// Power state of one vCPU. `Off`, `On` and `Stopping` are kept in the values of
/// [`Start::reload`]'s byte that [`Reload`] leaves free, 0 to 3 (`Off` = 0): a VM
/// table of vCPUs that are all off is all zero (`.bss`, not image bytes), and a
/// state takes 24 bytes, as many as a [`Start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// Off: its physical CPU is parked.
    Off,
    /// Asked to start; its physical CPU has not picked the request up yet.
    Pending(Start),
    /// Running guest code (or handling one of its exits).
    On,
    /// Asked to stop; its physical CPU has not acknowledged (parked) yet.
    Stopping,
}

/// How a parked physical CPU should start its vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Guest-physical entry point.
    pub entry: u64,
    /// Value for x0.
    pub context: u64,
    /// Whether to reload the VM's images first ([`Start::fresh_boot`]).
    pub reload: Reload,
}

impl Start {
    /// Reload the VM's images first (a boot or restart of the whole VM).
    pub const fn fresh_boot(&self) -> bool {
        matches!(self.reload, Reload::Yes)
    }
}

/// Whether a [`Start`] reloads the VM's images. Its values are 4 and 5 so that the
/// other [`Power`] states take 0 to 3 of the same byte: the compiler encodes the
/// states of an enum without a tag of its own in unused values of a field, as the
/// state's index from the first such state (`Off`, index 0) to the last (`Stopping`,
/// index 3), placed below the field's used values when they fit there, so `Off` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reload {
    /// A vCPU start within a running VM (CPU_ON).
    No = 4,
    /// A boot or restart of the whole VM.
    Yes = 5,
}

#[derive(Debug)]
struct Shared {
    vcpus: usize,
    state: VmState,
    power: [Power; MAX_VCPUS],
    restarts: u32,
    last_stop: Option<StopReason>,
    /// A restart in progress: boot here once every vCPU has acknowledged the stop.
    then_boot: Option<(u64, u64)>,
    /// vCPU 0 is reloading the images of a fresh boot.
    loading: bool,
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
    /// The vCPUs to kick.
    pub fn iter(self) -> impl Iterator<Item = VcpuId> {
        (0..MAX_VCPUS)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(VcpuId::new)
    }
}

/// What a stop or restart request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopping {
    /// The vCPUs to kick (they must acknowledge by parking).
    pub kicks: Kicks,
    /// Every vCPU had already stopped: the stop is confirmed (a restart has made
    /// vCPU 0 pending, and it is in `kicks`).
    pub done: bool,
    /// A restart found the VM stopped: it is a start.
    pub was_stopped: bool,
}

/// What a vCPU's acknowledgement (its CPU parked) completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// Nothing: the VM still waits for other vCPUs, or was not stopping.
    Nothing,
    /// The last acknowledgement of a stop: the VM is now stopped. `late` when it had
    /// been reported unresponsive.
    Stopped {
        /// Why it stopped.
        reason: StopReason,
        /// The VM had been reported unresponsive before.
        late: bool,
    },
    /// The last acknowledgement of a restart: vCPU 0 is pending a fresh boot; kick it.
    Restart(Kicks),
}

/// What [`VmLife::give_up`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Nothing waited any more: the stop or restart had completed.
    Settled,
    /// It completed now (report it as a last acknowledgement would be).
    Completed(Parked),
    /// These vCPUs did not acknowledge: the VM is now unresponsive.
    Unresponsive(Kicks),
}

/// Run-time lifecycle state of one VM.
#[derive(Debug)]
pub struct VmLife {
    /// Taken through [`VmLife::lock`] only, so that every change is published.
    guarded: Mutex<Shared>,
    /// Bit `i` set while vCPU `i` is [`Power::On`], and [`RUNNING`] while the state
    /// is Running: a copy stored by the guard before it releases the lock, read
    /// without the lock by [`VmLife::should_run`] and [`VmLife::is_running`].
    on: AtomicU32,
}

/// The held lock of a [`VmLife`]; publishes the on bits when released.
/// The bit of [`VmLife`]'s lock-free word that mirrors `state == Running` (the
/// vCPUs' on bits are below it).
const RUNNING: u32 = 1 << 31;
const _: () = assert!(MAX_VCPUS < 31);

struct Locked<'a> {
    s: spin::mutex::MutexGuard<'a, Shared>,
    on: &'a AtomicU32,
}

impl Deref for Locked<'_> {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.s
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Shared {
        &mut self.s
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let on = self.s.power.iter().enumerate();
        let bits = on.fold(0, |b, (i, p)| if *p == Power::On { b | 1 << i } else { b });
        let running = if self.s.state == VmState::Running {
            RUNNING
        } else {
            0
        };
        self.on.store(bits | running, Ordering::Release);
    }
}

impl VmLife {
    /// A VM that has not been booted.
    pub const fn new() -> Self {
        Self {
            guarded: Mutex::new(Shared {
                vcpus: 0,
                state: VmState::Stopped,
                power: [Power::Off; MAX_VCPUS],
                restarts: 0,
                last_stop: None,
                then_boot: None,
                loading: false,
            }),
            on: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> Locked<'_> {
        Locked {
            s: self.guarded.lock(),
            on: &self.on,
        }
    }

    /// Number of vCPUs.
    pub fn vcpus(&self) -> usize {
        self.lock().vcpus
    }

    /// Starts a stopped VM with `vcpus` vCPUs (clamped to [`MAX_VCPUS`]): vCPU 0
    /// becomes pending at `entry` with x0 = `context`. Returns the vCPUs to kick, or
    /// `None` unless it was stopped (running, still stopping, or unresponsive).
    pub fn boot(&self, vcpus: usize, entry: u64, context: u64) -> Option<Kicks> {
        let mut s = self.lock();
        if s.state != VmState::Stopped {
            return None;
        }
        s.vcpus = vcpus.min(MAX_VCPUS);
        s.state = VmState::Running;
        s.power = [Power::Off; MAX_VCPUS];
        Some(Self::boot_vcpu0(&mut s, entry, context))
    }

    fn boot_vcpu0(s: &mut Shared, entry: u64, context: u64) -> Kicks {
        s.power[0] = Power::Pending(Start {
            entry,
            context,
            reload: Reload::Yes,
        });
        Kicks(1)
    }

    /// Starts vCPU `target` (a CPU-on call of another vCPU).
    pub fn cpu_on(&self, target: VcpuId, entry: u64, context: u64) -> Result<Kicks, CallError> {
        let target = target.index();
        let mut s = self.lock();
        if target >= s.vcpus {
            return Err(CallError::InvalidParameters);
        }
        if s.state != VmState::Running {
            return Err(CallError::Denied);
        }
        match s.power[target] {
            Power::On | Power::Stopping => Err(CallError::AlreadyOn),
            Power::Pending(_) => Err(CallError::OnPending),
            Power::Off => {
                s.power[target] = Power::Pending(Start {
                    entry,
                    context,
                    reload: Reload::No,
                });
                Ok(Kicks(1 << target))
            }
        }
    }

    /// vCPU `me` switches itself off. Returns `true` when no vCPU is left on or
    /// pending.
    pub fn cpu_off(&self, me: VcpuId) -> bool {
        let mut s = self.lock();
        match s.power.get_mut(me.index()) {
            // A stop or restart raced the call: the vCPU still owes its
            // acknowledgement, which its CPU gives by parking.
            Some(Power::Stopping) => return false,
            Some(p) => *p = Power::Off,
            None => {}
        }
        s.power.iter().all(|p| *p == Power::Off)
    }

    /// The power state of vCPU `target` as another vCPU sees it (a stopping vCPU is
    /// on until it parks).
    pub fn cpu_state(&self, target: VcpuId) -> Result<CpuPower, CallError> {
        let target = target.index();
        let s = self.lock();
        if target >= s.vcpus {
            return Err(CallError::InvalidParameters);
        }
        Ok(match s.power[target] {
            Power::On | Power::Stopping => CpuPower::On,
            Power::Off => CpuPower::Off,
            Power::Pending(_) => CpuPower::OnPending,
        })
    }

    /// The power state of vCPU `vcpu` (off for an index the VM does not have).
    pub fn power(&self, vcpu: VcpuId) -> Power {
        let vcpu = vcpu.index();
        let s = self.lock();
        match s.power.get(vcpu) {
            Some(p) if vcpu < s.vcpus => *p,
            _ => Power::Off,
        }
    }

    /// Called by the parked physical CPU of vCPU `me`: takes a pending start request.
    pub fn take_start(&self, me: VcpuId) -> Option<Start> {
        let me = me.index();
        let mut s = self.lock();
        match s.power.get(me) {
            Some(Power::Pending(start)) => {
                let start = *start;
                s.power[me] = Power::On;
                s.loading |= start.fresh_boot();
                Some(start)
            }
            _ => None,
        }
    }

    /// The images of a fresh boot are in place (after [`VmLife::take_start`] returned
    /// a [`Start::fresh_boot`] start): a stop no longer has to wait for the reload.
    pub fn loaded(&self) {
        self.lock().loading = false;
    }

    /// Whether a fresh boot is reloading the VM's images (its vCPU 0 acknowledges a
    /// stop only when that is done, which on a large VM takes a while).
    pub fn loading(&self) -> bool {
        self.lock().loading
    }

    /// Whether the VM's state is [`VmState::Running`], without the lock (as of the
    /// last change: the same answer as [`VmLife::status`] then).
    pub fn is_running(&self) -> bool {
        self.on.load(Ordering::Acquire) & RUNNING != 0
    }

    /// Whether vCPU `me` should keep running guest code (checked on every exit,
    /// without the lock).
    pub fn should_run(&self, me: VcpuId) -> bool {
        let me = me.index();
        me < MAX_VCPUS && self.on.load(Ordering::Acquire) & (1 << me) != 0
    }

    /// Stops the whole VM for `reason`. Every running vCPU must acknowledge by parking
    /// ([`VmLife::parked`]; a vCPU that asks for the stop acknowledges right after
    /// asking); a pending one is simply withdrawn. `None` if the VM was not running
    /// (a stop is counted once; a restart in progress becomes a stop).
    pub fn stop(&self, reason: StopReason) -> Option<Stopping> {
        self.halt(reason, None)
    }

    /// Restarts the whole VM: every vCPU stops as for [`VmLife::stop`]; once all have
    /// acknowledged, vCPU 0 becomes pending a fresh boot at `entry` with x0 =
    /// `context`. A stopped VM boots at once. `None` if the VM is unresponsive (its
    /// memory may still be in use).
    pub fn restart(&self, reason: StopReason, entry: u64, context: u64) -> Option<Stopping> {
        self.halt(reason, Some((entry, context)))
    }

    fn halt(&self, reason: StopReason, boot: Option<(u64, u64)>) -> Option<Stopping> {
        let mut s = self.lock();
        let vcpus = s.vcpus;
        match (s.state, boot) {
            (VmState::Unresponsive, _) | (VmState::Stopped, None) => return None,
            (VmState::Stopping, None) => {
                // A restart in progress becomes a stop; nobody new to kick.
                s.then_boot = None;
                s.last_stop = Some(reason);
                return None;
            }
            // A stop in progress becomes a restart only when the shell asks: a guest's
            // reset or its watchdog must not undo an operator's stop.
            (VmState::Stopping, Some(_))
                if s.then_boot.is_none() && reason != StopReason::Shell =>
            {
                return None;
            }
            _ => {}
        }
        let was_stopped = s.state == VmState::Stopped;
        let mut kicks = 0;
        for (i, p) in s.power.iter_mut().enumerate().take(vcpus) {
            *p = match *p {
                Power::On | Power::Stopping => {
                    kicks |= 1 << i;
                    Power::Stopping
                }
                Power::Off | Power::Pending(_) => Power::Off,
            };
        }
        s.last_stop = Some(reason);
        s.then_boot = boot;
        if boot.is_some() && s.state != VmState::Stopped {
            s.restarts = s.restarts.saturating_add(1);
        }
        if kicks != 0 {
            s.state = VmState::Stopping;
            return Some(Stopping {
                kicks: Kicks(kicks),
                done: false,
                was_stopped,
            });
        }
        let kicks = match boot {
            Some((entry, context)) => {
                s.state = VmState::Running;
                s.then_boot = None;
                Self::boot_vcpu0(&mut s, entry, context)
            }
            None => {
                s.state = VmState::Stopped;
                Kicks(0)
            }
        };
        Some(Stopping {
            kicks,
            done: true,
            was_stopped,
        })
    }

    /// The physical CPU of vCPU `me` has parked (it runs no guest code until started
    /// again): the acknowledgement of a stop or restart.
    pub fn parked(&self, me: VcpuId) -> Parked {
        let mut s = self.lock();
        match s.power.get_mut(me.index()) {
            Some(p @ Power::Stopping) => *p = Power::Off,
            _ => return Parked::Nothing,
        }
        let late = match s.state {
            VmState::Stopping => false,
            VmState::Unresponsive => true,
            VmState::Running | VmState::Stopped => return Parked::Nothing,
        };
        if s.power.contains(&Power::Stopping) {
            return Parked::Nothing;
        }
        Self::complete(&mut s, late)
    }

    /// Every vCPU has acknowledged: the VM is stopped, or (a restart, in time) vCPU 0
    /// boots again.
    fn complete(s: &mut Shared, late: bool) -> Parked {
        match s.then_boot.take() {
            Some((entry, context)) if !late => {
                s.state = VmState::Running;
                Parked::Restart(Self::boot_vcpu0(s, entry, context))
            }
            _ => {
                s.state = VmState::Stopped;
                let reason = s.last_stop.unwrap_or(StopReason::Shell);
                Parked::Stopped { reason, late }
            }
        }
    }

    /// Whether no stop or restart waits for acknowledgements.
    pub fn settled(&self) -> bool {
        self.lock().state != VmState::Stopping
    }

    /// A stop or restart was not acknowledged in time: the VM becomes unresponsive
    /// (no restart, no start, its memory not reused) until its vCPUs park.
    pub fn give_up(&self) -> GiveUp {
        let mut s = self.lock();
        if s.state != VmState::Stopping {
            return GiveUp::Settled;
        }
        let mut late = 0;
        for (i, p) in s.power.iter().enumerate() {
            if *p == Power::Stopping {
                late |= 1 << i;
            }
        }
        if late == 0 {
            // Nobody owes an acknowledgement (cannot happen while every change of a
            // stopping vCPU goes through `parked`): complete rather than hang.
            return GiveUp::Completed(Self::complete(&mut s, false));
        }
        s.state = VmState::Unresponsive;
        s.then_boot = None;
        GiveUp::Unresponsive(Kicks(late))
    }

    /// Lifecycle state, restart count and last stop reason.
    pub fn status(&self) -> (VmState, u32, Option<StopReason>) {
        let s = self.lock();
        (s.state, s.restarts, s.last_stop)
    }
}

#[cfg(test)]
mod tests;
