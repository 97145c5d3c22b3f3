//! What every physical CPU does after boot: wait for its vCPU to be started, run it,
//! and handle its exits. An RT core does nothing else.

use crate::irq;
use crate::log;
use crate::percpu::{self, PerCpu};
use crate::vms;
use crate::{debug, info};
use core::sync::atomic::Ordering;
use rtvisor_addr::Hpa;
use rtvisor_arch_aarch64::frame::GuestRegs;
use rtvisor_arch_aarch64::{exit, gic, memory, mmu, sysreg, vcpu::Vcpu};
use rtvisor_config::tables::VmConfig;
use rtvisor_core::exit::{Conduit, VcpuExit};
use rtvisor_core::handler::{self, Contained, Host, Next};
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::psci;
use rtvisor_core::sysreg::CpuIfReg;
use rtvisor_core::vm::StopReason;
use rtvisor_vdev::vgic::Notify;
use rtvisor_vdev::Width;

/// How long a stop or restart waits for the VM's vCPUs to park before it reports the
/// VM unresponsive. A kick reaches a vCPU in microseconds; the bound covers a vCPU
/// busy in a long exit (reloading a large VM) on a slow machine.
const SETTLE_MS: u64 = 1000;

/// Services the core handler asks of the hypervisor.
pub struct HostImpl;

impl Host for HostImpl {
    fn kick(&self, vm: VmId, vcpu: VcpuId) {
        if let Some(cpu) = vms::cpu_of(vm, vcpu).and_then(percpu::of) {
            gic::send_sgi(cpu.mpidr.load(Ordering::Relaxed), gic::SGI_KICK);
        }
    }
    fn console_line(&self, vm: VmId, line: &[u8]) {
        log::vm_line(vm, vms::cfg(vm).name, line);
    }
    fn console_live(&self, vm: VmId) -> bool {
        crate::shell::focus() == Some(vm)
    }
    fn console_partial(&self, vm: VmId, pending: &[u8]) {
        log::vm_partial(vm, vms::cfg(vm).name, pending);
    }
    fn vm_stopping(&self, vm: VmId, _reason: StopReason) {
        crate::passthru::vm_stop(vm);
        crate::watchdog::reset(vm);
    }
    fn vm_stopped(&self, vm: VmId, reason: StopReason, late: bool) {
        let name = vms::cfg(vm).name;
        if late {
            // Counted as stopped when it was reported unresponsive.
            info!("vm {name}: stopped ({reason}): its last vCPU parked late");
            return;
        }
        info!("vm {name}: stopped ({reason})");
        vms::vm_down();
    }
    fn settle(&self, vm: VmId) {
        let life = &vms::rt(vm).life;
        let deadline = sysreg::counter().saturating_add(sysreg::counter_freq() / 1000 * SETTLE_MS);
        while !life.settled() && sysreg::counter() < deadline {
            rtvisor_arch_aarch64::cpu::relax();
        }
        let late = life.give_up();
        if late.0 != 0 {
            crate::error!(
                "vm {}: unresponsive: vcpu mask {:#x} did not stop within {SETTLE_MS} ms; \
                 the VM is not restarted and its memory is not reused until they do",
                vms::cfg(vm).name,
                late.0
            );
            vms::vm_down();
        }
    }
    fn vm_started(&self, vm: VmId) {
        vms::RUNNING.fetch_add(1, Ordering::AcqRel);
        info!("vm {}: started (shell)", vms::cfg(vm).name);
    }
    fn vm_restarting(&self, vm: VmId, reason: StopReason) {
        crate::passthru::vm_stop(vm);
        crate::watchdog::reset(vm);
        info!("vm {}: restarting ({})", vms::cfg(vm).name, reason);
    }
    fn contained(&self, vm: VmId, what: Contained) {
        debug!("vm {}: contained {:?}", vms::cfg(vm).name, what);
    }
    fn vgic_changed(&self, vm: VmId, me: Option<VcpuId>, notify: &Notify) {
        irq::vgic_changed(vm, me, notify);
    }
    fn gic_hw_read(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width) -> u64 {
        irq::hw_read(vm, redist, off, width)
    }
    fn send_sgi(&self, vm: VmId, vcpu: VcpuId, sgi: u32) {
        if let Some(cpu) = irq::cpu_of(vm, vcpu) {
            gic::send_sgi_group1(cpu.mpidr.load(Ordering::Relaxed), sgi);
        }
    }
    fn gic_hw_write(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width, value: u64) {
        irq::hw_write(vm, redist, off, width, value)
    }
    fn ring(&self, vm: VmId, index: u64) -> bool {
        crate::doorbell::ring(vm, index)
    }
    fn watchdog_arm(&self, vm: VmId, _me: VcpuId, ms: u64) {
        crate::watchdog::arm(vm, ms);
    }
    fn watchdog_kick(&self, vm: VmId, _me: VcpuId) -> bool {
        crate::watchdog::kick(vm)
    }
    fn cpu_interface(&self, reg: CpuIfReg, write: Option<u64>) -> u64 {
        let reg = match reg {
            CpuIfReg::Iar1 => gic::CpuIf::Iar1,
            CpuIfReg::Eoir1 => gic::CpuIf::Eoir1,
            CpuIfReg::Hppir1 => gic::CpuIf::Hppir1,
            CpuIfReg::Bpr1 => gic::CpuIf::Bpr1,
            CpuIfReg::Igrpen1 => gic::CpuIf::Igrpen1,
            CpuIfReg::Ap1r(n) => gic::CpuIf::Ap1r(n),
        };
        match write {
            Some(v) => {
                gic::cpuif_write(reg, v);
                0
            }
            None => gic::cpuif_read(reg),
        }
    }
}

