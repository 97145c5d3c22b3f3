//! The hypervisor's own page tables: one identity map (virtual = physical) with
//! 4-level paging, built once at boot by the BSP and shared by every CPU.
//!
//! Everything below `top` is mapped read-write and never executable (NX), with 2 MiB
//! pages; the [`Region`]s given (the image's sections, guard pages, device pages, the
//! start-up trampoline) are mapped with 4 KiB pages and their own [`Perm`], so no page
//! is both writable and executable. Plain code over a [`Pool`] of tables: the backend
//! gives it a static array, the host tests a vector.

/// Entries per table.
pub const ENTRIES: usize = 512;
pub const PAGE: u64 = 0x1000;
pub const LARGE: u64 = 0x20_0000;

pub const PRESENT: u64 = 1;
pub const WRITABLE: u64 = 1 << 1;
pub const PWT: u64 = 1 << 3;
pub const PCD: u64 = 1 << 4;
pub const HUGE: u64 = 1 << 7;
pub const NX: u64 = 1 << 63;
const ADDR: u64 = 0x000F_FFFF_FFFF_F000;

/// One 4 KiB table.
#[repr(C, align(4096))]
#[derive(Clone)]
pub struct Table(pub [u64; ENTRIES]);

impl Table {
    pub const EMPTY: Table = Table([0; ENTRIES]);
}

/// What a page allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Not mapped (guard pages, page 0).
    None,
    /// Code: read and execute.
    Rx,
    /// Read-only data.
    R,
    /// Data: read and write, never execute.
    Rw,
    /// Device registers: read-write, uncached, never execute.
    Device,
}

impl Perm {
    pub const fn leaf_bits(self) -> u64 {
        match self {
            Perm::None => 0,
            Perm::Rx => PRESENT,
            Perm::R => PRESENT | NX,
            Perm::Rw => PRESENT | WRITABLE | NX,
            Perm::Device => PRESENT | WRITABLE | NX | PCD | PWT,
        }
    }
}

/// A 4 KiB-aligned range with its own permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub perm: Perm,
}

/// Why the tables could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtError {
    /// A region is empty, not 4 KiB aligned, or overlaps or precedes the one before.
    BadRegion(Region),
    /// The map would reach past 512 GiB (one top-level entry).
    TooHigh,
    /// The pool has no table left.
    OutOfTables,
    /// The address has no 4 KiB page to change.
    NotSplit(u64),
}

/// Tables at consecutive physical addresses from `base`.
pub struct Pool<'a> {
    tables: &'a mut [Table],
    base: u64,
    used: usize,
}

/// The highest address the map may reach.
pub const MAX_TOP: u64 = 512 << 30;

