//! The hypervisor shell on the physical console. It lives on the first CPU that hosts
//! no vCPU (so it never runs on an RT core) and wakes on the UART's receive interrupt;
//! typed lines are executed by `rtvisor_shell`. A machine whose CPUs all host
//! vCPUs has no shell; when the scenario gives every CPU of its board to VMs, the
//! image is built without it ([`crate::config::SHELL_CPU_FREE`]).

use crate::backend::{Arch, Backend, Uart};
use crate::config::CONFIG;
use crate::host::HostImpl;
use crate::percpu::CPU_COUNT;
use crate::vms;
use crate::{account, debug, info, log, stats};
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};
use rtvisor_addr::Hpa;
use rtvisor_config::tables::{HvPages, LogLevel, MemRegion, RamMap, VmKind};
use rtvisor_core::account::Account;
use rtvisor_core::account::IrqKind;
use rtvisor_core::ids::{AtomicId, CpuId, VcpuId, VmId};
use rtvisor_core::mmio::Region;
use rtvisor_core::seam::Console;
use rtvisor_core::sync::Mutex;
use rtvisor_core::vm::{StopReason, VmState};
use rtvisor_core::{devices, handler};
use rtvisor_shell::{self as shell, Mapping, ShellOps, VcpuInfo, VcpuPower};

/// The CPU running the shell, if one does.
static SHELL_CPU: AtomicId<CpuId> = AtomicId::none();
/// The console UART's INTID (0: unknown, no shell).
static UART_IRQ: AtomicU32 = AtomicU32::new(0);
static INPUT: Mutex<shell::Input> = Mutex::new(shell::Input::new());

/// Makes CPU `cpu` (hardware id `hw_id`) the shell CPU if it hosts no vCPU and none
/// is chosen yet, and routes the console's receive interrupt to it.
pub fn claim(cpu: CpuId, hw_id: u64, uart_irq: Option<u32>) {
    let Some(irq) = uart_irq.filter(|_| crate::config::SHELL_CPU_FREE) else {
        return;
    };
    if vms::assignment(cpu).is_some() || !SHELL_CPU.set_if_none(cpu, Ordering::AcqRel) {
        return;
    }
    UART_IRQ.store(irq, Ordering::Relaxed);
    Arch::console_input_to(cpu, hw_id, irq);
    info!("shell on cpu {cpu}: type `help`");
    init_focus();
}

/// Whether a CPU runs the shell.
pub fn present() -> bool {
    SHELL_CPU.load(Ordering::Relaxed).is_some()
}

/// Whether `intid` is the shell's input interrupt.
pub fn is_input(intid: u32) -> bool {
    crate::config::SHELL_CPU_FREE && intid != 0 && intid == UART_IRQ.load(Ordering::Relaxed)
}

/// Where console input goes: a VM, or `None` for the shell.
static FOCUS: AtomicId<VmId> = AtomicId::none();

/// The VM that has the console input, if any.
pub fn focus() -> Option<VmId> {
    FOCUS.load(Ordering::Relaxed)
}

/// Gives console input to the VM the scenario names (`[hypervisor] console-input`).
fn init_focus() {
    if let Some(vm) = CONFIG.hypervisor.console_input.map(VmId::new) {
        FOCUS.store(Some(vm), Ordering::Relaxed);
        info!(
            "console input goes to vm {}; Ctrl-] gives it to the shell",
            vms::cfg(vm).name
        );
        show_partial(vm);
    }
}

/// Shows the partial line of VM `vm` (its prompt) now that it has the console input.
fn show_partial(vm: VmId) {
    let con = vms::rt(vm).console.lock();
    log::vm_partial(vm, vms::cfg(vm).name, con.line.pending());
}

/// Reads what was typed; runs each complete line, or hands the bytes to the VM that
/// has the console. Whether there was anything to read.
///
/// Not inlined: the interrupt path that calls it (aarch64 `irq::drain`) then keeps
/// the same code whatever the shell crate's build makes of the commands.
#[inline(never)]
pub fn on_input() -> bool {
    let mut any = false;
    while let Some(b) = Uart::get() {
        any = true;
        if let Some(focus) = FOCUS.load(Ordering::Relaxed) {
            if b == shell::CONSOLE_ESCAPE {
                FOCUS.store(None, Ordering::Relaxed);
                info!("console input back to the shell: type `help`");
            } else if vms::with_ctx(focus, |ctx| devices::console_input(&[b], ctx, &HostImpl)) == 0
            {
                debug!("vm {}: console input dropped", vms::cfg(focus).name);
            }
            continue;
        }
        INPUT.lock().feed(b, &Ops);
    }
    any
}

