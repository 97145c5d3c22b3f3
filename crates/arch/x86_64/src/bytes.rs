//! Bounds-checked little-endian reads from firmware-provided bytes: every parser in
//! this crate reads through these, so a short or damaged table is a `None`, never a
//! panic.

/// `N` bytes at `off`, or `None` past the end.
pub fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    b.get(off..end)?.try_into().ok()
}

pub fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

pub fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    array(b, off).map(u16::from_le_bytes)
}

pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array(b, off).map(u32::from_le_bytes)
}

pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    array(b, off).map(u64::from_le_bytes)
}

/// `len` bytes at `off`, or `None` past the end.
pub fn slice(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    b.get(off..off.checked_add(len)?)
}

/// True when the bytes sum to zero modulo 256 (the ACPI checksum rule).
pub fn sums_to_zero(b: &[u8]) -> bool {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let b = [1, 2, 3, 4, 5];
        assert_eq!(u32_at(&b, 0), Some(0x0403_0201));
        assert_eq!(u32_at(&b, 2), None);
        assert_eq!(u16_at(&b, usize::MAX), None);
        assert_eq!(slice(&b, 4, 1), Some(&b[4..]));
        assert_eq!(slice(&b, 4, 2), None);
        assert!(sums_to_zero(&[0x10, 0xF0]));
        assert!(!sums_to_zero(&[0x10, 0xEF]));
    }
}