impl<'a> Pool<'a> {
    /// `tables` must be zeroed; `base` is the physical address of `tables[0]`.
    pub fn new(tables: &'a mut [Table], base: u64) -> Pool<'a> {
        Pool {
            tables,
            base,
            used: 0,
        }
    }

    /// A pool whose first `used` tables already hold a map (to change it later).
    pub fn with_used(tables: &'a mut [Table], base: u64, used: usize) -> Pool<'a> {
        let used = used.min(tables.len());
        Pool { tables, base, used }
    }

    /// Tables handed out so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The next free table, zeroed; its physical address.
    pub(crate) fn alloc(&mut self) -> Result<u64, PtError> {
        let i = self.used;
        if i >= self.tables.len() {
            return Err(PtError::OutOfTables);
        }
        self.tables[i] = Table::EMPTY;
        self.used += 1;
        Ok(self.base + i as u64 * PAGE)
    }

    fn index(&self, phys: u64) -> Option<usize> {
        let i = usize::try_from(phys.checked_sub(self.base)? / PAGE).ok()?;
        (i < self.used).then_some(i)
    }

    /// Entry `i` of the table at `table` (0 for an address outside the pool).
    pub(crate) fn entry(&self, table: u64, i: usize) -> u64 {
        self.index(table).map_or(0, |t| self.tables[t].0[i])
    }

    /// Writes entry `i` of the table at `table` (nothing outside the pool).
    pub(crate) fn set(&mut self, table: u64, i: usize, v: u64) {
        if let Some(t) = self.index(table) {
            self.tables[t].0[i] = v;
        }
    }

    /// The next-level table of entry `i`, allocated when missing.
    fn next(&mut self, table: u64, i: usize) -> Result<u64, PtError> {
        let e = self.entry(table, i);
        if e & PRESENT != 0 {
            return Ok(e & ADDR);
        }
        let t = self.alloc()?;
        self.set(table, i, t | PRESENT | WRITABLE);
        Ok(t)
    }

    /// Builds the identity map of `[0, top)` (and of the regions above it) and
    /// returns the root table's physical address (for CR3). `regions` must be sorted.
    pub fn identity(&mut self, top: u64, regions: &[Region]) -> Result<u64, PtError> {
        let mut prev_end = 0;
        for r in regions {
            if r.start >= r.end || r.start % PAGE != 0 || r.end % PAGE != 0 || r.start < prev_end {
                return Err(PtError::BadRegion(*r));
            }
            prev_end = r.end;
        }
        let top = top.div_ceil(LARGE) * LARGE;
        if top.max(prev_end) > MAX_TOP {
            return Err(PtError::TooHigh);
        }
        let root = self.alloc()?;
        let pdpt = self.next(root, 0)?;
        let mut chunk = 0;
        while chunk < top.max(prev_end) {
            let end = chunk + LARGE;
            let split = regions.iter().any(|r| r.start < end && r.end > chunk);
            if split || chunk < top {
                let pd = self.next(pdpt, (chunk >> 30) as usize)?;
                let slot = (chunk >> 21) as usize % ENTRIES;
                if split {
                    let pt = self.next(pd, slot)?;
                    for i in 0..ENTRIES {
                        let a = chunk + i as u64 * PAGE;
                        let bits = perm_at(regions, a, top).leaf_bits();
                        self.set(pt, i, if bits == 0 { 0 } else { a | bits });
                    }
                } else {
                    self.set(pd, slot, chunk | Perm::Rw.leaf_bits() | HUGE);
                }
            }
            chunk = end;
        }
        Ok(root)
    }

    /// Changes the 4 KiB page at `addr` (which must have been inside a region when the
    /// map was built) to `perm`. The caller flushes the TLB.
    pub fn set_perm(&mut self, root: u64, addr: u64, perm: Perm) -> Result<(), PtError> {
        let pt = self.leaf_table(root, addr).ok_or(PtError::NotSplit(addr))?;
        let bits = perm.leaf_bits();
        let page = addr & ADDR;
        self.set(
            pt,
            (addr >> 12) as usize % ENTRIES,
            if bits == 0 { 0 } else { page | bits },
        );
        Ok(())
    }

    /// Maps the 4 KiB page at `addr` to itself with `perm` (a device's registers found
    /// after boot), allocating the tables the walk lacks and splitting a 2 MiB page
    /// of the map that holds it (the boot map covers RAM up to its top, which on a
    /// large machine includes the PCI hole below 4 GiB). A page of the image's code
    /// or read-only data is refused. The caller flushes the TLB.
    pub fn map_page(&mut self, root: u64, addr: u64, perm: Perm) -> Result<(), PtError> {
        let page = addr & ADDR & !(PAGE - 1);
        if page >= MAX_TOP {
            return Err(PtError::TooHigh);
        }
        let mut t = root;
        for shift in [39u32, 30, 21] {
            let i = (page >> shift) as usize % ENTRIES;
            let e = self.entry(t, i);
            t = match (e & HUGE != 0, shift) {
                (true, 21) => self.split(t, i, e)?,
                (true, _) => return Err(PtError::NotSplit(page)),
                (false, _) => self.next(t, i)?,
            };
        }
        let slot = (page >> 12) as usize % ENTRIES;
        let old = self.entry(t, slot);
        if old & PRESENT != 0 && (old & WRITABLE == 0 || old & NX == 0) {
            return Err(PtError::NotSplit(page));
        }
        let bits = perm.leaf_bits();
        self.set(t, slot, if bits == 0 { 0 } else { page | bits });
        Ok(())
    }

    /// Replaces the 2 MiB leaf `e` in entry `i` of table `table` by a table of 512
    /// 4 KiB leaves with its rights; returns the new table.
    fn split(&mut self, table: u64, i: usize, e: u64) -> Result<u64, PtError> {
        let pt = self.alloc()?;
        let base = e & ADDR & !(LARGE - 1);
        let flags = e & !ADDR & !HUGE;
        for k in 0..ENTRIES {
            self.set(pt, k, (base + k as u64 * PAGE) | flags);
        }
        self.set(table, i, pt | PRESENT | WRITABLE);
        Ok(pt)
    }

    /// The 4 KiB-page table that maps `addr`, if the walk reaches one.
    fn leaf_table(&self, root: u64, addr: u64) -> Option<u64> {
        let mut t = root;
        for shift in [39u32, 30, 21] {
            let e = self.entry(t, (addr >> shift) as usize % ENTRIES);
            if e & PRESENT == 0 || e & HUGE != 0 {
                return None;
            }
            t = e & ADDR;
        }
        Some(t)
    }

    /// The effective permission of `addr` as the MMU would see it: writable only if
    /// every level allows it, executable unless any level says NX. `None` when not
    /// mapped. (Used by the tests and the boot self-check.)
    pub fn lookup(&self, root: u64, addr: u64) -> Option<(u64, Perm)> {
        let mut t = root;
        let (mut w, mut nx) = (true, false);
        for (level, shift) in [39u32, 30, 21, 12].into_iter().enumerate() {
            let e = self.entry(t, (addr >> shift) as usize % ENTRIES);
            if e & PRESENT == 0 {
                return None;
            }
            w &= e & WRITABLE != 0;
            nx |= e & NX != 0;
            if level == 3 || (level >= 1 && e & HUGE != 0) {
                let size = 1u64 << shift;
                let pa = (e & ADDR & !(size - 1)) | (addr & (size - 1));
                let perm = match (w, nx, e & PCD != 0) {
                    (true, true, true) => Perm::Device,
                    (true, true, false) => Perm::Rw,
                    (false, true, _) => Perm::R,
                    (false, false, _) => Perm::Rx,
                    // Writable and executable: never built; report it as such.
                    (true, false, _) => return Some((pa, Perm::None)),
                };
                return Some((pa, perm));
            }
            t = e & ADDR;
        }
        None
    }
}

/// The permission of page `a`: its region's, else read-write data below `top`.
fn perm_at(regions: &[Region], a: u64, top: u64) -> Perm {
    let default = if a < top { Perm::Rw } else { Perm::None };
    regions
        .iter()
        .find(|r| r.start <= a && a < r.end)
        .map_or(default, |r| r.perm)
}

#[cfg(test)]
mod tests;
