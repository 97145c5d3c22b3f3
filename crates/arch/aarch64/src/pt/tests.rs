extern crate std;
use super::*;
use std::vec::Vec;

/// Tables in a vector; table `n` lives at fake address 0x1000_0000 + n * 4 KiB.
struct VecMem {
    tables: Vec<[u64; ENTRIES]>,
    limit: usize,
}

const BASE: u64 = 0x1000_0000;

impl VecMem {
    fn new(limit: usize) -> Self {
        Self {
            tables: Vec::new(),
            limit,
        }
    }
    fn slot(t: Hpa) -> usize {
        ((t.raw() - BASE) / 0x1000) as usize
    }
}

impl TableMemory for VecMem {
    fn alloc_table(&mut self) -> Option<Hpa> {
        if self.tables.len() == self.limit {
            return None;
        }
        self.tables.push([0; ENTRIES]);
        Some(Hpa::new(BASE + (self.tables.len() as u64 - 1) * 0x1000))
    }
    fn read(&self, t: Hpa, i: usize) -> u64 {
        self.tables[Self::slot(t)][i]
    }
    fn write(&mut self, t: Hpa, i: usize, v: u64) {
        self.tables[Self::slot(t)][i] = v;
    }
}

#[test]
fn ram_uses_2m_blocks_when_aligned() {
    let mut mem = VecMem::new(16);
    let mut pt = PageTable::new(&mut mem).unwrap();
    pt.map(
        &mut mem,
        0x4000_0000,
        Hpa::new(0x4400_0000),
        64 << 20,
        Stage2::ram(),
    )
    .unwrap();
    // root + one level-2 table: 32 blocks of 2 MiB, no level-3 tables.
    assert_eq!(mem.tables.len(), 2);
    let l2 = &mem.tables[1];
    assert_eq!(l2.iter().filter(|e| **e & VALID != 0).count(), 32);
    assert!(l2.iter().all(|e| *e & TABLE == 0));
    let (pa, attrs) = pt.translate(&mem, 0x4123_4567).unwrap();
    assert_eq!(pa, Hpa::new(0x4523_4567));
    assert_eq!(attrs, Stage2::ram());
    assert_eq!(pt.translate(&mem, 0x4400_0000), None);
    assert_eq!(pt.translate(&mem, 0x3fff_f000), None);
}

#[test]
fn misaligned_output_falls_back_to_pages() {
    let mut mem = VecMem::new(16);
    let mut pt = PageTable::new(&mut mem).unwrap();
    pt.map(
        &mut mem,
        0x4000_0000,
        Hpa::new(0x4400_1000),
        0x20_0000,
        Stage2::ram(),
    )
    .unwrap();
    assert_eq!(mem.tables.len(), 3); // root, l2, one l3
    assert_eq!(
        pt.translate(&mem, 0x401f_f000).unwrap().0,
        Hpa::new(0x4420_0000)
    );
}

#[test]
fn block_is_split_when_a_finer_mapping_follows() {
    let mut mem = VecMem::new(16);
    let mut pt = PageTable::new(&mut mem).unwrap();
    pt.map(
        &mut mem,
        0x4020_0000,
        Hpa::new(0x4020_0000),
        0x20_0000,
        Stage1::data(),
    )
    .unwrap();
    pt.map(
        &mut mem,
        0x4020_0000,
        Hpa::new(0x4020_0000),
        0x3000,
        Stage1::text(),
    )
    .unwrap();
    assert_eq!(pt.translate(&mem, 0x4020_1000).unwrap().1, Stage1::text());
    let (pa, attrs) = pt.translate(&mem, 0x4020_5008).unwrap();
    assert_eq!((pa, attrs), (Hpa::new(0x4020_5008), Stage1::data()));
    let (pa, _) = pt.translate(&mem, 0x403f_ffff).unwrap();
    assert_eq!(pa, Hpa::new(0x403f_ffff));
}

#[test]
fn one_gib_aligned_regions_still_use_2m_blocks() {
    // Level-1 blocks are avoided so that permissions can be refined later without
    // splitting a 1 GiB entry.
    let mut mem = VecMem::new(16);
    let mut pt = PageTable::new(&mut mem).unwrap();
    pt.map(
        &mut mem,
        0x4000_0000,
        Hpa::new(0x4000_0000),
        1 << 30,
        Stage2::ram(),
    )
    .unwrap();
    assert_eq!(mem.tables.len(), 2);
    assert_eq!(
        pt.translate(&mem, 0x7fff_ffff).unwrap().0,
        Hpa::new(0x7fff_ffff)
    );
}

