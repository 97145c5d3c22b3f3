//! The exception entries the vectors call (`asm.rs` in the arch crate): decode the
//! exit (`rtvisor_arch_aarch64::decode`), take the hypervisor's own interrupts, and
//! hand the rest to `run::handle`. Three light paths save only the registers a call
//! can clobber: HVC and SMC (version and feature queries answered before anything
//! else, without looking at the VM; unknown function ids refused; doorbell rings done
//! without the exit handler), ICC_SGI1R_EL1 writes (the IPI), and FIQs (kicks of a
//! virtual-mode vCPU: interrupts taken, list registers refreshed). What they do not
//! finish goes the full way.

use super::{irq, stack_end};
use crate::account;
use crate::log;
use crate::percpu::{self, PerCpu};
use crate::run;
use crate::vms;
use core::sync::atomic::Ordering;
use rtvisor_arch_aarch64::chip::RESERVED_SGIS;
use rtvisor_arch_aarch64::decode::{self, Decoded};
use rtvisor_arch_aarch64::exit;
use rtvisor_arch_aarch64::frame::GuestRegs;
use rtvisor_arch_aarch64::psci::{self, Call, PsciError, Quick};
use rtvisor_arch_aarch64::vcpu::{EntryToken, HwEl1, Vcpu};
use rtvisor_arch_aarch64::{cpu, fast};
use rtvisor_config::tables::LogLevel;
use rtvisor_core::account::Cause;
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::hypercall::NR_DOORBELL_RING;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};

/// Entry from the exception vectors for everything but the HVC and fast IRQ paths.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_exception(frame: &mut GuestRegs, kind: u64) {
    if !exit::from_guest(kind) {
        log::fatal(format_args!(
            "hypervisor {} exception on cpu {}: ESR={:#x} FAR={:#x} ELR={:#x}",
            exit::kind_name(kind),
            percpu::this_index(),
            rtvisor_arch_aarch64::read_sysreg!(esr_el2),
            rtvisor_arch_aarch64::read_sysreg!(far_el2),
            frame.elr,
        ));
    }
    let t = account::start();
    crate::stats::exit();
    let (cpu, me, vm, vcpu) = hosted();
    let exit = match decode::decode(kind, &HwEl1, &frame.x) {
        Decoded::Exit(e) => e,
        Decoded::Answer(x0) => {
            Vcpu::new(frame, HwEl1).answer(x0);
            t.done(Cause::Call);
            return;
        }
    };
    let direct = irq::is_direct(vm);
    let dirty = &me.arch.lr_dirty;
    let mut cause = account::of_exit(&exit);
    if exit == VcpuExit::Interrupt {
        let mut found = None;
        let kicked = irq::drain(me, Some((vm, vcpu)), direct, &mut found);
        cause = found.unwrap_or(Cause::Spurious);
        t.count(cause);
        if !kicked {
            // Only interrupts for the guest: nothing for the exit handler to decide.
            if !direct && dirty.load(Ordering::Relaxed) {
                irq::refresh_lrs(me, vm, vcpu);
            }
            t.finish(cause);
            return;
        }
    } else {
        t.count(cause);
    }
    if exit == VcpuExit::Interrupt {
        // A kick from another CPU: its vGIC change is why it kicked. Reload the list
        // registers whatever `lr_dirty` says (a lost flag was seen under load).
        dirty.store(true, Ordering::Relaxed);
    }
    handle(cpu, me, vm, vcpu, frame, exit);
    let wrote = matches!(
        exit,
        VcpuExit::Mmio { write: true, .. } | VcpuExit::MemFault { write: true, .. }
    );
    if !direct && wrote {
        // A guest write to its vGIC may have changed what the fast timer path loads.
        irq::update_fast_timer(me, vm, vcpu);
    }
    t.finish(cause);
}

