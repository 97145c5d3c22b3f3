//! The arch-neutral exit handler: one function from a [`VcpuExit`] to what the physical
//! CPU does next. Guest mistakes get the architectural answer (a fault injected, a call
//! answered NOT_SUPPORTED, through [`ArchVcpu`]); only an exit that leaves the guest in
//! an unknown state stops the VM. Nothing here panics on guest input or allocates.
//! The lifecycle (stop, restart, the acknowledged stop) is in `life.rs`.

pub use crate::console::Console;
use crate::devices;
use crate::exit::{RegClass, VcpuExit};
use crate::hypercall::{self, Hypercall};
use crate::ids::{VcpuId, VmId};
use crate::mmio::{self, Region};
use crate::pio::{self, PortRange};
use crate::seam::{ArchVcpu, CallError, Fault, IrqChip, Reply};
use crate::sync::Mutex;
use crate::vm::{StopReason, VmLife};
use rtvisor_addr::Ipa;
use rtvisor_config::tables::VmConfig;
use rtvisor_vdev::{MmioError, Width};

mod life;

pub use life::{
    completed, shell_restart, shell_start, shell_stop, stop_vm, vcpu_parked, NoneRunning,
};

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
    /// VM `vm` is about to stop or restart: take its devices and watchdog back. Called
    /// before the new state is published, so nothing of this reaches the next instance
    /// (its vCPUs may still run until they park).
    fn vm_quiesce(&self, vm: VmId);
    /// VM `vm` stopped for `reason`: every vCPU acknowledged (log it; when it was the
    /// last running VM, stay up if a shell runs, else power off:
    /// [`NoneRunning`]). `late` when it had been reported unresponsive.
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
    /// VM `vm` rings the doorbell of shared-memory region `index`: raise its doorbell
    /// interrupt in every other peer. `false` when `vm` is not a peer of it.
    fn ring(&self, vm: VmId, index: u64) -> bool;
    /// Whether any VM of the image shares memory, so that doorbells can ring. A
    /// constant of the image: without shared memory, the doorbell GPIO is in no
    /// guest's device tree, reads as zero and ignores writes, and its model's code
    /// is not in the image.
    fn doorbells(&self) -> bool {
        true
    }
    /// Arms VM `vm`'s watchdog for `ms` milliseconds from now (0 disarms); vCPU `me`
    /// made the call.
    fn watchdog_arm(&self, vm: VmId, me: VcpuId, ms: u64);
    /// Pushes VM `vm`'s watchdog deadline out by its timeout; `false` when not armed.
    fn watchdog_kick(&self, vm: VmId, me: VcpuId) -> bool;
    /// vCPU `me` of VM `vm` opens (`close` false) or closes a measurement window on
    /// its CPU ([`crate::account`]); closing reports what the hypervisor did there in
    /// between. Without accounting (the default), nothing happens.
    fn el2_window(&self, vm: VmId, me: VcpuId, close: bool) {
        let _ = (vm, me, close);
    }
    /// An access of width `w` at offset `off` of VM `vm`'s CFI flash: a read (`value`
    /// is `None`) answers its value, a write `value`; an error refuses it (a bus
    /// fault). Without a flash (the default), every access is refused.
    fn flash(&self, vm: VmId, off: u64, w: Width, value: Option<u64>) -> Result<u64, MmioError> {
        let _ = (vm, off, w, value);
        Err(MmioError::NoRegister)
    }
    /// An access of VM `vm`'s PC device `kind` (the 8254 PIT, port B, the RTC) at
    /// offset `off` of its ports, as for [`Host::flash`]. Without them (the default),
    /// every access is refused.
    fn pc_device(
        &self,
        vm: VmId,
        kind: mmio::DeviceKind,
        off: u64,
        w: Width,
        value: Option<u64>,
    ) -> Result<u64, MmioError> {
        let _ = (vm, kind, off, w, value);
        Err(MmioError::NoRegister)
    }
}

/// A guest mistake the hypervisor answered without stopping the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contained {
    /// A data access outside the VM's map, or one its device refused: bus fault.
    BadAccess(Ipa),
    /// An instruction fetch outside the VM's map: fault injected.
    BadFetch(Ipa),
    /// An I/O port nothing answers (or whose device refuses the access): a load
    /// reads all ones, a store is dropped.
    BadPort(u16),
    /// A trapped register the guest may not use (the backend's number): fault injected.
    RefusedRegister(u32),
    /// A write to a register the guest may not change (the backend's number, e.g. an
    /// active-priority register of the physical GIC): ignored.
    IgnoredRegister(u32),
    /// A call that does not exist (the backend's function id): NOT_SUPPORTED.
    UnknownCall(u64),
    /// An rtvisor hypercall number that does not exist: NOT_SUPPORTED.
    UnknownHypercall(u64),
    /// A doorbell-page write naming a region the VM is no peer of: ignored.
    BadDoorbell(u64),
    /// An interrupt routed to a CPU that is not the VM's: ignored.
    BadRoute(u32),
}