#[test]
fn bad_ranges_and_exhaustion_are_errors() {
    let mut mem = VecMem::new(2);
    let mut pt = PageTable::new(&mut mem).unwrap();
    assert_eq!(
        pt.map(&mut mem, 0x1001, Hpa::new(0), 0x1000, Stage2::ram()),
        Err(MapError::BadRange)
    );
    assert_eq!(
        pt.map(&mut mem, 0, Hpa::new(0), 0, Stage2::ram()),
        Err(MapError::BadRange)
    );
    assert_eq!(
        pt.map(&mut mem, 1 << 39, Hpa::new(0), 0x1000, Stage2::ram()),
        Err(MapError::BadRange)
    );
    assert_eq!(
        pt.map(&mut mem, 0, Hpa::new(!0xfff), 0x2000, Stage2::ram()),
        Err(MapError::BadRange)
    );
    pt.map(&mut mem, 0, Hpa::new(0), 0x20_0000, Stage2::ram())
        .unwrap();
    assert_eq!(
        pt.map(&mut mem, 0x4000_0000, Hpa::new(0), 0x1000, Stage2::ram()),
        Err(MapError::OutOfTables)
    );
}

#[test]
fn device_attributes_are_never_executable() {
    assert_ne!(Stage2::device().0 & (1 << 54), 0);
    assert_ne!(Stage1::device().0 & (1 << 54), 0);
    assert_eq!(Stage1::text().0 & (1 << 54), 0);
}

#[test]
fn unmap_removes_whole_mappings_only() {
    let mut mem = VecMem::new(16);
    let mut pt = PageTable::new(&mut mem).unwrap();
    let (ram, gib) = (0x4000_0000u64, 1u64 << 30);
    // Two 2 MiB blocks and, behind them, four pages.
    pt.map(&mut mem, ram, Hpa::new(0x8000_0000), 4 << 20, Stage2::ram())
        .unwrap();
    pt.map(
        &mut mem,
        ram + (4 << 20),
        Hpa::new(0x9000_0000),
        0x4000,
        Stage2::device(),
    )
    .unwrap();
    // Half a block, or a range that starts inside a block: refused, nothing changes.
    assert_eq!(pt.unmap(&mut mem, ram, 1 << 20), Err(MapError::Partial));
    assert_eq!(
        pt.unmap(&mut mem, ram + 0x1000, 2 << 20),
        Err(MapError::Partial)
    );
    // A range whose end cuts the second block: refused before the first is cleared.
    assert_eq!(pt.unmap(&mut mem, ram, 3 << 20), Err(MapError::Partial));
    assert!(pt.translate(&mem, ram).is_some());
    assert_eq!(pt.unmap(&mut mem, ram, 0x800), Err(MapError::BadRange));
    assert_eq!(pt.unmap(&mut mem, ram, 0), Err(MapError::BadRange));
    // The first block, then two pages; the rest stays.
    pt.unmap(&mut mem, ram, 2 << 20).unwrap();
    assert_eq!(pt.translate(&mem, ram + 0x1234), None);
    assert!(pt.translate(&mem, ram + (2 << 20)).is_some());
    pt.unmap(&mut mem, ram + (4 << 20) + 0x1000, 0x2000)
        .unwrap();
    let page = |n: u64| pt.translate(&mem, ram + (4 << 20) + n * 0x1000).is_some();
    assert_eq!(
        [page(0), page(1), page(2), page(3)],
        [true, false, false, true]
    );
    // Unmapped space (the rest of the GiB, the next one) is skipped.
    pt.unmap(&mut mem, ram, gib).unwrap();
    pt.unmap(&mut mem, ram + gib, gib).unwrap();
    assert_eq!(pt.translate(&mem, ram + (2 << 20)), None);
    assert_eq!(pt.translate(&mem, ram + (4 << 20)), None);
    // And it maps again.
    pt.map(&mut mem, ram, Hpa::new(0x8000_0000), 2 << 20, Stage2::ram())
        .unwrap();
    assert_eq!(
        pt.translate(&mem, ram).map(|t| t.0),
        Some(Hpa::new(0x8000_0000))
    );
}
