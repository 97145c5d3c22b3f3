//! Decoding the AML that [`super::aml`] writes: a TermList of `Scope`, `Device` and
//! `Name` objects whose values are integers, strings, buffers and packages. Every
//! PkgLength must end exactly where its parent's contents end, so a wrong length
//! anywhere is an error. Anything else (methods, fields, operation regions) is refused
//! with its offset: this reads our own tables, not arbitrary firmware.

use super::aml::*;

/// One decoded object of a TermList.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `Scope (path) { ... }`.
    Scope(String, Vec<Term>),
    /// `Device (name) { ... }`.
    Device(String, Vec<Term>),
    /// `Name (name, value)`.
    Name(String, Obj),
}

/// A data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obj {
    /// An integer (`Zero`, `One`, `Ones` and the prefixed ones).
    Int(u64),
    /// A string.
    Str(String),
    /// A buffer.
    Buffer(Vec<u8>),
    /// A package.
    Package(Vec<Obj>),
    /// A name used as a value.
    Ref(String),
}

/// Decodes a whole TermList (a DSDT's body).
pub fn parse(aml: &[u8]) -> Result<Vec<Term>, String> {
    let mut r = Reader { b: aml, at: 0 };
    let terms = r.term_list(aml.len())?;
    Ok(terms)
}

/// The data object at byte `at` of `aml` (e.g. the buffer of a `Name (_CRS, ...)`
/// found by scanning).
pub fn object_at(aml: &[u8], at: usize) -> Result<Obj, String> {
    Reader { b: aml, at }.object()
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self
            .b
            .get(self.at)
            .ok_or_else(|| format!("AML ends early at byte {:#x}", self.at))?;
        self.at += 1;
        Ok(v)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("AML ends early at byte {:#x}", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    /// A PkgLength: returns where the package ends.
    fn pkg_end(&mut self) -> Result<usize, String> {
        let start = self.at;
        let first = self.byte()?;
        let n = usize::from(first >> 6);
        let mut len = if n == 0 {
            usize::from(first & 0x3f)
        } else {
            usize::from(first & 0x0f)
        };
        for k in 0..n {
            len |= usize::from(self.byte()?) << (4 + 8 * k);
        }
        let end = start + len;
        if len < n + 1 || end > self.b.len() {
            return Err(format!(
                "PkgLength {len} at byte {start:#x} does not fit (the AML has {} bytes)",
                self.b.len()
            ));
        }
        Ok(end)
    }

    fn name_seg(&mut self) -> Result<String, String> {
        let at = self.at;
        let seg = self.bytes(4)?;
        let ok = seg[0].is_ascii_uppercase() || seg[0] == b'_';
        if !ok
            || !seg
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
        {
            return Err(format!("invalid NameSeg {seg:02x?} at byte {at:#x}"));
        }
        Ok(String::from_utf8_lossy(seg).into_owned())
    }

    fn name_string(&mut self) -> Result<String, String> {
        let mut out = String::new();
        if self.b.get(self.at) == Some(&ROOT_CHAR) {
            self.at += 1;
            out.push('\\');
        }
        let segs = match self.b.get(self.at) {
            Some(&DUAL_NAME) => {
                self.at += 1;
                2
            }
            Some(&MULTI_NAME) => {
                self.at += 1;
                usize::from(self.byte()?)
            }
            Some(0) => {
                self.at += 1;
                0
            }
            _ => 1,
        };
        for k in 0..segs {
            if k > 0 {
                out.push('.');
            }
            out.push_str(&self.name_seg()?);
        }
        Ok(out)
    }

    fn term_list(&mut self, end: usize) -> Result<Vec<Term>, String> {
        let mut terms = Vec::new();
        while self.at < end {
            let at = self.at;
            let term = match self.byte()? {
                NAME_OP => {
                    let name = self.name_string()?;
                    Term::Name(name, self.object()?)
                }
                SCOPE_OP => {
                    let inner = self.pkg_end()?;
                    let path = self.name_string()?;
                    Term::Scope(path, self.term_list(inner)?)
                }
                EXT_OP if self.b.get(self.at) == Some(&DEVICE_OP) => {
                    self.at += 1;
                    let inner = self.pkg_end()?;
                    let name = self.name_string()?;
                    Term::Device(name, self.term_list(inner)?)
                }
                op => return Err(format!("unexpected AML opcode {op:#04x} at byte {at:#x}")),
            };
            terms.push(term);
        }
        if self.at != end {
            return Err(format!(
                "a term runs past the end of its scope ({:#x} > {end:#x})",
                self.at
            ));
        }
        Ok(terms)
    }

    fn object(&mut self) -> Result<Obj, String> {
        let at = self.at;
        let op = self.byte()?;
        let le = |b: &[u8]| b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        Ok(match op {
            ZERO_OP => Obj::Int(0),
            ONE_OP => Obj::Int(1),
            ONES_OP => Obj::Int(u64::MAX),
            BYTE_PREFIX => Obj::Int(le(self.bytes(1)?)),
            WORD_PREFIX => Obj::Int(le(self.bytes(2)?)),
            DWORD_PREFIX => Obj::Int(le(self.bytes(4)?)),
            QWORD_PREFIX => Obj::Int(le(self.bytes(8)?)),
            STRING_PREFIX => {
                let rest = &self.b[self.at..];
                let n = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| format!("unterminated string at byte {at:#x}"))?;
                let s = String::from_utf8_lossy(&rest[..n]).into_owned();
                self.at += n + 1;
                Obj::Str(s)
            }
            BUFFER_OP => {
                let end = self.pkg_end()?;
                let size = match self.object()? {
                    Obj::Int(n) => n as usize,
                    _ => return Err(format!("buffer at byte {at:#x} has no integer size")),
                };
                if self.at + size != end {
                    return Err(format!(
                        "buffer at byte {at:#x} says {size} bytes, its PkgLength {}",
                        end.saturating_sub(self.at)
                    ));
                }
                Obj::Buffer(self.bytes(size)?.to_vec())
            }
            PACKAGE_OP => {
                let end = self.pkg_end()?;
                let n = self.byte()?;
                let mut items = Vec::new();
                while self.at < end {
                    items.push(self.object()?);
                }
                if self.at != end || items.len() != usize::from(n) {
                    return Err(format!(
                        "package at byte {at:#x} says {n} elements, holds {} ending at {:#x} \
                         (its PkgLength ends at {end:#x})",
                        items.len(),
                        self.at
                    ));
                }
                Obj::Package(items)
            }
            c if c == ROOT_CHAR || c == b'_' || c.is_ascii_uppercase() => {
                self.at -= 1;
                Obj::Ref(self.name_string()?)
            }
            op => {
                return Err(format!(
                    "unexpected AML data opcode {op:#04x} at byte {at:#x}"
                ))
            }
        })
    }
}

