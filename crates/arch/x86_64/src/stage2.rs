//! Second-stage translation of one VM: guest-physical to host-physical, in the format
//! of the vendor that walks it. Intel's EPT and AMD's nested page tables (NPT, the
//! long-mode page-table format walked with the host's EFER) share the shape: four
//! levels of 512 entries, 4 KiB pages, 2 MiB pages one level up. Only the entry bits
//! differ, so one builder writes both ([`Format`]).
//!
//! A VM sees what was mapped and nothing else: every other guest-physical address
//! faults to the hypervisor (EPT violation, nested page fault). The builder changes
//! tables only; after [`Stage2::unmap`] or a permission change the caller must flush
//! the translations of this VM on every CPU that ran it (INVEPT single-context on
//! Intel, the ASID's TLB flush on AMD), which the returned [`Flush`] says, and, where
//! the VM's PCI functions are attached to these tables as VT-d second-level tables
//! (`crate::vtd`), its domain's IOTLB on their unit too. (Nothing unmaps after boot
//! today: the hypervisor builds each VM's tables once.)
//!
//! Plain code over a pool of tables (a static array on the target, a vector in the
//! host tests).

use crate::multiboot2::{MemKind, MemRegion};
use crate::pt::{Pool, Table, ENTRIES, LARGE, PAGE};
use rtvisor_addr::{Hpa, Ipa};

/// Whose entry format the tables use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Intel EPT: read/write/execute bits, write-back memory type in leaves.
    Ept,
    /// AMD NPT: long-mode page tables; every level user (guest accesses count as
    /// user accesses) and present; NX for no-execute.
    Npt,
}

/// What a guest may do with a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// Device registers: uncached (EPT memory type UC; NPT PCD and PWT, the host
    /// PAT's UC entry), whatever the guest's own attributes say.
    pub uncached: bool,
}

impl Access {
    /// RAM: read, write and execute.
    pub const RWX: Access = Access {
        read: true,
        write: true,
        exec: true,
        uncached: false,
    };
    /// Read-only data.
    pub const R: Access = Access {
        read: true,
        write: false,
        exec: false,
        uncached: false,
    };
    /// Read-write data, not executable.
    pub const RW: Access = Access {
        read: true,
        write: true,
        exec: false,
        uncached: false,
    };
    /// Device registers: read-write, not executable, uncached.
    pub const DEVICE: Access = Access {
        read: true,
        write: true,
        exec: false,
        uncached: true,
    };
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage2Error {
    /// An address or length is not 4 KiB aligned, or the length is zero.
    Unaligned,
    /// The range reaches past the 48-bit guest-physical space.
    TooHigh,
    /// Part of the range is mapped already.
    Overlap(Ipa),
    /// The pool has no table left.
    OutOfTables,
    /// A mapping without read access (EPT cannot express write- or execute-only
    /// pages on every CPU; NPT cannot express them at all).
    NoRead,
}

/// Proof that the tables changed in a way that needs a TLB flush of the VM.
#[must_use = "stale translations stay until the VM's TLB entries are flushed"]
#[derive(Debug, PartialEq, Eq)]
pub struct Flush;

// Entry bits.
const EPT_R: u64 = 1;
const EPT_W: u64 = 1 << 1;
const EPT_X: u64 = 1 << 2;
/// Leaf memory type write-back (bits 5:3 = 6).
const EPT_WB: u64 = 6 << 3;
/// Leaf memory type uncached (bits 5:3 = 0).
const EPT_UC: u64 = 0;
/// The memory type bits of an EPT leaf.
const EPT_MEMTYPE: u64 = 7 << 3;
const EPT_LARGE: u64 = 1 << 7;
const NPT_P: u64 = 1;
const NPT_W: u64 = 1 << 1;
const NPT_U: u64 = 1 << 2;
const NPT_LARGE: u64 = 1 << 7;
const NPT_NX: u64 = 1 << 63;
/// PWT and PCD: the host PAT's entry 3, uncached.
const NPT_UC: u64 = (1 << 3) | (1 << 4);
const ADDR: u64 = 0x000F_FFFF_FFFF_F000;
/// Guest-physical addresses are 48 bits (four levels).
pub const MAX_GPA: u64 = 1 << 48;

impl Format {
    fn present(self, e: u64) -> bool {
        match self {
            Format::Ept => e & (EPT_R | EPT_W | EPT_X) != 0,
            Format::Npt => e & NPT_P != 0,
        }
    }

    fn large(self, e: u64) -> bool {
        e & match self {
            Format::Ept => EPT_LARGE,
            Format::Npt => NPT_LARGE,
        } != 0
    }

    /// An entry that points at the next table (all rights: leaves decide).
    fn table(self, next: u64) -> u64 {
        next | match self {
            Format::Ept => EPT_R | EPT_W | EPT_X,
            Format::Npt => NPT_P | NPT_W | NPT_U,
        }
    }

