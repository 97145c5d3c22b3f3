//! Two VMs built from real [`VmConfig`] values, with the run-time state the hypervisor
//! keeps for each (lifecycle, console, interrupt controller, doorbell GPIO) and the
//! fake host.
//!
//! VM 0 runs on CPUs 0 and 1 and is a peer of shared-memory regions 0 and 1; VM 1
//! runs on CPUs 2 and 3, owns a passed-through virtio-mmio transport (INTID 48) and is
//! a peer of region 0. Each VM's interrupt mode and restart policy come from a
//! [`Spec`], and so is its [`Machine`]: the QEMU-`virt`-shaped one of the machine
//! contract unless the spec says otherwise ([`Spec::on`]).

use super::chip::TestChip;
use super::host::{FakeHost, FakeVcpu, HostCall};
use super::machine::{Machine, AARCH64, X86_64};
use crate::console::{UartModel, VUart};
use crate::exit::VcpuExit;
use crate::handler::{handle_exit, vcpu_parked, Console, Contained, Next, VmCtx};
use crate::ids::{VcpuId, VmId};
use crate::mmio::Region;
use crate::pio::{self, PortRange};
use crate::seam::ArchVcpu;
use crate::sync::Mutex;
use crate::vm::{StopReason, VmLife, VmState};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_config::contract::Space;
use rtvisor_config::guest;
use rtvisor_config::tables::{
    CounterOffset, DeviceMap, DirectTrust, ImagePlacement, InterruptMode, MemRegion, RamMap,
    RestartPolicy, SharedMap, VmConfig, VmKind,
};
use rtvisor_vdev::pl061::Pl061;
use std::boxed::Box;
use std::vec::Vec;

/// Guest RAM of the aarch64 machine: base and size (both VMs; the size on every
/// machine).
pub const RAM_BASE: u64 = AARCH64.ram_base;
pub const RAM_SIZE: u64 = 64 << 20;
/// vCPU 0's entry point and device tree on the aarch64 machine.
pub const ENTRY: u64 = AARCH64.entry;
pub const DTB: u64 = AARCH64.boot_arg;
/// The INTID of VM 1's passed-through device.
pub const VIRTIO_INTID: u32 = 48;

/// How a VM of the world is configured.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub mode: InterruptMode,
    pub trust: DirectTrust,
    pub restart: RestartPolicy,
    pub machine: Machine,
}

/// Virtual interrupt mode, never restarted.
pub const VIRT: Spec = Spec {
    mode: InterruptMode::Virtual,
    trust: DirectTrust::Untrusted,
    restart: RestartPolicy::Never,
    machine: AARCH64,
};
/// Direct interrupt mode (untrusted), never restarted.
pub const DIRECT: Spec = Spec {
    mode: InterruptMode::Direct,
    trust: DirectTrust::Untrusted,
    restart: RestartPolicy::Never,
    machine: AARCH64,
};
/// An x86_64 VM: virtual interrupt mode on the PVH machine, never restarted.
pub const X86: Spec = VIRT.on(X86_64);

impl Spec {
    /// The same with restart policy `restart`.
    pub const fn restart(self, restart: RestartPolicy) -> Self {
        Self { restart, ..self }
    }

    /// The same with direct-mode trust `trust`.
    pub const fn trust(self, trust: DirectTrust) -> Self {
        Self { trust, ..self }
    }

    /// The same on `machine`.
    pub const fn on(self, machine: Machine) -> Self {
        Self { machine, ..self }
    }
}

const fn shared(name: &'static str, index: usize, hpa: u64) -> SharedMap {
    SharedMap {
        name,
        ipa: Ipa::new(0x5000_0000 + 0x20_0000 * index as u64),
        hpa: Hpa::new(hpa),
        size: 0x20_0000,
        writable: true,
        index,
        doorbell: guest::doorbell_intid(index),
    }
}

static SHARED0: [SharedMap; 2] = [
    shared("ring", 0, 0x7000_0000),
    shared("log", 1, 0x7020_0000),
];
static SHARED1: [SharedMap; 1] = [shared("ring", 0, 0x7000_0000)];
static DEVICES1: [DeviceMap; 1] = [DeviceMap {
    name: "virtio-mmio@a000000",
    ipa: Ipa::new(0x0a00_0000),
    hpa: Hpa::new(0x0a00_0000),
    size: 0x1000,
    regs: MemRegion {
        base: Hpa::new(0x0a00_0000),
        size: 0x200,
    },
    irqs: &[VIRTIO_INTID],
    edge: true,
    virtio_mmio: Some(Hpa::new(0x0a00_0000)),
}];

