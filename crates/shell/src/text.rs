//! Fixed-capacity text for shell output: no allocation, values that pad as one field.

use core::fmt::{self, Write};
use rtvisor_core::vm::StopReason;

/// A fixed-capacity string of `N` bytes (excess is dropped).
pub(super) struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

/// Enough for one table field.
pub(super) type Small = Text<32>;
/// Enough for one output line.
pub(super) type Line = Text<160>;

impl<const N: usize> Text<N> {
    pub(super) const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }
    pub(super) fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
    pub(super) fn make_ascii_lowercase(&mut self) {
        self.buf[..self.len].make_ascii_lowercase();
    }
    pub(super) fn as_str(&self) -> &str {
        utf8_prefix(&self.buf[..self.len])
    }
    /// Formats `args` into a new string.
    pub(super) fn of(args: fmt::Arguments<'_>) -> Self {
        let mut s = Self::new();
        let _ = s.write_fmt(args);
        s
    }
}

/// How many characters `args` formats to.
pub(super) fn width(args: fmt::Arguments<'_>) -> usize {
    struct Count(usize);
    impl Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.chars().count();
            Ok(())
        }
    }
    let mut n = Count(0);
    let _ = n.write_fmt(args);
    n.0
}

/// The longest valid UTF-8 prefix of `b` (a cut in the middle of a character, or a
/// guest's stray byte, ends it).
pub(super) fn utf8_prefix(b: &[u8]) -> &str {
    match core::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
    }
}

impl<const N: usize> Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Words separated by one space.
pub(super) struct Words<'a>(pub(super) &'a [&'a str]);

impl fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

/// A CPU list as `1,2`; pads as one field.
pub(super) struct CpuList<'a>(pub(super) &'a [u32]);

impl fmt::Display for CpuList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = Small::new();
        for (i, c) in self.0.iter().enumerate() {
            let _ = write!(s, "{}{c}", if i > 0 { "," } else { "" });
        }
        f.pad(s.as_str())
    }
}

/// A size as `16M`, `128K`, `2G` (the largest unit that divides it), else bytes.
pub(super) struct Size(pub(super) u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, &str); 3] = [(30, "G"), (20, "M"), (10, "K")];
        let v = self.0;
        let s = match UNITS
            .iter()
            .find(|(sh, _)| v != 0 && v & ((1 << sh) - 1) == 0)
        {
            Some((sh, u)) => Small::of(format_args!("{}{u}", v >> sh)),
            None => Small::of(format_args!("{v}")),
        };
        f.pad(s.as_str())
    }
}

/// A duration in milliseconds as seconds with one decimal: `12.3s`.
pub(super) struct Secs(pub(super) u64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.0 / 100;
        write!(f, "{}.{}s", tenths / 10, tenths % 10)
    }
}

/// The last stop reason, `-` if none.
pub(super) struct LastStop(pub(super) Option<StopReason>);

impl fmt::Display for LastStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}"),
            None => f.write_str("-"),
        }
    }
}