    /// A leaf for `hpa` (4 KiB, or 2 MiB when `large`).
    fn leaf(self, hpa: u64, a: Access, large: bool) -> u64 {
        match self {
            Format::Ept => {
                let mut e = hpa | EPT_R | if a.uncached { EPT_UC } else { EPT_WB };
                e |= if a.write { EPT_W } else { 0 };
                e |= if a.exec { EPT_X } else { 0 };
                e | if large { EPT_LARGE } else { 0 }
            }
            Format::Npt => {
                let mut e = hpa | NPT_P | NPT_U;
                e |= if a.write { NPT_W } else { 0 };
                e |= if a.uncached { NPT_UC } else { 0 };
                e |= if a.exec { 0 } else { NPT_NX };
                e | if large { NPT_LARGE } else { 0 }
            }
        }
    }

    fn access(self, e: u64) -> Access {
        match self {
            Format::Ept => Access {
                read: e & EPT_R != 0,
                write: e & EPT_W != 0,
                exec: e & EPT_X != 0,
                uncached: e & EPT_MEMTYPE == EPT_UC,
            },
            Format::Npt => Access {
                read: e & NPT_P != 0,
                write: e & NPT_W != 0,
                exec: e & NPT_NX == 0,
                uncached: e & NPT_UC == NPT_UC,
            },
        }
    }
}

/// One VM's second-stage tables, in a pool of tables at consecutive physical
/// addresses from `base`.
pub struct Stage2<'a> {
    pool: Pool<'a>,
    base: u64,
    format: Format,
}

/// A VM's stage-2 tables as a VT-d unit walks them: the root's address and the bytes
/// of the tables from it on (a pool is one run of tables, the root first). Only a
/// [`Stage2`] makes one, so an IOMMU given it walks a real stage-2 table of the
/// hypervisor's own pool, which maps only its VM's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaTables {
    root: u64,
    len: u64,
}

