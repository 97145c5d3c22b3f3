//! The contents of a VM's flash without 128 MiB per VM: [`Sparse`] keeps only the
//! 4 KiB pages written since the VM started, in a fixed pool, and answers every other
//! byte from the initial image of its bank (built into the hypervisor image) or, past
//! that image and in every block erased since the start, as erased flash (0xFF).
//!
//! A write that needs a page when the pool is full fails (the model then sets the
//! program-error bit); nothing is written in part. [`Sparse::reset`] (VM start) drops
//! every page and every erase: the flash is its initial image again.

use super::{BANKS, BANK_SIZE, SECTOR};

/// Bytes of one pool page.
pub const PAGE: usize = 4096;
const SECTORS: usize = (BANKS as u64 * BANK_SIZE / SECTOR) as usize;

/// Where a flash model keeps its bytes. Offsets run over both banks.
pub trait Store {
    /// `len` (1 to 4) bytes at `off`, little-endian.
    fn read(&self, off: u64, len: u64) -> u64;
    /// Writes the low `len` bytes of `value` at `off`; `false` when there is no room.
    fn write(&mut self, off: u64, len: u64, value: u64) -> bool;
    /// Sets `len` bytes from `off` to 0xFF; `false` when it cannot.
    fn erase(&mut self, off: u64, len: u64) -> bool;
    /// Back to the initial contents.
    fn reset(&mut self);
}

/// A fixed pool of `N` pages over the initial images of the banks.
#[derive(Debug)]
pub struct Sparse<const N: usize> {
    /// Per pool page: 0 free, else the flash page number + 1.
    tags: [u32; N],
    pages: [[u8; PAGE]; N],
    /// Blocks erased since the start: their initial contents no longer show.
    erased: [u64; SECTORS / 64],
    /// The initial image of each bank (`None`: erased).
    initial: [Option<&'static [u8]>; BANKS],
}

impl<const N: usize> Sparse<N> {
    /// An empty pool over erased banks; all zero bytes, so a static of these costs
    /// nothing in the image.
    pub const fn new() -> Self {
        Self {
            tags: [0; N],
            pages: [[0; PAGE]; N],
            erased: [0; SECTORS / 64],
            initial: [None; BANKS],
        }
    }

    /// Sets the initial image of each bank (takes effect at the next [`Store::reset`]).
    pub fn set_initial(&mut self, initial: [Option<&'static [u8]>; BANKS]) {
        self.initial = initial;
    }

    /// Pool pages in use.
    pub fn used(&self) -> usize {
        self.tags.iter().filter(|&&t| t != 0).count()
    }

    fn slot(&self, page: u64) -> Option<usize> {
        let tag = u32::try_from(page + 1).ok()?;
        self.tags.iter().position(|&t| t == tag)
    }

    fn is_erased(&self, off: u64) -> bool {
        let s = (off / SECTOR) as usize;
        self.erased
            .get(s / 64)
            .is_some_and(|w| w & (1 << (s % 64)) != 0)
    }

    /// The byte at `off` as neither the pool nor an erase changed it.
    fn underlying(&self, off: u64) -> u8 {
        if self.is_erased(off) {
            return 0xff;
        }
        let bank = (off / BANK_SIZE) as usize;
        let image = self.initial.get(bank).copied().flatten();
        image
            .and_then(|i| i.get((off % BANK_SIZE) as usize).copied())
            .unwrap_or(0xff)
    }

    fn byte(&self, off: u64) -> u8 {
        match self.slot(off / PAGE as u64) {
            Some(i) => self.pages[i][off as usize % PAGE],
            None => self.underlying(off),
        }
    }

    /// The pool slot of flash page `page`, taken (and filled) if needed.
    fn take(&mut self, page: u64) -> Option<usize> {
        if let Some(i) = self.slot(page) {
            return Some(i);
        }
        let i = self.tags.iter().position(|&t| t == 0)?;
        self.tags[i] = u32::try_from(page + 1).ok()?;
        let base = page * PAGE as u64;
        for k in 0..PAGE {
            self.pages[i][k] = self.underlying(base + k as u64);
        }
        Some(i)
    }
}

impl<const N: usize> Default for Sparse<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Store for Sparse<N> {
    fn read(&self, off: u64, len: u64) -> u64 {
        (0..len.min(8)).fold(0, |v, k| v | u64::from(self.byte(off + k)) << (8 * k))
    }

    fn write(&mut self, off: u64, len: u64, value: u64) -> bool {
        let len = len.min(8);
        let (first, last) = (off / PAGE as u64, (off + len - 1) / PAGE as u64);
        let free = self.tags.iter().filter(|&&t| t == 0).count();
        let missing = (first..=last).filter(|&p| self.slot(p).is_none()).count();
        if off + len > BANKS as u64 * BANK_SIZE || missing > free {
            return false;
        }
        for k in 0..len {
            let at = off + k;
            let Some(i) = self.take(at / PAGE as u64) else {
                return false;
            };
            self.pages[i][at as usize % PAGE] = (value >> (8 * k)) as u8;
        }
        true
    }

    fn erase(&mut self, off: u64, len: u64) -> bool {
        let (first, end) = (off / SECTOR, (off + len).div_ceil(SECTOR));
        for s in first..end.min(SECTORS as u64) {
            self.erased[s as usize / 64] |= 1 << (s % 64);
        }
        let (p0, p1) = (off / PAGE as u64, (off + len).div_ceil(PAGE as u64));
        for t in &mut self.tags {
            if *t != 0 && (p0..p1).contains(&u64::from(*t - 1)) {
                *t = 0;
            }
        }
        true
    }

    fn reset(&mut self) {
        self.tags = [0; N];
        self.erased = [0; SECTORS / 64];
    }
}
