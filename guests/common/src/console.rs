//! Whole-line console output over the architecture's UART (PL011 on aarch64, the
//! 16550 at COM1 on x86_64, both polled).
//!
//! Lock discipline: `LOCK` (AtomicBool) is held for a whole line, so lines from
//! different vCPUs never interleave. A vCPU that cannot get it within
//! `LOCK_TIMEOUT_US` takes it anyway (the holder is assumed dead, e.g. it faulted
//! while printing): output may then mix, but nothing hangs silently.
//! Lines end with "\r\n".

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::uart;
use crate::timer;

const LOCK_TIMEOUT_US: u64 = 1_000_000;

static LOCK: AtomicBool = AtomicBool::new(false);

/// The console, as handed out by [`with_lock`]; implements [`fmt::Write`].
pub struct Console {
    _private: (),
}

impl Console {
    /// Writes one byte (waits, bounded, for the UART).
    pub fn putb(&mut self, b: u8) {
        uart::putb(b);
    }

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
    let r = f(&mut Console { _private: () });
    LOCK.store(false, Ordering::Release);
    r
}

/// A received byte, if the UART has one (polling).
pub fn try_getb() -> Option<u8> {
    uart::try_getb()
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
/// Prints `line` with the architecture's string port output (x86_64: one `REP
/// OUTSB` to COM1) and checks its string port input against plain reads; `None`
/// where there is none (aarch64).
pub fn string_io_line(line: &str) -> Option<bool> {
    with_lock(|_| uart::string_io(line))
}

pub fn print_line(args: fmt::Arguments<'_>) {
    with_lock(|c| c.write_line(args));
}

/// Prints one line atomically with respect to other vCPUs.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::console::print_line(format_args!($($arg)*)) };
}
