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
