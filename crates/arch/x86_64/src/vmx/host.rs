//! The host-state area of a VMCS: what the CPU loads on every VM exit, taken from
//! this CPU's own state (selectors, control registers, FS/GS base, the TSS of its
//! GDT, GDTR/IDTR, EFER and PAT).

use super::engine::VmxFail;
use super::fields::*;
use super::vmcs::vmwrite;
use crate::cpu::{self, rdmsr};
use crate::vendor::msr;
use core::arch::asm;

/// The host's selectors (CS, SS, DS, ES, FS, GS, TR), with RPL/TI cleared.
fn host_selectors() -> [u16; 7] {
    let (cs, ss, ds, es, fs, gs, tr): (u16, u16, u16, u16, u16, u16, u16);
    // SAFETY: reading segment selectors and the task register has no side effects.
    unsafe {
        asm!(
            "mov {0:x}, cs", "mov {1:x}, ss", "mov {2:x}, ds", "mov {3:x}, es",
            "mov {4:x}, fs", "mov {5:x}, gs", "str {6:x}",
            out(reg) cs, out(reg) ss, out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs,
            out(reg) tr, options(nomem, nostack, preserves_flags)
        )
    };
    [cs, ss, ds, es, fs, gs, tr].map(|x| x & !7)
}

/// The base of GDTR or IDTR (`sgdt`/`sidt`) and, for the GDT, the TSS base of the
/// descriptor at selector `tr`.
fn host_tables(tr: u16) -> (u64, u64, u64) {
    #[repr(C, packed)]
    #[derive(Default)]
    struct Dtr {
        limit: u16,
        base: u64,
    }
    let (mut g, mut i) = (Dtr::default(), Dtr::default());
    // SAFETY: SGDT/SIDT store ten bytes into the locals given.
    unsafe {
        asm!("sgdt [{}]", "sidt [{}]", in(reg) &mut g, in(reg) &mut i, options(nostack, preserves_flags))
    };
    let (gbase, ibase) = (g.base, i.base);
    let d = gbase + u64::from(tr);
    // SAFETY: the GDT is this CPU's own, mapped, and TR selects a 16-byte system
    // descriptor inside it (gdt.rs).
    let (lo, hi) = unsafe { ((d as *const u64).read(), ((d + 8) as *const u64).read()) };
    let tss = (lo >> 16 & 0xFF_FFFF) | (lo >> 56 & 0xFF) << 24 | (hi & 0xFFFF_FFFF) << 32;
    (gbase, ibase, tss)
}

/// Writes the host-state fields of the current VMCS from this CPU's state (host RSP
/// and RIP are written by the world switch).
pub(super) fn write_host_state() -> Result<(), VmxFail> {
    let [cs, ss, ds, es, fs, gs, tr] = host_selectors();
    let (gdt, idt, tss) = host_tables(tr);
    // SAFETY: these MSRs exist on every x86_64 CPU.
    let (efer, pat, fsb, gsb) = unsafe {
        (
            rdmsr(msr::EFER),
            rdmsr(0x277),
            rdmsr(0xC000_0100),
            rdmsr(0xC000_0101),
        )
    };
    for (f, v) in [
        (HOST_CS_SEL, cs),
        (HOST_SS_SEL, ss),
        (HOST_DS_SEL, ds),
        (HOST_ES_SEL, es),
        (HOST_FS_SEL, fs),
        (HOST_GS_SEL, gs),
        (HOST_TR_SEL, tr),
    ] {
        vmwrite(f, u64::from(v))?;
    }
    for (f, v) in [
        (HOST_CR0, cpu::cr0()),
        (HOST_CR3, cpu::cr3()),
        (HOST_CR4, cpu::cr4()),
        (HOST_FS_BASE, fsb),
        (HOST_GS_BASE, gsb),
        (HOST_TR_BASE, tss),
        (HOST_GDTR_BASE, gdt),
        (HOST_IDTR_BASE, idt),
        (HOST_IA32_EFER, efer),
        (HOST_IA32_PAT, pat),
        (HOST_SYSENTER_CS, 0),
    ] {
        vmwrite(f, v)?;
    }
    Ok(())
}
