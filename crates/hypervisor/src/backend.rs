//! The backend selection: the one place in this crate that names an architecture.
//! Everything else here is the generic hypervisor (boot order, the per-CPU loop, the
//! lifecycle, the shell, doorbells, the watchdog, logging), written against
//! [`Backend`] and the seam traits of `rtvisor_core::seam`, which the backend's types
//! implement.
//!
//! A port provides, in `src/<arch>/`, one type implementing [`Backend`]: the seam
//! types (vCPU, interrupt controller, stage 2, timer, console), what boot found
//! ([`Machine`]), and the hooks below, each a small arch piece the generic code calls
//! at one point. Its exception entry decodes exits and calls [`crate::run::handle`].
//! Everything is resolved at compile time: no `dyn`, nothing in between.

use core::fmt::Display;
use rtvisor_addr::{HostRange, Hpa, Ipa};
use rtvisor_config::contract::EmulatedDevice;
use rtvisor_config::tables::VmConfig;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::seam::{ArchVcpu, Console, IrqChip, Stage2, Timer};

#[cfg(target_arch = "aarch64")]
#[path = "aarch64/mod.rs"]
mod arch;

#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod arch;

/// The backend this image is built for.
pub use arch::Arch;

/// The vCPU type of the backend.
pub type Vcpu = <Arch as Backend>::Vcpu;
/// A VM's interrupt controller.
pub type Chip = <Arch as Backend>::Chip;
/// The proof that a CPU may enter a guest (see `ArchVcpu::Entry`).
pub type Entry = <Vcpu as ArchVcpu>::Entry;
/// The hypervisor's clock and timer.
pub type Clock = <Arch as Backend>::Timer;
/// The physical console.
pub type Uart = <Arch as Backend>::Console;
/// What boot found.
pub type Found = <Arch as Backend>::Machine;
/// A VM's stage-2 translation.
pub type Stage2Table = <Arch as Backend>::Stage2;

/// What boot found out about the machine, as the generic code needs it.
pub trait Machine: Sync + Send {
    /// Number of CPUs.
    fn cpu_count(&self) -> usize;
    /// The hardware id of CPU `cpu` (aarch64: its MPIDR affinity; x86_64: its APIC
    /// id), `None` past the last.
    fn hw_id(&self, cpu: CpuId) -> Option<u64>;
    /// Whether `r` lies wholly inside the machine's RAM.
    fn ram_contains(&self, r: HostRange) -> bool;
    /// The console UART's interrupt, when the shell can wake on it.
    fn console_irq(&self) -> Option<u32>;
    /// The interrupt controller, for the boot line (`GICv3`).
    fn describe(&self) -> impl Display;
}

/// What the generic hypervisor asks of an architecture backend, beyond the seam
/// traits its types implement.
pub trait Backend {
    /// The vCPU on this CPU.
    type Vcpu: ArchVcpu;
    /// A VM's interrupt controller.
    type Chip: IrqChip + Sync;
    /// A VM's second-stage translation.
    type Stage2: Stage2 + Sync + Send;
    /// The hypervisor's clock and timer.
    type Timer: Timer;
    /// The physical console.
    type Console: Console;
    /// What boot found out about the machine.
    type Machine: Machine;
    /// The backend's own state of each CPU (kept in `PerCpu`).
    type CpuState: Sync;

    /// A VM's interrupt controller before its VM is first loaded (the static VM table
    /// starts so; `IrqChip::reset` at each load gives it the reset values).
    #[allow(clippy::declare_interior_mutable_const)]
    const CHIP: Self::Chip;
    /// A CPU's backend state before boot.
    #[allow(clippy::declare_interior_mutable_const)]
    const CPU_STATE: Self::CpuState;
    /// The devices every VM's map emulates, the memory-mapped ones sorted by address,
    /// then the I/O ports by port (the backend's part of the machine contract; the
    /// console UART among them decides the model of every VM's console).
    const DEVICES: &'static [EmulatedDevice];

    /// The CPU id vCPU `vcpu` of the VM `cfg` describes reads as its own, given its
    /// core's hardware id (aarch64: its index, or in direct mode the core's MPIDR:
    /// the physical GIC routes by it).
    fn guest_cpu_id(cfg: &VmConfig, vcpu: VcpuId, hw_id: Option<u64>) -> u64;
    /// The name of trapped register `id` (the backend's number), for logs.
    fn register_name(id: u32) -> &'static str;
    /// The guest's PC at the exit being handled on this CPU, for fault logs (aarch64:
    /// ELR_EL2; x86_64: the guest RIP).
    fn guest_pc() -> u64;

    // Boot.

    /// Maps what the hypervisor touches (its own image with W^X, `ram`: every VM's
    /// RAM and shared memory, `devices` it resets when their VM stops) and turns its
    /// MMU on; brings up the interrupt controller. On the boot CPU, once.
    fn init_machine(
        m: &Self::Machine,
        ram: impl Iterator<Item = HostRange>,
        devices: impl Iterator<Item = HostRange>,
    );
    /// Empty second-stage tables for VM `vm`.
    fn new_stage2(vm: VmId) -> Result<Self::Stage2, <Self::Stage2 as Stage2>::Error>;
    /// The host address guest-physical `ipa` translates to in `s2`, for boot's check
    /// of colored RAM (`None`: unmapped, or the backend cannot say).
    fn stage2_translate(s2: &Self::Stage2, ipa: Ipa) -> Option<Hpa> {
        let _ = (s2, ipa);
        None
    }
    /// Calls `each` with every page the translation-table pool has handed out, for
    /// boot's check of the hypervisor's colors (nothing when the backend cannot say).
    fn table_pages(each: &mut dyn FnMut(Hpa)) {
        let _ = each;
    }
    /// Sets up CPU `cpu` for running guests (its interrupt controller interface, its
    /// traps); on that CPU.
    fn init_cpu(m: &Self::Machine, cpu: CpuId);
    /// Starts CPU `cpu` at the backend's secondary entry; an error code if the
    /// firmware refused.
    fn start_cpu(m: &Self::Machine, cpu: CpuId) -> Result<(), i64>;