struct Ops;

impl ShellOps for Ops {
    fn vm_count(&self) -> usize {
        CONFIG.vms.len()
    }
    fn vm_name(&self, vm: VmId) -> &str {
        vms::cfg(vm).name
    }
    fn vm_status(&self, vm: VmId) -> (VmState, u32, Option<StopReason>) {
        vms::rt(vm).life.status()
    }
    fn vm_resources(&self, vm: VmId) -> (&[u32], u64) {
        (vms::cfg(vm).cpus, vms::cfg(vm).ram.size)
    }
    fn vm_kind(&self, vm: VmId) -> VmKind {
        vms::cfg(vm).kind
    }
    fn vm_ram(&self, vm: VmId) -> RamMap {
        vms::cfg(vm).ram
    }
    fn device(&self, vm: VmId, i: usize) -> Option<Mapping<'_>> {
        vms::cfg(vm).devices.get(i).map(Mapping::device)
    }
    fn shared(&self, vm: VmId, i: usize) -> Option<Mapping<'_>> {
        vms::cfg(vm).shared.get(i).map(|s| Mapping {
            name: s.name,
            ipa: s.ipa,
            hpa: s.hpa,
            size: s.size,
            writable: s.writable,
        })
    }
    fn emulated(&self, vm: VmId, i: usize) -> Option<Region> {
        vms::regions(vms::cfg(vm)).get(i).copied()
    }
    fn hv_memory(&self) -> MemRegion<Hpa> {
        CONFIG.hypervisor.memory
    }
    fn hv_tables(&self) -> Option<HvPages> {
        CONFIG.hypervisor.tables
    }
    fn vcpu(&self, vm: VmId, vcpu: VcpuId) -> Option<VcpuInfo> {
        let cpu = vms::cpu_of(vm, vcpu)?;
        Some(VcpuInfo {
            cpu,
            cpu_id: vms::guest_cpu_id(vm, vcpu),
            power: VcpuPower::of(&vms::rt(vm).life, vcpu),
            exits: stats::exits(cpu),
        })
    }
    fn cpu_count(&self) -> usize {
        CPU_COUNT.load(Ordering::Relaxed)
    }
    fn shell_cpu(&self) -> Option<CpuId> {
        SHELL_CPU.load(Ordering::Relaxed)
    }
    fn irq_counts(&self, cpu: CpuId) -> [u64; IrqKind::COUNT] {
        stats::irqs(cpu)
    }
    fn cpu_account(&self, cpu: CpuId) -> Account {
        account::since_reset(cpu)
    }
    fn accounting_built(&self) -> bool {
        account::BUILT
    }
    fn reset_cpu_stats(&self) {
        account::reset_all(CPU_COUNT.load(Ordering::Relaxed));
    }
    fn latency(&self, vm: VmId, buf: &mut [u8]) -> Option<(usize, u64)> {
        log::figures(vm, buf)
    }
    fn log_level(&self) -> LogLevel {
        log::level()
    }
    fn set_log_level(&self, level: LogLevel) {
        log::set_level(level);
    }
    fn stop(&self, vm: VmId) {
        vms::with_ctx(vm, |ctx| handler::shell_stop(ctx, &HostImpl));
    }
    fn start(&self, vm: VmId) {
        vms::with_ctx(vm, |ctx| handler::shell_start(ctx, &HostImpl));
    }
    fn restart(&self, vm: VmId) {
        vms::with_ctx(vm, |ctx| handler::shell_restart(ctx, &HostImpl));
    }
    fn console_to(&self, vm: VmId) {
        FOCUS.store(Some(vm), Ordering::Relaxed);
        show_partial(vm);
    }
    fn out(&self, args: fmt::Arguments<'_>) {
        // Shell output is printed whatever the log level.
        log::line(LogLevel::Error, args);
    }
}
