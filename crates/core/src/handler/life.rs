//! The lifecycle side of the handler: stopping and restarting a VM per its restart
//! policy, the shell's `vm stop|start|restart`, and a parked CPU's acknowledgement
//! (a stop is confirmed only when every vCPU has parked: `VmLife`).

use super::{Host, Next, VmCtx};
use crate::ids::VcpuId;
use crate::vm::{Kicks, Parked, StopReason};
use rtvisor_config::tables::RestartPolicy;

/// Stops or restarts the VM after `reason`, per its restart policy, from vCPU `me`
/// (`None` when no vCPU of this VM asks, e.g. a watchdog on another CPU).
#[cold]
#[inline(never)]
pub fn stop_vm<C>(
    me: Option<VcpuId>,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
    reason: StopReason,
) -> Next {
    let restart = match vm.cfg.restart {
        _ if reason == StopReason::SystemReset => true,
        RestartPolicy::Always => true,
        RestartPolicy::OnCrash => reason.is_crash(),
        RestartPolicy::Never => false,
    };
    let asking = me.filter(|v| v.index() < vm.cfg.cpus.len());
    if restart {
        restart_vm(vm, host, reason, asking);
    } else {
        halt_vm(vm, host, reason, asking);
    }
    Next::Park
}

/// Stops the VM for `reason` (`me`: the asking vCPU of this VM, if one asks), and
/// waits (bounded) for its vCPUs to acknowledge.
#[cold]
#[inline(never)]
fn halt_vm<C>(vm: &VmCtx<'_, C>, host: &impl Host, reason: StopReason, me: Option<VcpuId>) {
    host.vm_quiesce(vm.id);
    if let Some(st) = vm.life.stop(reason) {
        kick_all(vm, host, st.kicks, me);
        if st.done {
            host.vm_stopped(vm.id, reason, false);
        }
    }
    settle(vm, host, me);
}

/// The asking vCPU (if any) acknowledges at once, being out of guest code; then the
/// others get a bounded time to do the same.
fn settle<C>(vm: &VmCtx<'_, C>, host: &impl Host, me: Option<VcpuId>) {
    if let Some(me) = me {
        vcpu_parked(me, vm, host);
    }
    if !vm.life.settled() {
        host.settle(vm.id);
    }
}

/// Restarts the VM for `reason`: it boots again from its images once every vCPU has
/// acknowledged. `false` when the VM is unresponsive (it is not restarted).
#[cold]
#[inline(never)]
fn restart_vm<C>(
    vm: &VmCtx<'_, C>,
    host: &impl Host,
    reason: StopReason,
    me: Option<VcpuId>,
) -> bool {
    let (entry, dtb) = (vm.cfg.entry.raw(), vm.cfg.dtb_ipa.raw());
    host.vm_quiesce(vm.id);
    let Some(st) = vm.life.restart(reason, entry, dtb) else {
        // Unresponsive, or a stop in progress that only the shell may turn into a
        // restart: not restarted. The asking vCPU still stops.
        settle(vm, host, me);
        return false;
    };
    vm.console.lock().line.clear();
    if st.was_stopped {
        host.vm_started(vm.id);
    } else {
        host.vm_restarting(vm.id, reason);
    }
    kick_all(vm, host, st.kicks, me);
    settle(vm, host, me);
    true
}

/// Shell `vm stop`: stops the VM whatever its restart policy.
pub fn shell_stop<C>(vm: &VmCtx<'_, C>, host: &impl Host) {
    halt_vm(vm, host, StopReason::Shell, None);
}

/// Shell `vm start`: boots a stopped VM from its images.
pub fn shell_start<C>(vm: &VmCtx<'_, C>, host: &impl Host) {
    let (entry, dtb) = (vm.cfg.entry.raw(), vm.cfg.dtb_ipa.raw());
    if let Some(kicks) = vm.life.boot(vm.cfg.cpus.len(), entry, dtb) {
        host.vm_started(vm.id);
        kick_all(vm, host, kicks, None);
    }
}

/// Shell `vm restart`: restarts the VM from its images; `false` when it is
/// unresponsive.
pub fn shell_restart<C>(vm: &VmCtx<'_, C>, host: &impl Host) -> bool {
    restart_vm(vm, host, StopReason::Shell, None)
}

/// The physical CPU of vCPU `me` parked: its acknowledgement of a stop or restart.
/// Reports a stop it completes; kicks vCPU 0 of a restart it completes.
pub fn vcpu_parked<C>(me: VcpuId, vm: &VmCtx<'_, C>, host: &impl Host) {
    match vm.life.parked(me) {
        Parked::Nothing => {}
        done => completed(done, Some(me), vm, host),
    }
}

/// Reports a stop or restart that every vCPU has now acknowledged (`me`: the vCPU
/// whose CPU completed it, if one did).
pub fn completed<C>(done: Parked, me: Option<VcpuId>, vm: &VmCtx<'_, C>, host: &impl Host) {
    match done {
        Parked::Nothing => {}
        Parked::Stopped { reason, late } => host.vm_stopped(vm.id, reason, late),
        Parked::Restart(kicks) => kick_all(vm, host, kicks, me),
    }
}

/// Kicks the vCPUs in `kicks`, but `except`.
pub(super) fn kick_all<C>(
    vm: &VmCtx<'_, C>,
    host: &impl Host,
    kicks: Kicks,
    except: Option<VcpuId>,
) {
    for v in kicks.iter().filter(|&v| Some(v) != except) {
        host.kick(vm.id, v);
    }
}

/// What the hypervisor does once its last running VM has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoneRunning {
    /// A shell runs: the hypervisor stays up, and `vm start` boots a VM again.
    StayUp,
    /// Nothing could start a VM again: the machine powers off.
    PowerOff,
}

impl NoneRunning {
    /// The choice for a machine with (`true`) or without a shell.
    pub const fn with_shell(shell: bool) -> Self {
        if shell {
            Self::StayUp
        } else {
            Self::PowerOff
        }
    }

    /// What the hypervisor says (before it powers off).
    pub const fn message(self) -> &'static str {
        match self {
            Self::StayUp => "no VM is running; the shell stays up (`vm start NAME` boots one)",
            Self::PowerOff => "all VMs stopped and this image has no shell: powering off",
        }
    }
}
