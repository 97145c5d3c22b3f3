//! The aarch64 backend of the hypervisor: the [`Backend`] hooks over the arch crate
//! (`rtvisor_arch_aarch64`), and the pieces that need the hypervisor's own state:
//!
//! - `boot.rs`: the boot entries (`_start` and PSCI CPU_ON land there), the host
//!   device tree, the EL2 identity map, the GIC distributor, CPU bring-up;
//! - `entry.rs`: the exception entries from the vectors, which decode an exit and
//!   hand it to `run::handle` (and the HVC path's version queries, answered first);
//! - `dabt.rs`: the data aborts' light entry (fixed vGIC registers, answered from
//!   per-CPU copies of the model's reads);
//! - `irq.rs`: this CPU's interrupts (the hypervisor's SGIs, forwarded interrupts,
//!   the list registers) and the GIC's hardware side ([`irq::HwGic`]);
//! - `passthru.rs`: the SPIs of passed-through devices and of direct-mode doorbells.

mod boot;
mod config;
mod dabt;
mod entry;
mod irq;
mod lrs;
mod passthru;

use crate::backend::{Backend, Machine};
use crate::{percpu, vms};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use rtvisor_addr::{HostRange, Hpa, Ipa};
use rtvisor_arch_aarch64::chip::{self, Gic};
use rtvisor_arch_aarch64::platform::Platform;
use rtvisor_arch_aarch64::stage2::Stage2Table;
use rtvisor_arch_aarch64::timer::HypTimer;
use rtvisor_arch_aarch64::uart::Pl011Console;
use rtvisor_arch_aarch64::vcpu::{HwEl1, Vcpu};
use rtvisor_arch_aarch64::{cpu, firmware, gic, memory, sysreg};
use rtvisor_config::contract::aarch64::EMULATED;
use rtvisor_config::contract::EmulatedDevice;
use rtvisor_config::tables::{InterruptMode, VmConfig};
use rtvisor_core::ids::{CpuId, VcpuId, VmId};

/// The aarch64 backend.
#[derive(Debug)]
pub struct Arch;

/// What the aarch64 backend keeps per CPU.
#[derive(Debug)]
pub struct CpuState {
    /// End of this CPU's stack (see the arch crate's stack discipline).
    pub stack_end: AtomicU64,
    /// RD_base of this CPU's redistributor.
    pub redist: AtomicU64,
    /// The vCPU's list registers must be refreshed before it runs guest code again.
    pub lr_dirty: AtomicBool,
}

impl Machine for Platform {
    fn cpu_count(&self) -> usize {
        self.cpu_count
    }
    fn hw_id(&self, cpu: CpuId) -> Option<u64> {
        self.cpus().get(cpu.index()).copied()
    }
    fn ram_contains(&self, r: HostRange) -> bool {
        Platform::ram_contains(self, r)
    }
    fn console_irq(&self) -> Option<u32> {
        self.uart_irq
    }
    fn describe(&self) -> impl fmt::Display {
        Gicv(self.gic.version)
    }
}

/// `GICv3`, for the boot line.
struct Gicv(u8);

impl fmt::Display for Gicv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GICv{}", u32::from(self.0))
    }
}

impl Backend for Arch {
    type Vcpu = Vcpu<'static, HwEl1>;
    type Chip = Gic<irq::HwGic>;
    type Stage2 = Stage2Table;
    type Timer = HypTimer;
    type Console = Pl011Console;
    type Machine = Platform;
    type CpuState = CpuState;

    // Only ever the initial value of a static (each use is a fresh GIC).
    #[allow(clippy::declare_interior_mutable_const)]
    const CHIP: Self::Chip = Gic::unloaded(irq::HwGic);
    const CPU_STATE: CpuState = CpuState {
        stack_end: AtomicU64::new(0),
        redist: AtomicU64::new(0),
        lr_dirty: AtomicBool::new(false),
    };
    const DEVICES: &'static [EmulatedDevice] = &EMULATED;

    fn guest_cpu_id(cfg: &VmConfig, vcpu: VcpuId, hw_id: Option<u64>) -> u64 {
        match hw_id {
            // Direct mode: the guest drives the physical GIC, which routes by the
            // core's real MPIDR.
            Some(mpidr) if cfg.interrupt_mode == InterruptMode::Direct => mpidr,
            _ => vcpu.index() as u64,
        }
    }

