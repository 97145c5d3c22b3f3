//! The arch-neutral exit handler: one function from a [`VcpuExit`] to what the physical
//! CPU does next. Guest mistakes get the architectural answer (an injected abort or
//! Undefined Instruction, SMCCC NOT_SUPPORTED); only an exit that leaves the guest in
//! an unknown state stops the VM. Nothing here panics on guest input or allocates.

use crate::console::{InputRing, LineBuf};
use crate::devices;
use crate::exit::{Conduit, SysRegAccess, VcpuExit};
use crate::hypercall::{self, Hypercall};
use crate::ids::{VcpuId, VmId};
use crate::mmio::{self, Region};
use crate::psci::{self, Call, PsciError};
use crate::sync::Mutex;
use crate::sysreg::{self, CpuIfReg, Policy};
use crate::vcpu::VcpuRegs;
use crate::vm::{Kicks, Parked, StopReason, VmLife};
use rtvisor_addr::Ipa;
use rtvisor_config::tables::{DirectTrust, InterruptMode, RestartPolicy, VmConfig};
use rtvisor_vdev::pl011::Pl011;
use rtvisor_vdev::pl061::Pl061;
use rtvisor_vdev::vgic::{Notify, VGic};
use rtvisor_vdev::{gicpass, Width};

/// What the hypervisor around the handler provides.
pub trait Host {
    /// Make the physical CPU of vCPU `vcpu` of VM `vm` look at its state again.
    fn kick(&self, vm: VmId, vcpu: VcpuId);
    /// Print one complete console line of VM `vm`.
    fn console_line(&self, vm: VmId, line: &[u8]);
    /// Whether VM `vm` has the console input: then its partial line is shown as it
    /// grows (a prompt, typed characters), through [`Host::console_partial`].
    fn console_live(&self, vm: VmId) -> bool;
    /// The partial line of VM `vm` is now `pending` (it has the console input).
    fn console_partial(&self, vm: VmId, pending: &[u8]);
    /// VM `vm` is stopping for `reason` (take its devices and watchdog back); its
    /// vCPUs have been asked to park.
    fn vm_stopping(&self, vm: VmId, reason: StopReason);
    /// VM `vm` stopped for `reason`: every vCPU acknowledged (log it; when it was the
    /// last running VM, stay up if a shell runs, else power off:
    /// [`crate::shell::NoneRunning`]). `late` when it had been reported unresponsive.
    fn vm_stopped(&self, vm: VmId, reason: StopReason, late: bool);
    /// Waits, for a bounded time, until VM `vm`'s vCPUs have acknowledged a stop or
    /// restart; reports the VM unresponsive ([`VmLife::give_up`]) when they do not.
    fn settle(&self, vm: VmId);
    /// VM `vm` was started (by the shell) after being stopped.
    fn vm_started(&self, vm: VmId);
    /// VM `vm` is restarting after `reason`.
    fn vm_restarting(&self, vm: VmId, reason: StopReason);
    /// A contained guest fault or refused access, for the debug log.
    fn contained(&self, vm: VmId, what: Contained);
    /// The vGIC of VM `vm` changed, as `notify` says (vCPU `me`, if any, made it): the
    /// vCPUs it names must refresh their list registers before running guest code
    /// again, and HW-linked interrupts whose guest enable changed follow physically.
    fn vgic_changed(&self, vm: VmId, me: Option<VcpuId>, notify: &Notify);
    /// Direct mode: reads `width` at `off` of the physical distributor (`redist` is
    /// `None`) or of the physical redistributor of the VM's vCPU `redist`.
    fn gic_hw_read(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width) -> u64;
    /// Direct mode: sends physical Group-1 SGI `sgi` to the core of the VM's vCPU `vcpu`.
    fn send_sgi(&self, vm: VmId, vcpu: VcpuId, sgi: u32);
    /// Direct mode: the matching write.
    fn gic_hw_write(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width, value: u64);
    /// VM `vm` rings the doorbell of shared-memory region `index`: raise its doorbell
    /// interrupt in every other peer. `false` when `vm` is not a peer of it.
    fn ring(&self, vm: VmId, index: u64) -> bool;
    /// Arms VM `vm`'s watchdog for `ms` milliseconds from now (0 disarms); vCPU `me`
    /// made the call.
    fn watchdog_arm(&self, vm: VmId, me: VcpuId, ms: u64);
    /// Pushes VM `vm`'s watchdog deadline out by its timeout; `false` when not armed.
    fn watchdog_kick(&self, vm: VmId, me: VcpuId) -> bool;
    /// Untrusted direct mode: reads (`write` is `None`) or writes the physical Group-1
    /// CPU interface register `reg` of this CPU for the guest.
    fn cpu_interface(&self, reg: CpuIfReg, write: Option<u64>) -> u64;
}

