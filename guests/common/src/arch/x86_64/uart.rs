//! The 16550 UART at COM1 (I/O port 0x3F8), polled: 115200 8N1, FIFOs on, no
//! interrupts.

use core::sync::atomic::{AtomicU16, Ordering};

use super::cpu::{inb, outb};

/// COM1.
pub const DEFAULT_BASE: u16 = 0x3f8;

const THR: u16 = 0; // transmit holding (DLAB = 0)
const RBR: u16 = 0; // receive buffer (DLAB = 0)
const IER: u16 = 1;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const LSR_DR: u8 = 1 << 0;
const LSR_THRE: u8 = 1 << 5;
/// Polls of LSR.THRE before writing anyway (a missing UART must not hang us).
const THRE_POLLS: u32 = 100_000;

static BASE: AtomicU16 = AtomicU16::new(DEFAULT_BASE);

/// Programs the UART: 115200 baud (divisor 1), 8N1, FIFOs enabled and cleared,
/// interrupts off, DTR and RTS set.
pub fn init() {
    let b = BASE.load(Ordering::Relaxed);
    outb(b + IER, 0);
    outb(b + LCR, 0x80);
    outb(b, 1);
    outb(b + 1, 0);
    outb(b + LCR, 0x03);
    outb(b + FCR, 0x07);
    outb(b + MCR, 0x03);
}

/// Writes one byte (waits, bounded, for the transmitter).
pub fn putb(b: u8) {
    let base = BASE.load(Ordering::Relaxed);
    let mut polls = 0;
    while inb(base + LSR) & LSR_THRE == 0 && polls < THRE_POLLS {
        polls += 1;
        core::hint::spin_loop();
    }
    outb(base + THR, b);
}

/// A received byte, if there is one.
pub fn try_getb() -> Option<u8> {
    let base = BASE.load(Ordering::Relaxed);
    (inb(base + LSR) & LSR_DR != 0).then(|| inb(base + RBR))
}

/// Writes `line` and a newline with one `REP OUTSB` to the transmit register, then
/// reads the line status register four times with one `REP INSB` and compares each
/// byte with a plain `IN` of it: whether the string forms read what `IN` reads
/// (`None` where the architecture has no string I/O). No waiting for the
/// transmitter: for a UART that takes every byte, such as a hypervisor's. The
/// caller holds the console lock.
pub fn string_io(line: &str) -> Option<bool> {
    let base = BASE.load(Ordering::Relaxed);
    let mut out = [0u8; 128];
    let n = line.len().min(out.len() - 1);
    out[..n].copy_from_slice(&line.as_bytes()[..n]);
    out[n] = b'\n';
    // SAFETY: REP OUTSB reads `n + 1` bytes of `out` (RSI, RCX) and writes the port
    // (DX); DF is clear (the ABI's default); RSI and RCX are clobbered.
    unsafe {
        core::arch::asm!(
            "rep outsb",
            inout("rsi") out.as_ptr() => _,
            inout("rcx") n + 1 => _,
            in("dx") base + THR,
            options(nostack, readonly, preserves_flags)
        )
    };
    let mut lsr = [0u8; 4];
    // SAFETY: REP INSB writes 4 bytes into `lsr` (RDI, RCX) from the port (DX); DF
    // clear; RDI and RCX are clobbered.
    unsafe {
        core::arch::asm!(
            "rep insb",
            inout("rdi") lsr.as_mut_ptr() => _,
            inout("rcx") lsr.len() => _,
            in("dx") base + LSR,
            options(nostack, preserves_flags)
        )
    };
    let plain = inb(base + LSR);
    Some(lsr.iter().all(|&b| b == plain))
}
