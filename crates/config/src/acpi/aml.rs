//! The few AML byte sequences a VM's DSDT needs, encoded from code (ACPI 6.5, chapter
//! 20 "ACPI Machine Language Specification"; resource descriptors: 6.4). No AML
//! compiler runs at build time: each function below returns the bytes of one
//! construct, and [`super::read_aml`] decodes them back for the checker and the golden
//! listings.
//!
//! | construct | bytes |
//! |---|---|
//! | `Name(NAME, obj)` | `08` NameString obj |
//! | `Scope(path) { ... }` | `10` PkgLength NameString TermList |
//! | `Device(NAME) { ... }` | `5B 82` PkgLength NameString TermList |
//! | `Package(n) { ... }` | `12` PkgLength NumElements(byte) elements |
//! | `Buffer(n) { ... }` | `11` PkgLength BufferSize(integer) bytes |
//! | integers | `00` Zero, `01` One, `FF` Ones, `0A` byte, `0B` word, `0C` dword, `0E` qword |
//! | `"string"` | `0D` ASCII bytes `00` |
//! | `WordBusNumber`, `DWordMemory` | large items `88` (13 bytes), `87` (23 bytes): type, flags, granularity, min, max, translation, length |
//! | NameString | `5C` root, then one 4-character NameSeg, `2E` two, `2F` n segments |
//!
//! PkgLength counts itself: one byte (bits 0-5) up to 63 bytes, else a first byte
//! holding the number of following bytes (bits 6-7) and the low 4 bits, then 8 bits
//! per byte.

/// `NameOp`.
pub const NAME_OP: u8 = 0x08;
/// `ScopeOp`.
pub const SCOPE_OP: u8 = 0x10;
/// `BufferOp`.
pub const BUFFER_OP: u8 = 0x11;
/// `PackageOp`.
pub const PACKAGE_OP: u8 = 0x12;
/// `ExtOpPrefix`; `DeviceOp` is `5B 82`.
pub const EXT_OP: u8 = 0x5b;
/// The second byte of `DeviceOp`.
pub const DEVICE_OP: u8 = 0x82;
/// `ZeroOp`, `OneOp`, `OnesOp`.
pub const ZERO_OP: u8 = 0x00;
/// `OneOp`.
pub const ONE_OP: u8 = 0x01;
/// `OnesOp`.
pub const ONES_OP: u8 = 0xff;
/// `BytePrefix`, `WordPrefix`, `DWordPrefix`, `StringPrefix`, `QWordPrefix`.
pub const BYTE_PREFIX: u8 = 0x0a;
/// `WordPrefix`.
pub const WORD_PREFIX: u8 = 0x0b;
/// `DWordPrefix`.
pub const DWORD_PREFIX: u8 = 0x0c;
/// `StringPrefix`.
pub const STRING_PREFIX: u8 = 0x0d;
/// `QWordPrefix`.
pub const QWORD_PREFIX: u8 = 0x0e;
/// `RootChar`, `DualNamePrefix`, `MultiNamePrefix`.
pub const ROOT_CHAR: u8 = 0x5c;
/// `DualNamePrefix`.
pub const DUAL_NAME: u8 = 0x2e;
/// `MultiNamePrefix`.
pub const MULTI_NAME: u8 = 0x2f;

/// The `_DSD` UUID of device properties (daffd814-6eba-4d8c-8a91-bc9bbf4aa301).
pub const DEVICE_PROPERTIES_UUID: &str = "daffd814-6eba-4d8c-8a91-bc9bbf4aa301";

/// A PkgLength for a body of `body` bytes (the encoding counts its own bytes).
pub fn pkg_length(body: usize) -> Vec<u8> {
    if body < 63 {
        return vec![(body + 1) as u8];
    }
    let n = (2..=4)
        .find(|&n| body + n < 1 << (4 + 8 * (n - 1)))
        .unwrap_or(4);
    let total = body + n;
    let mut out = vec![(((n - 1) as u8) << 6) | (total & 0xf) as u8];
    for k in 0..n - 1 {
        out.push((total >> (4 + 8 * k)) as u8);
    }
    out
}

/// One NameSeg: up to 4 characters of `[A-Z0-9_]`, padded with `_`.
pub fn name_seg(seg: &str) -> [u8; 4] {
    let mut out = [b'_'; 4];
    for (o, c) in out.iter_mut().zip(seg.bytes()) {
        *o = c;
    }
    out
}

