//! CPU primitives: port I/O, MSRs, control registers, CPUID, halting.

use crate::cpuid::{Features, Leaves, Vendor};
use core::arch::asm;
use core::arch::x86_64::__cpuid_count;

/// Reads an 8-bit I/O port.
///
/// # Safety
/// The port must belong to a device the hypervisor owns; reading it may have side
/// effects on that device.
pub unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: port I/O has no memory effects; the caller vouches for the device.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Writes an 8-bit I/O port.
///
/// # Safety
/// As [`inb`]: the port must belong to a device the hypervisor owns.
pub unsafe fn outb(port: u16, v: u8) {
    // SAFETY: as above.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    };
}

/// Reads a 16-bit I/O port.
///
/// # Safety
/// As [`inb`].
pub unsafe fn inw(port: u16) -> u16 {
    let v: u16;
    // SAFETY: as above.
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Writes a 16-bit I/O port.
///
/// # Safety
/// As [`inb`].
pub unsafe fn outw(port: u16, v: u16) {
    // SAFETY: as above.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") v, options(nomem, nostack, preserves_flags))
    };
}

/// Reads a 32-bit I/O port.
///
/// # Safety
/// As [`inb`].
pub unsafe fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as above.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Reads an MSR.
///
/// # Safety
/// The MSR must exist on this CPU (else #GP).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller checked that the MSR exists.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// Writes an MSR.
///
/// # Safety
/// The MSR must exist and the value must keep the hypervisor's own state intact.
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: the caller vouches for the MSR and the value.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack, preserves_flags))
    };
}

macro_rules! control_register {
    ($read:ident, $write:ident, $reg:literal) => {
        pub fn $read() -> u64 {
            let v: u64;
            // SAFETY: reading a control register has no side effects at CPL 0.
            unsafe { asm!(concat!("mov {}, ", $reg), out(reg) v, options(nomem, nostack, preserves_flags)) };
            v
        }

        /// Writes the control register.
        ///
        /// # Safety
        /// The value must keep paging, protection and the running code valid.
        pub unsafe fn $write(v: u64) {
            // SAFETY: the caller vouches for the value.
            unsafe { asm!(concat!("mov ", $reg, ", {}"), in(reg) v, options(nostack, preserves_flags)) };
        }
    };
}

control_register!(cr0, write_cr0, "cr0");
control_register!(cr3, write_cr3, "cr3");
control_register!(cr4, write_cr4, "cr4");

pub fn cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub const CR0_WP: u64 = 1 << 16;
pub const CR4_VMXE: u64 = 1 << 13;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;
pub const EFER_NXE: u64 = 1 << 11;

/// Flushes every non-global TLB entry of this CPU (reloads CR3).
pub fn flush_tlb() {
    // SAFETY: writing back the current CR3 changes no mapping.
    unsafe { write_cr3(cr3()) };
}

/// CPUID leaf `leaf`, subleaf `sub`: eax, ebx, ecx, edx.
pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let r = __cpuid_count(leaf, sub);
    [r.eax, r.ebx, r.ecx, r.edx]
}

pub fn vendor() -> Vendor {
    let [_, b, c, d] = cpuid(0, 0);
    Vendor::from_leaf0(b, d, c)
}

pub fn features() -> Features {
    let max = cpuid(0, 0)[0];
    let max_ext = cpuid(0x8000_0000, 0)[0];
    let l1 = cpuid(1, 0);
    let l7 = if max >= 7 { cpuid(7, 0) } else { [0; 4] };
    let e1 = if max_ext >= 0x8000_0001 {
        cpuid(0x8000_0001, 0)
    } else {
        [0; 4]
    };
    Features::decode(&Leaves {
        l1_ecx: l1[2],
        l1_edx: l1[3],
        l7_ebx: l7[1],
        e1_ecx: e1[2],
        e1_edx: e1[3],
    })
}

/// This CPU's APIC id: the x2APIC id of leaf 0xB when the CPU has it, else the
/// 8-bit id of leaf 1.
pub fn apic_id() -> u32 {
    if cpuid(0, 0)[0] >= 0xB && cpuid(0xB, 0)[1] != 0 {
        cpuid(0xB, 0)[3]
    } else {
        crate::cpuid::leaf1_apic_id(cpuid(1, 0)[1])
    }
}

pub fn pause() {
    core::hint::spin_loop();
}

/// Stops this CPU for good: interrupts off, halt (an NMI returns to the loop).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: cli/hlt only stop this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Makes XSETBV usable on this CPU and puts XCR0 at reset (x87 only), when the CPU
/// has XSAVE (CPUID leaf 1 ECX bit 26); returns whether it has. The hypervisor keeps
/// no state under XCR0 (soft-float, see `crate::xcr`): CR4.OSXSAVE only lets it
/// write the register for its guests.
pub fn reset_xcr0() -> bool {
    if cpuid(1, 0)[2] & (1 << 26) == 0 {
        return false;
    }
    // SAFETY: OSXSAVE may be set when CPUID reports XSAVE; it changes nothing the
    // hypervisor's own code uses.
    unsafe { write_cr4(cr4() | crate::cr::CR4_OSXSAVE) };
    // SAFETY: OSXSAVE is on and x87 alone is always a valid XCR0.
    unsafe { xsetbv(crate::xcr::XCR0_RESET) };
    true
}

/// Writes XCR0.
///
/// # Safety
/// CR4.OSXSAVE is on and `v` is valid for this CPU (`crate::xcr::xsetbv_ok` with
/// its leaf 0xD), else #GP.
pub unsafe fn xsetbv(v: u64) {
    // SAFETY: the caller checked the value and OSXSAVE.
    unsafe {
        asm!("xsetbv", in("ecx") 0u32, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nomem, nostack, preserves_flags))
    };
}
