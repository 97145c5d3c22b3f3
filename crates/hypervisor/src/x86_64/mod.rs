//! The x86_64 backend of the hypervisor: the [`Backend`] hooks over the arch crate
//! (`rtvisor_arch_x86_64`), for Intel VT-x and AMD-V from one image (the vendor by
//! CPUID at boot), and the pieces that need the hypervisor's own state:
//!
//! - `boot.rs`: the entries GRUB's Multiboot2 hand-over and the APs reach, the
//!   machine as boot found it ([`boot::X86Machine`]);
//! - `world.rs`: the world-switch loop of each CPU (one engine per CPU, the VMCB or
//!   VMCS of its vCPU), which adapts every exit to the core's and hands it to
//!   `run::handle`; COM1; `guestcpuid.rs` answers the guest's CPUID;
//! - `hw.rs`: the seam types: the TSC and the APIC timer, COM1 as the console, EPT
//!   or NPT as the VM's second stage, and the hardware side of the VM's local APICs;
//! - `timers.rs`: each CPU's APIC timer shared by the watchdog and the guest timer;
//! - `direct.rs`: direct mode (LAPIC pass-through) and how the hypervisor keeps its
//!   hold on such a VM's cores.

mod boot;
mod cr;
mod direct;
mod guestcpuid;
mod guestirq;
mod hw;
mod pc;
mod pci;
mod strio;
mod timers;
mod wake;
mod world;

use crate::backend::Backend;
use crate::percpu;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use rtvisor_addr::{HostRange, Hpa, Ipa};
use rtvisor_arch_x86_64::adapt::msr_name;
use rtvisor_arch_x86_64::answer::Exited;
use rtvisor_arch_x86_64::chip::Lapics;
use rtvisor_arch_x86_64::engines::{Caps, Engine};
use rtvisor_arch_x86_64::irq::{self, FreshStack};
use rtvisor_arch_x86_64::{apic, cpu, idt, memory};
use rtvisor_config::contract::x86_64::virtual_apic_id;
use rtvisor_config::contract::x86_64::EMULATED;
use rtvisor_config::contract::EmulatedDevice;
use rtvisor_config::tables::{InterruptMode, VmConfig};
use rtvisor_core::account::IrqKind;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::seam::VcpuStart;

pub use boot::X86Machine;

/// The x86_64 backend.
#[derive(Debug)]
pub struct Arch;

/// What the x86_64 backend keeps per CPU.
#[derive(Debug)]
pub struct CpuState {
    /// What the CPU's extension offers (set when it went online).
    caps: spin::Once<Caps>,
    /// How the vCPU about to be entered starts (handed from `enter` to the loop on
    /// the fresh stack).
    start: spin::Mutex<Option<VcpuStart>>,
    /// The boot CPU let this AP go online.
    released: AtomicBool,
    /// The guest RIP at the exit being handled, for fault logs.
    guest_rip: AtomicU64,
    /// This CPU runs the shell: it polls COM1 instead of sleeping.
    shell: AtomicBool,
    /// The host TSC at which the APIC timer of the vCPU here fires (0: none).
    vtimer: AtomicU64,
    /// The host TSC at which a watchdog this CPU watches expires (0: none).
    wd_deadline: AtomicU64,
    /// The deadline the APIC timer was last programmed for (0: none, or it fired).
    armed: AtomicU64,
    /// How early a halted vCPU is woken for its guest timer, in TSC ticks (0: the
    /// start value; `timers::program_early`).
    advance: AtomicU64,
    /// The early time the APIC timer was last programmed for while the vCPU halts
    /// (0: none), against which `timers::hold` measures the wake.
    early: AtomicU64,
}

impl Backend for Arch {
    type Vcpu = Exited<'static, Engine, world::Resume>;
    type Chip = Lapics<hw::ApicSide>;
    type Stage2 = hw::Ept;
    type Timer = hw::Tsc;
    type Console = hw::Com1;
    type Machine = X86Machine;
    type CpuState = CpuState;

    // Only ever the initial value of a static (each use is a fresh set of APICs).
    #[allow(clippy::declare_interior_mutable_const)]
    const CHIP: Self::Chip = Lapics::new(hw::ApicSide);
    #[allow(clippy::declare_interior_mutable_const)]
    const CPU_STATE: CpuState = CpuState {
        caps: spin::Once::new(),
        start: spin::Mutex::new(None),
        released: AtomicBool::new(false),
        guest_rip: AtomicU64::new(0),
        shell: AtomicBool::new(false),
        vtimer: AtomicU64::new(0),
        wd_deadline: AtomicU64::new(0),
        armed: AtomicU64::new(0),
        advance: AtomicU64::new(0),
        early: AtomicU64::new(0),
    };
    // The x86 VM's devices, as the contract lists them: COM1 and the power and reset
    // ports in the core's port table; the local APIC page and the I/O APIC are the
    // interrupt controller's (`Lapics`), as are the x2APIC MSRs.
    const DEVICES: &'static [EmulatedDevice] = &EMULATED;