/// A NameString: `\` for the root, then segments separated by `.`.
pub fn name_string(path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let rel = match path.strip_prefix('\\') {
        Some(rest) => {
            out.push(ROOT_CHAR);
            rest
        }
        None => path,
    };
    let segs: Vec<&str> = rel.split('.').filter(|s| !s.is_empty()).collect();
    match segs.len() {
        0 => out.push(0), // NullName
        1 => {}
        2 => out.push(DUAL_NAME),
        n => out.extend([MULTI_NAME, n as u8]),
    }
    for s in segs {
        out.extend(name_seg(s));
    }
    out
}

/// The shortest integer encoding of `v`.
pub fn integer(v: u64) -> Vec<u8> {
    match v {
        0 => vec![ZERO_OP],
        1 => vec![ONE_OP],
        v if v <= 0xff => vec![BYTE_PREFIX, v as u8],
        v if v <= 0xffff => [&[WORD_PREFIX][..], &(v as u16).to_le_bytes()].concat(),
        v if v <= 0xffff_ffff => [&[DWORD_PREFIX][..], &(v as u32).to_le_bytes()].concat(),
        v => [&[QWORD_PREFIX][..], &v.to_le_bytes()].concat(),
    }
}

/// A string constant (ASCII, no NUL inside).
pub fn string(s: &str) -> Vec<u8> {
    let mut out = vec![STRING_PREFIX];
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
    out
}

/// `Name(name, value)`.
pub fn name(name: &str, value: Vec<u8>) -> Vec<u8> {
    [vec![NAME_OP], name_string(name), value].concat()
}

/// `Scope(path) { body }`.
pub fn scope(path: &str, body: &[u8]) -> Vec<u8> {
    let inner = [name_string(path), body.to_vec()].concat();
    [vec![SCOPE_OP], pkg_length(inner.len()), inner].concat()
}

/// `Device(name) { body }`.
pub fn device(name: &str, body: &[u8]) -> Vec<u8> {
    let inner = [name_string(name), body.to_vec()].concat();
    [vec![EXT_OP, DEVICE_OP], pkg_length(inner.len()), inner].concat()
}

/// `Package() { elements }` (at most 255 elements).
pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut inner = vec![elements.len().min(255) as u8];
    for e in elements {
        inner.extend(e);
    }
    [vec![PACKAGE_OP], pkg_length(inner.len()), inner].concat()
}

/// `Buffer() { bytes }`.
pub fn buffer(bytes: &[u8]) -> Vec<u8> {
    let inner = [integer(bytes.len() as u64), bytes.to_vec()].concat();
    [vec![BUFFER_OP], pkg_length(inner.len()), inner].concat()
}

/// `EisaId("PNP0501")` as the DWORD it compresses to (three letters of 5 bits, then
/// four hex digits), byte-swapped as ASL does.
pub fn eisa_id(id: &str) -> u32 {
    let b = id.as_bytes();
    let letter = |i: usize| u32::from(b.get(i).copied().unwrap_or(b'@').wrapping_sub(0x40) & 0x1f);
    let hex = |i: usize| {
        let c = b.get(i).copied().unwrap_or(b'0');
        u32::from((c as char).to_digit(16).unwrap_or(0) as u8)
    };
    let v = (letter(0) << 26)
        | (letter(1) << 21)
        | (letter(2) << 16)
        | (hex(3) << 12)
        | (hex(4) << 8)
        | (hex(5) << 4)
        | hex(6);
    v.swap_bytes()
}

/// The 16 bytes `ToUUID("...")` makes: the first three fields little-endian.
pub fn uuid(text: &str) -> [u8; 16] {
    let digits: Vec<u8> = text
        .chars()
        .filter_map(|c| c.to_digit(16))
        .map(|d| d as u8)
        .collect();
    let byte = |i: usize| {
        (digits.get(2 * i).copied().unwrap_or(0) << 4) | digits.get(2 * i + 1).copied().unwrap_or(0)
    };
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    order.map(byte)
}

/// IO port descriptor (small item 0x47): 16-bit decode, fixed `base`, `len` ports.
pub fn io_port(base: u16, len: u8) -> Vec<u8> {
    let [lo, hi] = base.to_le_bytes();
    vec![0x47, 0x01, lo, hi, lo, hi, 0x01, len]
}

/// IRQ descriptor without flags (small item 0x22): edge, active high, ISA IRQ `irq`.
pub fn irq_no_flags(irq: u8) -> Vec<u8> {
    let mask = 1u16.checked_shl(u32::from(irq)).unwrap_or(0);
    [&[0x22][..], &mask.to_le_bytes()].concat()
}

/// Fixed-location 32-bit memory descriptor (large item 0x86).
pub fn memory32_fixed(writable: bool, base: u32, len: u32) -> Vec<u8> {
    let mut out = vec![0x86, 9, 0, u8::from(writable)];
    out.extend(base.to_le_bytes());
    out.extend(len.to_le_bytes());
    out
}