/// One resource descriptor of a `_CRS` buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// An I/O port range (IO descriptor): first port, count.
    Io(u16, u8),
    /// ISA IRQs (IRQ descriptor): the mask.
    Irq(u16),
    /// A fixed 32-bit memory range: writable, base, length.
    Mem32(bool, u32, u32),
    /// An extended interrupt: edge-triggered, GSIs.
    Interrupt(bool, Vec<u32>),
    /// A bus number range a bridge produces (WordBusNumber): first, last.
    BusNumbers(u16, u16),
    /// A 32-bit memory window a bridge produces (DWordMemory): first, last.
    MemWindow(u32, u32),
    /// Another descriptor: its tag byte.
    Other(u8),
}

/// Decodes a resource template; it must end with an end tag at its last two bytes.
pub fn resources(b: &[u8]) -> Result<Vec<Resource>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let tag = b[at];
        let (len, body_at) = if tag & 0x80 == 0 {
            (usize::from(tag & 0x07), at + 1)
        } else {
            let len = b
                .get(at + 1..at + 3)
                .map(|l| usize::from(u16::from_le_bytes([l[0], l[1]])))
                .ok_or("a resource descriptor is cut short")?;
            (len, at + 3)
        };
        let body = b
            .get(body_at..body_at + len)
            .ok_or_else(|| format!("resource descriptor {tag:#04x} at {at} is cut short"))?;
        let word = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
        let dword = |i: usize| u32::from_le_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        match tag {
            0x79 => {
                if body_at + len != b.len() {
                    return Err("the end tag is not the last descriptor".into());
                }
                return Ok(out);
            }
            0x47 if len == 7 => out.push(Resource::Io(word(1), body[6])),
            0x22 | 0x23 if len >= 2 => out.push(Resource::Irq(word(0))),
            0x86 if len == 9 => out.push(Resource::Mem32(body[0] & 1 == 1, dword(1), dword(5))),
            0x89 if len >= 2 => {
                let n = usize::from(body[1]);
                if len != 2 + 4 * n {
                    return Err(format!("an interrupt descriptor of {len} bytes lists {n}"));
                }
                let gsis = (0..n).map(|k| dword(2 + 4 * k)).collect();
                out.push(Resource::Interrupt(body[0] & 2 != 0, gsis));
            }
            // Word and DWord address spaces: type, general and type flags, then
            // granularity, minimum, maximum, translation and length. Only what
            // `aml` writes is decoded: a fixed window whose length is max - min + 1.
            0x88 if len == 13 && body[0] == 2 => {
                let (min, max, n) = (word(5), word(7), word(11));
                if u32::from(max) + 1 != u32::from(min) + u32::from(n) {
                    return Err(format!("bus numbers {min}..={max} of length {n}"));
                }
                out.push(Resource::BusNumbers(min, max));
            }
            0x87 if len == 23 && body[0] == 0 => {
                let (min, max, n) = (dword(7), dword(11), dword(19));
                if u64::from(max) + 1 != u64::from(min) + u64::from(n) {
                    return Err(format!("memory {min:#x}..={max:#x} of length {n:#x}"));
                }
                out.push(Resource::MemWindow(min, max));
            }
            t => out.push(Resource::Other(t)),
        }
        at = body_at + len;
    }
    Err("the resource template has no end tag".into())
}
