//! How a case reports: `probe: <case>: contained (<how>)` or `probe: <case>: LEAK
//! (<what>)`, the running tally behind `probe: done`, and the bootarg addresses. How a
//! fault is described (`How`) is the architecture's.

use core::fmt::{self, Write};

use guest_common::{println, timer, BootInfo};

/// The result of one case.
pub enum Outcome {
    /// A key it needs is missing: not counted.
    Skipped,
    /// Every attempt was refused, ignored or kept inside this VM.
    Contained,
    /// Something got through.
    Leak,
}

/// Cases run and contained so far. With `timing`, each case is followed by a
/// `probe-diag: case <n> ends at <ms> ms` line (milliseconds since `new`).
pub struct Tally {
    pub cases: u32,
    pub contained: u32,
    timing: bool,
    start: u64,
}

impl Tally {
    pub fn new(timing: bool) -> Self {
        Self {
            cases: 0,
            contained: 0,
            timing,
            start: timer::counter(),
        }
    }

    /// Milliseconds since the tally was made.
    pub fn elapsed_ms(&self) -> u64 {
        timer::ticks_to_ns(timer::counter().wrapping_sub(self.start)) / 1_000_000
    }

    pub fn add(&mut self, outcome: Outcome) {
        if self.timing {
            println!(
                "probe-diag: case {} ends at {} ms",
                self.cases + 1,
                self.elapsed_ms()
            );
        }
        match outcome {
            Outcome::Skipped => {}
            Outcome::Contained => {
                self.cases += 1;
                self.contained += 1;
            }
            Outcome::Leak => self.cases += 1,
        }
    }
}

pub fn contained(case: &str, how: fmt::Arguments<'_>) -> Outcome {
    println!("probe: {}: contained ({})", case, how);
    Outcome::Contained
}

pub fn leak(case: &str, what: fmt::Arguments<'_>) -> Outcome {
    println!("probe: {}: LEAK ({})", case, what);
    Outcome::Leak
}

/// The number for `key`, or None (after a `probe-diag:` line if it does not parse).
pub fn number(boot: &BootInfo, key: &str) -> Option<u64> {
    match boot.args().number(key) {
        Some(Ok(v)) => Some(v),
        Some(Err(())) => {
            println!(
                "probe-diag: bad {}={:?}",
                key,
                boot.args().get(key).unwrap_or("")
            );
            None
        }
        None => None,
    }
}

/// The address for `key`, or None after a `probe-diag: <case> skipped` line (not a
/// protocol line: a skipped case is not counted).
pub fn target(boot: &BootInfo, case: &str, key: &str) -> Option<usize> {
    let addr = number(boot, key).map(|a| a as usize);
    if addr.is_none() {
        println!("probe-diag: {} skipped (no {}=)", case, key);
    }
    addr
}

/// A short text buffer for a case's `how` (truncates silently: the hypervisor
/// splits console lines longer than 200 bytes).
pub struct Text {
    buf: [u8; 160],
    len: usize,
}

impl Text {
    pub const fn new() -> Self {
        Self {
            buf: [0; 160],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
