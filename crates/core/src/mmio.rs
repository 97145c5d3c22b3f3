//! Emulated MMIO regions of a VM: a fixed table sorted by base address, searched by
//! binary search, so adding a device is adding a row. The machine's devices in the
//! I/O port space have their own table ([`crate::pio`]).

use rtvisor_addr::Ipa;
use rtvisor_config::contract::{EmulatedDevice, Space};
use rtvisor_config::tables::VmConfig;

/// The kinds of emulated device a region can hold (the machine contract's list).
pub use rtvisor_config::contract::DeviceKind;

/// What an access reaches: an emulated device, by kind, with its interrupt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    /// What is emulated.
    pub kind: DeviceKind,
    /// The interrupt line it raises, if it has one of its own.
    pub line: Option<u32>,
}

/// One emulated region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Guest-physical base.
    pub base: Ipa,
    /// Size in bytes.
    pub size: u64,
    /// What is emulated there.
    pub kind: DeviceKind,
    /// The interrupt line it raises, if it has one of its own (the INTID or GSI the
    /// machine contract gives it).
    pub line: Option<u32>,
}

impl Region {
    /// The device it holds.
    pub const fn device(&self) -> Device {
        Device {
            kind: self.kind,
            line: self.line,
        }
    }

    /// Fills a table past its last device: empty, and above every address.
    const NONE: Self = Self {
        base: Ipa::new(u64::MAX),
        size: 0,
        kind: DeviceKind::Doorbell,
        line: None,
    };

    /// The region of emulated device `d` (in memory) in the map of the VM `cfg`
    /// describes: one frame per vCPU where the device has them, the console PL011
    /// where the VM's table puts it.
    pub fn of(d: &EmulatedDevice, cfg: &VmConfig) -> Self {
        Self {
            base: match d.kind {
                DeviceKind::Pl011 => cfg.uart,
                _ => Ipa::new(d.base),
            },
            size: d.size_for(cfg.cpus.len()),
            kind: d.kind,
            line: d.line,
        }
    }
}

/// The MMIO table of the VM `cfg` describes, from its machine's `devices` (sorted by
/// address): their memory-mapped ones in order. `N` is their number
/// ([`count_in`](rtvisor_config::contract::count_in) of [`Space::Mmio`]); slots past
/// the last stay empty.
pub fn table<const N: usize>(devices: &[EmulatedDevice], cfg: &VmConfig) -> [Region; N] {
    let mut mmio = devices.iter().filter(|d| d.space == Space::Mmio);
    core::array::from_fn(|_| mmio.next().map_or(Region::NONE, |d| Region::of(d, cfg)))
}

/// Finds the region holding `ipa` in a table sorted by base; returns it with the offset.
pub fn find(table: &[Region], ipa: Ipa) -> Option<(&Region, u64)> {
    lookup(table, ipa.raw(), |r| (r.base.raw(), r.size))
}

/// The entry of `table` (sorted by base, entries disjoint) whose range holds `at`,
/// with the offset into it; `range` gives an entry's base and size. Binary search.
pub(crate) fn lookup<T>(
    table: &[T],
    at: u64,
    range: impl Fn(&T) -> (u64, u64),
) -> Option<(&T, u64)> {
    let idx = match table.binary_search_by(|r| range(r).0.cmp(&at)) {
        Ok(i) => i,
        Err(0) => return None,
        Err(i) => i - 1,
    };
    let r = table.get(idx)?;
    let (base, size) = range(r);
    let off = at.checked_sub(base)?;
    (off < size).then_some((r, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Region] = &[
        Region {
            base: Ipa::new(0x0800_0000),
            size: 0x1_0000,
            kind: DeviceKind::Pl011,
            line: None,
        },
        Region {
            base: Ipa::new(0x0900_0000),
            size: 0x1000,
            kind: DeviceKind::Pl011,
            line: Some(33),
        },
    ];

    #[test]
    fn lookup_hits_and_misses() {
        assert_eq!(find(TABLE, Ipa::new(0x0900_0018)), Some((&TABLE[1], 0x18)));
        assert_eq!(find(TABLE, Ipa::new(0x0900_1000)), None);
        assert_eq!(find(TABLE, Ipa::new(0x07ff_ffff)), None);
        assert_eq!(
            find(TABLE, Ipa::new(0x0800_ffff)),
            Some((&TABLE[0], 0xffff))
        );
        assert_eq!(find(&[], Ipa::new(0)), None);
    }
}
