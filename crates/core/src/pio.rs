//! Emulated I/O ports of a VM (x86_64): a fixed table of port ranges sorted by first
//! port, searched by binary search, as [`crate::mmio`] does for memory. A port no
//! range claims reads as all ones and drops writes, as on a PC's bus (the handler
//! answers it).

use crate::mmio::{Device, DeviceKind};
use rtvisor_config::contract::{EmulatedDevice, Space};

/// One emulated port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub base: u16,
    /// Number of ports.
    pub size: u16,
    /// What is emulated there.
    pub kind: DeviceKind,
    /// The interrupt line it raises, if it has one of its own (the GSI the machine
    /// contract gives it).
    pub line: Option<u32>,
}

impl PortRange {
    /// The device it holds.
    pub const fn device(&self) -> Device {
        Device {
            kind: self.kind,
            line: self.line,
        }
    }

    /// Fills a table past its last device: no ports.
    const NONE: Self = Self {
        base: u16::MAX,
        size: 0,
        kind: DeviceKind::ResetControl,
        line: None,
    };

    /// The ports of emulated device `d` (in the I/O space; the machine contract keeps
    /// every range below 0x1_0000, and one that is not names no port).
    pub fn of(d: &EmulatedDevice) -> Self {
        match (u16::try_from(d.base), u16::try_from(d.size)) {
            (Ok(base), Ok(size)) if d.base + d.size <= 0x1_0000 => Self {
                base,
                size,
                kind: d.kind,
                line: d.line,
            },
            _ => Self::NONE,
        }
    }
}

/// The port table of a VM, from its machine's `devices`: their port ranges in order
/// (sorted by port). `N` is their number
/// ([`count_in`](rtvisor_config::contract::count_in) of [`Space::Io`]); slots past
/// the last stay empty.
pub fn table<const N: usize>(devices: &[EmulatedDevice]) -> [PortRange; N] {
    let mut io = devices.iter().filter(|d| d.space == Space::Io);
    core::array::from_fn(|_| io.next().map_or(PortRange::NONE, PortRange::of))
}

/// Finds the range holding `port` in a table sorted by first port; returns it with
/// the offset.
pub fn find(table: &[PortRange], port: u16) -> Option<(&PortRange, u64)> {
    crate::mmio::lookup(table, port.into(), |r| (r.base.into(), r.size.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtvisor_config::contract::{count_in, x86_64};

    #[test]
    fn the_x86_ports_are_found_by_port() {
        const N: usize = count_in(&x86_64::EMULATED, Space::Io);
        let t: [PortRange; N] = table(&x86_64::EMULATED);
        assert_eq!(N, 8);
        let com1 = find(&t, 0x3fd).unwrap();
        assert_eq!(
            (com1.0.kind, com1.1, com1.0.line),
            (DeviceKind::Uart16550, 5, Some(4))
        );
        assert_eq!(find(&t, 0x3f8).map(|(_, o)| o), Some(0));
        assert_eq!(find(&t, 0x3ff).map(|(_, o)| o), Some(7));
        assert_eq!(find(&t, 0x400), None);
        assert_eq!(find(&t, 0x3f7), None);
        assert_eq!(find(&t, 0), None);
        assert_eq!(find(&t, u16::MAX), None);
        assert_eq!(
            find(&t, 0xcf9).map(|(r, _)| r.kind),
            Some(DeviceKind::ResetControl)
        );
        assert_eq!(
            find(&t, 0x601).map(|(r, o)| (r.kind, o)),
            Some((DeviceKind::SleepControl, 1))
        );
        assert_eq!(find(&t, 0x602), None);
        assert_eq!(
            find(&t, 0x64).map(|(r, _)| r.kind),
            Some(DeviceKind::KeyboardReset)
        );
        assert_eq!(find(&t, 0x60), None);
        assert_eq!(
            find(&t, 0x43).map(|(r, o)| (r.kind, o)),
            Some((DeviceKind::Pit, 3))
        );
        assert_eq!(find(&t, 0x44), None);
        assert_eq!(find(&t, 0x3f), None);
        assert_eq!(
            find(&t, 0x61).map(|(r, o)| (r.kind, o)),
            Some((DeviceKind::PortB, 0))
        );
        assert_eq!(find(&t, 0x62), None);
        assert_eq!(
            find(&t, 0x71).map(|(r, o)| (r.kind, o)),
            Some((DeviceKind::Rtc, 1))
        );
        assert_eq!(find(&t, 0x72), None);
    }

    #[test]
    fn a_short_table_has_empty_slots_and_none_for_aarch64() {
        let t: [PortRange; 9] = table(&x86_64::EMULATED);
        assert_eq!(t[8], PortRange::NONE);
        assert_eq!(find(&t, u16::MAX), None);
        let none: [PortRange; 0] = table(&rtvisor_config::contract::aarch64::EMULATED);
        assert_eq!(find(&none, 0x3f8), None);
        let beyond = EmulatedDevice {
            base: 0xffff,
            size: 2,
            ..x86_64::EMULATED[4]
        };
        assert_eq!(PortRange::of(&beyond), PortRange::NONE);
    }
}