impl Contained {
    /// The kind's name and its number (address, port, register, id or INTID).
    pub fn parts(self) -> (&'static str, u64) {
        match self {
            Self::BadAccess(ipa) => ("BadAccess", ipa.raw()),
            Self::BadFetch(ipa) => ("BadFetch", ipa.raw()),
            Self::BadPort(port) => ("BadPort", u64::from(port)),
            Self::RefusedRegister(id) => ("RefusedRegister", u64::from(id)),
            Self::IgnoredRegister(id) => ("IgnoredRegister", u64::from(id)),
            Self::UnknownCall(id) => ("UnknownCall", id),
            Self::UnknownHypercall(nr) => ("UnknownHypercall", nr),
            Self::BadDoorbell(v) => ("BadDoorbell", v),
            Self::BadRoute(intid) => ("BadRoute", u64::from(intid)),
        }
    }
}

/// `Kind(0x..)`: the diagnostic form (no `Debug` machinery in the image).
impl core::fmt::Display for Contained {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (name, v) = self.parts();
        write!(f, "{name}({v:#x})")
    }
}

/// Everything the handler needs about the VM that exited; `C` is its interrupt
/// controller.
#[derive(Debug)]
pub struct VmCtx<'a, C> {
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
    /// Its emulated I/O port ranges, sorted by first port (x86_64; empty on aarch64).
    pub ports: &'a [PortRange],
    /// Its interrupt controller.
    pub chip: &'a C,
    /// Its doorbell GPIO.
    pub gpio: &'a crate::gpio::DoorbellGpio,
    /// The CPU id each vCPU reads as its own (index = vCPU; aarch64: the MPIDR
    /// affinity, its index in virtual mode, the core's in direct mode), as the
    /// backend compares a guest's CPU-on and CPU-state targets.
    pub cpu_ids: &'a [u64],
}

