//! The PL011 UART, polled (base from the device tree, QEMU `virt`'s by default).

use core::sync::atomic::{AtomicUsize, Ordering};

/// PL011 address on QEMU `virt` (used until the device tree says otherwise).
pub const DEFAULT_BASE: usize = 0x0900_0000;

const UARTDR: usize = 0x00;
const UARTFR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_RXFE: u32 = 1 << 4;
/// Polls of FR.TXFF before writing anyway (a broken FR must not hang us).
const TXFF_POLLS: u32 = 100_000;

static BASE: AtomicUsize = AtomicUsize::new(DEFAULT_BASE);

/// Sets the PL011 base address (called once by the primary during discovery).
pub fn set_base(base: usize) {
    BASE.store(base, Ordering::Release);
}

/// The PL011 base address in use.
pub fn base() -> usize {
    BASE.load(Ordering::Acquire)
}

fn read_fr(base: usize) -> u32 {
    let v: u32;
    // SAFETY: a 32-bit load from the PL011 flag register (base comes from the
    // device tree or the QEMU default); reading FR has no side effects.
    unsafe {
        core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) base + UARTFR, v = out(reg) v,
            options(nostack, preserves_flags));
    }
    v
}

/// Nothing to set up: firmware (QEMU) left the PL011 enabled.
pub fn init() {}

/// Writes one byte (waits, bounded, for room in the FIFO).
pub fn putb(b: u8) {
    let base = base();
    let mut polls = 0;
    while read_fr(base) & FR_TXFF != 0 && polls < TXFF_POLLS {
        polls += 1;
        super::cpu::relax();
    }
    // SAFETY: a 32-bit store to the PL011 data register transmits one byte.
    unsafe {
        core::arch::asm!("str {v:w}, [{a}]", a = in(reg) base + UARTDR, v = in(reg) u32::from(b),
            options(nostack, preserves_flags));
    }
}

/// A received byte, if the UART has one (polling: FR.RXFE, then DR).
pub fn try_getb() -> Option<u8> {
    let base = base();
    if read_fr(base) & FR_RXFE != 0 {
        return None;
    }
    let v: u32;
    // SAFETY: a 32-bit load from the PL011 data register takes one received byte.
    unsafe {
        core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) base + UARTDR, v = out(reg) v,
            options(nostack, preserves_flags));
    }
    Some(v as u8)
}

/// String port I/O does not exist on aarch64.
pub fn string_io(_line: &str) -> Option<bool> {
    None
}