/// A guest mistake the hypervisor answered without stopping the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contained {
    /// Data access outside the VM's map: abort injected.
    DataAbort(Ipa),
    /// Instruction fetch outside the VM's map: abort injected.
    InstructionAbort(Ipa),
    /// A trapped system register: Undefined Instruction injected.
    UndefSysReg(&'static str),
    /// An SMCCC function that does not exist: NOT_SUPPORTED returned.
    UnknownCall(u32),
    /// A doorbell-page write naming a region the VM is no peer of: ignored.
    BadDoorbell(u64),
    /// Direct mode: a GICD_IROUTER write routing the VM's SPI to a core that is not
    /// the VM's: ignored.
    BadRoute(u32),
    /// An untrusted direct-mode guest wrote a CPU interface register it may not
    /// change (active priorities, binary point): ignored.
    IgnoredSysReg(CpuIfReg),
}

/// The emulated console of a VM: the PL011 model and the line being assembled.
#[derive(Debug)]
pub struct Console {
    /// The device model.
    pub uart: Pl011,
    /// The partial output line.
    pub line: LineBuf,
    /// Typed input the UART has no room for yet.
    pub input: InputRing,
}

impl Console {
    /// A console in reset state.
    pub const fn new() -> Self {
        Self {
            uart: Pl011::new(),
            line: LineBuf::new(),
            input: InputRing::new(),
        }
    }

    /// Moves waiting input into the UART while it has room.
    pub fn refill(&mut self) {
        while let Some(b) = self.input.peek() {
            if !self.uart.receive(b) {
                break;
            }
            self.input.pop();
        }
    }

    /// Back to reset state (VM restart): the UART, the partial line, waiting input.
    pub fn reset(&mut self) {
        self.uart.reset();
        self.line.clear();
        self.input.clear();
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the handler needs about the VM that exited.
#[derive(Debug)]
pub struct VmCtx<'a> {
    /// The VM.
    pub id: VmId,
    /// Static configuration.
    pub cfg: &'static VmConfig,
    /// Lifecycle state.
    pub life: &'a VmLife,
    /// Its console.
    pub console: &'a Mutex<Console>,
    /// Its emulated regions, sorted by base.
    pub regions: &'a [Region],
    /// Its virtual GIC (the model; unused in direct mode but for reset).
    pub gic: &'a Mutex<VGic>,
    /// Its doorbell GPIO.
    pub gpio: &'a Mutex<Pl061>,
    /// The MPIDR affinity each vCPU sees (index = vCPU): its index in virtual mode, the
    /// core's real MPIDR in direct mode.
    pub mpidrs: &'a [u64],
}

impl VmCtx<'_> {
    /// The vCPU a guest MPIDR names (PSCI targets).
    pub fn vcpu_of(&self, mpidr: u64) -> Option<VcpuId> {
        psci::vcpu_of_mpidr(self.mpidrs, mpidr).map(VcpuId::new)
    }
}

/// What the physical CPU does after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Return to the guest.
    Resume,
    /// The vCPU is off: park this CPU until it is started again.
    Park,
}

