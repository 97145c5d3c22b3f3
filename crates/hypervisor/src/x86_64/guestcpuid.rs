//! The guest's CPUID, answered by the world loop (its light path and the full one).

use super::hw;
use super::world::Resume;
use rtvisor_arch_x86_64::answer::Exited;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::exit::{Decoded, RawExit};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{cpu, cpuid};
use rtvisor_core::ids::VmId;
use rtvisor_core::seam::ArchVcpu;

/// Answers CPUID as the guest sees the CPU: the host's, with the hypervisor bit, no
/// VMX or SVM, the APIC bits `apic` of leaf 1 ECX set ([`apic_bits`]: an emulated
/// x2APIC with TSC-deadline timer; in direct mode the core's own APIC as the host
/// has it, with the TSC-deadline mode the hypervisor may add), the vCPU's APIC id, and
/// rtvisor's leaves: 0x4000_0000 (the signature) and 0x4000_0010 (TSC kHz); leaf
/// 0x15 gives the measured TSC rate too (`hw::tsc_crystal_leaf`).
pub(super) fn answer(engine: &mut Engine, d: Decoded, apic_id: u32, apic: u32) {
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
                    r[2] |= apic;
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

/// CPUID leaf 1 ECX: x2APIC (bit 21) and the TSC-deadline timer (bit 24), which the
/// emulated APIC has.
pub(super) const EMULATED_APIC: u32 = 1 << 21 | 1 << 24;

/// The APIC bits of CPUID leaf 1 ECX that VM `vm`'s guests see set beyond the
/// host's: the emulated APIC's, or in direct mode what the hypervisor adds to the
/// core's own APIC (`direct::cpuid_apic_bits`).
pub(super) fn apic_bits(vm: VmId) -> u32 {
    if super::direct::is_direct(vm) {
        super::direct::cpuid_apic_bits()
    } else {
        EMULATED_APIC
    }
}

const fn sig(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}