/// The idle loop of a CPU: start the vCPU when asked, sleep otherwise.
pub fn cpu_loop(me: &'static PerCpu) -> ! {
    irq::quiesce(me);
    me.guest_active.store(false, Ordering::Release);
    let assignment = me.hosts();
    if let Some((vm, vcpu)) = assignment {
        // This CPU runs no guest code now: the acknowledgement of a stop or restart.
        vms::with_ctx(vm, |ctx| handler::vcpu_parked(vcpu, ctx, &HostImpl));
    }
    loop {
        let _ = irq::drain(me, None, false);
        if let Some((vm, vcpu)) = assignment {
            if let Some(start) = vms::rt(vm).life.take_start(vcpu) {
                if start.fresh_boot {
                    load_vm(vm);
                }
                enter(me, vm, vcpu, start.entry, start.context, start.fresh_boot);
            }
        }
        sysreg::wfi();
    }
}

/// Reloads VM `vm`'s images into its RAM. Its vCPU 0 is only ever made pending for a
/// fresh boot once every vCPU has parked (`VmLife`), so no guest code of the VM runs.
fn load_vm(vm: VmId) {
    let cfg: &VmConfig = vms::cfg(vm);
    let rt = vms::rt(vm);
    let ram = cfg.ram;
    // SAFETY: the VM's RAM is reserved for it (checked at boot) and none of its vCPUs
    // runs now; the images are embedded read-only data of this binary.
    unsafe {
        memory::zero(ram.hpa, ram.size);
        for img in [Some(&cfg.kernel), cfg.initrd.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Some(dst) = ram.translate(img.load, img.bytes.len() as u64) {
                memory::copy_to(dst, img.bytes);
            }
        }
        if let Some(dst) = ram.translate(cfg.dtb_ipa, cfg.dtb.len() as u64) {
            memory::copy_to(dst, cfg.dtb);
        }
    }
    memory::clean_to_poc(ram.hpa.raw(), ram.size);
    rt.cntvoff.store(sysreg::counter(), Ordering::Release);
    rt.console.lock().reset();
    rt.gpio.lock().reset();
    let mut gic = rt.gic.lock();
    gic.reset(cfg.cpus.len());
    if !irq::is_direct(vm) {
        for v in 0..cfg.cpus.len() {
            // The EL1 virtual timer of each vCPU is its own physical PPI.
            let _ = gic.set_hw(irq::VTIMER, v, irq::VTIMER);
        }
    }
    drop(gic);
    crate::passthru::vm_start(vm);
}