/// Handles one exit of vCPU `me` of `vm`.
///
/// A vCPU its VM no longer runs (stopping, stopped, restarting: another CPU switched
/// it off and kicked it) parks on whatever exit brought it here, and nothing it asked
/// for happens: no emulation, no PSCI, no second stop.
pub fn handle_exit(
    me: VcpuId,
    regs: &mut impl VcpuRegs,
    vm: &VmCtx<'_>,
    host: &impl Host,
    exit: VcpuExit,
) -> Next {
    if !vm.life.should_run(me) {
        return Next::Park;
    }
    match exit {
        VcpuExit::Call { conduit, imm } => {
            if conduit == Conduit::Smc {
                regs.skip_instruction();
            }
            if imm != 0 {
                regs.set_reg(0, PsciError::NotSupported.to_x0());
                return Next::Resume;
            }
            call(me, regs, vm, host)
        }
        VcpuExit::DataAbort {
            ipa,
            far,
            access,
            write,
        } => {
            match (mmio::find(vm.regions, ipa), access) {
                (Some((kind, off)), Some(acc))
                    if devices::emulate(me, kind, off, &acc, regs, vm, host) =>
                {
                    regs.skip_instruction();
                }
                _ => {
                    host.contained(vm.id, Contained::DataAbort(ipa));
                    regs.inject_data_abort(far, write);
                }
            }
            Next::Resume
        }
        VcpuExit::InstructionAbort { ipa, far } => {
            host.contained(vm.id, Contained::InstructionAbort(ipa));
            regs.inject_instruction_abort(far);
            Next::Resume
        }
        VcpuExit::SysReg(acc) => {
            sys_reg(me, acc, regs, vm, host);
            Next::Resume
        }
        VcpuExit::Wfx => {
            regs.skip_instruction();
            Next::Resume
        }
        // Only interrupts for the guest, or a kick that changed nothing for this vCPU.
        VcpuExit::Interrupt => Next::Resume,
        VcpuExit::SError { syndrome } => stop_vm(Some(me), vm, host, StopReason::SError(syndrome)),
        VcpuExit::Unknown { syndrome } => {
            stop_vm(Some(me), vm, host, StopReason::UnhandledExit(syndrome))
        }
    }
}

fn call(me: VcpuId, regs: &mut impl VcpuRegs, vm: &VmCtx<'_>, host: &impl Host) -> Next {
    if let Some(v) = psci::stateless(regs.reg(0), regs.reg(1)) {
        regs.set_reg(0, v);
        return Next::Resume;
    }
    if let Some(hc) = hypercall::decode(regs.reg(0), regs.reg(1)) {
        let ret = rtvisor_call(me, hc, vm, host);
        regs.set_reg(0, ret.unwrap_or_else(PsciError::to_x0));
        return Next::Resume;
    }
    let decoded = psci::decode(regs.reg(0), regs.reg(1), regs.reg(2), regs.reg(3));
    let ret: Result<u64, PsciError> = match decoded {
        Call::CpuOn {
            target,
            entry,
            context,
        } => cpu_on(vm, host, target, entry, context),
        Call::AffinityInfo { target, level } => match (level, vm.vcpu_of(target)) {
            (0, Some(t)) => vm.life.affinity_info(t),
            _ => Err(PsciError::InvalidParameters),
        },
        Call::CpuOff => {
            if vm.life.cpu_off(me) {
                return stop_vm(Some(me), vm, host, StopReason::AllVcpusOff);
            }
            return Next::Park;
        }
        Call::SystemOff => return stop_vm(Some(me), vm, host, StopReason::SystemOff),
        Call::SystemReset => return stop_vm(Some(me), vm, host, StopReason::SystemReset),
        Call::Unknown(fid) => {
            host.contained(vm.id, Contained::UnknownCall(fid));
            Err(PsciError::NotSupported)
        }
        // Answered by `psci::stateless` above.
        Call::Version
        | Call::Features(_)
        | Call::SmcccVersion
        | Call::SmcccArchFeatures(_)
        | Call::MigrateInfoType => Err(PsciError::NotSupported),
    };
    regs.set_reg(0, ret.unwrap_or_else(PsciError::to_x0));
    Next::Resume
}