impl<C> VmCtx<'_, C> {
    /// The vCPU a guest's CPU id names.
    pub fn vcpu_of(&self, cpu_id: u64) -> Option<VcpuId> {
        self.cpu_ids
            .iter()
            .position(|&c| c == cpu_id)
            .map(VcpuId::new)
    }

    /// The interrupt line of the VM's emulated device of `kind` (in memory or in the
    /// port space), if it has one.
    pub fn line_of(&self, kind: mmio::DeviceKind) -> Option<u32> {
        match self.regions.iter().find(|r| r.kind == kind) {
            Some(r) => r.line,
            None => self.ports.iter().find(|r| r.kind == kind)?.line,
        }
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

/// Handles one exit of vCPU `me` of `vm`; answers it through `vcpu`.
///
/// A vCPU its VM no longer runs (stopping, stopped, restarting: another CPU switched
/// it off and kicked it) parks on whatever exit brought it here, and nothing it asked
/// for happens: no emulation, no call, no second stop.
pub fn handle_exit<C: IrqChip>(
    me: VcpuId,
    vcpu: &mut impl ArchVcpu,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
    exit: VcpuExit,
) -> Next {
    if !vm.life.should_run(me) {
        return Next::Park;
    }
    match exit {
        VcpuExit::CpuOn { target, entry, arg } => {
            let r = cpu_on(vm, host, target, entry, arg);
            vcpu.set_return(r.map(|()| Reply::Value(0)));
        }
        VcpuExit::CpuState { target } => {
            let r = vm.vcpu_of(target).ok_or(CallError::InvalidParameters);
            vcpu.set_return(r.and_then(|t| vm.life.cpu_state(t)).map(Reply::Power));
        }
        VcpuExit::CpuOff => {
            if vm.life.cpu_off(me) {
                return stop_vm(Some(me), vm, host, StopReason::AllVcpusOff);
            }
            return Next::Park;
        }
        VcpuExit::SystemOff => return stop_vm(Some(me), vm, host, StopReason::SystemOff),
        VcpuExit::SystemReset => return stop_vm(Some(me), vm, host, StopReason::SystemReset),
        VcpuExit::Hypercall { nr, args } => {
            let r = rtvisor_call(me, hypercall::decode(nr, args), vm, host);
            vcpu.set_return(r.map(Reply::Value));
        }
        VcpuExit::UnknownCall { id } => {
            host.contained(vm.id, Contained::UnknownCall(id));
            vcpu.set_return(Err(CallError::NotSupported));
        }
        VcpuExit::Mmio {
            addr,
            width,
            write,
            value,
        } => {
            let value = write.then_some(value);
            let done = mmio::find(vm.regions, addr).and_then(|(r, off)| {
                devices::emulate(me, r.device(), off, width, value, vm, host).ok()
            });
            match done {
                Some(loaded) => {
                    if let (Some(v), false) = (loaded, write) {
                        vcpu.complete_load(v);
                    }
                    vcpu.skip();
                }
                None => {
                    host.contained(vm.id, Contained::BadAccess(addr));
                    vcpu.inject(Fault::Bus { write });
                }
            }
        }
        VcpuExit::MemFault { addr, write } => {
            host.contained(vm.id, Contained::BadAccess(addr));
            vcpu.inject(Fault::Bus { write });
        }
        VcpuExit::FetchFault { addr } => {
            host.contained(vm.id, Contained::BadFetch(addr));
            vcpu.inject(Fault::Fetch);
        }
        VcpuExit::Pio {
            port,
            width,
            write,
            value,
        } => {
            let value = write.then_some(value);
            let done = pio::find(vm.ports, port).and_then(|(r, off)| {
                devices::emulate(me, r.device(), off, width, value, vm, host).ok()
            });
            // A port nothing answers (or whose device refuses the access) is an empty
            // PC bus: a load reads all ones, a store goes nowhere.
            let loaded = done.unwrap_or_else(|| {
                host.contained(vm.id, Contained::BadPort(port));
                value.is_none().then_some(width.mask())
            });
            if let (Some(v), false) = (loaded, write) {
                vcpu.complete_load(v);
            }
            vcpu.skip();
        }
        VcpuExit::SysReg {
            id,
            class,
            write,
            value,
        } => sys_reg(me, id, class, write.then_some(value), vcpu, vm, host),
        VcpuExit::Halt => vcpu.skip(),
        // Only interrupts for the guest, or a kick that changed nothing for this vCPU.
        VcpuExit::Interrupt => {}
        VcpuExit::Fatal { what, code } => {
            return stop_vm(Some(me), vm, host, StopReason::Fatal { what, code })
        }
    }
    Next::Resume
}

/// One of rtvisor's own hypercalls (see [`hypercall`]).
fn rtvisor_call<C>(
    me: VcpuId,
    hc: Hypercall,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) -> Result<u64, CallError> {
    match hc {
        Hypercall::Version => Ok(hypercall::VERSION),
        Hypercall::Ring(index) if host.ring(vm.id, index) => Ok(0),
        Hypercall::Ring(_) => Err(CallError::InvalidParameters),
        Hypercall::WatchdogArm(ms) => {
            host.watchdog_arm(vm.id, me, hypercall::watchdog_timeout(ms)?);
            Ok(0)
        }
        Hypercall::WatchdogKick if host.watchdog_kick(vm.id, me) => Ok(0),
        Hypercall::WatchdogKick => Err(CallError::Denied),
        Hypercall::El2Window(close) => {
            host.el2_window(vm.id, me, close);
            Ok(0)
        }
        Hypercall::Unknown(nr) => {
            host.contained(vm.id, Contained::UnknownHypercall(nr));
            Err(CallError::NotSupported)
        }
    }
}

/// Starts the vCPU the guest's CPU id `target` names at `entry`, which must be in the
/// VM's RAM.
fn cpu_on<C>(
    vm: &VmCtx<'_, C>,
    host: &impl Host,
    target: u64,
    entry: u64,
    arg: u64,
) -> Result<(), CallError> {
    let t = vm.vcpu_of(target).ok_or(CallError::InvalidParameters)?;
    if vm.cfg.ram.translate(Ipa::new(entry), 4).is_none() {
        return Err(CallError::InvalidAddress);
    }
    let kicks = vm.life.cpu_on(t, entry, arg)?;
    life::kick_all(vm, host, kicks, None);
    Ok(())
}

/// A trapped system register or MSR, as its class says; `value` is what a write
/// writes.
fn sys_reg<C: IrqChip>(
    me: VcpuId,
    id: u32,
    class: RegClass,
    value: Option<u64>,
    vcpu: &mut impl ArchVcpu,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) {
    let answer = match class {
        RegClass::IrqChip => vm.chip.register(vm, host, me, id, value),
        RegClass::Ignored => Ok(Some(0)),
        RegClass::Refused => Err(crate::seam::Refused),
    };
    match answer {
        Ok(loaded) => {
            if value.is_none() {
                vcpu.complete_load(loaded.unwrap_or(0));
            }
            vcpu.skip();
        }
        Err(_) => {
            host.contained(vm.id, Contained::RefusedRegister(id));
            vcpu.inject(Fault::Undefined);
        }
    }
}

#[cfg(test)]
mod tests;
