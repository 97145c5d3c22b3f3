//! Device register pages the hypervisor maps after boot, found by probing (a PCI
//! function's MSI-X table and pending-bit array, the register that resets it), and
//! reached through bounds-checked accesses: once mapped, nothing outside them is
//! touched, whatever offset a guest's access gives.

use crate::platform;
use crate::pt::PAGE;
use rtvisor_vdev::Width;

/// A run of mapped device pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePages {
    base: u64,
    len: u64,
}

impl DevicePages {
    /// Maps the pages holding `[base, base + len)` uncached into the hypervisor's map;
    /// `None` if a page could not be mapped (the pool of tables is spent, or the range
    /// is RAM the boot map covers with large pages, or wraps).
    ///
    /// # Safety
    ///
    /// The BSP, at boot, before any guest runs; the range is registers of a device
    /// the hypervisor owns (not RAM), which the caller accesses only through the
    /// returned value.
    pub unsafe fn map(base: u64, len: u64) -> Option<Self> {
        let start = base & !(PAGE - 1);
        let end = base.checked_add(len)?.checked_next_multiple_of(PAGE)?;
        let mut page = start;
        while page < end {
            // SAFETY: the caller's contract: the BSP at boot, and device registers.
            if !unsafe { platform::map_device(page) } {
                return None;
            }
            page += PAGE;
        }
        Some(Self {
            base: start,
            len: end - start,
        })
    }

    /// The first mapped address.
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// The mapped length (whole pages).
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is mapped.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `[addr, addr + width)` is inside, naturally aligned.
    pub fn holds(&self, addr: u64, w: Width) -> bool {
        let n = w.bytes();
        addr.is_multiple_of(n)
            && addr >= self.base
            && addr
                .checked_add(n)
                .is_some_and(|e| e <= self.base + self.len)
    }

    /// Reads `w` at host address `addr` (all ones outside the pages).
    pub fn read(&self, addr: u64, w: Width) -> u64 {
        if !self.holds(addr, w) {
            return w.mask();
        }
        // SAFETY: inside the mapped device pages (`holds`), naturally aligned; `map`'s
        // contract makes them this value's to access.
        unsafe {
            match w {
                Width::Byte => u64::from((addr as *const u8).read_volatile()),
                Width::Half => u64::from((addr as *const u16).read_volatile()),
                Width::Word => u64::from((addr as *const u32).read_volatile()),
                Width::Double => (addr as *const u64).read_volatile(),
            }
        }
    }

    /// Writes `value` of width `w` at host address `addr` (dropped outside the pages).
    pub fn write(&self, addr: u64, w: Width, value: u64) {
        if !self.holds(addr, w) {
            return;
        }
        // SAFETY: as in `read`.
        unsafe {
            match w {
                Width::Byte => (addr as *mut u8).write_volatile(value as u8),
                Width::Half => (addr as *mut u16).write_volatile(value as u16),
                Width::Word => (addr as *mut u32).write_volatile(value as u32),
                Width::Double => (addr as *mut u64).write_volatile(value),
            }
        }
    }
}
