//! rtvisor hypercalls on x86: VMCALL on Intel, VMMCALL on AMD (chosen by the CPUID
//! vendor), with Xen's register convention: RAX = function id (the same ids as on
//! aarch64, `0xC600_00nn`), arguments in RDI, RSI, RDX; the result in RAX
//! (docs/interfaces-draft.md).
//!
//! Without a hypervisor both instructions raise #UD; [`call`] then returns
//! NOT_SUPPORTED (-1) instead of faulting.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

use super::cpu::{vendor, Vendor};
use crate::guard;

/// rtvisor VERSION (the null call).
pub const VERSION: u64 = 0xc600_0000;
/// SMCCC/PSCI NOT_SUPPORTED.
pub const NOT_SUPPORTED: u64 = u64::MAX;

/// 0 = not chosen yet, 1 = VMCALL, 2 = VMMCALL.
static KIND: AtomicU8 = AtomicU8::new(0);

/// Whether hypercalls use VMMCALL (an AMD CPU).
pub fn uses_vmmcall() -> bool {
    let k = KIND.load(Ordering::Relaxed);
    let k = if k == 0 {
        let k = if vendor() == Vendor::Amd { 2 } else { 1 };
        KIND.store(k, Ordering::Relaxed);
        k
    } else {
        k
    };
    k == 2
}

/// The instruction's name, for diagnostics.
pub fn instruction() -> &'static str {
    if uses_vmmcall() {
        "vmmcall"
    } else {
        "vmcall"
    }
}

macro_rules! hypercall {
    ($insn:literal, $id:expr, $a1:expr, $a2:expr, $a3:expr) => {{
        let mut rax: u64 = $id;
        let (a1, a2, a3): (u64, u64, u64) = ($a1, $a2, $a3);
        // SAFETY: a hypercall: the hypervisor may clobber RDI, RSI, RDX (declared)
        // and touch memory (no `nomem`); without one, #UD is caught by `catch`.
        unsafe {
            crate::guarded!(
                $insn,
                inout("rax") rax,
                inout("rdi") a1 => _,
                inout("rsi") a2 => _,
                inout("rdx") a3 => _,
            )
        };
        rax
    }};
}

/// One hypercall; NOT_SUPPORTED when the instruction faults (no hypervisor).
pub fn call(id: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let r = guard::catch(|| {
        if uses_vmmcall() {
            hypercall!("vmmcall", id, a1, a2, a3)
        } else {
            hypercall!("vmcall", id, a1, a2, a3)
        }
    });
    r.unwrap_or(NOT_SUPPORTED)
}

/// Whether the null call works (a hypervisor answers it).
pub fn available() -> bool {
    call(VERSION, 0, 0, 0) != NOT_SUPPORTED
}

/// The null call (VERSION) between two TSC reads; the cycles between them (nothing is
/// subtracted: the second read is part of the figure). Call only when [`available`].
pub fn timed_null_call() -> u64 {
    let (lo0, hi0, lo1, hi1): (u32, u32, u32, u32);
    macro_rules! timed {
        ($insn:literal) => {
            // SAFETY: RDTSC, the hypercall, RDTSC; the hypervisor may clobber RDI,
            // RSI, RDX (declared) and touch memory (no `nomem`).
            unsafe {
                asm!("lfence", "rdtsc", "mov r8d, eax", "mov r9d, edx",
                    "mov eax, {id:e}", $insn, "rdtsc",
                    id = in(reg) VERSION as u32,
                    out("r8") lo0, out("r9") hi0, out("eax") lo1, out("edx") hi1,
                    out("rdi") _, out("rsi") _, options(nostack))
            }
        };
    }
    if uses_vmmcall() {
        timed!("vmmcall");
    } else {
        timed!("vmcall");
    }
    (u64::from(hi1) << 32 | u64::from(lo1)).wrapping_sub(u64::from(hi0) << 32 | u64::from(lo0))
}

/// The timed null call of the benchmark's hvc phase: the VERSION hypercall when a
/// hypervisor answers it; bare (the instruction faults) CPUID leaf 0 instead.
pub fn null_call() -> fn() -> u64 {
    if available() {
        timed_null_call
    } else {
        timed_cpuid
    }
}

/// CPUID leaf 0 between two TSC reads: the bare reference of the hvc phase (CPUID
/// exits to any hypervisor, and costs an emulator about what a null call does).
pub fn timed_cpuid() -> u64 {
    let (lo0, hi0, lo1, hi1): (u32, u32, u32, u32);
    // SAFETY: RDTSC, CPUID leaf 0, RDTSC; CPUID clobbers EBX, which Rust reserves, so
    // it is saved in R10 around it.
    unsafe {
        asm!("lfence", "rdtsc", "mov r8d, eax", "mov r9d, edx", "mov r10, rbx",
            "xor eax, eax", "xor ecx, ecx", "cpuid", "mov rbx, r10", "rdtsc",
            out("r8") lo0, out("r9") hi0, out("eax") lo1, out("edx") hi1,
            out("rcx") _, out("r10") _, options(nomem, nostack))
    };
    (u64::from(hi1) << 32 | u64::from(lo1)).wrapping_sub(u64::from(hi0) << 32 | u64::from(lo0))
}

/// A null call, untimed (the noisy neighbour's): VERSION, or nothing bare.
pub fn null() {
    let _ = call(VERSION, 0, 0, 0);
}

/// The timed operation of an aarch64-only benchmark row (`smc`, `unknown`, `gicd`):
/// none on x86_64.
pub fn timed_row(_metric: &str) -> Option<fn() -> u64> {
    None
}