impl DmaTables {
    /// The root table's address.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The bytes of the tables, the root first.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there is no table (never: a pool holds its root).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<'a> Stage2<'a> {
    /// Empty tables (only the root) in `tables`, which must be zeroed; `base` is the
    /// physical address of `tables[0]`.
    pub fn new(tables: &'a mut [Table], base: Hpa, format: Format) -> Result<Self, Stage2Error> {
        let mut pool = Pool::new(tables, base.raw());
        pool.alloc().map_err(|_| Stage2Error::OutOfTables)?;
        Ok(Stage2 {
            pool,
            base: base.raw(),
            format,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The root table: for the EPT pointer or the VMCB's nested CR3.
    pub fn root(&self) -> Hpa {
        Hpa::new(self.base)
    }

    /// The EPT pointer: write-back, four levels, this root.
    pub fn eptp(&self) -> u64 {
        self.base | 6 | (3 << 3)
    }

    /// Tables in use (the root included).
    pub fn used(&self) -> usize {
        self.pool.used()
    }

    /// These tables as an IOMMU's second-level table (`crate::vtd`).
    pub fn dma_tables(&self) -> DmaTables {
        DmaTables {
            root: self.base,
            len: self.pool.used() as u64 * 4096,
        }
    }

    fn entry(&self, table: u64, i: usize) -> u64 {
        self.pool.entry(table, i)
    }

    fn set(&mut self, table: u64, i: usize, v: u64) {
        self.pool.set(table, i, v);
    }

    fn alloc(&mut self) -> Result<u64, Stage2Error> {
        self.pool.alloc().map_err(|_| Stage2Error::OutOfTables)
    }

    /// The next-level table of entry `i`, allocated when missing. `None` when the
    /// entry is a large leaf.
    fn next(&mut self, table: u64, i: usize) -> Result<Option<u64>, Stage2Error> {
        let e = self.entry(table, i);
        if self.format.present(e) {
            return Ok((!self.format.large(e)).then_some(e & ADDR));
        }
        let t = self.alloc()?;
        self.set(table, i, self.format.table(t));
        Ok(Some(t))
    }

    /// Maps `[gpa, gpa + len)` to `[hpa, hpa + len)` with `access`, with 2 MiB pages
    /// wherever both sides are 2 MiB aligned and the rest is long enough, 4 KiB pages
    /// elsewhere. Refuses to replace an existing mapping (check first, then write, so
    /// a refused call changes nothing). Adding mappings needs no flush.
    pub fn map(&mut self, gpa: Ipa, hpa: Hpa, len: u64, access: Access) -> Result<(), Stage2Error> {
        let (g, h) = (gpa.raw(), hpa.raw());
        if len == 0
            || !g.is_multiple_of(PAGE)
            || !h.is_multiple_of(PAGE)
            || !len.is_multiple_of(PAGE)
        {
            return Err(Stage2Error::Unaligned);
        }
        if !access.read {
            return Err(Stage2Error::NoRead);
        }
        let end = g.checked_add(len).ok_or(Stage2Error::TooHigh)?;
        if end > MAX_GPA || h.checked_add(len).is_none_or(|e| e > ADDR + PAGE) {
            return Err(Stage2Error::TooHigh);
        }
        let mut a = g;
        while a < end {
            if self.translate(Ipa::new(a)).is_some() {
                return Err(Stage2Error::Overlap(Ipa::new(a)));
            }
            a += PAGE;
        }
        let mut off = 0;
        while off < len {
            let (ga, ha) = (g + off, h + off);
            let large = ga % LARGE == 0 && ha % LARGE == 0 && len - off >= LARGE;
            let mut t = self.base;
            let levels: &[u32] = if large { &[39, 30] } else { &[39, 30, 21] };
            for &shift in levels {
                t = self
                    .next(t, (ga >> shift) as usize % ENTRIES)?
                    .ok_or(Stage2Error::Overlap(Ipa::new(ga)))?;
            }
            let shift = if large { 21 } else { 12 };
            let leaf = self.format.leaf(ha, access, large);
            self.set(t, (ga >> shift) as usize % ENTRIES, leaf);
            off += if large { LARGE } else { PAGE };
        }
        Ok(())
    }

    /// Removes every leaf inside `[gpa, gpa + len)`; a 2 MiB page only partly inside
    /// is split into 4 KiB pages first. Returns how many pages went, and the flush
    /// the caller owes.
    pub fn unmap(&mut self, gpa: Ipa, len: u64) -> Result<(u64, Flush), Stage2Error> {
        let g = gpa.raw();
        if !len.is_multiple_of(PAGE) || !g.is_multiple_of(PAGE) {
            return Err(Stage2Error::Unaligned);
        }
        let end = g.checked_add(len).ok_or(Stage2Error::TooHigh)?;
        let mut a = g;
        let mut gone = 0;
        while a < end {
            match self.leaf_slot(a) {
                Some((t, i, true)) => {
                    let chunk = a & !(LARGE - 1);
                    if a == chunk && end - a >= LARGE {
                        self.set(t, i, 0);
                        gone += LARGE / PAGE;
                        a += LARGE;
                        continue;
                    }
                    self.split(t, i)?;
                }
                Some((t, i, false)) => {
                    self.set(t, i, 0);
                    gone += 1;
                    a += PAGE;
                }
                None => a += PAGE,
            }
        }
        Ok((gone, Flush))
    }

    /// Replaces the 2 MiB leaf at entry `i` of `pd` by a table of 512 4 KiB leaves.
    fn split(&mut self, pd: u64, i: usize) -> Result<(), Stage2Error> {
        let e = self.entry(pd, i);
        let t = self.alloc()?;
        let access = self.format.access(e);
        for k in 0..ENTRIES {
            let leaf = self
                .format
                .leaf((e & ADDR) + k as u64 * PAGE, access, false);
            self.set(t, k, leaf);
        }
        self.set(pd, i, self.format.table(t));
        Ok(())
    }

    /// The table, index and size (large or not) of the leaf mapping `gpa`.
    fn leaf_slot(&self, gpa: u64) -> Option<(u64, usize, bool)> {
        let mut t = self.base;
        for (level, shift) in [39u32, 30, 21, 12].into_iter().enumerate() {
            let i = (gpa >> shift) as usize % ENTRIES;
            let e = self.entry(t, i);
            if !self.format.present(e) {
                return None;
            }
            if level == 3 || (level == 2 && self.format.large(e)) {
                return Some((t, i, level == 2));
            }
            t = e & ADDR;
        }
        None
    }

    /// Where `gpa` goes and what the guest may do there, as the walker sees it.
    pub fn translate(&self, gpa: Ipa) -> Option<(Hpa, Access)> {
        let (t, i, large) = self.leaf_slot(gpa.raw())?;
        let e = self.entry(t, i);
        let size = if large { LARGE } else { PAGE };
        let hpa = (e & ADDR & !(size - 1)) | (gpa.raw() & (size - 1));
        Some((Hpa::new(hpa), self.format.access(e)))
    }
}

/// The highest `size`-aligned block of `size` bytes of available RAM that lies above
/// `floor` and below `ceiling` (for a VM's memory, taken from the memory map at boot).
pub fn carve_top<'r>(
    regions: impl Iterator<Item = &'r MemRegion>,
    size: u64,
    floor: u64,
    ceiling: u64,
) -> Option<Hpa> {
    if size == 0 || !size.is_power_of_two() {
        return None;
    }
    regions
        .filter(|r| r.kind == MemKind::Available)
        .filter_map(|r| {
            let end = r.end().min(ceiling);
            let base = end.checked_sub(size)? & !(size - 1);
            (base >= r.base.raw() && base >= floor && base + size <= end).then_some(base)
        })
        .max()
        .map(Hpa::new)
}

#[cfg(test)]
mod tests;
