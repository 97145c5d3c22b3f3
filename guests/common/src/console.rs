//! Polling PL011 console with whole-line output.
//!
//! Lock discipline: `LOCK` (AtomicBool) is held for a whole line, so lines from
//! different vCPUs never interleave. A vCPU that cannot get it within
//! `LOCK_TIMEOUT_US` takes it anyway (the holder is assumed dead, e.g. it faulted
//! while printing): output may then mix, but nothing hangs silently.
//! Lines end with "\r\n".

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::timer;

/// PL011 address on QEMU `virt` (used until the device tree says otherwise).
pub const DEFAULT_BASE: usize = 0x0900_0000;

const UARTDR: usize = 0x00;
const UARTFR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_RXFE: u32 = 1 << 4;
/// Polls of FR.TXFF before writing anyway (a broken FR must not hang us).
const TXFF_POLLS: u32 = 100_000;
const LOCK_TIMEOUT_US: u64 = 1_000_000;

static BASE: AtomicUsize = AtomicUsize::new(DEFAULT_BASE);
static LOCK: AtomicBool = AtomicBool::new(false);

/// Sets the PL011 base address (called once by the primary during discovery).
pub fn set_base(base: usize) {
    BASE.store(base, Ordering::Release);
}

/// The PL011 base address in use.
pub fn base() -> usize {
    BASE.load(Ordering::Acquire)
}

/// The console, as handed out by [`with_lock`]; implements [`fmt::Write`].
pub struct Console {
    base: usize,
}

impl Console {
    fn read_fr(&self) -> u32 {
        let v: u32;
        // SAFETY: a 32-bit load from the PL011 flag register (base comes from the
        // device tree or the QEMU default); reading FR has no side effects.
        unsafe {
            core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) self.base + UARTFR, v = out(reg) v,
                options(nostack, preserves_flags));
        }
        v
    }

    /// Writes one byte (waits, bounded, for room in the FIFO).
    pub fn putb(&mut self, b: u8) {
        let mut polls = 0;
        while self.read_fr() & FR_TXFF != 0 && polls < TXFF_POLLS {
            polls += 1;
            crate::cpu::relax();
        }
        // SAFETY: a 32-bit store to the PL011 data register transmits one byte.
        unsafe {
            core::arch::asm!("str {v:w}, [{a}]", a = in(reg) self.base + UARTDR, v = in(reg) u32::from(b),
                options(nostack, preserves_flags));
        }
    }
}

impl Console {
    /// Writes `args` followed by the line end.
    pub fn write_line(&mut self, args: fmt::Arguments<'_>) {
        let _ = self.write_fmt(args);
        let _ = self.write_str("\r\n");
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            self.putb(b);
        }
        Ok(())
    }
}

fn acquire() {
    let mut deadline = None;
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        let now = timer::counter();
        let limit = *deadline.get_or_insert_with(|| now + timer::us_to_ticks(LOCK_TIMEOUT_US));
        if now >= limit {
            LOCK.store(true, Ordering::Relaxed);
            break;
        }
        crate::cpu::relax();
    }
}

/// Runs `f` with the console lock held (see the module doc for the discipline).
pub fn with_lock<R>(f: impl FnOnce(&mut Console) -> R) -> R {
    acquire();
    let r = f(&mut Console { base: base() });
    LOCK.store(false, Ordering::Release);
    r
}

/// A received byte, if the UART has one (polling: FR.RXFE, then DR).
pub fn try_getb() -> Option<u8> {
    let c = Console { base: base() };
    if c.read_fr() & FR_RXFE != 0 {
        return None;
    }
    let v: u32;
    // SAFETY: a 32-bit load from the PL011 data register takes one received byte.
    unsafe {
        core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) c.base + UARTDR, v = out(reg) v,
            options(nostack, preserves_flags));
    }
    Some(v as u8)
}

/// Reads one line typed on the console into `buf` (polling, no echo), up to a CR or
/// LF; returns its length (longer lines are cut at `buf.len()`).
pub fn read_line(buf: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        match try_getb() {
            Some(b'\r' | b'\n') if n > 0 => return n,
            Some(b'\r' | b'\n') => {}
            Some(b) if n < buf.len() => {
                buf[n] = b;
                n += 1;
            }
            Some(_) => {}
            None => crate::cpu::relax(),
        }
    }
}

/// Writes one formatted line; used by [`println!`](crate::println).
pub fn print_line(args: fmt::Arguments<'_>) {
    with_lock(|c| c.write_line(args));
}

/// Prints one line atomically with respect to other vCPUs.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::console::print_line(format_args!($($arg)*)) };
}
