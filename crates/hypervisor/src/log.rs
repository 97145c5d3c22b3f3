//! Hypervisor console output: whole lines under one lock, so that hypervisor messages
//! and VM lines (`[name] text`) never interleave mid-line on the physical UART.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use rtvisor_arch_aarch64::{gic, uart};
use rtvisor_config::tables::LogLevel;
use spin::Mutex;

static UART: Mutex<()> = Mutex::new(());
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static HALTING: AtomicBool = AtomicBool::new(false);

struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(uart::put);
        Ok(())
    }
}

/// Sets the level below which messages are dropped.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether messages of `level` are printed.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints `[rtvisor] <message>` as one line.
pub fn line(level: LogLevel, args: fmt::Arguments<'_>) {
    if enabled(level) {
        let _g = UART.lock();
        let _ = write!(Raw, "[rtvisor] {args}\r\n");
    }
}

/// Prints one line of VM output as `[name] text`.
pub fn vm_line(name: &str, text: &[u8]) {
    let _g = UART.lock();
    let _ = write!(Raw, "[{name}] ");
    text.iter().copied().for_each(uart::put);
    let _ = Raw.write_str("\r\n");
}

/// Reports a fatal hypervisor error, stops every other CPU, and halts this one.
pub fn fatal(args: fmt::Arguments<'_>) -> ! {
    if !HALTING.swap(true, Ordering::SeqCst) {
        gic::broadcast_sgi(gic::SGI_HALT);
    }
    // The UART lock may be held by this very CPU (a fault while printing): take it if
    // it frees up soon, print regardless.
    let guard = (0..1_000_000).find_map(|_| UART.try_lock());
    let _ = write!(
        Raw,
        "\r\n[rtvisor] FATAL: {args}\r\n[rtvisor] all CPUs halted\r\n"
    );
    drop(guard);
    halt()
}

/// Parks this CPU for good.
pub fn halt() -> ! {
    loop {
        rtvisor_arch_aarch64::sysreg::wfi();
    }
}

/// `info!`-style helpers.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::line(rtvisor_config::tables::LogLevel::Info, format_args!($($t)*)) };
}
/// Errors.
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::line(rtvisor_config::tables::LogLevel::Error, format_args!($($t)*)) };
}
/// Debug.
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::line(rtvisor_config::tables::LogLevel::Debug, format_args!($($t)*)) };
}
