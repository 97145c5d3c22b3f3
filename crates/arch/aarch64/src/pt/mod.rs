//! Translation-table builder for the VMSAv8-64 4 KiB granule, shared by the EL2
//! stage-1 tables and every VM's stage-2 tables.
//!
//! Layout: 39-bit input addresses, walk starting at level 1 (one 4 KiB root table of
//! 512 entries, 1 GiB each), level 2 entries of 2 MiB, level 3 pages of 4 KiB. The
//! builder uses the largest block that the alignment of both addresses and the
//! remaining size allow, and splits a block into a table when a later, finer mapping
//! needs it (the split table repeats the block's attributes).
//!
//! [`PageTable::unmap`] removes whole mappings again (a stage-2 port of the seam asks
//! for it; static partitions never use it at run time).
//!
//! The builder is plain safe code over [`TableMemory`]; the backend provides the memory
//! (a static pool at EL2), the host tests a vector.

mod desc;
mod pages;
pub use desc::{Attrs, Stage1, Stage2};
pub use pages::Pages;

use rtvisor_addr::Hpa;

/// Entries per table.
pub const ENTRIES: usize = 512;
/// Input address bits covered by the root table.
pub const IA_BITS: u32 = 39;

/// Memory that holds translation tables.
pub trait TableMemory {
    /// A zeroed, 4 KiB-aligned table, or `None` when the pool is exhausted.
    fn alloc_table(&mut self) -> Option<Hpa>;
    /// Entry `index` of the table at `table`.
    fn read(&self, table: Hpa, index: usize) -> u64;
    /// Sets entry `index` of the table at `table`.
    fn write(&mut self, table: Hpa, index: usize, value: u64);
}

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Address or size not 4 KiB aligned, size zero, or range past the input space.
    BadRange,
    /// No table memory left.
    OutOfTables,
    /// An unmap range cuts a larger mapping (a block or page partly inside it).
    Partial,
}

const VALID: u64 = 1;
const TABLE: u64 = 1 << 1; // at levels 1 and 2: table; at level 3: page
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Bytes covered by one entry at `level` (1, 2 or 3).
const fn entry_size(level: u32) -> u64 {
    1 << (12 + 9 * (3 - level))
}

/// A translation table tree rooted at one level-1 table.
#[derive(Debug)]
pub struct PageTable {
    root: Hpa,
}

impl PageTable {
    /// Allocates an empty root table.
    pub fn new(mem: &mut impl TableMemory) -> Result<Self, MapError> {
        Ok(Self {
            root: mem.alloc_table().ok_or(MapError::OutOfTables)?,
        })
    }

    /// Physical address of the root table (for TTBR0_EL2 / VTTBR_EL2).
    pub fn root(&self) -> Hpa {
        self.root
    }

