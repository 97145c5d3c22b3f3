//! The real-mode start-up trampoline for application processors: where it goes and
//! the data it carries. A SIPI starts an AP in real mode at `vector << 12`; the
//! trampoline (`boot.rs`, copied to a free page below 1 MiB) switches it to protected
//! mode, turns on paging with the BSP's tables and jumps to 64-bit code in the image.
//!
//! ```text
//! offset 0x00  jmp short 0x50
//!        0x08  GDT: null, code64 (0x08), data (0x10), code32 (0x18)   4 x u64
//!        0x28  GDTR: u16 limit, u32 base
//!        0x30  far pointer to the 32-bit part: u32 offset, u16 selector 0x18
//!        0x38  far pointer to the 64-bit entry: u32 offset, u16 selector 0x08
//!        0x40  u32 CR3 (the tables are below 4 GiB)
//!        0x50  code
//! ```

use crate::bytes::slice;
use crate::multiboot2::{MemKind, MemRegion};

/// The GDT every CPU uses (the hypervisor's and the trampoline's), with the accessed
/// bits preset so that the CPU never writes to it.
pub const GDT: [u64; 4] = [
    0,
    0x00AF_9B00_0000_FFFF, // 0x08: 64-bit code
    0x00CF_9300_0000_FFFF, // 0x10: data
    0x00CF_9B00_0000_FFFF, // 0x18: 32-bit code
];
pub const CODE64: u16 = 0x08;
pub const DATA: u16 = 0x10;
pub const CODE32: u16 = 0x18;

pub const OFF_GDT: usize = 0x08;
pub const OFF_GDTR: usize = 0x28;
pub const OFF_PM: usize = 0x30;
pub const OFF_LM: usize = 0x38;
pub const OFF_CR3: usize = 0x40;
pub const OFF_CODE: usize = 0x50;

/// Real-mode memory ends here (the VGA window follows).
pub const LOW_LIMIT: u64 = 0xA_0000;
const PAGE: u64 = 0x1000;

/// The highest free 4 KiB page below [`LOW_LIMIT`] (never page 0): inside an available
/// region of the memory map and outside every `avoid` range (`[start, end)`, e.g. the
/// boot information). Its page number is the SIPI vector.
pub fn pick_page(map: impl Iterator<Item = MemRegion>, avoid: &[(u64, u64)]) -> Option<u64> {
    let mut best: Option<u64> = None;
    for r in map.filter(|r| r.kind == MemKind::Available && r.base.raw() < LOW_LIMIT) {
        let lo = r.base.raw().max(PAGE).div_ceil(PAGE) * PAGE;
        let hi = r.end().min(LOW_LIMIT) & !(PAGE - 1);
        let mut p = hi;
        while p >= lo + PAGE {
            let page = p - PAGE;
            if !avoid.iter().any(|&(s, e)| s < page + PAGE && e > page) {
                best = best.max(Some(page));
                break;
            }
            p = page;
        }
    }
    best
}

/// The addresses the trampoline needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// Physical address of the page the trampoline was copied to.
    pub base: u32,
    /// Offset of its 32-bit part from its start.
    pub pm_offset: u32,
    /// The 64-bit entry in the image.
    pub lm_entry: u32,
    pub cr3: u32,
}

/// Fills the data area of a trampoline copy; `None` if `blob` is too short or an
/// address does not fit.
pub fn patch(blob: &mut [u8], p: &Patch) -> Option<()> {
    if blob.len() < OFF_CODE {
        return None;
    }
    let mut put = |off: usize, bytes: &[u8]| -> Option<()> {
        blob.get_mut(off..off + bytes.len())?.copy_from_slice(bytes);
        Some(())
    };
    for (i, d) in GDT.iter().enumerate() {
        put(OFF_GDT + 8 * i, &d.to_le_bytes())?;
    }
    put(OFF_GDTR, &((GDT.len() * 8 - 1) as u16).to_le_bytes())?;
    put(
        OFF_GDTR + 2,
        &p.base.checked_add(OFF_GDT as u32)?.to_le_bytes(),
    )?;
    put(OFF_PM, &p.base.checked_add(p.pm_offset)?.to_le_bytes())?;
    put(OFF_PM + 4, &CODE32.to_le_bytes())?;
    put(OFF_LM, &p.lm_entry.to_le_bytes())?;
    put(OFF_LM + 4, &CODE64.to_le_bytes())?;
    put(OFF_CR3, &p.cr3.to_le_bytes())?;
    slice(blob, 0, 2).filter(|j| j[0] == 0xEB && usize::from(j[1]) + 2 == OFF_CODE)?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtvisor_addr::Hpa;

    fn r(base: u64, len: u64, kind: MemKind) -> MemRegion {
        MemRegion {
            base: Hpa::new(base),
            len,
            kind,
        }
    }

    #[test]
    fn picks_the_highest_free_low_page() {
        let map = [
            r(0, 0x9_FC00, MemKind::Available),
            r(0x9_FC00, 0x400, MemKind::Reserved),
            r(0x10_0000, 0x1000_0000, MemKind::Available),
        ];
        assert_eq!(pick_page(map.into_iter(), &[]), Some(0x9_E000));
        // The boot information sits there: the page below it.
        assert_eq!(
            pick_page(map.into_iter(), &[(0x9_E800, 0x9_F000)]),
            Some(0x9_D000)
        );
        // Nothing available below 1 MiB but page 0.
        let none = [
            r(0, 0x1000, MemKind::Available),
            r(0x10_0000, 0x1000, MemKind::Available),
        ];
        assert_eq!(pick_page(none.into_iter(), &[]), None);
        // A region that starts mid-page only offers whole pages.
        let odd = [r(0x7_0800, 0x1800, MemKind::Available)];
        assert_eq!(pick_page(odd.into_iter(), &[]), Some(0x7_1000));
        let tiny = [r(0x7_0800, 0x1000, MemKind::Available)];
        assert_eq!(pick_page(tiny.into_iter(), &[]), None);
        let wrapping = [r(0xFFFF_FFFF_FFFF_F000, 0x2000, MemKind::Available)];
        assert_eq!(pick_page(wrapping.into_iter(), &[]), None);
    }

    #[test]
    fn patches_the_data_area() {
        let mut blob = vec![0u8; 0x80];
        blob[0] = 0xEB;
        blob[1] = (OFF_CODE - 2) as u8;
        let p = Patch {
            base: 0x9_E000,
            pm_offset: 0x70,
            lm_entry: 0x20_1234,
            cr3: 0x30_0000,
        };
        patch(&mut blob, &p).unwrap();
        let u32_at = |o: usize| u32::from_le_bytes(blob[o..o + 4].try_into().unwrap());
        assert_eq!(u32_at(OFF_GDTR + 2), 0x9_E008);
        assert_eq!(u16::from_le_bytes([blob[OFF_GDTR], blob[OFF_GDTR + 1]]), 31);
        assert_eq!(u32_at(OFF_PM), 0x9_E070);
        assert_eq!(u32_at(OFF_LM), 0x20_1234);
        assert_eq!(u32_at(OFF_CR3), 0x30_0000);
        assert_eq!(
            u64::from_le_bytes(blob[0x10..0x18].try_into().unwrap()),
            GDT[1]
        );
        // A blob whose first jump does not reach the code is refused.
        blob[1] = 0;
        assert_eq!(patch(&mut blob, &p), None);
        assert_eq!(patch(&mut [0u8; 8], &p), None);
    }
}
