//! A guest's trapped control-register MOVs (`rtvisor_arch_x86_64::cr`): writes of CR4
//! and CR0 (both engines; VMX traps only those that change an owned bit) and of CR8,
//! and reads of CR8. The register as the
//! engine names it, or decoded from the instruction at the guest's CS:RIP; a write
//! checked against the CPU the guest sees (its CPUID, its mode); then the guest's new
//! value (CR8: its x2APIC's TPR) and the step past the MOV, or #GP(0). An access the
//! hypervisor cannot take apart (the instruction changed under it, RSP as the
//! register, another control register) is #GP(0) too: the guest faults, nothing else.

use super::world::insn_at;
use crate::vms;
use rtvisor_arch_x86_64::cr::MovCr;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::exit::{Decoded, RawExit, GP};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{cpu, cpuid, cr};
use rtvisor_core::ids::{VcpuId, VmId};

/// Answers the trapped MOV `d` (a [`RawExit::CrWrite`] or [`RawExit::CrRead`]) of
/// vCPU `vcpu` of VM `vm` on `engine`.
pub(super) fn access(vm: VmId, vcpu: VcpuId, engine: &mut Engine, d: Decoded) {
    let (cr, gpr, write) = match d.exit {
        RawExit::CrWrite { cr, gpr } => (cr, gpr, true),
        RawExit::CrRead { cr, gpr } => (cr, gpr, false),
        _ => return engine.inject(GP, Some(0)),
    };
    let rip = engine.rip();
    let decode = if write {
        cr::decode_mov_to_cr
    } else {
        cr::decode_mov_from_cr
    };
    let reg = match gpr {
        Some(g) => Some((g, d.next_rip)),
        None => insn_at(vm, engine, engine.cs_base().wrapping_add(rip))
            .and_then(|(bytes, n)| decode(&bytes[..n]))
            .filter(|m: &MovCr| m.cr == cr)
            .map(|m| {
                let next = d.next_rip.unwrap_or(rip.wrapping_add(u64::from(m.len)));
                (m.gpr, Some(next))
            }),
    };
    // RSP is not in the saved registers (`get_mut` has no slot 4): refused.
    let Some((g, Some(next))) = reg.filter(|&(g, _)| engine.gprs().get_mut(g).is_some()) else {
        return engine.inject(GP, Some(0));
    };
    let done = if write {
        let value = engine.gprs().get_mut(g).map_or(0, |r| *r);
        write_cr(vm, vcpu, engine, cr, value)
    } else {
        read_cr(vm, vcpu, cr).map(|v| {
            if let Some(r) = engine.gprs().get_mut(g) {
                *r = v;
            }
        })
    };
    match done {
        Some(()) => engine.step_to(next),
        None => engine.inject(GP, Some(0)),
    }
}

/// MOV of `value` to control register `cr`; `None`: #GP(0).
fn write_cr(vm: VmId, vcpu: VcpuId, engine: &mut Engine, cr: u8, value: u64) -> Option<()> {
    match cr {
        0 => {
            let old = engine.cr0();
            let code64 = engine.code() == rtvisor_arch_x86_64::insn::Code::Bits64;
            let (c, efer) = cr::cr0_write(value, old, engine.efer(), engine.cr4(), code64)?;
            engine.set_cr0(c, efer);
        }
        4 => engine.set_cr4(cr::cr4_write(
            value,
            engine.cr4(),
            engine.efer(),
            allowed(),
        )?),
        8 => {
            let tpr = cr::cr8_write(value)?;
            vms::rt(vm).chip.tpr(vm, vcpu, Some(tpr))?;
        }
        _ => return None,
    }
    Some(())
}

/// MOV from control register `cr` (CR8: the TPR's class); `None`: #GP(0).
fn read_cr(vm: VmId, vcpu: VcpuId, cr: u8) -> Option<u64> {
    match cr {
        8 => Some(cr::cr8_read(vms::rt(vm).chip.tpr(vm, vcpu, None)?)),
        _ => None,
    }
}

/// The CR4 bits the guest may set: those its CPUID offers (`cpuid::for_guest` of
/// leaves 1 and 7.0).
fn allowed() -> u64 {
    let leaf = |l: u32| cpuid::for_guest(l, cpu::cpuid(l, 0));
    let leaf7 = if cpu::cpuid(0, 0)[0] >= 7 {
        leaf(7)
    } else {
        [0; 4]
    };
    cr::cr4_allowed(leaf(1), leaf7)
}
