//! The host's PCI configuration space through its ECAM (MMCONFIG) window, as the
//! emulated configuration space (`rtvisor_vdev::pcicfg`) reaches it.
//!
//! The window is the MCFG's (the board's `[[pcie]] ecam`): 1 MiB per bus, 4 KiB per
//! function, each function's registers at their offsets in its 4 KiB. Accesses are
//! 32-bit and aligned; an access outside the window or a function's space reads as all
//! ones and drops the write, as an absent function does. The caller holds the lock that
//! keeps two CPUs out of one function's registers at once, and maps the window
//! uncached in the hypervisor's map before the first access.

use rtvisor_addr::Hpa;
use rtvisor_vdev::pcicfg::{Bdf, HostConfig, BUS_SPACE, FUNCTION_SPACE};

/// The host's ECAM window: `buses` buses from bus 0 at `base`.
#[derive(Debug)]
pub struct HostEcam {
    base: Hpa,
    buses: u16,
}

impl HostEcam {
    /// The window at `base`, `buses` buses long (at most 256).
    ///
    /// # Safety
    ///
    /// `base` is the host's ECAM window of `buses` buses as the firmware's MCFG states
    /// it, mapped uncached in the hypervisor's map, and configuration writes through it
    /// reach only the functions the caller owns.
    pub const unsafe fn new(base: Hpa, buses: u16) -> Self {
        Self {
            base,
            buses: if buses > 256 { 256 } else { buses },
        }
    }

    /// The offset of register `reg` (a multiple of 4 below 0x1000) of `bdf` in the
    /// window, if the window holds it.
    pub fn offset(&self, bdf: Bdf, reg: u16) -> Option<u64> {
        if u16::from(bdf.bus) >= self.buses
            || !reg.is_multiple_of(4)
            || u64::from(reg) >= FUNCTION_SPACE
        {
            return None;
        }
        let off = bdf.ecam_offset() + u64::from(reg);
        (off < u64::from(self.buses) * BUS_SPACE).then_some(off)
    }

    fn at(&self, bdf: Bdf, reg: u16) -> Option<u64> {
        self.base.raw().checked_add(self.offset(bdf, reg)?)
    }
}

impl HostConfig for HostEcam {
    fn read(&mut self, bdf: Bdf, reg: u16) -> u32 {
        match self.at(bdf, reg) {
            // SAFETY: an aligned dword inside the ECAM window, which `new`'s contract
            // says is mapped uncached; a configuration read has no side effect.
            Some(addr) => unsafe { (addr as *const u32).read_volatile() },
            None => u32::MAX,
        }
    }

    fn write(&mut self, bdf: Bdf, reg: u16, value: u32) {
        if let Some(addr) = self.at(bdf, reg) {
            // SAFETY: as in `read`; the emulated configuration space filtered the
            // value, and the function is the caller's (`new`'s contract).
            unsafe { (addr as *mut u32).write_volatile(value) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bdf(bus: u8, dev: u8, func: u8) -> Bdf {
        Bdf::new(bus, dev, func).unwrap()
    }

    #[test]
    fn offsets_stay_inside_the_window_and_the_function() {
        // SAFETY: only offsets are computed; nothing is read or written.
        let e = unsafe { HostEcam::new(Hpa::new(0xb000_0000), 2) };
        assert_eq!(e.offset(bdf(0, 3, 0), 0), Some(0x1_8000));
        assert_eq!(e.offset(bdf(0, 3, 0), 0x10), Some(0x1_8010));
        assert_eq!(e.offset(bdf(1, 31, 7), 0xffc), Some(0x1f_ffff - 3));
        assert_eq!(e.offset(bdf(2, 0, 0), 0), None, "past the window's buses");
        assert_eq!(
            e.offset(bdf(0, 3, 0), 0x1000),
            None,
            "past the function's space"
        );
        assert_eq!(e.offset(bdf(0, 3, 0), 0x11), None, "unaligned");
        assert_eq!(e.at(bdf(0, 3, 0), 4), Some(0xb001_8004));
    }

    #[test]
    fn a_window_holds_at_most_256_buses() {
        // SAFETY: as above.
        let e = unsafe { HostEcam::new(Hpa::new(0xe000_0000), 1000) };
        assert_eq!(e.offset(bdf(255, 31, 7), 0xffc), Some(0x0fff_fffc));
    }
}