/// The configuration of VM `id` (0 or 1) per `spec`.
pub fn config(id: usize, spec: Spec) -> &'static VmConfig {
    let m = spec.machine;
    let (name, cpus, devices, shared): (_, &'static [u32], &'static [DeviceMap], _) = match id {
        0 => ("linux", &[0, 1], &[], &SHARED0[..]),
        _ => ("rt", &[2, 3], &DEVICES1[..], &SHARED1[..]),
    };
    Box::leak(Box::new(VmConfig {
        name,
        kind: VmKind::General,
        cpus,
        ram: RamMap {
            ipa: Ipa::new(m.ram_base),
            hpa: Hpa::new(0x4800_0000 + RAM_SIZE * id as u64),
            size: RAM_SIZE,
            colors: None,
            low: None,
        },
        kernel: ImagePlacement {
            bytes: &[],
            load: Ipa::new(m.entry),
        },
        initrd: None,
        dtb: &[],
        dtb_ipa: Ipa::new(m.boot_arg),
        entry: Ipa::new(m.entry),
        uart: Ipa::new(m.uart),
        interrupt_mode: spec.mode,
        direct_trust: spec.trust,
        restart: spec.restart,
        devices,
        pci: &[],
        pci_windows: &[],
        shared,
        counter_offset: CounterOffset::Zero,
        flash: [None, None],
    }))
}

/// One VM: configuration and run-time state.
#[derive(Debug)]
pub struct Vm<C> {
    pub cfg: &'static VmConfig,
    pub life: VmLife,
    pub console: Mutex<Console>,
    pub chip: C,
    pub gpio: crate::gpio::DoorbellGpio,
    pub regions: Vec<Region>,
    pub ports: Vec<PortRange>,
    /// The machine it was built for.
    pub machine: Machine,
    /// The CPU id each vCPU sees: its index, or its core's in direct mode (QEMU
    /// `virt`: Aff0 = CPU index).
    pub cpu_ids: Vec<u64>,
}

impl<C: TestChip> Vm<C> {
    fn new(cfg: &'static VmConfig, machine: Machine) -> Self {
        let devices = machine.devices;
        let direct = cfg.interrupt_mode == InterruptMode::Direct;
        let cpu_ids = (0..cfg.cpus.len())
            .map(|v| {
                if direct {
                    u64::from(cfg.cpus[v])
                } else {
                    v as u64
                }
            })
            .collect();
        Self {
            cfg,
            life: VmLife::new(),
            console: Mutex::new(Console::new(UartModel::of(devices))),
            chip: C::for_vm(cfg),
            gpio: crate::gpio::DoorbellGpio::new(),
            regions: devices
                .iter()
                .filter(|d| d.space == Space::Mmio)
                .map(|d| Region::of(d, cfg))
                .collect(),
            ports: devices
                .iter()
                .filter(|d| d.space == Space::Io)
                .map(pio::PortRange::of)
                .collect(),
            machine,
            cpu_ids,
        }
    }

    /// What the idle loop of vCPU `v`'s CPU does: takes a pending start, and on a
    /// fresh boot resets the VM's devices (as the hypervisor's image reload does).
    pub fn take_start(&self, v: usize) -> bool {
        let Some(start) = self.life.take_start(VcpuId::new(v)) else {
            return false;
        };
        if start.fresh_boot() {
            self.console.lock().reset();
            self.gpio.reset();
            self.chip.reset(self.cfg);
        }
        true
    }

    /// Everything of the VM's state an exit could change.
    pub fn snapshot(&self) -> Snapshot<C::State> {
        let con = self.console.lock();
        Snapshot {
            status: self.life.status(),
            power: (0..self.cfg.cpus.len())
                .map(|v| self.life.cpu_state(VcpuId::new(v)).ok())
                .collect(),
            chip: self.chip.state(),
            gpio: self.gpio.lock().clone(),
            uart: con.uart.clone(),
            line: con.line.pending().to_vec(),
            input: con.input.len(),
        }
    }
}

