//! Run-time state of each VM, next to its static configuration.

use crate::backend::{Arch, Backend, Chip, Stage2Table};
use crate::config::{CONFIG, CONFIG_VM_COUNT};
use crate::percpu;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use rtvisor_config::contract::{count_in, Space};
use rtvisor_config::tables::VmConfig;
use rtvisor_core::console::UartModel;
use rtvisor_core::gpio::DoorbellGpio;
use rtvisor_core::handler::NoneRunning;
use rtvisor_core::handler::{Console, VmCtx};
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::mmio::{self, Region};
use rtvisor_core::pio::{self, PortRange};
use rtvisor_core::sync::Mutex;
use rtvisor_core::vm::{VmLife, MAX_VCPUS};

/// Emulated devices of every VM in memory, and on I/O ports (the backend's part of
/// the machine contract).
const DEVICES: usize = count_in(Arch::DEVICES, Space::Mmio);
const PORTS: usize = count_in(Arch::DEVICES, Space::Io);

/// One VM's run-time state.
#[derive(Debug)]
pub struct VmRt {
    /// Lifecycle and vCPU power states.
    pub life: VmLife,
    /// Emulated console.
    pub console: Mutex<Console>,
    /// Its interrupt controller.
    pub chip: Chip,
    /// Its doorbell GPIO.
    pub gpio: DoorbellGpio,
    /// Its second-stage translation (built once at boot).
    pub stage2: spin::Once<Stage2Table>,
    /// The counter offset of all its vCPUs, set at each (re)start: 0, or with
    /// `counter-offset = "vm-start"` the clock then, so its guests' counter starts
    /// near zero.
    pub counter_offset: AtomicU64,
    /// What the exit handler's context needs beyond the configuration, computed once
    /// (after boot has read every CPU's hardware id): every exit uses it.
    fixed: spin::Once<Fixed>,
}

/// The parts of a VM's handler context that never change after boot.
#[derive(Debug)]
struct Fixed {
    regions: [Region; DEVICES],
    ports: [PortRange; PORTS],
    cpu_ids: [u64; MAX_VCPUS],
}

impl VmRt {
    const fn new() -> Self {
        Self {
            life: VmLife::new(),
            console: Mutex::new(Console::unloaded(UartModel::of(Arch::DEVICES))),
            chip: Arch::CHIP,
            gpio: DoorbellGpio::new(),
            stage2: spin::Once::new(),
            counter_offset: AtomicU64::new(0),
            fixed: spin::Once::new(),
        }
    }
}

/// Run-time state, indexed like `CONFIG.vms`: one entry per configured VM, not per
/// VM the contract allows. Its initial value is all zero (the vGIC and the UART get
/// their reset values when their VM is loaded, `run::load_vm`), so the table is `.bss`,
/// not image bytes (docs/benchmark.md, "The hypervisor's size").
pub static VMS: [VmRt; CONFIG_VM_COUNT] = [const { VmRt::new() }; CONFIG_VM_COUNT];
/// VMs not stopped; when it reaches zero the machine stays up if a shell runs, and
/// powers off otherwise.
pub static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A VM stopped for good (confirmed, or reported unresponsive). When it was the last
/// one running, the hypervisor stays up if a shell runs, else powers the machine off.
pub fn vm_down() {
    if RUNNING.fetch_sub(1, Ordering::AcqRel) == 1 {
        let then = NoneRunning::with_shell(crate::shell::present());
        crate::info!("{}", then.message());
        if then == NoneRunning::PowerOff {
            crate::boot::power_off();
        }
    }
}

/// The emulated regions of a VM, sorted by base: the machine contract's table, with
/// one frame per vCPU where a device has them and the console where the VM's table
/// puts it.
pub fn regions(cfg: &VmConfig) -> [Region; DEVICES] {
    mmio::table(Arch::DEVICES, cfg)
}

/// Every VM of the configuration.
pub fn ids() -> impl Iterator<Item = VmId> {
    (0..CONFIG.vms.len()).map(VmId::new)
}

/// The configuration of VM `vm`.
#[inline(always)]
pub fn cfg(vm: VmId) -> &'static VmConfig {
    &CONFIG.vms[vm.index()]
}

/// The run-time state of VM `vm`.
#[inline(always)]
pub fn rt(vm: VmId) -> &'static VmRt {
    &VMS[vm.index()]
}

/// Which (VM, vCPU) physical CPU `cpu` hosts, if any (from the configuration; boot
/// caches it in the CPU's `PerCpu::hosts`).
pub fn assignment(cpu: CpuId) -> Option<(VmId, VcpuId)> {
    CONFIG.vms.iter().enumerate().find_map(|(vm, cfg)| {
        cfg.cpus
            .iter()
            .position(|&c| c as usize == cpu.index())
            .map(|vcpu| (VmId::new(vm), VcpuId::new(vcpu)))
    })
}

/// The physical CPU of vCPU `vcpu` of VM `vm`.
pub fn cpu_of(vm: VmId, vcpu: VcpuId) -> Option<CpuId> {
    cfg(vm)
        .cpus
        .get(vcpu.index())
        .map(|&c| CpuId::new(c as usize))
}

/// Runs `f` with the handler context of VM `id`.
pub fn with_ctx<R>(id: VmId, f: impl FnOnce(&VmCtx<'_, Chip>) -> R) -> R {
    let cfg = cfg(id);
    let rt = rt(id);
    let fixed = rt.fixed.call_once(|| {
        let mut cpu_ids = [0u64; MAX_VCPUS];
        for (v, m) in cpu_ids.iter_mut().enumerate().take(cfg.cpus.len()) {
            *m = guest_cpu_id(id, VcpuId::new(v));
        }
        Fixed {
            regions: regions(cfg),
            ports: pio::table(Arch::DEVICES),
            cpu_ids,
        }
    });
    f(&VmCtx {
        id,
        cfg,
        life: &rt.life,
        console: &rt.console,
        regions: &fixed.regions,
        ports: &fixed.ports,
        chip: &rt.chip,
        gpio: &rt.gpio,
        cpu_ids: &fixed.cpu_ids[..cfg.cpus.len().min(MAX_VCPUS)],
    })
}

/// The CPU id vCPU `vcpu` of VM `vm` reads as its own: the backend's choice from the
/// VM's configuration and its core's hardware id.
pub fn guest_cpu_id(vm: VmId, vcpu: VcpuId) -> u64 {
    let hw = cpu_of(vm, vcpu).and_then(percpu::of).map(|c| c.hw_id());
    Arch::guest_cpu_id(cfg(vm), vcpu, hw)
}
