//! CPU identity, CPUID, MSRs, port I/O and idle helpers.

use core::arch::asm;

/// What the banner calls the privilege level: the CPL, 0 for this kernel-mode guest.
pub fn current_el() -> u8 {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe { asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags)) };
    (cs & 3) as u8
}

/// The name of the hardware CPU id in protocol lines.
pub const ID_NAME: &str = "apicid";

/// CPUID leaf `leaf`, subleaf `sub`: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// This CPU's local APIC id: the x2APIC id (CPUID 0xB) when the CPU has that leaf,
/// else the 8-bit id of CPUID 1.
pub fn apic_id() -> u64 {
    let (max, ..) = cpuid(0, 0);
    if max >= 0xb {
        let (_, ebx, _, edx) = cpuid(0xb, 0);
        if ebx != 0 {
            return u64::from(edx);
        }
    }
    u64::from(cpuid(1, 0).1 >> 24)
}

/// The hardware id of this CPU (the local APIC id).
pub fn hw_id() -> u64 {
    apic_id()
}

/// CPU vendor, from CPUID 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Intel,
    Amd,
    Other,
}

pub fn vendor() -> Vendor {
    let (_, b, c, d) = cpuid(0, 0);
    match (&b.to_le_bytes(), &d.to_le_bytes(), &c.to_le_bytes()) {
        (b"Genu", b"ineI", b"ntel") => Vendor::Intel,
        (b"Auth", b"enti", b"cAMD") | (b"Hygo", b"nGen", b"uine") => Vendor::Amd,
        _ => Vendor::Other,
    }
}

/// This vCPU's index (word 0 of its per-CPU block, addressed through GS).
pub fn index() -> usize {
    let v: u64;
    // SAFETY: GS points at this CPU's per-CPU block from the boot code on; reading
    // its first word has no side effects.
    unsafe {
        asm!("mov {}, qword ptr gs:[0]", out(reg) v, options(readonly, nostack, preserves_flags))
    };
    v as usize
}

/// RDMSR.
///
/// # Safety
/// `msr` must exist (else #GP) and reading it must have no side effect the caller
/// does not want.
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller guarantees the MSR.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// WRMSR.
///
/// # Safety
/// `msr` must exist and the value must be one the caller means to set.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees the MSR and the value.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
            options(nostack, preserves_flags))
    };
}

/// `in al, dx`.
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: port input only; the ports read here (UART, ACPI, PIT) have no read
    // side effects that break memory safety.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `out dx, al`.
pub fn outb(port: u16, v: u8) {
    // SAFETY: port output to the platform devices this runtime drives; no memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    };
}

/// `in ax, dx`.
pub fn inw(port: u16) -> u16 {
    let v: u16;
    // SAFETY: as in `inb`.
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `out dx, ax`.
pub fn outw(port: u16, v: u16) {
    // SAFETY: as in `outb`.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") v, options(nomem, nostack, preserves_flags))
    };
}

/// `in eax, dx`.
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as in `inb`.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `out dx, eax`.
pub fn outl(port: u16, v: u32) {
    // SAFETY: as in `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags))
    };
}

/// Halts until an interrupt (returns at once if one is pending and unmasked).
pub fn wfe() {
    // SAFETY: HLT only waits; interrupts keep their mask state.
    unsafe { asm!("hlt", options(nomem, nostack, preserves_flags)) };
}

/// Parks this CPU forever (interrupts masked).
pub fn park() -> ! {
    loop {
        // SAFETY: masking interrupts and halting only stops this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// The wait hint for spin loops (PAUSE).
pub fn relax() {
    core::hint::spin_loop();
}

/// Makes `[addr, addr+len)` visible to an observer that maps it uncached: x86 caches
/// are coherent with every CPU and device, so a store fence suffices.
pub fn clean_dcache(_addr: usize, _len: usize) {
    // SAFETY: a fence only orders memory accesses.
    unsafe { asm!("mfence", options(nostack, preserves_flags)) };
}
