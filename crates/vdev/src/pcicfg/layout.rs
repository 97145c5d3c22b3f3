//! Where a probed function's registers are in host-physical memory: its memory BARs
//! (address and size, a 64-bit BAR's two halves joined) and its MSI-X table and
//! pending-bit array (BAR, offset, entries), which the hypervisor maps and traps.

use super::cap::CapKind;
use super::{Function, HostConfig, BARS};

/// One memory BAR of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemBar {
    /// The BAR's index (the lower half's, for a 64-bit BAR).
    pub index: u8,
    /// Its host-physical base.
    pub base: u64,
    /// Its size in bytes (a power of two).
    pub size: u64,
}

/// Where a function's MSI-X structures are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsixLayout {
    /// Entries in the table (the capability's table size plus one).
    pub entries: u16,
    /// The BAR holding the table.
    pub table_bar: u8,
    /// The table's offset in it.
    pub table_offset: u32,
    /// The BAR holding the pending-bit array.
    pub pba_bar: u8,
    /// The array's offset in it.
    pub pba_offset: u32,
}

impl MsixLayout {
    /// The table's size in bytes.
    pub const fn table_bytes(&self) -> u64 {
        self.entries as u64 * super::msi::MSIX_ENTRY
    }
}

/// Why a memory BAR cannot be mapped into a VM at its host address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarError {
    /// Smaller than a page or not page-aligned: its page may hold another
    /// function's registers.
    SubPage,
    /// It reaches past the guest-physical map (`limit`).
    TooHigh,
    /// It overlaps the range at this position of the caller's list.
    Overlaps(usize),
}

/// Page size of the guest-physical map.
const PAGE: u64 = 0x1000;

impl MemBar {
    /// Checks that the BAR can appear 1:1 in a VM whose map ends at `limit` and has
    /// `taken` (base, size) ranges already.
    pub fn fits(&self, limit: u64, taken: &[(u64, u64)]) -> Result<(), BarError> {
        if self.size < PAGE || !self.base.is_multiple_of(PAGE) {
            return Err(BarError::SubPage);
        }
        let end = self.base.checked_add(self.size).ok_or(BarError::TooHigh)?;
        if end > limit {
            return Err(BarError::TooHigh);
        }
        match taken
            .iter()
            .position(|&(b, s)| self.base < b.saturating_add(s) && b < end)
        {
            Some(i) => Err(BarError::Overlaps(i)),
            None => Ok(()),
        }
    }
}

/// BAR type bits (memory): 64-bit.
const BAR_64: u32 = 0b100;
/// BAR bit 0: an I/O BAR.
const BAR_IO: u32 = 1;