/// One of rtvisor's own hypercalls (see [`hypercall`]).
fn rtvisor_call(
    me: VcpuId,
    hc: Hypercall,
    vm: &VmCtx<'_>,
    host: &impl Host,
) -> Result<u64, PsciError> {
    match hc {
        Hypercall::Version => Ok(hypercall::VERSION),
        Hypercall::Ring(index) if host.ring(vm.id, index) => Ok(0),
        Hypercall::Ring(_) => Err(PsciError::InvalidParameters),
        Hypercall::WatchdogArm(ms) => {
            host.watchdog_arm(vm.id, me, hypercall::watchdog_timeout(ms)?);
            Ok(0)
        }
        Hypercall::WatchdogKick if host.watchdog_kick(vm.id, me) => Ok(0),
        Hypercall::WatchdogKick => Err(PsciError::Denied),
        Hypercall::Unknown(fid) => {
            host.contained(vm.id, Contained::UnknownCall(fid));
            Err(PsciError::NotSupported)
        }
    }
}

fn cpu_on(
    vm: &VmCtx<'_>,
    host: &impl Host,
    target: u64,
    entry: u64,
    ctx: u64,
) -> Result<u64, PsciError> {
    let t = vm.vcpu_of(target).ok_or(PsciError::InvalidParameters)?;
    if vm.cfg.ram.translate(Ipa::new(entry), 4).is_none() {
        return Err(PsciError::InvalidAddress);
    }
    let kicks = vm.life.cpu_on(t, entry, ctx)?;
    kick_all(vm, host, kicks, None);
    Ok(0)
}

