//! Hypervisor console output: whole lines under one lock, so that hypervisor messages
//! and VM lines (`[name] text`) never interleave mid-line on the physical UART; the
//! partial line of the VM with the console input is kept on the terminal's last line
//! (`rtvisor_core::console::Terminal`).
//!
//! The log level is an atomic: set from `CONFIG` at boot, changed by the shell's
//! `log level`; the `info!`/`debug!`/... macros check it before formatting anything.
//! VM lines pass through here, so this is also where the last timer-latency figures of
//! each VM are kept for the shell's `latency` (one fixed buffer per VM behind its own
//! lock, held only to copy a line in or out).

use crate::backend::{Arch, Backend, Clock, Uart};
use crate::config::{CONFIG, MAX_VMS};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use rtvisor_config::tables::{LogLevel, FATAL_EXIT_STATUS};
use rtvisor_core::console::{Terminal, LINE_MAX};
use rtvisor_core::ids::VmId;
use rtvisor_core::seam::{Console, Timer};
use rtvisor_core::sync::Mutex;
use rtvisor_shell::LATENCY_MARK;

/// The UART, and what the terminal shows of the partial line of the VM with the
/// console input.
static UART: Mutex<Terminal> = Mutex::new(Terminal::new());

/// Writes bytes to the UART.
fn put(bytes: &[u8]) {
    bytes.iter().copied().for_each(Uart::put);
}

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static HALTING: AtomicBool = AtomicBool::new(false);
/// The CPUs inside [`fatal`], one bit per CPU index (indices past 63, and a CPU
/// that does not know its index yet, share bit 63).
static IN_FATAL: AtomicU64 = AtomicU64::new(0);
/// The CPUs that faulted inside [`fatal`] (reported once).
static NESTED: AtomicU64 = AtomicU64::new(0);

/// The levels by their `as u8` value.
const LEVELS: [LogLevel; 4] = [
    LogLevel::Error,
    LogLevel::Warn,
    LogLevel::Info,
    LogLevel::Debug,
];

struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(Uart::put);
        Ok(())
    }
}

/// Sets the level below which messages are dropped.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The current level.
pub fn level() -> LogLevel {
    let v = LEVEL.load(Ordering::Relaxed);
    LEVELS
        .get(usize::from(v))
        .copied()
        .unwrap_or(LogLevel::Info)
}

/// Whether messages of `level` are printed.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints `[rtvisor] <message>` as one line.
pub fn line(level: LogLevel, args: fmt::Arguments<'_>) {
    if enabled(level) {
        let mut t = UART.lock();
        t.suspend(&mut put);
        let _ = write!(Raw, "[rtvisor] {args}\r\n");
        t.resume(crate::shell::focus(), &mut put);
    }
}

/// Prints one line of VM output as `[name] text`; keeps it if it carries timer-latency
/// figures.
pub fn vm_line(vm: VmId, name: &str, text: &[u8]) {
    UART.lock()
        .vm_line(crate::shell::focus(), vm, name, text, &mut put);
    keep_figures(name, text);
}

/// Shows the partial line `pending` of VM `vm` (it has the console input) as far as
/// it is not on the terminal yet.
pub fn vm_partial(vm: VmId, name: &'static str, pending: &[u8]) {
    UART.lock().vm_partial(vm, name, pending, &mut put);
}

/// The last line of one VM that carried [`LATENCY_MARK`], and when it came.
struct Figures {
    line: [u8; LINE_MAX],
    /// 0: none yet.
    len: usize,
    /// Physical count when the line came.
    at: u64,
}

static FIGURES: [Mutex<Figures>; MAX_VMS] = [const {
    Mutex::new(Figures {
        line: [0; LINE_MAX],
        len: 0,
        at: 0,
    })
}; MAX_VMS];

fn keep_figures(name: &str, text: &[u8]) {
    let mark = LATENCY_MARK.as_bytes();
    if !text.windows(mark.len()).any(|w| w == mark) {
        return;
    }
    let vm = CONFIG.vms.iter().position(|v| v.name == name);
    if let Some(slot) = vm.and_then(|vm| FIGURES.get(vm)) {
        let n = text.len().min(LINE_MAX);
        let mut f = slot.lock();
        f.line[..n].copy_from_slice(&text[..n]);
        f.len = n;
        f.at = Clock::now();
    }
}

/// Copies the last timer-latency line of VM `vm` into `buf`; returns its length and
/// age in milliseconds, `None` if the VM has printed none since boot.
pub fn figures(vm: VmId, buf: &mut [u8]) -> Option<(usize, u64)> {
    let (n, at) = {
        let f = FIGURES.get(vm.index())?.lock();
        let n = f.len.min(buf.len());
        buf[..n].copy_from_slice(&f.line[..n]);
        (f.len, f.at)
    };
    if n == 0 {
        return None;
    }
    let ticks = Clock::now().saturating_sub(at);
    let hz = Clock::frequency().max(1);
    Some((n.min(buf.len()), ticks / hz * 1000 + ticks % hz * 1000 / hz))
}

/// Reports a fatal hypervisor error, stops every other CPU, and halts this one; on a
/// board with semihosting (QEMU), ends QEMU with [`FATAL_EXIT_STATUS`] instead.
///
/// An exception inside this CPU's own fatal path (while printing, or the
/// semihosting call on a QEMU started without semihosting) comes back here through
/// the exception vector: it is reported once, as `fault inside the FATAL path`,
/// and the CPU halts; an exception inside that report halts it silently.
pub fn fatal(args: fmt::Arguments<'_>) -> ! {
    let me = 1u64 << crate::percpu::this_index().min(63);
    if IN_FATAL.fetch_or(me, Ordering::SeqCst) & me != 0 {
        if NESTED.fetch_or(me, Ordering::SeqCst) & me == 0 {
            // No lock: this CPU may hold it already.
            let _ = write!(Raw, "[rtvisor] fault inside the FATAL path: {args}\r\n");
        }
        halt()
    }
    if !HALTING.swap(true, Ordering::SeqCst) {
        Arch::halt_others();
    }
    // The UART lock may be held by this very CPU (a fault while printing): take it if
    // it frees up soon, print regardless.
    let guard = (0..1_000_000).find_map(|_| UART.try_lock());
    let _ = write!(
        Raw,
        "\r\n[rtvisor] FATAL: {args}\r\n[rtvisor] all CPUs halted\r\n"
    );
    drop(guard);
    if CONFIG.hypervisor.semihosting {
        Arch::emulator_exit(FATAL_EXIT_STATUS);
    }
    halt()
}

/// Parks this CPU for good.
pub fn halt() -> ! {
    loop {
        Arch::wait();
    }
}

/// Lifecycle events (level info).
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
