//! The exception entries the vectors call (`asm.rs` in the arch crate): decode the
//! exit (`rtvisor_arch_aarch64::decode`), take the hypervisor's own interrupts, and
//! hand the rest to `run::handle`. The HVC path answers version and feature queries
//! before anything else, without looking at the VM.

use super::{irq, stack_end};
use crate::account;
use crate::log;
use crate::percpu::{self, PerCpu};
use crate::run;
use core::sync::atomic::Ordering;
use rtvisor_arch_aarch64::decode::{self, Decoded};
use rtvisor_arch_aarch64::exit;
use rtvisor_arch_aarch64::frame::GuestRegs;
use rtvisor_arch_aarch64::psci::{self, Call};
use rtvisor_arch_aarch64::vcpu::{EntryToken, HwEl1, Vcpu};
use rtvisor_core::account::Cause;
use rtvisor_core::exit::VcpuExit;
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
    if !direct && matches!(exit, VcpuExit::Mmio { .. } | VcpuExit::MemFault { .. }) {
        // A guest write to its vGIC may have changed what the fast timer path loads.
        irq::update_fast_timer(me, vm, vcpu);
    }
    t.finish(cause);
}

/// The CPU, VM and vCPU of a guest exit on this CPU.
#[inline(always)]
fn hosted() -> (CpuId, &'static PerCpu, VmId, VcpuId) {
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

/// Entry from the vectors' HVC path: only x0..x18 and x30 of `frame` are valid (SMCCC
/// arguments and results live there). Version and feature queries are answered
/// first, without looking at the VM, and are not counted as exits (`vcpu list`), only
/// as entries (`cpu stats`): this path stays as short as it can. The rest is decoded once.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_hvc(frame: &mut GuestRegs, esr: u64) {
    let t = account::start();
    let imm = esr as u16;
    if imm == 0 {
        if let Some(v) = psci::stateless(frame.x[0], frame.x[1]) {
            frame.x[0] = v;
            t.done(Cause::Call);
            return;
        }
    }
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