/// The CPU, VM and vCPU of a guest exit on this CPU.
#[inline(always)]
pub(super) fn hosted() -> (CpuId, &'static PerCpu, VmId, VcpuId) {
    let cpu = percpu::this_cpu();
    match cpu.and_then(|c| Some((c, percpu::of(c)?))) {
        Some((c, me)) => match me.hosts() {
            Some((vm, vcpu)) => (c, me, vm, vcpu),
            None => no_vcpu(),
        },
        None => no_vcpu(),
    }
}

#[cold]
fn no_vcpu() -> ! {
    log::fatal(format_args!(
        "guest exception on cpu {}, which hosts no vCPU",
        percpu::this_index()
    ))
}

/// Runs the exit handler and acts on its answer.
#[inline(always)]
fn handle(
    cpu: CpuId,
    me: &'static PerCpu,
    vm: VmId,
    vcpu: VcpuId,
    frame: &mut GuestRegs,
    exit: VcpuExit,
) {
    let mut v = Vcpu::new(frame, HwEl1);
    // SAFETY: this is the exception entry: the guest frame at the top of this CPU's
    // stack is the only thing above this handler, and a vCPU that parks never returns
    // to it.
    let entry = || unsafe { EntryToken::new(stack_end(me)) };
    run::handle(cpu, me, vm, vcpu, &mut v, exit, entry);
    if !irq::is_direct(vm) && me.arch.lr_dirty.load(Ordering::Relaxed) {
        irq::refresh_lrs(me, vm, vcpu);
    }
}

/// Entry from the vectors' HVC path, which SMC takes too (stepped over already): only
/// x0..x18 and x30 of `frame` are valid (SMCCC arguments and results live there).
/// Version and feature queries are answered first, without looking at the VM, and are
/// not counted as exits (`vcpu list`), only as entries (`cpu stats`, with the
/// accounting build): this path stays as short as it can. An unknown function id
/// is refused from the same first look unless debug lines are on; a doorbell ring is
/// done by [`hvc_ring`]; the rest is decoded once more for the exit handler.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_hvc(frame: &mut GuestRegs, esr: u64) {
    let t = account::start();
    let imm = esr as u16;
    if imm == 0 {
        match psci::quick(frame.x[0], frame.x[1]) {
            Quick::Answer(v) => {
                frame.x[0] = v;
                t.done(Cause::Call);
                return;
            }
            // Refused without the VM: the exit handler would only add a debug line.
            Quick::Unknown if !log::enabled(LogLevel::Debug) => {
                t.count(Cause::Call);
                crate::stats::exit();
                frame.x[0] = PsciError::NotSupported.to_x0();
                t.finish(Cause::Call);
                return;
            }
            Quick::Handler => {
                if let Some((NR_DOORBELL_RING, [index, _])) =
                    psci::hypercall(frame.x[0], frame.x[1], frame.x[2])
                {
                    return hvc_ring(frame, index, t);
                }
            }
            Quick::Unknown => {}
        }
    }
    hvc_exit(frame, imm, t);
}

/// A doorbell ring of region `index` from [`rtvisor_hvc`], answered without the exit
/// handler: the same checks (the vCPU's VM still runs it, the caller is a peer of the
/// region, each peer it pulses runs) and the same pulses and kicks in
/// `doorbell::ring`, counted as the full path counts a call (an exit of cause
/// `Call`; the kicks it sends count as doorbells on the CPUs they reach). A vCPU its
/// VM no longer runs takes the exit handler, which parks it.
#[inline(never)]
fn hvc_ring(frame: &mut GuestRegs, index: u64, t: account::Entry) {
    t.count(Cause::Call);
    let (cpu, me, vm, vcpu) = hosted();
    crate::stats::exit_on(cpu);
    if vms::rt(vm).life.should_run(vcpu) {
        frame.x[0] = if crate::doorbell::ring(vm, index) {
            0
        } else {
            PsciError::InvalidParameters.to_x0()
        };
        if !irq::is_direct(vm) && me.arch.lr_dirty.load(Ordering::Relaxed) {
            irq::refresh_lrs(me, vm, vcpu);
        }
    } else {
        let exit = VcpuExit::Hypercall {
            nr: NR_DOORBELL_RING,
            args: [index, 0],
        };
        handle(cpu, me, vm, vcpu, frame, exit);
    }
    t.finish(Cause::Call);
}

