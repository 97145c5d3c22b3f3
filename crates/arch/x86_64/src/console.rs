//! The hypervisor's console: the 16550 UART at COM1 (I/O port 0x3F8, the PC
//! standard), polled, 115200 8N1, no interrupts.

use crate::cpu::{inb, outb};
use core::fmt::{self, Write};
use spin::Mutex;

/// COM1.
pub const COM1: u16 = 0x3F8;
const THR: u16 = 0;
const IER: u16 = 1;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const LSR_DR: u8 = 1;
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;

static LOCK: Mutex<()> = Mutex::new(());

/// Programs COM1: 115200 baud (divisor 1), 8N1, FIFOs on, interrupts off.
pub fn init() {
    // SAFETY: COM1 is the hypervisor's console; these writes only configure it.
    unsafe {
        outb(COM1 + IER, 0);
        outb(COM1 + LCR, 0x80);
        outb(COM1, 1);
        outb(COM1 + IER, 0);
        outb(COM1 + LCR, 0x03);
        outb(COM1 + FCR, 0xC7);
        outb(COM1 + MCR, 0x03);
    }
}

fn put(b: u8) {
    // SAFETY: COM1 belongs to the hypervisor; polling LSR and writing THR only sends.
    unsafe {
        // A missing UART reads 0xFF (THRE set), so this never spins for ever.
        while inb(COM1 + LSR) & LSR_THRE == 0 {
            crate::cpu::pause();
        }
        outb(COM1 + THR, b);
    }
}

/// Sends one byte as it is (the hypervisor's log adds its own line ends).
pub fn put_byte(b: u8) {
    put(b);
}

/// A received byte, if one waits.
pub fn get_byte() -> Option<u8> {
    // SAFETY: COM1 belongs to the hypervisor; LSR tells whether RBR holds a byte,
    // and reading RBR only takes it.
    unsafe { (inb(COM1 + LSR) & LSR_DR != 0).then(|| inb(COM1 + THR)) }
}

/// Waits (boundedly) until the UART has sent every byte, e.g. before powering off.
pub fn flush() {
    let _g = LOCK.lock();
    for _ in 0..10_000_000 {
        // SAFETY: reading LSR of the hypervisor's own UART has no side effects.
        if unsafe { inb(COM1 + LSR) } & LSR_TEMT != 0 {
            return;
        }
        crate::cpu::pause();
    }
}

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

/// Prints under the console lock, so lines of different CPUs never interleave.
pub fn print(args: fmt::Arguments<'_>) {
    let _g = LOCK.lock();
    let _ = Uart.write_fmt(args);
}

/// Prints from the fatal path: takes the lock if it can within a bound, else prints
/// anyway (the holder may be this very CPU, interrupted mid-line).
pub fn print_fatal(args: fmt::Arguments<'_>) {
    let mut guard = None;
    for _ in 0..1_000_000 {
        if let Some(g) = LOCK.try_lock() {
            guard = Some(g);
            break;
        }
        crate::cpu::pause();
    }
    let _ = Uart.write_fmt(args);
    drop(guard);
}

/// `println!` onto the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