    fn register_name(id: u32) -> &'static str {
        rtvisor_arch_aarch64::sysregs::name(id)
    }
    fn guest_pc() -> u64 {
        rtvisor_arch_aarch64::read_sysreg!(elr_el2)
    }

    fn init_machine(
        m: &Platform,
        ram: impl Iterator<Item = HostRange>,
        devices: impl Iterator<Item = HostRange>,
    ) {
        boot::init_machine(m, ram, devices);
    }
    fn new_stage2(vm: VmId) -> Result<Stage2Table, rtvisor_arch_aarch64::pt::MapError> {
        // VMID = VM id + 1: 0 is never used for a guest.
        Stage2Table::new(&boot::POOL, vm.index() as u16 + 1)
    }
    fn stage2_translate(s2: &Stage2Table, ipa: Ipa) -> Option<Hpa> {
        s2.translate(ipa)
    }
    fn table_pages(each: &mut dyn FnMut(Hpa)) {
        let pages = boot::POOL.pages();
        for k in 0..pages.used() {
            if let Some(p) = pages.page(k) {
                each(Hpa::new(p));
            }
        }
    }
    fn init_cpu(m: &Platform, cpu: CpuId) {
        boot::init_cpu(m, cpu);
    }
    fn start_cpu(m: &Platform, cpu: CpuId) -> Result<(), i64> {
        boot::start_cpu(m, cpu)
    }

    #[inline(always)]
    fn this_cpu() -> usize {
        cpu::this_index() as usize
    }
    fn fast_counts(cpu: CpuId) -> (u64, u64) {
        rtvisor_arch_aarch64::fast::counts(cpu.index())
    }
    fn kick(cpu: CpuId) {
        if let Some(c) = percpu::of(cpu) {
            crate::account::kicking(cpu);
            gic::send_sgi(c.hw_id(), gic::SGI_KICK);
        }
    }
    fn idle_interrupts(cpu: CpuId) {
        if let Some(me) = percpu::of(cpu) {
            let _ = irq::drain(me, None, false, &mut None);
        }
    }
    fn wait() {
        sysreg::wfi();
    }
    fn relax() {
        cpu::relax();
    }
    fn park(cpu: CpuId) {
        if let Some(me) = percpu::of(cpu) {
            irq::quiesce(me);
        }
    }
    fn vcpu_start(cpu: CpuId, vm: VmId, vcpu: VcpuId) {
        if let Some(me) = percpu::of(cpu) {
            irq::vcpu_start(me, vm);
            if !irq::is_direct(vm) {
                irq::refresh_lrs(me, vm, vcpu);
            }
        }
        // The light data-abort path's copies of the VM's fixed vGIC registers.
        if let Some(copies) = chip::light_copies(cpu.index()) {
            vms::rt(vm).chip.copy_fixed(copies, vms::cfg(vm));
        }
    }

    fn vm_loaded(vm: VmId) {
        passthru::vm_start(vm);
    }
    fn vm_stopping(vm: VmId) {
        passthru::vm_stop(vm);
    }

    unsafe fn zero(base: Hpa, len: u64) {
        // SAFETY: the caller's contract is `memory::zero_clean`'s.
        unsafe { memory::zero_clean(base, len) }
    }
    unsafe fn copy(dst: Hpa, bytes: &[u8]) {
        // SAFETY: the caller's contract is `memory::copy_clean`'s.
        unsafe { memory::copy_clean(dst, bytes) }
    }
    fn hash_blocks(state: u64, bytes: &[u8]) -> u64 {
        rtvisor_arch_aarch64::memhash::hash_blocks(state, bytes)
    }
    fn sync_icache() {
        memory::sync_icache();
    }
    unsafe fn write_device_u32(addr: Hpa, value: u32) {
        // SAFETY: the caller's contract is `memory::write_device_u32`'s.
        unsafe { memory::write_device_u32(addr.raw(), value) }
    }

    fn halt_others() {
        gic::broadcast_sgi(gic::SGI_HALT);
    }
    fn emulator_exit(status: u32) {
        firmware::semihosting_exit(status);
    }
    fn power_off() -> i64 {
        firmware::system_off(boot::conduit())
    }
    fn console_input_to(_cpu: CpuId, hw_id: u64, irq: u32) {
        // The PL011's receive interrupt is level-sensitive.
        rtvisor_arch_aarch64::spi::configure(irq, false, hw_id);
        rtvisor_arch_aarch64::spi::set_enabled(irq, true);
        rtvisor_arch_aarch64::uart::enable_rx_interrupt();
    }
}

/// The end of CPU `me`'s stack.
fn stack_end(me: &percpu::PerCpu) -> u64 {
    me.arch.stack_end.load(Ordering::Relaxed)
}
