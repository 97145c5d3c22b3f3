//! CR0 writes a CPU refuses, CR8 as the local APIC's TPR, and XSETBV of invalid XCR0
//! values: each must raise #GP(0) (or be ignored) and leave this vCPU running; none
//! may break the hypervisor's next entry into the VM.
//!
//! `cr4=0` (bare QEMU, whose TCG takes some refused control-register values without
//! #GP) skips the refused CR0 and CR8 values, which bare would take.

use guest_common::exception::Fault;
use guest_common::guard;

use super::msr::rdmsr;
use super::special::{read_cr0, read_cr4, write_cr0, write_cr4, CR0_CD, CR0_NW};
use super::How;
use crate::report::{contained, leak, Outcome};

const CR0_PE: u64 = 1 << 0;
const CR0_PG: u64 = 1 << 31;
const CR4_OSXSAVE: u64 = 1 << 18;
/// The x2APIC TPR.
const X2APIC_TPR: u32 = 0x808;

fn read_cr8() -> u64 {
    let v: u64;
    // SAFETY: reading CR8 (the TPR's class) has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `mov cr8, v`, guarded.
fn write_cr8(v: u64) -> Result<(), Fault> {
    // SAFETY: CR8 only changes which interrupts this vCPU takes; the caller
    // restores it.
    guard::catch(|| unsafe { guest_common::guarded!("mov cr8, {v}", v = in(reg) v,) })
}

/// XCR0 (`xgetbv` with ECX 0; needs CR4.OSXSAVE).
fn xcr0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV of XCR0 only reads it; the caller set CR4.OSXSAVE.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// `xsetbv` of `value` into XCR `xcr`, guarded.
fn xsetbv(xcr: u32, value: u64) -> Result<(), Fault> {
    // SAFETY: XSETBV of a value the CPU must refuse (#GP), or the XCR0 the caller
    // read before; should a refused one be taken, the caller restores XCR0.
    guard::catch(|| unsafe {
        guest_common::guarded!(
            "xsetbv",
            in("ecx") xcr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
        )
    })
}

/// CR0 with a bit of 63:32 set, PG without PE, NW without CD, paging off in 64-bit
/// code: each must be #GP(0) with CR0 unchanged.
pub fn cr0_refused(with_refused: bool) -> Outcome {
    const CASE: &str = "cr0-refused";
    if !with_refused {
        return contained(CASE, format_args!("not tried (cr4=0)"));
    }
    let cr0 = read_cr0();
    let tries = [
        ("bit 32", cr0 | 1 << 32),
        ("PG without PE", cr0 & !CR0_PE),
        ("NW without CD", (cr0 | CR0_NW) & !CR0_CD),
        ("PG off in 64-bit code", cr0 & !CR0_PG),
    ];
    let mut first = None;
    for (name, v) in tries {
        match write_cr0(v) {
            Err(f) => {
                first.get_or_insert(f);
            }
            Ok(()) if read_cr0() != cr0 => return leak(CASE, format_args!("{} taken", name)),
            Ok(()) => return leak(CASE, format_args!("{} without #GP", name)),
        }
    }
    match first {
        Some(f) => contained(
            CASE,
            format_args!("{} values refused, e.g. {}", tries.len(), How(&f)),
        ),
        None => leak(CASE, format_args!("nothing tried")),
    }
}

/// CR8 is the TPR's class: a CR8 write reads back in the x2APIC TPR and the other
/// way round; a reserved CR8 bit is #GP(0). CR8 is 0 afterwards.
pub fn cr8_tpr(with_refused: bool) -> Outcome {
    const CASE: &str = "cr8-tpr";
    let x2apic = guest_common::arch::apic::x2apic();
    let mut wrong = None;
    for class in [5u64, 0xf, 0] {
        if let Err(f) = write_cr8(class) {
            return contained(CASE, format_args!("CR8 refused: {}", How(&f)));
        }
        let tpr = if x2apic { rdmsr(X2APIC_TPR).ok() } else { None };
        let back = read_cr8();
        if back != class || tpr.is_some_and(|t| t != class << 4) {
            wrong.get_or_insert((class, back, tpr));
        }
    }
    let _ = write_cr8(0);
    if let Some((class, back, tpr)) = wrong {
        return leak(
            CASE,
            format_args!("CR8 {} reads {} with TPR {:?}", class, back, tpr),
        );
    }
    if !with_refused {
        return contained(
            CASE,
            format_args!("CR8 is the TPR; reserved bits not tried"),
        );
    }
    match write_cr8(0x10) {
        Err(f) => {
            let _ = write_cr8(0);
            contained(
                CASE,
                format_args!("CR8 is the TPR; reserved bit refused, {}", How(&f)),
            )
        }
        Ok(()) => {
            let back = read_cr8();
            let _ = write_cr8(0);
            leak(CASE, format_args!("CR8 0x10 taken, reads {:#x}", back))
        }
    }
}

/// XCR0 without x87, AVX without SSE, and XCR 1: each #GP(0), after which the probe
/// runs on. Needs CR4.OSXSAVE (set for the case, then restored) where CPUID offers
/// XSAVE; without it XSETBV is #UD.
pub fn xsetbv_invalid() -> Outcome {
    const CASE: &str = "xsetbv-invalid";
    let (_, _, ecx, _) = guest_common::arch::cpu::cpuid(1, 0);
    let cr4 = read_cr4();
    if ecx & (1 << 26) == 0 {
        return match xsetbv(0, 0) {
            Err(f) => contained(CASE, format_args!("no XSAVE: {}", How(&f))),
            Ok(()) => leak(CASE, format_args!("XSETBV without XSAVE taken")),
        };
    }
    if let Err(f) = write_cr4(cr4 | CR4_OSXSAVE) {
        return contained(CASE, format_args!("CR4.OSXSAVE refused: {}", How(&f)));
    }
    let before = xcr0();
    let tries = [
        ("XCR0 0", 0, 0),
        ("AVX without SSE", 0, 0b101),
        ("XCR 1", 1, 1),
    ];
    let mut outcome = None;
    let mut first = None;
    for (name, xcr, value) in tries {
        match xsetbv(xcr, value) {
            Err(f) => {
                first.get_or_insert(f);
            }
            Ok(()) => {
                outcome.get_or_insert(name);
            }
        }
    }
    // XCR0 as it was, then CR4.
    let _ = xsetbv(0, before);
    let _ = write_cr4(cr4);
    match (outcome, first) {
        (Some(name), _) => leak(CASE, format_args!("{} taken", name)),
        (None, Some(f)) => contained(
            CASE,
            format_args!("{} values refused, e.g. {}", tries.len(), How(&f)),
        ),
        (None, None) => leak(CASE, format_args!("nothing tried")),
    }
}
