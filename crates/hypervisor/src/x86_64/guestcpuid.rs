//! The guest's CPUID, answered by the world loop (its light path and the full one).

use super::hw;
use super::world::Resume;
use rtvisor_arch_x86_64::answer::Exited;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::exit::{Decoded, RawExit};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{cpu, cpuid};
use rtvisor_core::seam::ArchVcpu;

/// Answers CPUID as the guest sees the CPU: the host's, with the hypervisor bit, no
/// VMX or SVM, an x2APIC with TSC-deadline timer (both emulated: `emulated`; in
/// direct mode the core's own APIC as the host has it), the vCPU's APIC id, and
/// rtvisor's leaves: 0x4000_0000 (the signature) and 0x4000_0010 (TSC kHz); leaf
/// 0x15 gives the measured TSC rate too (`hw::tsc_crystal_leaf`).
pub(super) fn answer(engine: &mut Engine, d: Decoded, apic_id: u32, emulated: bool) {
    let RawExit::Cpuid { leaf, sub } = d.exit else {
        return;
    };
    let r = match leaf {
        0x4000_0000 => [0x4000_0010, sig(b"rtvi"), sig(b"sor "), sig(b"    ")],
        0x4000_0010 => [hw::tsc_khz() as u32, 0, 0, 0],
        0x15 => hw::tsc_crystal_leaf(),
        0x4000_0001..=0x4000_00ff => [0; 4],
        _ => {
            let mut r = cpuid::for_guest(leaf, cpu::cpuid(leaf, sub));
            match leaf {
                1 => {
                    r[1] = (r[1] & 0x00ff_ffff) | (apic_id << 24);
                    if emulated {
                        r[2] |= 1 << 21 | 1 << 24;
                    }
                }
                0xb | 0x1f => r[3] = apic_id,
                _ => {}
            }
            r
        }
    };
    let g = engine.gprs();
    (g.rax, g.rbx, g.rcx, g.rdx) = (r[0].into(), r[1].into(), r[2].into(), r[3].into());
    Exited::<Engine, Resume>::new(engine, d, None).skip();
}

const fn sig(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}