    /// Maps `[ia, ia + size)` to `[oa, oa + size)` with leaf attributes `attrs`
    /// (already in the descriptor format of the stage, see [`Stage1`] and [`Stage2`]).
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        ia: u64,
        oa: Hpa,
        size: u64,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let page = entry_size(3);
        let end = ia.checked_add(size).ok_or(MapError::BadRange)?;
        if size == 0
            || !ia.is_multiple_of(page)
            || !oa.raw().is_multiple_of(page)
            || !size.is_multiple_of(page)
            || end > 1 << IA_BITS
        {
            return Err(MapError::BadRange);
        }
        oa.checked_add(size).ok_or(MapError::BadRange)?;
        let (mut ia, mut oa) = (ia, oa.raw());
        while ia < end {
            let level = (1..=3)
                .find(|&l| {
                    let s = entry_size(l);
                    l > 1 && ia % s == 0 && oa % s == 0 && end - ia >= s || l == 3
                })
                .unwrap_or(3);
            self.set_leaf(mem, ia, oa, level, attrs)?;
            ia += entry_size(level);
            oa += entry_size(level);
        }
        Ok(())
    }

    /// Removes the mappings of `[ia, ia + size)`: every leaf in the range is cleared;
    /// unmapped parts are skipped. The range must cover whole leaves: one that cuts a
    /// block or page is refused ([`MapError::Partial`]) with nothing changed. Tables
    /// emptied this way stay in the tree. The caller invalidates the TLB.
    pub fn unmap(
        &mut self,
        mem: &mut impl TableMemory,
        ia: u64,
        size: u64,
    ) -> Result<(), MapError> {
        let page = entry_size(3);
        let end = ia.checked_add(size).ok_or(MapError::BadRange)?;
        if size == 0 || !ia.is_multiple_of(page) || !size.is_multiple_of(page) || end > 1 << IA_BITS
        {
            return Err(MapError::BadRange);
        }
        for clear in [false, true] {
            let mut at = ia;
            while at < end {
                let (table, idx, level, valid) = self.walk(mem, at);
                let span = entry_size(level);
                let start = at & !(span - 1);
                if valid {
                    if start != at || end - at < span {
                        return Err(MapError::Partial);
                    }
                    if clear {
                        mem.write(table, idx, 0);
                    }
                }
                at = start + span;
            }
        }
        Ok(())
    }

    /// The entry a walk of `ia` stops at: its table, index and level, and whether it
    /// is a valid leaf (`false`: nothing is mapped there, at that level's size).
    fn walk(&self, mem: &impl TableMemory, ia: u64) -> (Hpa, usize, u32, bool) {
        let mut table = self.root;
        let mut level = 1;
        loop {
            let idx = index(ia, level);
            let e = mem.read(table, idx);
            if e & VALID == 0 {
                return (table, idx, level, false);
            }
            if level == 3 || e & TABLE == 0 {
                return (table, idx, level, true);
            }
            table = Hpa::new(e & OA_MASK);
            level += 1;
        }
    }

    /// Walks `ia` and returns the output address and the leaf attributes.
    pub fn translate(&self, mem: &impl TableMemory, ia: u64) -> Option<(Hpa, Attrs)> {
        let mut table = self.root;
        for level in 1..=3 {
            let e = mem.read(table, index(ia, level));
            if e & VALID == 0 {
                return None;
            }
            let is_table = level < 3 && e & TABLE != 0;
            if !is_table {
                let off = ia & (entry_size(level) - 1);
                let base = e & OA_MASK & !(entry_size(level) - 1);
                return Some((Hpa::new(base + off), Attrs(e & !OA_MASK & !(VALID | TABLE))));
            }
            table = Hpa::new(e & OA_MASK);
        }
        None
    }

    fn set_leaf(
        &mut self,
        mem: &mut impl TableMemory,
        ia: u64,
        oa: u64,
        level: u32,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let mut table = self.root;
        for l in 1..level {
            table = self.next_table(mem, table, index(ia, l), l)?;
        }
        let kind = if level == 3 { VALID | TABLE } else { VALID };
        mem.write(table, index(ia, level), oa | attrs.0 | kind);
        Ok(())
    }

    /// The next-level table behind entry `idx` of `table` at `level`, creating it, or
    /// splitting a block into a table of the same mappings.
    fn next_table(
        &mut self,
        mem: &mut impl TableMemory,
        table: Hpa,
        idx: usize,
        level: u32,
    ) -> Result<Hpa, MapError> {
        let e = mem.read(table, idx);
        if e & VALID != 0 && e & TABLE != 0 {
            return Ok(Hpa::new(e & OA_MASK));
        }
        let next = mem.alloc_table().ok_or(MapError::OutOfTables)?;
        if e & VALID != 0 {
            // Split the block: same attributes, finer entries.
            let child = entry_size(level + 1);
            let kind = if level + 1 == 3 { VALID | TABLE } else { VALID };
            let base = e & OA_MASK;
            let attrs = e & !OA_MASK & !(VALID | TABLE);
            for i in 0..ENTRIES {
                mem.write(next, i, (base + i as u64 * child) | attrs | kind);
            }
        }
        mem.write(table, idx, next.raw() | VALID | TABLE);
        Ok(next)
    }
}

fn index(ia: u64, level: u32) -> usize {
    ((ia >> (12 + 9 * (3 - level))) & 0x1ff) as usize
}

#[cfg(test)]
mod tests;
