//! Run-time state of each VM, next to its static configuration.

use crate::config::{CONFIG, MAX_VMS};
use crate::percpu::CPUS;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use rtvisor_addr::Ipa;
use rtvisor_config::contract::aarch64::EMULATED;
use rtvisor_config::tables::InterruptMode;
use rtvisor_config::tables::VmConfig;
use rtvisor_core::handler::{Console, VmCtx};
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::mmio::{DeviceKind, Region};
use rtvisor_core::shell::NoneRunning;
use rtvisor_core::sync::Mutex;
use rtvisor_core::vm::{VmLife, MAX_VCPUS};
use rtvisor_vdev::pl061::Pl061;
use rtvisor_vdev::vgic::VGic;

/// One VM's run-time state.
#[derive(Debug)]
pub struct VmRt {
    /// Lifecycle and vCPU power states.
    pub life: VmLife,
    /// Emulated console.
    pub console: Mutex<Console>,
    /// Its virtual GIC.
    pub gic: Mutex<VGic>,
    /// Its doorbell GPIO.
    pub gpio: Mutex<Pl061>,
    /// Root of its stage-2 tables (set once at boot).
    pub stage2_root: AtomicU64,
    /// CNTVOFF of all its vCPUs: the physical count when it last (re)started, so its
    /// virtual counter starts near zero.
    pub cntvoff: AtomicU64,
    /// What the exit handler's context needs beyond the configuration, computed once
    /// (after boot has read every CPU's MPIDR): every exit uses it.
    fixed: spin::Once<Fixed>,
}

/// The parts of a VM's handler context that never change after boot.
#[derive(Debug)]
struct Fixed {
    regions: [Region; EMULATED.len()],
    mpidrs: [u64; MAX_VCPUS],
}

impl VmRt {
    const fn new() -> Self {
        Self {
            life: VmLife::new(),
            console: Mutex::new(Console::new()),
            gic: Mutex::new(VGic::new()),
            gpio: Mutex::new(Pl061::new()),
            stage2_root: AtomicU64::new(0),
            cntvoff: AtomicU64::new(0),
            fixed: spin::Once::new(),
        }
    }
}

/// Run-time state, indexed like `CONFIG.vms`.
pub static VMS: [VmRt; MAX_VMS] = [const { VmRt::new() }; MAX_VMS];
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
/// one redistributor frame per vCPU and the PL011 where the VM's table puts it.
pub fn regions(cfg: &VmConfig) -> [Region; EMULATED.len()] {
    EMULATED.map(|d| Region {
        base: match d.kind {
            DeviceKind::Pl011 => cfg.uart,
            _ => Ipa::new(d.ipa),
        },
        size: d.size_for(cfg.cpus.len()),
        kind: d.kind,
    })
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

/// VMID of VM `id` (0 is never used for a guest).
pub fn vmid(id: VmId) -> u16 {
    id.index() as u16 + 1
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
pub fn with_ctx<R>(id: VmId, f: impl FnOnce(&VmCtx<'_>) -> R) -> R {
    let cfg = cfg(id);
    let rt = rt(id);
    let fixed = rt.fixed.call_once(|| {
        let mut mpidrs = [0u64; MAX_VCPUS];
        for (v, m) in mpidrs.iter_mut().enumerate().take(cfg.cpus.len()) {
            *m = vcpu_mpidr(id, VcpuId::new(v));
        }
        Fixed {
            regions: regions(cfg),
            mpidrs,
        }
    });
    f(&VmCtx {
        id,
        cfg,
        life: &rt.life,
        console: &rt.console,
        regions: &fixed.regions,
        gic: &rt.gic,
        gpio: &rt.gpio,
        mpidrs: &fixed.mpidrs[..cfg.cpus.len().min(MAX_VCPUS)],
    })
}

/// Stage-2 root of VM `id`.
pub fn stage2_root(id: VmId) -> u64 {
    rt(id).stage2_root.load(Ordering::Acquire)
}

/// The MPIDR affinity vCPU `vcpu` of VM `vm` sees: its index, or in direct mode the
/// affinity of the core it runs on (it drives the physical GIC, which routes by it).
pub fn vcpu_mpidr(vm: VmId, vcpu: VcpuId) -> u64 {
    let cfg = cfg(vm);
    match cpu_of(vm, vcpu).and_then(|c| CPUS.get(c.index())) {
        Some(cpu) if cfg.interrupt_mode == InterruptMode::Direct => {
            cpu.mpidr.load(Ordering::Relaxed)
        }
        _ => vcpu.index() as u64,
    }
}