/// The rest of [`rtvisor_hvc`]: a call for the exit handler. Out of line, so that the
/// answers above run without a stack frame of their own (no callee-saved register to
/// keep, no return address to save).
#[inline(never)]
fn hvc_exit(frame: &mut GuestRegs, imm: u16, t: account::Entry) {
    t.count(Cause::Call);
    crate::stats::exit();
    let args = [frame.x[0], frame.x[1], frame.x[2], frame.x[3]];
    match psci::stateful_call(imm, args) {
        Call::Answer(x0) => frame.x[0] = x0,
        Call::Exit(exit) => {
            let (cpu, me, vm, vcpu) = hosted();
            handle(cpu, me, vm, vcpu, frame, exit);
        }
    }
    t.finish(Cause::Call);
}

/// Entry from the vectors' system-register path: only x0..x18 and x30 of `frame` are
/// valid. A write of ICC_SGI1R_EL1 (the IPI of either interrupt mode) is done here,
/// without the exit handler, and returns 1: the vector steps over the instruction.
/// Anything else returns 0, and the vector completes the frame and takes the full
/// path (`rtvisor_exception`). Not a place to decide anything about the VM's life: a
/// stop is a kick, which the guest takes right after the return.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_sysreg(frame: &mut GuestRegs, esr: u64) -> u64 {
    let t = account::start();
    let Some(value) = decode::sgi1r_write(esr, &frame.x) else {
        // Counted by the full path.
        return 0;
    };
    t.count(Cause::SysReg);
    crate::stats::exit();
    // Direct mode, to the VM's own cores: the value goes to the hardware as it is.
    if fast::direct_sgi(cpu::this_index() as usize, value, RESERVED_SGIS) {
        t.finish(Cause::SysReg);
        return 1;
    }
    let (_, me, vm, vcpu) = hosted();
    let direct = irq::is_direct(vm);
    if direct {
        vms::with_ctx(vm, |ctx| ctx.chip.sgi1r_write(ctx, vcpu, value));
    } else {
        // The vGIC model only: no handler context to build.
        vms::rt(vm).chip.sgi1r_virtual(vm, vcpu, value);
    }
    if !direct && me.arch.lr_dirty.load(Ordering::Relaxed) {
        // An SGI to itself.
        irq::refresh_lrs(me, vm, vcpu);
    }
    t.finish(Cause::SysReg);
    1
}

/// Entry from the vectors' FIQ path (the hypervisor's Group-0 interrupts: kicks, its
/// timer, a halt): only x0..x18 and x30 of `frame` are valid. For a virtual-mode vCPU
/// whose VM still runs it, the interrupts are taken and the list registers refreshed
/// here, and it returns 1; a vCPU its VM no longer runs goes through the exit handler
/// from here (and parks). Direct mode returns 0: the full path.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_fiq(frame: &mut GuestRegs) -> u64 {
    let t = account::start();
    let (cpu, me, vm, vcpu) = hosted();
    if irq::is_direct(vm) {
        // Counted by the full path.
        return 0;
    }
    crate::stats::exit_on(cpu);
    let mut found = None;
    // Group 1 (the guest's) is taken as an IRQ after the return, if any is pending.
    let kicked = irq::drain_group0(me, Some(cpu), false, &mut found);
    // Before the exit handler: a vCPU that parks does not come back here.
    let cause = found.unwrap_or(Cause::Spurious);
    t.count(cause);
    if kicked {
        // A kick: its vGIC change is why it came (see `rtvisor_exception`).
        me.arch.lr_dirty.store(true, Ordering::Relaxed);
        if !vms::rt(vm).life.should_run(vcpu) {
            handle(cpu, me, vm, vcpu, frame, VcpuExit::Interrupt);
        }
    }
    if me.arch.lr_dirty.load(Ordering::Relaxed) {
        irq::refresh_lrs_inline(me, cpu.index(), vm, vcpu);
    }
    t.finish(cause);
    1
}