impl Function {
    /// Its implemented memory BARs, from the values and size masks the probe read.
    /// A BAR whose size mask is zero is not implemented; an I/O BAR is skipped.
    pub fn mem_bars(&self) -> impl Iterator<Item = MemBar> + '_ {
        let mut i = 0;
        core::iter::from_fn(move || {
            while i < BARS {
                let at = i;
                let bar = self.bars[at];
                i += 1;
                if bar.value & BAR_IO != 0 {
                    continue;
                }
                // A 64-bit BAR's upper half is never a BAR of its own, whatever it
                // holds; its size mask is the two halves' (4 GiB and more leave the
                // lower half's mask bits clear).
                let wide = bar.value & 0b110 == BAR_64 && at + 1 < BARS;
                let (base, mask) = if wide {
                    let hi = self.bars[at + 1];
                    i += 1;
                    (
                        (u64::from(hi.value) << 32) | u64::from(bar.value & !0xf),
                        (u64::from(hi.mask) << 32) | u64::from(bar.mask & !0xf),
                    )
                } else if bar.mask & !0xf == 0 {
                    continue;
                } else {
                    (
                        u64::from(bar.value & !0xf),
                        u64::from(bar.mask & !0xf) | 0xffff_ffff_0000_0000,
                    )
                };
                let size = (!mask).wrapping_add(1);
                if mask == 0 || size == 0 {
                    continue;
                }
                return Some(MemBar {
                    index: at as u8,
                    base,
                    size,
                });
            }
            None
        })
    }

    /// The memory BAR with index `index` (a 64-bit BAR by its lower half).
    pub fn mem_bar(&self, index: u8) -> Option<MemBar> {
        self.mem_bars().find(|b| b.index == index)
    }

    /// Where its MSI-X table and pending-bit array are, if it has MSI-X.
    pub fn msix_layout(&self, host: &mut dyn HostConfig) -> Option<MsixLayout> {
        let c = self.caps().iter().find(|c| c.kind == CapKind::Msix)?;
        let control = host.read(self.bdf, c.offset) >> 16;
        let table = host.read(self.bdf, c.offset + 4);
        let pba = host.read(self.bdf, c.offset + 8);
        Some(MsixLayout {
            entries: (control & 0x7ff) as u16 + 1,
            table_bar: (table & 7) as u8,
            table_offset: table & !7,
            pba_bar: (pba & 7) as u8,
            pba_offset: pba & !7,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{FakeHost, BLK};
    use super::*;

    #[test]
    fn memory_bars_join_their_halves_and_skip_the_rest() {
        let mut h = FakeHost::virtio();
        let f = Function::probe(&mut h, BLK).unwrap();
        let mut bars = [None; 3];
        for (slot, b) in bars.iter_mut().zip(f.mem_bars()) {
            *slot = Some(b);
        }
        assert_eq!(
            bars,
            [
                Some(MemBar {
                    index: 1,
                    base: 0xc000_1000,
                    size: 0x1000
                }),
                Some(MemBar {
                    index: 4,
                    base: 0x8_0000_0000,
                    size: 0x4000
                }),
                None,
            ]
        );
        assert_eq!(f.mem_bar(4).map(|b| b.base), Some(0x8_0000_0000));
        assert_eq!(f.mem_bar(5), None);
        assert_eq!(f.mem_bar(0), None);
    }

    #[test]
    fn a_bar_fits_only_whole_pages_below_the_limit_and_clear_of_the_map() {
        let bar = |base, size| MemBar {
            index: 1,
            base,
            size,
        };
        let taken = [(0, 0x1000_0000), (0xfee0_0000, 0x1000)];
        let limit = 1 << 32;
        assert_eq!(bar(0xfebf_1000, 0x1000).fits(limit, &taken), Ok(()));
        assert_eq!(bar(0xfe00_0000, 0x4000).fits(limit, &taken), Ok(()));
        assert_eq!(
            bar(0xfebf_1000, 0x100).fits(limit, &taken),
            Err(BarError::SubPage)
        );
        assert_eq!(
            bar(0xfebf_1800, 0x1000).fits(limit, &taken),
            Err(BarError::SubPage)
        );
        assert_eq!(
            bar(0xffff_f000, 0x2000).fits(limit, &taken),
            Err(BarError::TooHigh)
        );
        assert_eq!(
            bar(u64::MAX - 0xfff, 0x1000).fits(u64::MAX, &taken),
            Err(BarError::TooHigh)
        );
        assert_eq!(
            bar(0x0fff_f000, 0x1000).fits(limit, &taken),
            Err(BarError::Overlaps(0))
        );
        assert_eq!(
            bar(0xfed0_0000, 0x20_0000).fits(limit, &taken),
            Err(BarError::Overlaps(1))
        );
    }

    #[test]
    fn a_64_bit_bar_of_4_gib_is_one_bar() {
        let mut h = FakeHost::virtio();
        h.set(0x20, 0x0000_000c); // BAR 4: 64-bit, its lower half's size bits all clear
        h.set_bar_size(4, 0);
        let f = Function::probe(&mut h, BLK).unwrap();
        // The fake's upper half takes every bit: 0xffff_ffff, a 4 GiB BAR.
        let b = f.mem_bar(4).unwrap();
        assert_eq!((b.base, b.size), (0x8_0000_0000, 0x1_0000_0000));
        assert_eq!(f.mem_bar(5), None);
    }

    #[test]
    fn io_and_unimplemented_bars_are_not_memory() {
        let mut h = FakeHost::virtio();
        h.set(0x10, 0xc041); // an I/O BAR 0 of 64 ports
        h.set_bar_size(0, 0x40);
        let f = Function::probe(&mut h, BLK).unwrap();
        assert!(f.mem_bars().all(|b| b.index != 0));
        assert_eq!(f.mem_bars().count(), 2);
    }

    #[test]
    fn the_msix_layout_comes_from_the_capability() {
        let mut h = FakeHost::virtio();
        h.set(0x58, 0x0000_2801); // PBA in BAR 1 at 0x2800
        let f = Function::probe(&mut h, BLK).unwrap();
        let m = f.msix_layout(&mut h).unwrap();
        assert_eq!(
            m,
            MsixLayout {
                entries: 2,
                table_bar: 1,
                table_offset: 0x2000,
                pba_bar: 1,
                pba_offset: 0x2800
            }
        );
        assert_eq!(m.table_bytes(), 32);
        h.set(0x60, 0x0110_0009); // the vendor cap ends the list: MSI-X stays
        h.set(0x34, 0x60); // the list starts past MSI-X
        let f = Function::probe(&mut h, BLK).unwrap();
        assert_eq!(f.msix_layout(&mut h), None);
    }
}
