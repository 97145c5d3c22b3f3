//! A guest's linear addresses as its own page tables map them, for the bytes the
//! hypervisor decodes at the guest's RIP (a trapped MOV to CR4, a MOV that faulted in
//! the second stage). Linux runs at 0xffff_ffff_8xxx_xxxx, so its RIP is not a
//! guest-physical address as the identity-mapped rtvisor guests' is.
//!
//! [`translate`] walks the tables the way the CPU would for a supervisor read: paging
//! off (CR0.PG clear: the address itself), 32-bit paging (4 MiB pages with CR4.PSE),
//! PAE, 4-level and 5-level (CR4.LA57) paging with 2 MiB and 1 GiB pages. Access
//! rights are not checked: the CPU already fetched the instruction, the walk only
//! finds where. An entry that is not present, or a table the reader cannot reach (not
//! the VM's RAM), gives `None`.

/// The guest's registers that choose the paging mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

const CR0_PG: u64 = 1 << 31;
const CR4_PSE: u64 = 1 << 4;
const CR4_PAE: u64 = 1 << 5;
const CR4_LA57: u64 = 1 << 12;
const EFER_LMA: u64 = 1 << 10;
const PRESENT: u64 = 1;
const LARGE: u64 = 1 << 7;
/// Bits 12..51 of an entry: the next table or the page.
const ADDR: u64 = 0x000f_ffff_ffff_f000;

/// The guest-physical address of `linear` under `p`; `read(gpa)` reads the 8 bytes of
/// guest memory at `gpa` (little-endian), `None` outside the VM's RAM.
pub fn translate(p: Paging, linear: u64, mut read: impl FnMut(u64) -> Option<u64>) -> Option<u64> {
    if p.cr0 & CR0_PG == 0 {
        return Some(linear);
    }
    if p.cr4 & CR4_PAE == 0 {
        return legacy(p, linear as u32, read);
    }
    // (levels, first table): long mode has 4 or 5 levels of 512 entries; PAE starts at
    // one of 4 PDPTEs (CR3 bits 5..31) and has 3.
    let (levels, mut table) = if p.efer & EFER_LMA != 0 {
        let levels = if p.cr4 & CR4_LA57 != 0 { 5 } else { 4 };
        if !canonical(linear, 12 + 9 * levels) {
            // The CPU gives #GP for it before any walk.
            return None;
        }
        (levels, p.cr3 & ADDR)
    } else {
        (3, p.cr3 & 0xffff_ffe0)
    };
    for level in (1..=levels).rev() {
        // Level 1 indexes with bits 12..20, level 2 with 21..29, ...
        let shift = 12 + 9 * (level - 1);
        let index = if levels == 3 && level == 3 {
            (linear >> 30) & 3
        } else {
            (linear >> shift) & 0x1ff
        };
        let e = read(table + index * 8)?;
        if e & PRESENT == 0 {
            return None;
        }
        // PS in a PDPTE (1 GiB) or a PDE (2 MiB); a PAE PDPTE has no PS.
        let large = e & LARGE != 0 && (level == 2 || (level == 3 && levels != 3));
        if level == 1 || large {
            let offset = linear & ((1u64 << shift) - 1);
            return Some((e & ADDR & !((1u64 << shift) - 1)) | offset);
        }
        table = e & ADDR;
    }
    None
}

/// Whether `linear` is canonical for `bits` bits of linear address (48 with four
/// levels, 57 with five): bits 63 down to `bits - 1` all equal.
fn canonical(linear: u64, bits: u64) -> bool {
    let unused = 64 - bits;
    (((linear << unused) as i64) >> unused) as u64 == linear
}

