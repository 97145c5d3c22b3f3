//! Emulated MMIO regions of a VM: a fixed table sorted by base address, searched by
//! binary search, so adding a device is adding a row.

use crate::exit::{AccessWidth, MmioAccess};
use rtvisor_addr::Ipa;

/// The kinds of emulated device a region can hold (the machine contract's list).
pub use rtvisor_config::contract::DeviceKind;

/// One emulated region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Guest-physical base.
    pub base: Ipa,
    /// Size in bytes.
    pub size: u64,
    /// What is emulated there.
    pub kind: DeviceKind,
}

/// Finds the region holding `ipa` in a table sorted by base; returns it with the offset.
pub fn find(table: &[Region], ipa: Ipa) -> Option<(DeviceKind, u64)> {
    let idx = match table.binary_search_by(|r| r.base.cmp(&ipa)) {
        Ok(i) => i,
        Err(0) => return None,
        Err(i) => i - 1,
    };
    let r = table.get(idx)?;
    let off = ipa.offset_from(r.base)?;
    (off < r.size).then_some((r.kind, off))
}

/// The value a load puts into its register: truncated to the access width, then sign
/// extended if asked, and limited to 32 bits for a `w` register.
pub fn load_value(raw: u64, access: &MmioAccess) -> u64 {
    let bits = access.width.bytes() * 8;
    let mut v = if bits == 64 {
        raw
    } else {
        raw & ((1u64 << bits) - 1)
    };
    if access.sign_extend && bits < 64 {
        let shift = 64 - bits;
        v = (((v << shift) as i64) >> shift) as u64;
    }
    if !access.reg64 {
        v &= 0xffff_ffff;
    }
    v
}

/// The value a store writes: the register truncated to the access width.
pub fn store_value(reg: u64, width: AccessWidth) -> u64 {
    match width {
        AccessWidth::B8 => reg,
        w => reg & ((1u64 << (w.bytes() * 8)) - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Region] = &[
        Region {
            base: Ipa::new(0x0800_0000),
            size: 0x1_0000,
            kind: DeviceKind::Pl011,
        },
        Region {
            base: Ipa::new(0x0900_0000),
            size: 0x1000,
            kind: DeviceKind::Pl011,
        },
    ];

    #[test]
    fn lookup_hits_and_misses() {
        assert_eq!(
            find(TABLE, Ipa::new(0x0900_0018)),
            Some((DeviceKind::Pl011, 0x18))
        );
        assert_eq!(find(TABLE, Ipa::new(0x0900_1000)), None);
        assert_eq!(find(TABLE, Ipa::new(0x07ff_ffff)), None);
        assert_eq!(
            find(TABLE, Ipa::new(0x0800_ffff)),
            Some((DeviceKind::Pl011, 0xffff))
        );
        assert_eq!(find(&[], Ipa::new(0)), None);
    }

    #[test]
    fn load_extension() {
        let a = |width, sign_extend, reg64| MmioAccess {
            write: false,
            width,
            reg: 0,
            sign_extend,
            reg64,
        };
        assert_eq!(load_value(0x1_80, &a(AccessWidth::B1, false, true)), 0x80);
        assert_eq!(
            load_value(0x80, &a(AccessWidth::B1, true, true)),
            0xffff_ffff_ffff_ff80
        );
        assert_eq!(
            load_value(0x80, &a(AccessWidth::B1, true, false)),
            0xffff_ff80
        );
        assert_eq!(
            load_value(u64::MAX, &a(AccessWidth::B8, false, true)),
            u64::MAX
        );
        assert_eq!(store_value(0x1234_5678, AccessWidth::B2), 0x5678);
    }
}