    // Each CPU.

    /// The calling CPU's index, as boot recorded it (anything at or past the CPU count
    /// before).
    fn this_cpu() -> usize;
    /// What the backend's fast paths on CPU `cpu` counted, which never reach the
    /// generic accounting (`crate::account`): timer entries of the vCPU there, and
    /// their time in counter ticks (zeros without the `accounting` feature).
    fn fast_counts(cpu: CpuId) -> (u64, u64) {
        let _ = cpu;
        (0, 0)
    }
    /// Makes CPU `cpu` look at its vCPU's state again (an interrupt the guest cannot
    /// mask).
    fn kick(cpu: CpuId);
    /// The CPU whose timer watches a watchdog armed or kicked on `cpu`: `cpu` itself,
    /// unless its timer is not the hypervisor's (x86 direct mode).
    fn watchdog_cpu(cpu: CpuId) -> CpuId {
        cpu
    }
    /// Makes CPU `cpu` (another than this one, [`Backend::watchdog_cpu`]'s) fire its
    /// timer no later than `deadline`.
    fn watchdog_arm_on(cpu: CpuId, deadline: u64) {
        let _ = (cpu, deadline);
    }
    /// Handles what is pending on this idle CPU (kicks, console input, the
    /// hypervisor's timer).
    fn idle_interrupts(cpu: CpuId);
    /// Sleeps until an interrupt.
    fn wait();
    /// The wait hint of spin loops.
    fn relax();
    /// Takes back everything a guest could own on this CPU (its private interrupts,
    /// timers, interrupt priorities): the vCPU parked.
    fn park(cpu: CpuId);
    /// Puts this CPU's interrupt state in the shape vCPU `vcpu` of `vm` starts with.
    fn vcpu_start(cpu: CpuId, vm: VmId, vcpu: VcpuId);

    // VMs.

    /// VM `vm` was loaded for a (re)start and its interrupt controller reset: link
    /// its passed-through interrupts.
    fn vm_loaded(vm: VmId);
    /// VM `vm` stops or restarts: take its passed-through interrupts back.
    fn vm_stopping(vm: VmId);
    /// An access of VM `vm` to its PC device `kind` (the PIT, port B, the RTC: x86_64
    /// machines) at offset `off` of its ports (`Host::pc_device`); refused by default,
    /// as on a machine without them.
    fn pc_device(
        vm: VmId,
        kind: rtvisor_core::mmio::DeviceKind,
        off: u64,
        w: rtvisor_vdev::Width,
        value: Option<u64>,
    ) -> Result<u64, rtvisor_vdev::MmioError> {
        let _ = (vm, kind, off, w, value);
        Err(rtvisor_vdev::MmioError::NoRegister)
    }

    // Memory.

    /// Zeroes `len` bytes at `base`, visible to a guest that starts with its caches
    /// off (aarch64: cleaned to the point of coherency as they are written).
    ///
    /// # Safety
    /// The range is mapped RAM that no running code uses (a VM's whose vCPUs are all
    /// parked, or shared memory before any VM runs).
    unsafe fn zero(base: Hpa, len: u64);
    /// Copies `bytes` to `dst`, visible as for [`zero`](Self::zero).
    ///
    /// # Safety
    /// As for [`zero`](Self::zero).
    unsafe fn copy(dst: Hpa, bytes: &[u8]);
    /// The block loop of the payload fingerprint
    /// (`rtvisor_config::fingerprint::words_extend_by`); called with the hypervisor's
    /// own map on (`init_machine`).
    fn hash_blocks(state: u64, bytes: &[u8]) -> u64 {
        rtvisor_config::fingerprint::blocks(state, bytes)
    }
    /// After [`zero`](Self::zero) and [`copy`](Self::copy) wrote a VM's RAM: no CPU's
    /// instruction cache holds what was there before.
    fn sync_icache();
    /// Writes the 32-bit device register at `addr`.
    ///
    /// # Safety
    /// `addr` is a 4-byte aligned register of a device the hypervisor maps (a device
    /// it resets when its VM stops), and writing `value` is what the caller means.
    unsafe fn write_device_u32(addr: Hpa, value: u32);

    // The machine.

    /// Stops every other CPU for good (a fatal error).
    fn halt_others();
    /// Ends the emulator the machine runs in with `status`, if it can (a fatal error
    /// on a board that offers it).
    fn emulator_exit(status: u32);
    /// Powers the machine off; returns the firmware's error code if it refused.
    fn power_off() -> i64;
    /// Routes the console's receive interrupt `irq` to CPU `cpu` (the shell's) and
    /// enables it.
    fn console_input_to(cpu: CpuId, hw_id: u64, irq: u32);
}