/// Address space descriptors' general flags of a host bridge's window: it produces
/// the range (bit 0 clear), decodes it positively (bit 1 clear), and both ends are
/// fixed (`_MIF`, bit 2; `_MAF`, bit 3).
pub const PRODUCER_FIXED: u8 = 0x0c;

/// `WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, first, last,
/// 0, count)` (large item 0x88, resource type 2): the buses below a host bridge.
pub fn word_bus_number(first: u8, last: u8) -> Vec<u8> {
    let count = u16::from(last.saturating_sub(first)) + 1;
    let mut out = vec![0x88, 13, 0, 2, PRODUCER_FIXED, 0];
    for v in [0, u16::from(first), u16::from(last), 0, count] {
        out.extend(v.to_le_bytes());
    }
    out
}

/// `DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable,
/// ReadWrite, 0, base, end - 1, 0, end - base)` (large item 0x87, resource type 0,
/// type-specific flags 1: read-write, non-cacheable, memory): a host bridge's 32-bit
/// memory window `[base, end)`.
pub fn dword_memory(base: u32, end: u32) -> Vec<u8> {
    let mut out = vec![0x87, 23, 0, 0, PRODUCER_FIXED, 0x01];
    for v in [0, base, end.wrapping_sub(1), 0, end.wrapping_sub(base)] {
        out.extend(v.to_le_bytes());
    }
    out
}

/// Extended interrupt descriptor (large item 0x89): consumer, active high, exclusive.
pub fn interrupt(edge: bool, gsis: &[u32]) -> Vec<u8> {
    let n = gsis.len().min(255);
    let len = (2 + 4 * n) as u16;
    let mut out = vec![0x89];
    out.extend(len.to_le_bytes());
    out.push(0x01 | if edge { 0x02 } else { 0 });
    out.push(n as u8);
    for g in &gsis[..n] {
        out.extend(g.to_le_bytes());
    }
    out
}

/// `ResourceTemplate() { items }`: a buffer of the descriptors and an end tag.
pub fn resource_template(items: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes: Vec<u8> = items.concat();
    bytes.extend([0x79, 0x00]); // end tag; a zero checksum means "no checksum"
    buffer(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkg_lengths_count_themselves() {
        assert_eq!(pkg_length(0), [1]);
        assert_eq!(pkg_length(62), [63]);
        // 63 bytes of body: two bytes of PkgLength, 65 in all.
        assert_eq!(pkg_length(63), [0x41, 0x04]);
        assert_eq!(pkg_length(4093), [0x4f, 0xff]);
        assert_eq!(pkg_length(4094), [0x81, 0x00, 0x01]);
    }

    #[test]
    fn names_integers_and_ids_encode_as_asl_does() {
        assert_eq!(name_string("\\_SB"), b"\\_SB_");
        assert_eq!(name_string("\\_SB.COM1"), b"\\\x2e_SB_COM1");
        assert_eq!(name_string("_S5"), b"_S5_");
        assert_eq!(integer(0x3f8), [0x0b, 0xf8, 0x03]);
        assert_eq!(integer(0xfee0_0000), [0x0c, 0, 0, 0xe0, 0xfe]);
        // EisaId("PNP0501") is 0x0105D041 (as iasl writes it).
        assert_eq!(eisa_id("PNP0501"), 0x0105_d041);
        assert_eq!(eisa_id("PNP0A08"), 0x080a_d041);
        let u = uuid(DEVICE_PROPERTIES_UUID);
        assert_eq!(u[..4], [0x14, 0xd8, 0xff, 0xda]);
        assert_eq!(u[4..8], [0xba, 0x6e, 0x8c, 0x4d]);
        assert_eq!(u[8..], [0x8a, 0x91, 0xbc, 0x9b, 0xbf, 0x4a, 0xa3, 0x01]);
        assert_eq!(irq_no_flags(4), [0x22, 0x10, 0x00]);
        assert_eq!(io_port(0x3f8, 8), [0x47, 1, 0xf8, 3, 0xf8, 3, 1, 8]);
        // As iasl compiles QEMU q35's WordBusNumber (0, 0xff, length 0x100) and
        // DWordMemory (0x8000_0000..=0xafff_ffff).
        assert_eq!(
            word_bus_number(0, 0xff),
            [0x88, 0x0d, 0, 2, 0x0c, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            dword_memory(0x8000_0000, 0xb000_0000),
            [
                0x87, 0x17, 0, 0, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xaf, 0,
                0, 0, 0, 0, 0, 0, 0x30
            ]
        );
    }
}
