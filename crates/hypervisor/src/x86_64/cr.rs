//! A guest's MOV to CR4, which both engines trap (`rtvisor_arch_x86_64::cr`): the
//! source register as the engine names it, or decoded from the instruction at the
//! guest's CS:RIP; the write checked against the CPU the guest sees (its CPUID);
//! then the guest's new CR4 and the step past the MOV, or #GP(0). A write the
//! hypervisor cannot take apart (the instruction changed under it, RSP as the
//! source, another control register) is #GP(0) too: the guest faults, nothing else.

use super::world::insn_at;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::exit::{Decoded, GP};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{cpu, cpuid, cr};
use rtvisor_core::ids::VmId;

/// Answers the trapped MOV of a general-purpose register (`gpr`, when the engine
/// names it) to control register `cr` by VM `vm`'s vCPU on `engine`.
pub(super) fn write(vm: VmId, engine: &mut Engine, d: Decoded, cr: u8, gpr: Option<u8>) {
    let rip = engine.rip();
    let source = match gpr {
        Some(g) => Some((g, d.next_rip)),
        None => insn_at(vm, engine, engine.cs_base().wrapping_add(rip))
            .and_then(|(bytes, n)| cr::decode_mov_to_cr(&bytes[..n]))
            .filter(|m| m.cr == cr)
            .map(|m| {
                let next = d.next_rip.unwrap_or(rip.wrapping_add(u64::from(m.len)));
                (m.gpr, Some(next))
            }),
    };
    let value = source.and_then(|(g, next)| Some((*engine.gprs().get_mut(g)?, next?)));
    let taken = match (cr, value) {
        (4, Some((v, next))) => {
            cr::cr4_write(v, engine.cr4(), engine.efer(), allowed()).map(|c| (c, next))
        }
        _ => None,
    };
    match taken {
        Some((c, next)) => {
            engine.set_cr4(c);
            engine.set_rip(next);
        }
        None => engine.inject(GP, Some(0)),
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
