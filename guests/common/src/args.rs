//! Bootargs: space-separated `key=value` words (from `/chosen/bootargs`).

/// A parsed view of a command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Args<'a> {
    line: &'a str,
}

impl<'a> Args<'a> {
    /// Wraps a command line.
    pub fn new(line: &'a str) -> Self {
        Self { line }
    }

    /// The raw command line.
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// Value of the last `key=value` word with this key (a bare `key` gives "").
    pub fn get(&self, key: &str) -> Option<&'a str> {
        let mut found = None;
        for word in self.line.split_ascii_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            if k == key {
                found = Some(v);
            }
        }
        found
    }

    /// `get` parsed as a number (decimal, or hex with `0x`; `_` separators allowed).
    /// `Some(Err(()))` when the key is present but the value does not parse.
    pub fn number(&self, key: &str) -> Option<Result<u64, ()>> {
        self.get(key).map(|v| parse_u64(v).ok_or(()))
    }
}

/// Parses a decimal or `0x`-prefixed hex number; `_` separators are ignored.
pub fn parse_u64(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    let mut value: u64 = 0;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
        any = true;
    }
    any.then_some(value)
}