/// Resets the EL1 state and enters vCPU `vcpu` of `vm` at `entry` with x0 = `context`.
fn enter(me: &PerCpu, vm: VmId, vcpu: VcpuId, entry: u64, context: u64, fresh: bool) -> ! {
    me.guest_active.store(true, Ordering::Release);
    irq::vcpu_start(me, vm);
    if !irq::is_direct(vm) {
        irq::refresh_lrs(me, vm, vcpu);
    }
    let regs = GuestRegs::boot(entry, context);
    // SAFETY: this CPU hosts vCPU `vcpu` of `vm` alone; the stage-2 root was built at
    // boot for this VM only; the stack end is this CPU's own.
    unsafe {
        mmu::set_stage2(vms::vmid(vm), Hpa::new(vms::stage2_root(vm)));
        if fresh {
            // A (re)started VM must not hit TLB entries of its previous run; its other
            // vCPUs are parked, and the flush is broadcast.
            mmu::flush_current_vmid();
        }
        rtvisor_arch_aarch64::vcpu::reset_el1(vms::vcpu_mpidr(vm, vcpu));
        rtvisor_arch_aarch64::cpu::set_cntvoff(vms::rt(vm).cntvoff.load(Ordering::Acquire));
        rtvisor_arch_aarch64::enter_guest(&regs, me.stack_end.load(Ordering::Relaxed))
    }
}

/// Entry from the exception vectors (see the arch crate's `asm.rs`).
#[unsafe(no_mangle)]
extern "C" fn rtvisor_exception(frame: &mut GuestRegs, kind: u64) {
    if !exit::from_guest(kind) {
        log::fatal(format_args!(
            "hypervisor {} exception on cpu {}: ESR={:#x} FAR={:#x} ELR={:#x}",
            exit::kind_name(kind),
            log::CpuName(percpu::this_cpu()),
            rtvisor_arch_aarch64::read_sysreg!(esr_el2),
            rtvisor_arch_aarch64::read_sysreg!(far_el2),
            frame.elr,
        ));
    }
    crate::stats::exit();
    let (me, vm, vcpu) = hosted();
    let exit = exit::decode(kind);
    let direct = irq::is_direct(vm);
    if exit == VcpuExit::Interrupt && !irq::drain(me, Some((vm, vcpu)), direct) {
        // Only interrupts for the guest: nothing for the exit handler to decide.
        if !direct && me.lr_dirty.load(Ordering::Relaxed) {
            irq::refresh_lrs(me, vm, vcpu);
        }
        return;
    }
    if exit == VcpuExit::Interrupt {
        // A kick from another CPU: its vGIC change is why it kicked. Reload the list
        // registers whatever `lr_dirty` says (a lost flag was seen under load; see the
        // issue 4 note).
        me.lr_dirty.store(true, Ordering::Relaxed);
    }
    handle(me, vm, vcpu, &mut Vcpu { frame }, exit);
    if !direct && matches!(exit, VcpuExit::DataAbort { .. }) {
        // A guest write to its vGIC may have changed what the fast timer path loads.
        irq::update_fast_timer(me, vm, vcpu);
    }
}

/// The CPU, VM and vCPU of a guest exit on this CPU.
fn hosted() -> (&'static PerCpu, VmId, VcpuId) {
    match percpu::this().and_then(|c| Some((c, c.hosts()?))) {
        Some((me, (vm, vcpu))) => (me, vm, vcpu),
        None => log::fatal(format_args!(
            "guest exception on cpu {}, which hosts no vCPU",
            log::CpuName(percpu::this_cpu())
        )),
    }
}

/// Runs the exit handler and acts on its answer.
fn handle(me: &'static PerCpu, vm: VmId, vcpu: VcpuId, regs: &mut Vcpu<'_>, exit: VcpuExit) {
    let next = vms::with_ctx(vm, |ctx| {
        handler::handle_exit(vcpu, regs, ctx, &HostImpl, exit)
    });
    if next == Next::Park {
        cpu_loop(me);
    }
    if !irq::is_direct(vm) && me.lr_dirty.load(Ordering::Relaxed) {
        irq::refresh_lrs(me, vm, vcpu);
    }
}

/// Entry from the vectors' HVC path: only x0..x18 and x30 of `frame` are valid (SMCCC
/// arguments and results live there); version and feature queries are answered
/// without looking at the VM.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_hvc(frame: &mut GuestRegs, esr: u64) {
    let imm = esr as u16;
    if imm == 0 {
        if let Some(v) = psci::stateless(frame.x[0], frame.x[1]) {
            // Not counted in the exit statistics: this path stays as short as it can.
            frame.x[0] = v;
            return;
        }
    }
    crate::stats::exit();
    let (me, vm, vcpu) = hosted();
    let exit = VcpuExit::Call {
        conduit: Conduit::Hvc,
        imm,
    };
    handle(me, vm, vcpu, &mut Vcpu { frame }, exit);
}