/// 32-bit paging: two levels of 1024 4-byte entries, 4 MiB pages with CR4.PSE.
fn legacy(p: Paging, linear: u32, mut read: impl FnMut(u64) -> Option<u64>) -> Option<u64> {
    let entry = |read: &mut dyn FnMut(u64) -> Option<u64>, at: u64| read(at).map(|v| v as u32);
    let pde = entry(
        &mut read,
        (p.cr3 & 0xffff_f000) + u64::from(linear >> 22) * 4,
    )?;
    if pde & 1 == 0 {
        return None;
    }
    if pde & (1 << 7) != 0 && p.cr4 & CR4_PSE != 0 {
        return Some(u64::from(pde & 0xffc0_0000) | u64::from(linear & 0x3f_ffff));
    }
    let table = u64::from(pde & 0xffff_f000);
    let pte = entry(&mut read, table + u64::from((linear >> 12) & 0x3ff) * 4)?;
    (pte & 1 != 0).then(|| u64::from(pte & 0xffff_f000) | u64::from(linear & 0xfff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Guest memory as (address, 8 bytes) pairs.
    fn mem(entries: &[(u64, u64)]) -> impl FnMut(u64) -> Option<u64> {
        let m: HashMap<u64, u64> = entries.iter().copied().collect();
        move |a| m.get(&a).copied()
    }

    const LONG: Paging = Paging {
        cr0: CR0_PG | 1,
        cr3: 0x1000,
        cr4: CR4_PAE,
        efer: EFER_LMA | 1 << 8,
    };

    #[test]
    fn paging_off_is_the_address_itself() {
        let p = Paging { cr0: 1, ..LONG };
        assert_eq!(translate(p, 0x10_0040, mem(&[])), Some(0x10_0040));
    }

    #[test]
    fn four_levels_with_a_2mib_page_like_linux_text() {
        // 0xffff_ffff_8104_9232: PML4 511, PDPT 510, PD 8, 2 MiB page at 0x100_0000.
        let va = 0xffff_ffff_8104_9232;
        let m = mem(&[
            (0x1000 + 511 * 8, 0x2000 | 3),
            (0x2000 + 510 * 8, 0x3000 | 3),
            (0x3000 + 8 * 8, 0x100_0000 | LARGE | 3),
        ]);
        assert_eq!(translate(LONG, va, m), Some(0x104_9232));
    }

    #[test]
    fn four_levels_to_a_4kib_page_and_a_1gib_page() {
        let m = mem(&[
            (0x1000, 0x2000 | 3),
            (0x2000, 0x3000 | 3),
            (0x3000 + 8, 0x4000 | 3),
            (0x4000 + 3 * 8, 0x7_7000 | 1 << 63 | 3),
        ]);
        assert_eq!(translate(LONG, 0x20_3abc, m), Some(0x7_7abc));
        let m = mem(&[(0x1000, 0x2000 | 3), (0x2000 + 8, 0x8000_0000 | LARGE | 3)]);
        assert_eq!(translate(LONG, 0x4123_4567, m), Some(0x8123_4567));
    }

    #[test]
    fn a_missing_entry_or_unreadable_table_gives_none() {
        let m = mem(&[(0x1000, 0x2000 | 3), (0x2000, 0x3000)]);
        assert_eq!(translate(LONG, 0x1000, m), None, "not present");
        assert_eq!(translate(LONG, 0x1000, mem(&[])), None, "outside ram");
    }

    #[test]
    fn a_non_canonical_address_has_no_translation() {
        // PML4 entry 0 maps the lowest GiB: an address that only its low 48 bits
        // would send there gets nothing.
        let m = || mem(&[(0x1000, 0x2000 | 3), (0x2000, LARGE | 3)]);
        assert_eq!(translate(LONG, 0x1234, m()), Some(0x1234));
        assert_eq!(translate(LONG, 0x8000_0000_0000_1234, m()), None);
        assert_eq!(translate(LONG, 0x0000_8000_0000_1234, m()), None);
        assert_eq!(translate(LONG, 0xffff_0000_0000_1234, m()), None);
        // With five levels, bit 56 is the sign: 0x0000_8000_0000_0000 is canonical
        // (PML5 entry 0, PML4 entry 256, not mapped here), 0x0100_.. is not.
        let p = Paging {
            cr4: CR4_PAE | CR4_LA57,
            ..LONG
        };
        assert_eq!(translate(p, 0x0100_0000_0000_1234, m()), None);
        let m5 = mem(&[
            (0x1000, 0x2000 | 3),
            (0x2000 + 256 * 8, 0x3000 | 3),
            (0x3000, LARGE | 3),
        ]);
        assert_eq!(translate(p, 0x0000_8000_0000_1234, m5), Some(0x1234));
    }

    #[test]
    fn five_levels_with_la57() {
        let p = Paging {
            cr4: CR4_PAE | CR4_LA57,
            ..LONG
        };
        let m = mem(&[
            (0x1000, 0x2000 | 3),
            (0x2000, 0x3000 | 3),
            (0x3000, 0x4000 | 3),
            (0x4000, 0x20_0000 | LARGE | 3),
        ]);
        assert_eq!(translate(p, 0x1234, m), Some(0x20_1234));
    }

    #[test]
    fn pae_and_32_bit_paging() {
        let pae = Paging {
            cr3: 0x1020,
            efer: 0,
            ..LONG
        };
        // PDPTE 2 (bits 30..31), PDE 1, a 2 MiB page.
        let m = mem(&[
            (0x1020 + 16, 0x3000 | 1),
            (0x3000 + 8, 0x60_0000 | LARGE | 3),
        ]);
        assert_eq!(translate(pae, 0x8020_0010, m), Some(0x60_0010));
        let legacy = Paging {
            cr4: CR4_PSE,
            cr3: 0x1000,
            efer: 0,
            cr0: CR0_PG | 1,
        };
        // PDE 2 a 4 MiB page; PDE 3 a table whose PTE 5 maps 0x9000.
        let m = mem(&[
            (0x1000 + 8, 0xc0_0000 | 0x83),
            (0x1000 + 12, 0x5000 | 3),
            (0x5000 + 20, 0x9000 | 3),
        ]);
        let mut m = m;
        assert_eq!(translate(legacy, 0x80_1234, &mut m), Some(0xc0_1234));
        assert_eq!(translate(legacy, 0xc0_5678, &mut m), Some(0x9678));
    }
}
