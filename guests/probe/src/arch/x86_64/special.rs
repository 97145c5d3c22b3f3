//! Control-register tricks, the VMX and SVM instructions, whole-cache operations,
//! and the triple fault.

use core::sync::atomic::AtomicU64;

use guest_common::exception::Fault;
use guest_common::{guard, println};

use super::How;
use crate::report::{contained, leak, Outcome};

pub(super) const CR0_NW: u64 = 1 << 29;
pub(super) const CR0_CD: u64 = 1 << 30;
const CR4_VMXE: u64 = 1 << 13;
const CR4_SMXE: u64 = 1 << 14;
const CR4_RESERVED: u64 = 1 << 31;

pub(super) fn read_cr0() -> u64 {
    let v: u64;
    // SAFETY: reading CR0 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

pub(super) fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `mov cr0, v`, guarded; the caller restores.
pub(super) fn write_cr0(v: u64) -> Result<(), Fault> {
    // SAFETY: the callers' CR0 values change this vCPU's caching or must be refused;
    // #GP is caught. Should a broken hypervisor take a refused one, this vCPU alone
    // breaks (the probe's point).
    guard::catch(|| unsafe { guest_common::guarded!("mov cr0, {v}", v = in(reg) v,) })
}

/// `mov cr4, v`, guarded; the caller restores.
pub(super) fn write_cr4(v: u64) -> Result<(), Fault> {
    // SAFETY: the callers' CR4 values add one bit that must be refused, or OSXSAVE,
    // and are undone at once; #GP is caught.
    guard::catch(|| unsafe { guest_common::guarded!("mov cr4, {v}", v = in(reg) v,) })
}

/// CR0.CD|NW (caches off: this vCPU's business, may take effect), CR4.VMXE and
/// CR4.SMXE (no VM gets VMX or SMX: must be refused), a reserved CR4 bit (#GP).
/// Everything is undone. `with_cr4` false (bootarg `cr4=0`) leaves CR4 alone: QEMU
/// 7.2's TCG hangs on the #GP of a MOV to CR4 with a reserved bit, so the bare test
/// cannot take that path.
pub fn cr_tricks(with_cr4: bool) -> Outcome {
    const CASE: &str = "cr-tricks";
    let (cr0, cr4) = (read_cr0(), read_cr4());
    let cache = write_cr0(cr0 | CR0_CD | CR0_NW);
    let _ = write_cr0(cr0);
    let mut stuck = None;
    let mut first = None;
    if !with_cr4 {
        let cache = if cache.is_ok() {
            "taken, undone"
        } else {
            "refused"
        };
        return contained(
            CASE,
            format_args!("CR0.CD|NW {}; CR4 not tried (cr4=0)", cache),
        );
    }
    for (name, bit) in [
        ("VMXE", CR4_VMXE),
        ("SMXE", CR4_SMXE),
        ("bit 31", CR4_RESERVED),
    ] {
        match write_cr4(cr4 | bit) {
            Ok(()) if read_cr4() & bit != 0 => {
                stuck.get_or_insert(name);
            }
            Ok(()) => {}
            Err(f) => {
                first.get_or_insert(f);
            }
        }
        let _ = write_cr4(cr4);
    }
    if let Some(name) = stuck {
        return leak(CASE, format_args!("CR4.{} set", name));
    }
    let cache = if cache.is_ok() {
        "taken, undone"
    } else {
        "refused"
    };
    match first {
        Some(f) => contained(
            CASE,
            format_args!(
                "CR0.CD|NW {}; CR4 VMXE, SMXE, bit 31 refused, e.g. {}",
                cache,
                How(&f)
            ),
        ),
        None => contained(CASE, format_args!("CR0.CD|NW {}; CR4 bits ignored", cache)),
    }
}

/// A 4 KiB-aligned scratch page for the instructions' memory operands.
#[repr(C, align(4096))]
struct Page([AtomicU64; 512]);
static SCRATCH: Page = Page([const { AtomicU64::new(0) }; 512]);

/// Runs one instruction (raw bytes) with RAX and RCX pointing at the scratch page.
macro_rules! try_insn {
    ($bytes:literal) => {{
        let p = SCRATCH.0.as_ptr() as u64;
        guard::catch(|| {
            // SAFETY: a VMX or SVM instruction that must fault; should it run, its
            // memory operands point at the scratch page only (RAX, RCX), and RDX is
            // declared clobbered.
            unsafe {
                guest_common::guarded!(
                    $bytes,
                    inout("rax") p => _,
                    inout("rcx") p => _,
                    out("rdx") _,
                )
            }
        })
    }};
}

/// Every VMX and SVM instruction: each must fault (#UD, or #GP).
pub fn vmx_svm_instructions() -> Outcome {
    const CASE: &str = "vmx-svm-instructions";
    let tries: [(&str, Result<(), Fault>); 20] = [
        ("VMXON", try_insn!(".byte 0xf3, 0x0f, 0xc7, 0x30")),
        ("VMCLEAR", try_insn!(".byte 0x66, 0x0f, 0xc7, 0x30")),
        ("VMPTRLD", try_insn!(".byte 0x0f, 0xc7, 0x30")),
        ("VMPTRST", try_insn!(".byte 0x0f, 0xc7, 0x38")),
        ("VMREAD", try_insn!(".byte 0x0f, 0x78, 0xc1")),
        ("VMWRITE", try_insn!(".byte 0x0f, 0x79, 0xc1")),
        ("VMLAUNCH", try_insn!(".byte 0x0f, 0x01, 0xc2")),
        ("VMRESUME", try_insn!(".byte 0x0f, 0x01, 0xc3")),
        ("VMXOFF", try_insn!(".byte 0x0f, 0x01, 0xc4")),
        ("VMFUNC", try_insn!(".byte 0x0f, 0x01, 0xd4")),
        ("INVEPT", try_insn!(".byte 0x66, 0x0f, 0x38, 0x80, 0x01")),
        ("INVVPID", try_insn!(".byte 0x66, 0x0f, 0x38, 0x81, 0x01")),
        ("VMRUN", try_insn!(".byte 0x0f, 0x01, 0xd8")),
        ("VMLOAD", try_insn!(".byte 0x0f, 0x01, 0xda")),
        ("VMSAVE", try_insn!(".byte 0x0f, 0x01, 0xdb")),
        ("STGI", try_insn!(".byte 0x0f, 0x01, 0xdc")),
        ("CLGI", try_insn!(".byte 0x0f, 0x01, 0xdd")),
        ("SKINIT", try_insn!(".byte 0x0f, 0x01, 0xde")),
        ("INVLPGA", try_insn!(".byte 0x0f, 0x01, 0xdf")),
        ("GETSEC", try_insn!(".byte 0x0f, 0x37")),
    ];
    let (mut ud, mut other) = (0, 0);
    for (name, r) in &tries {
        match r {
            Ok(()) => return leak(CASE, format_args!("{} executed", name)),
            Err(f) if f.vector == 6 => ud += 1,
            Err(_) => other += 1,
        }
    }
    contained(
        CASE,
        format_args!(
            "{} instructions: {} #UD, {} other faults",
            tries.len(),
            ud,
            other
        ),
    )
}

/// WBINVD, then INVD, a few times each: whole-cache operations that would stall
/// (WBINVD) or drop the unwritten data of (INVD) every partition sharing the cache.
/// Under rtvisor both are stepped over; contained when each came back (or faulted)
/// and this VM runs on.
pub fn cache_flush() -> Outcome {
    const CASE: &str = "cache-invd-wbinvd";
    const ROUNDS: u32 = 16;
    let (mut back, mut faults) = (0, 0);
    for _ in 0..ROUNDS {
        for r in [
            // SAFETY: a whole-cache write-back: no memory effect this program sees.
            guard::catch(|| unsafe { guest_common::guarded!("wbinvd",) }),
            // SAFETY: INVD: under rtvisor stepped over; bare (QEMU) a no-op. Its
            // caches hold nothing this program has not written back just before.
            guard::catch(|| unsafe { guest_common::guarded!("invd",) }),
        ] {
            match r {
                Ok(()) => back += 1,
                Err(_) => faults += 1,
            }
        }
    }
    contained(
        CASE,
        format_args!(
            "{} WBINVD and INVD: {} came back, {} faulted",
            2 * ROUNDS,
            back,
            faults
        ),
    )
}

/// The last act: an exception with no IDT to deliver it, a triple fault. Under
/// rtvisor only this VM restarts; bare, the machine resets.
pub fn triple_fault() -> ! {
    println!("probe-diag: triple fault now");
    guest_common::arch::exception::triple_fault()
}