    fn guest_cpu_id(cfg: &VmConfig, vcpu: VcpuId, hw_id: Option<u64>) -> u64 {
        match hw_id {
            // Direct mode: the guest drives its core's own APIC.
            Some(id) if cfg.interrupt_mode == InterruptMode::Direct => id,
            _ => u64::from(virtual_apic_id(vcpu.index())),
        }
    }
    fn register_name(id: u32) -> &'static str {
        msr_name(id)
    }
    fn guest_pc() -> u64 {
        percpu::this_cpu()
            .and_then(percpu::of)
            .map_or(0, |c| c.arch.guest_rip.load(Ordering::Relaxed))
    }

    fn init_machine(
        m: &X86Machine,
        ram: impl Iterator<Item = HostRange>,
        devices: impl Iterator<Item = HostRange>,
    ) {
        boot::init_machine(m, ram, devices);
    }
    fn new_stage2(vm: VmId) -> Result<hw::Ept, hw::Stage2Error> {
        let mut s2 = hw::Ept::new(vm)?;
        if direct::is_direct(vm) && !apic::is_x2apic() {
            // The host's xAPIC page, read-only: every write exits (`direct.rs`).
            s2.map_apic(Ipa::new(direct::APIC_GPA), Hpa::new(apic::mmio_base()))?;
        }
        pci::map_bars(vm, &mut s2)?;
        Ok(s2)
    }
    fn init_cpu(m: &X86Machine, cpu: CpuId) {
        boot::init_cpu(m, cpu);
        direct::init_cpu(cpu);
    }
    fn watchdog_cpu(cpu: CpuId) -> CpuId {
        if direct::cpu_is_direct(cpu) {
            direct::WATCHER
        } else {
            cpu
        }
    }
    fn watchdog_arm_on(cpu: CpuId, deadline: u64) {
        timers::watch_on(cpu, deadline);
    }
    fn start_cpu(_m: &X86Machine, cpu: CpuId) -> Result<(), i64> {
        match percpu::of(cpu) {
            Some(c) if rtvisor_arch_x86_64::smp::apic_id(cpu.index()).is_some() => {
                c.arch.released.store(true, Ordering::Release);
                Ok(())
            }
            // Never came up in the start-up round (`boot::bsp`).
            _ => Err(-1),
        }
    }

    #[inline(always)]
    fn this_cpu() -> usize {
        rtvisor_arch_x86_64::smp::this_index().unwrap_or(usize::MAX)
    }
    fn kick(cpu: CpuId) {
        if let Some(c) = percpu::of(cpu) {
            crate::account::kicking(cpu);
            if direct::cpu_is_direct(cpu) {
                // Its fixed interrupts are its guest's.
                rtvisor_arch_x86_64::nmi::kick(c.hw_id() as u32);
            } else {
                apic::send_fixed(c.hw_id() as u32, irq::KICK);
            }
        }
    }
    fn idle_interrupts(cpu: CpuId) {
        let Some(me) = percpu::of(cpu) else { return };
        if wake::interrupts(cpu, me, &mut None) && !direct::cpu_is_direct(cpu) {
            // A direct core may have moved a watchdog deadline this CPU watches.
            timers::program(me);
        }
        // COM1 is polled here: what it had counts as one receive interrupt.
        if me.arch.shell.load(Ordering::Relaxed)
            && crate::shell::is_input(boot::COM1_IRQ)
            && crate::shell::on_input()
        {
            crate::stats::irq_on(cpu, IrqKind::Uart);
        }
    }
    fn wait() {
        let shell = percpu::this_cpu()
            .and_then(percpu::of)
            .is_some_and(|c| c.arch.shell.load(Ordering::Relaxed));
        if shell {
            // COM1 has no interrupt here: the shell's CPU polls it.
            cpu::pause();
        } else {
            irq::wait();
        }
    }
    fn relax() {
        cpu::pause();
    }
    fn park(cpu: CpuId) {
        direct::park(cpu);
        timers::set_guest(cpu, 0);
    }
    fn vcpu_start(_cpu: CpuId, _vm: VmId, _vcpu: VcpuId) {}

    fn vm_loaded(vm: VmId) {
        hw::fill_tsc_khz(vm);
        hw::write_reset_stub(vm);
        pc::reset(vm);
        pci::loaded(vm);
    }
    fn vm_stopping(vm: VmId) {
        pci::stopping(vm);
    }
    fn pc_device(
        vm: VmId,
        kind: rtvisor_core::mmio::DeviceKind,
        off: u64,
        w: rtvisor_vdev::Width,
        value: Option<u64>,
    ) -> Result<u64, rtvisor_vdev::MmioError> {
        pc::access(vm, kind, off, w, value)
    }

    unsafe fn zero(base: Hpa, len: u64) {
        // SAFETY: the caller's contract is `memory::zero`'s.
        unsafe { memory::zero(base.raw(), len) }
    }
    unsafe fn copy(dst: Hpa, bytes: &[u8]) {
        // SAFETY: the caller's contract is `memory::copy_to`'s.
        unsafe { memory::copy_to(dst.raw(), bytes) }
    }
    fn sync_icache() {
        // x86 caches are coherent with every agent, a guest with its caches off and
        // instruction fetch too.
    }
    unsafe fn write_device_u32(addr: Hpa, value: u32) {
        // SAFETY: the caller's contract is `memory::write_u32`'s.
        unsafe { memory::write_u32(addr.raw(), value) }
    }

    fn halt_others() {
        idt::halt_others();
    }
    fn emulator_exit(_status: u32) {
        // Neither QEMU q35 nor Bochs is started with an exit device.
    }
    fn power_off() -> i64 {
        boot::power_off()
    }
    fn console_input_to(cpu: CpuId, _hw_id: u64, _irq: u32) {
        if let Some(c) = percpu::of(cpu) {
            c.arch.shell.store(true, Ordering::Relaxed);
        }
    }
}

/// The proof that CPU `cpu` may reset its stack, made on the way back from an exit
/// whose vCPU parks (the world-switch loop's frames are never returned to).
fn fresh_stack(cpu: CpuId) -> FreshStack {
    // SAFETY: called only as `run::handle`'s proof maker from the exit path of the
    // loop that runs on this CPU's stack; when it is used, the vCPU parked and the
    // loop's frames are dead.
    unsafe { FreshStack::new(cpu.index()) }
}
