//! Sizes (`"64MiB"`, `"1GiB"`, `0x20_0000`) and the way addresses and sizes are printed.

use core::fmt;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// 1 KiB.
pub const KIB: u64 = 1 << 10;
/// 1 MiB.
pub const MIB: u64 = 1 << 20;
/// 1 GiB.
pub const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;
/// A 4 KiB page.
pub const PAGE: u64 = 4 * KIB;

/// A size in bytes, written in TOML as an integer or a string with a binary unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

/// Parses `"64MiB"`, `"2 GiB"`, `"0x1000"`, `"4096"`. Units are binary (KiB, MiB, GiB,
/// TiB); decimal units are refused because a memory map is made of powers of two.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, unit) = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (parse_int(hex, 16, text)?, "")
    } else {
        let end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '_'))
            .unwrap_or(t.len());
        (parse_int(&t[..end], 10, text)?, t[end..].trim())
    };
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(not_a_size(text));
    }
    let mult = match unit {
        "" | "B" => 1,
        "KiB" => KIB,
        "MiB" => MIB,
        "GiB" => GIB,
        "TiB" => TIB,
        "K" | "k" | "KB" | "kB" | "M" | "MB" | "G" | "GB" | "T" | "TB" => {
            let fix = format!("{}iB", &unit[..1].to_ascii_uppercase());
            return Err(format!(
                "size unit `{unit}` in `{text}` is ambiguous; write `{fix}`"
            ));
        }
        _ => {
            return Err(format!(
                "unknown size unit `{unit}` in `{text}`; use KiB, MiB, GiB or TiB"
            ))
        }
    };
    num.checked_mul(mult)
        .ok_or_else(|| format!("size `{text}` does not fit in 64 bits"))
}

fn parse_int(digits: &str, radix: u32, whole: &str) -> Result<u64, String> {
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || digits.starts_with('_') {
        return Err(not_a_size(whole));
    }
    u64::from_str_radix(&clean, radix).map_err(|_| not_a_size(whole))
}

fn not_a_size(text: &str) -> String {
    format!("`{text}` is not a size; write it like \"64MiB\" or 0x400_0000")
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\" or an integer number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `0x4000_0000`: hex with `_` every four digits, as addresses are written in TOML.
pub fn hex(v: u64) -> String {
    let digits = match v {
        0x1_0000..=0xffff_ffff => format!("{v:08x}"),
        _ => format!("{v:x}"),
    };
    let mut out = String::from("0x");
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 4 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// `64 MiB`, `2 GiB`, `3076 KiB`, `100 bytes`: the largest binary unit that divides it.
pub fn human(v: u64) -> String {
    for (unit, name) in [(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if v >= unit && v.is_multiple_of(unit) {
            return format!("{} {name}", v / unit);
        }
    }
    format!("{v} bytes")
}

/// `0x4000_0000..0x4400_0000`: a half-open range.
pub fn range(base: u64, size: u64) -> String {
    format!("{}..{}", hex(base), hex(base.saturating_add(size)))
}

/// Rounds `v` up to a multiple of `align` (a power of two), `None` on overflow.
pub fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// Whether `[a, a + asz)` and `[b, b + bsz)` share a byte (no overflow: u128).
pub fn overlaps(a: u64, asz: u64, b: u64, bsz: u64) -> bool {
    let (a, asz, b, bsz) = (a as u128, asz as u128, b as u128, bsz as u128);
    asz != 0 && bsz != 0 && a < b + bsz && b < a + asz
}

/// Whether `[inner, inner + isz)` lies inside `[outer, outer + osz)`.
pub fn within(inner: u64, isz: u64, outer: u64, osz: u64) -> bool {
    let (i, isz, o, osz) = (inner as u128, isz as u128, outer as u128, osz as u128);
    i >= o && i + isz <= o + osz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 * MIB));
        assert_eq!(parse_size(" 2 GiB "), Ok(2 * GIB));
        assert_eq!(parse_size("0x20_0000"), Ok(2 * MIB));
        assert_eq!(parse_size("4_096"), Ok(4096));
        assert_eq!(parse_size("12B"), Ok(12));
        assert_eq!(
            parse_size("64MB"),
            Err("size unit `MB` in `64MB` is ambiguous; write `MiB`".into())
        );
        assert_eq!(
            parse_size("64 furlongs"),
            Err("unknown size unit `furlongs` in `64 furlongs`; use KiB, MiB, GiB or TiB".into())
        );
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("1.5GiB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn prints_addresses_and_sizes() {
        assert_eq!(hex(0x4000_0000), "0x4000_0000");
        assert_eq!(hex(0x900_0000), "0x0900_0000");
        assert_eq!(hex(0x1_0000_0000), "0x1_0000_0000");
        assert_eq!(hex(0x200), "0x200");
        assert_eq!(hex(0), "0x0");
        assert_eq!(human(64 * MIB), "64 MiB");
        assert_eq!(human(3 * MIB + 4 * KIB), "3076 KiB");
        assert_eq!(human(100), "100 bytes");
        assert_eq!(range(0x4000_0000, 2 * MIB), "0x4000_0000..0x4020_0000");
        assert_eq!(range(0x8_0000, 4), "0x0008_0000..0x0008_0004");
    }
}