/// A VM's state, for before/after comparisons.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot<S> {
    pub status: (VmState, u32, Option<StopReason>),
    /// The power state of each vCPU.
    pub power: Vec<Option<crate::seam::CpuPower>>,
    pub chip: S,
    pub gpio: Pl061,
    pub uart: VUart,
    pub line: Vec<u8>,
    pub input: usize,
}

impl<S> core::fmt::Debug for Snapshot<S> {
    /// Everything but the interrupt controller, which may be too large to read in a
    /// failed assertion.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Snapshot")
            .field("status", &self.status)
            .field("power", &self.power)
            .field("gpio", &self.gpio)
            .field("uart", &self.uart)
            .field("line", &self.line)
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

/// What one exit did.
#[derive(Debug)]
pub struct Outcome {
    pub next: Next,
    pub vcpu: FakeVcpu,
    pub calls: Vec<HostCall>,
}

impl Outcome {
    /// The calls of kind `Contained`.
    pub fn contained(&self) -> Vec<Contained> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                HostCall::Contained { what, .. } => Some(*what),
                _ => None,
            })
            .collect()
    }
}

/// Two booted VMs (vCPU 0 of each on, the others off) and the fake host.
#[derive(Debug)]
pub struct World<C> {
    pub vms: [Vm<C>; 2],
    pub host: FakeHost,
}

impl<C: TestChip> World<C> {
    /// VM 0 per `a`, VM 1 per `b`, both booted with vCPU 0 running.
    pub fn new(a: Spec, b: Spec) -> Self {
        let (ca, cb) = (config(0, a), config(1, b));
        let w = Self {
            vms: [Vm::new(ca, a.machine), Vm::new(cb, b.machine)],
            host: FakeHost::new(&[ca, cb]),
        };
        for vm in &w.vms {
            let m = vm.machine;
            vm.life.boot(vm.cfg.cpus.len(), m.entry, m.boot_arg);
            assert!(vm.take_start(0));
        }
        w
    }

    /// VM 0 per `spec`; VM 1 in the other interrupt mode, on the same machine.
    pub fn one(spec: Spec) -> Self {
        let other = match spec.mode {
            InterruptMode::Virtual => DIRECT,
            InterruptMode::Direct => VIRT,
        };
        Self::new(spec, other.on(spec.machine))
    }

    /// Turns vCPU `v` of VM `vm` on, as a CPU-on call and its CPU's idle loop would.
    pub fn start(&self, vm: usize, v: usize) {
        let life = &self.vms[vm].life;
        let entry = self.vms[vm].machine.entry;
        life.cpu_on(VcpuId::new(v), entry, 0).expect("cpu_on");
        assert!(self.vms[vm].take_start(v));
    }

    /// What vCPU `v`'s CPU does when it parks: acknowledge a stop or restart.
    pub fn park(&self, vm: usize, v: usize) {
        vcpu_parked(VcpuId::new(v), &self.ctx(vm), &self.host);
    }

    /// Both VMs' state.
    pub fn states(&self) -> [Snapshot<C::State>; 2] {
        [self.vms[0].snapshot(), self.vms[1].snapshot()]
    }

    /// The handler's view of VM `id`.
    pub fn ctx(&self, id: usize) -> VmCtx<'_, C> {
        let vm = &self.vms[id];
        VmCtx {
            id: VmId::new(id),
            cfg: vm.cfg,
            life: &vm.life,
            console: &vm.console,
            regions: &vm.regions,
            ports: &vm.ports,
            chip: &vm.chip,
            gpio: &vm.gpio,
            cpu_ids: &vm.cpu_ids,
        }
    }

    /// Handles `exit` of vCPU `vcpu` of VM `vm`, answered through `arch`.
    pub fn exit(&self, vm: usize, vcpu: usize, arch: &mut impl ArchVcpu, exit: VcpuExit) -> Next {
        handle_exit(VcpuId::new(vcpu), arch, &self.ctx(vm), &self.host, exit)
    }

    /// Runs `exit` of vCPU `vcpu` of VM `vm`; returns what it did (the host's record
    /// is emptied first).
    pub fn run(&self, vm: usize, vcpu: usize, exit: VcpuExit) -> Outcome {
        self.host.take();
        let mut arch = FakeVcpu::new();
        let next = self.exit(vm, vcpu, &mut arch, exit);
        Outcome {
            next,
            vcpu: arch,
            calls: self.host.take(),
        }
    }
}