/// Stops or restarts the VM after `reason`, per its restart policy, from vCPU `me`
/// (`None` when no vCPU of this VM asks, e.g. a watchdog on another CPU).
#[cold]
#[inline(never)]
pub fn stop_vm(me: Option<VcpuId>, vm: &VmCtx<'_>, host: &impl Host, reason: StopReason) -> Next {
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
fn halt_vm(vm: &VmCtx<'_>, host: &impl Host, reason: StopReason, me: Option<VcpuId>) {
    if let Some(st) = vm.life.stop(reason) {
        host.vm_stopping(vm.id, reason);
        kick_all(vm, host, st.kicks, me);
        if st.done {
            host.vm_stopped(vm.id, reason, false);
        }
    }
    settle(vm, host, me);
}

/// The asking vCPU (if any) acknowledges at once, being out of guest code; then the
/// others get a bounded time to do the same.
fn settle(vm: &VmCtx<'_>, host: &impl Host, me: Option<VcpuId>) {
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
fn restart_vm(vm: &VmCtx<'_>, host: &impl Host, reason: StopReason, me: Option<VcpuId>) -> bool {
    let was_stopped = vm.life.status().0 == crate::vm::VmState::Stopped;
    let (entry, dtb) = (vm.cfg.entry.raw(), vm.cfg.dtb_ipa.raw());
    let Some(st) = vm.life.restart(reason, entry, dtb) else {
        // Unresponsive: not restarted. The asking vCPU still stops.
        settle(vm, host, me);
        return false;
    };
    vm.console.lock().line.clear();
    if was_stopped {
        host.vm_started(vm.id);
    } else {
        host.vm_restarting(vm.id, reason);
    }
    kick_all(vm, host, st.kicks, me);
    settle(vm, host, me);
    true
}

/// Shell `vm stop`: stops the VM whatever its restart policy.
pub fn shell_stop(vm: &VmCtx<'_>, host: &impl Host) {
    halt_vm(vm, host, StopReason::Shell, None);
}

/// Shell `vm start`: boots a stopped VM from its images.
pub fn shell_start(vm: &VmCtx<'_>, host: &impl Host) {
    let (entry, dtb) = (vm.cfg.entry.raw(), vm.cfg.dtb_ipa.raw());
    if let Some(kicks) = vm.life.boot(vm.cfg.cpus.len(), entry, dtb) {
        host.vm_started(vm.id);
        kick_all(vm, host, kicks, None);
    }
}

/// Shell `vm restart`: restarts the VM from its images; `false` when it is
/// unresponsive.
pub fn shell_restart(vm: &VmCtx<'_>, host: &impl Host) -> bool {
    restart_vm(vm, host, StopReason::Shell, None)
}

/// The physical CPU of vCPU `me` parked: its acknowledgement of a stop or restart.
/// Reports a stop it completes; kicks vCPU 0 of a restart it completes.
pub fn vcpu_parked(me: VcpuId, vm: &VmCtx<'_>, host: &impl Host) {
    match vm.life.parked(me) {
        Parked::Nothing => {}
        Parked::Stopped { late } => {
            let reason = vm.life.status().2.unwrap_or(StopReason::Shell);
            host.vm_stopped(vm.id, reason, late);
        }
        Parked::Restart(kicks) => kick_all(vm, host, kicks, Some(me)),
    }
}

fn kick_all(vm: &VmCtx<'_>, host: &impl Host, kicks: Kicks, except: Option<VcpuId>) {
    for v in kicks.iter().filter(|&v| Some(v) != except) {
        host.kick(vm.id, v);
    }
}

fn sys_reg(
    me: VcpuId,
    acc: SysRegAccess,
    regs: &mut impl VcpuRegs,
    vm: &VmCtx<'_>,
    host: &impl Host,
) {
    match sysreg::policy(acc.reg) {
        (Policy::RazWi, _) => {
            if acc.read {
                regs.set_reg(acc.rt, 0);
            }
            regs.skip_instruction();
        }
        (Policy::SendSgi, _) => {
            let value = regs.reg(acc.rt);
            match (acc.read, vm.cfg.interrupt_mode) {
                (true, _) => regs.set_reg(acc.rt, 0),
                (false, InterruptMode::Virtual) => {
                    let notify = vm.gic.lock().send_sgi(me.index(), value);
                    host.vgic_changed(vm.id, Some(me), &notify);
                }
                (false, InterruptMode::Direct) => {
                    // Physical SGIs, but only to this VM's own cores.
                    let (targets, sgi) =
                        gicpass::sgi_targets(value, me.index(), vm.mpidrs, devices::RESERVED_SGIS);
                    for v in (0..vm.mpidrs.len()).filter(|v| targets & (1 << v) != 0) {
                        host.send_sgi(vm.id, VcpuId::new(v), sgi);
                    }
                }
            }
            regs.skip_instruction();
        }
        (Policy::CpuIf, name) => cpu_interface(name, acc, regs, vm, host),
        (Policy::Undef, name) => {
            host.contained(vm.id, Contained::UndefSysReg(name));
            regs.inject_undef();
        }
    }
}

/// An untrusted direct-mode guest's access to a Group-1 CPU interface register, done
/// on its behalf (writes that could raise its running priority are dropped); in any
/// other mode these registers do not trap, and an access that does is undefined. Kept
/// out of line: the SGI register shares the caller, on the IPI path.
#[cold]
#[inline(never)]
fn cpu_interface(
    name: &'static str,
    acc: SysRegAccess,
    regs: &mut impl VcpuRegs,
    vm: &VmCtx<'_>,
    host: &impl Host,
) {
    let untrusted = vm.cfg.interrupt_mode == InterruptMode::Direct
        && vm.cfg.direct_trust == DirectTrust::Untrusted;
    let Some(reg) = CpuIfReg::of(acc.reg).filter(|_| untrusted) else {
        host.contained(vm.id, Contained::UndefSysReg(name));
        regs.inject_undef();
        return;
    };
    let value = (!acc.read).then(|| regs.reg(acc.rt));
    match value {
        Some(_) if !reg.writable() => host.contained(vm.id, Contained::IgnoredSysReg(reg)),
        _ => {
            let v = host.cpu_interface(reg, value);
            if acc.read {
                regs.set_reg(acc.rt, v);
            }
        }
    }
    regs.skip_instruction();
}

#[cfg(test)]
mod tests;
