//! The DMAR table ("DMAR", Intel VT-d specification chapter 8): where the DMA
//! remapping units are and which PCI devices each translates.
//!
//! ```text
//! header (36) | u8 host address width - 1 | u8 flags | 10 reserved | structures:
//!   u16 type, u16 length, ...
//!   type 0  DRHD: u8 flags (bit 0: INCLUDE_PCI_ALL), u8 size, u16 segment,
//!                 u64 register base, device scopes:
//!                 u8 type, u8 length, u16 0, u8 enumeration id, u8 start bus,
//!                 (u8 device, u8 function) path
//! ```
//!
//! A unit without INCLUDE_PCI_ALL translates the devices its scopes name; the unit
//! with it (one per segment) every other device of its segment. Only segment 0 is
//! kept (the hypervisor's PCI functions are on it), and of a scope only its endpoint
//! named directly on its start bus (a one-element path): a device behind a bridge in
//! another unit's scope is taken to be the INCLUDE_PCI_ALL unit's.

use super::{AcpiError, Table};
use crate::bytes::{u16_at, u64_at, u8_at};

const SIG: [u8; 4] = *b"DMAR";
/// The most remapping units kept (a machine has one to a few).
pub const MAX_UNITS: usize = 8;
/// The most endpoints kept of one unit's scopes.
pub const MAX_SCOPE: usize = 8;
const DRHD: u16 = 0;
const INCLUDE_PCI_ALL: u8 = 1;
/// Device scope type: a PCI endpoint; an I/O APIC.
const SCOPE_ENDPOINT: u8 = 1;
const SCOPE_IOAPIC: u8 = 3;

/// One DMA remapping unit of segment 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// Its register set's physical address.
    pub base: u64,
    /// Whether it translates every device of the segment no other unit names.
    pub all: bool,
    /// The endpoints its scopes name: (bus, device, function).
    scope: [(u8, u8, u8); MAX_SCOPE],
    scoped: usize,
    /// The I/O APICs its scopes name: (I/O APIC id, requester id), the first
    /// [`MAX_SCOPE`].
    ioapics: [(u8, u16); MAX_SCOPE],
    nioapics: usize,
}

impl Unit {
    /// Whether it names (bus, device, function) in its scopes.
    pub fn names(&self, bus: u8, dev: u8, func: u8) -> bool {
        self.scope[..self.scoped].contains(&(bus, dev, func))
    }
}

/// What the DMAR says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dmar {
    /// The DMA address width the platform supports, in bits.
    pub width: u8,
    units: [Option<Unit>; MAX_UNITS],
    /// Units of segment 0 beyond [`MAX_UNITS`], left out.
    pub dropped: usize,
}

impl Dmar {
    /// Reads the DMAR `t` (already checked by `table_at`/`find`).
    pub fn parse(t: &Table<'_>) -> Result<Dmar, AcpiError> {
        let body = t.body();
        let bad = AcpiError::BadEntry(SIG);
        let width = u8_at(body, 0)
            .ok_or(AcpiError::BadLength(SIG))?
            .saturating_add(1);
        let mut d = Dmar {
            width,
            units: [None; MAX_UNITS],
            dropped: 0,
        };
        let mut off = 12usize;
        while off < body.len() {
            let kind = u16_at(body, off).ok_or(bad)?;
            let len = usize::from(u16_at(body, off + 2).ok_or(bad)?);
            let s = body
                .get(off..off.checked_add(len).ok_or(bad)?)
                .filter(|_| len >= 4)
                .ok_or(bad)?;
            if kind == DRHD && u16_at(s, 6).ok_or(bad)? == 0 {
                let unit = Self::drhd(s)?;
                match d.units.iter_mut().find(|u| u.is_none()) {
                    Some(slot) => *slot = Some(unit),
                    None => d.dropped += 1,
                }
            }
            off += len;
        }
        Ok(d)
    }

    fn drhd(s: &[u8]) -> Result<Unit, AcpiError> {
        let bad = AcpiError::BadEntry(SIG);
        let mut u = Unit {
            // A register page is 4 KiB-aligned; mapped from another address its
            // registers would be read at the wrong offsets.
            base: u64_at(s, 8).filter(|b| b % 4096 == 0).ok_or(bad)?,
            all: u8_at(s, 4).ok_or(bad)? & INCLUDE_PCI_ALL != 0,
            scope: [(0, 0, 0); MAX_SCOPE],
            scoped: 0,
            ioapics: [(0, 0); MAX_SCOPE],
            nioapics: 0,
        };
        let mut off = 16usize;
        while off < s.len() {
            let kind = u8_at(s, off).ok_or(bad)?;
            let len = usize::from(u8_at(s, off + 1).ok_or(bad)?);
            let e = s.get(off..off + len).filter(|_| len >= 6).ok_or(bad)?;
            if kind == SCOPE_ENDPOINT && len == 8 && u.scoped < MAX_SCOPE {
                let bus = u8_at(e, 5).ok_or(bad)?;
                let (dev, func) = (u8_at(e, 6).ok_or(bad)?, u8_at(e, 7).ok_or(bad)?);
                u.scope[u.scoped] = (bus, dev, func);
                u.scoped += 1;
            }
            if kind == SCOPE_IOAPIC && len == 8 && u.nioapics < MAX_SCOPE {
                let id = u8_at(e, 4).ok_or(bad)?;
                let bus = u8_at(e, 5).ok_or(bad)?;
                let (dev, func) = (u8_at(e, 6).ok_or(bad)?, u8_at(e, 7).ok_or(bad)?);
                u.ioapics[u.nioapics] = (id, crate::vtd::ir::sid(bus, dev, func));
                u.nioapics += 1;
            }
            off += len;
        }
        Ok(u)
    }

    /// The units, in table order.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.iter().flatten()
    }

    /// The requester id of the I/O APIC with id `id`, as a unit's scope names it
    /// (`None` when no scope does).
    pub fn ioapic_sid(&self, id: u8) -> Option<u16> {
        self.units()
            .flat_map(|u| u.ioapics[..u.nioapics].iter())
            .find(|&&(i, _)| i == id)
            .map(|&(_, sid)| sid)
    }

    /// The unit that translates (bus, device, function): the one whose scope names
    /// it, else the INCLUDE_PCI_ALL one.
    pub fn unit_of(&self, bus: u8, dev: u8, func: u8) -> Option<&Unit> {
        self.units()
            .find(|u| u.names(bus, dev, func))
            .or_else(|| self.units().find(|u| u.all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::testmem::table;

    fn drhd(flags: u8, base: u64, scopes: &[(u8, u8, u8)]) -> Vec<u8> {
        let mut s = vec![0u8, 0, 0, 0, flags, 0, 0, 0];
        s.extend_from_slice(&base.to_le_bytes());
        for &(bus, dev, func) in scopes {
            s.extend_from_slice(&[SCOPE_ENDPOINT, 8, 0, 0, 0, bus, dev, func]);
        }
        let len = s.len() as u16;
        s[2..4].copy_from_slice(&len.to_le_bytes());
        s
    }

    fn dmar(structs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![47u8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for s in structs {
            body.extend_from_slice(s);
        }
        table(SIG, 1, &body)
    }

    fn parse(bytes: &[u8]) -> Result<Dmar, AcpiError> {
        Dmar::parse(&Table { bytes })
    }

    #[test]
    fn qemu_q35_one_unit_for_everything() {
        let d = parse(&dmar(&[drhd(1, 0xfed9_0000, &[])])).unwrap();
        assert_eq!(d.width, 48);
        assert_eq!(d.units().count(), 1);
        let u = d.unit_of(0, 3, 0).unwrap();
        assert_eq!((u.base, u.all), (0xfed9_0000, true));
    }

    #[test]
    fn ioapic_scopes_give_the_requester_id() {
        // QEMU q35: the catch-all unit names I/O APIC 0 at ff:00.0.
        let mut u = drhd(1, 0xfed9_0000, &[(0, 2, 0)]);
        u.extend_from_slice(&[SCOPE_IOAPIC, 8, 0, 0, 0, 0xff, 0, 0]);
        u.extend_from_slice(&[SCOPE_IOAPIC, 8, 0, 0, 2, 0xf0, 0x1f, 0]);
        let len = u.len() as u16;
        u[2..4].copy_from_slice(&len.to_le_bytes());
        let d = parse(&dmar(&[u])).unwrap();
        assert_eq!(d.ioapic_sid(0), Some(0xff00));
        assert_eq!(d.ioapic_sid(2), Some(0xf0f8));
        assert_eq!(d.ioapic_sid(1), None);
        // The endpoint scope is kept beside them.
        assert_eq!(d.unit_of(0, 2, 0).unwrap().base, 0xfed9_0000);
    }

    #[test]
    fn a_scoped_unit_takes_its_devices_and_the_catch_all_the_rest() {
        // A graphics unit naming 00:02.0 first, then the catch-all.
        let d = parse(&dmar(&[
            drhd(0, 0xfed9_0000, &[(0, 2, 0)]),
            drhd(1, 0xfed9_1000, &[]),
        ]))
        .unwrap();
        assert_eq!(d.unit_of(0, 2, 0).unwrap().base, 0xfed9_0000);
        assert_eq!(d.unit_of(0, 3, 0).unwrap().base, 0xfed9_1000);
        assert_eq!(d.unit_of(1, 0, 0).unwrap().base, 0xfed9_1000);
        // Without a catch-all, an unnamed device has no unit.
        let only = parse(&dmar(&[drhd(0, 0xfed9_0000, &[(0, 2, 0)])])).unwrap();
        assert_eq!(only.unit_of(0, 3, 0), None);
    }

    #[test]
    fn other_segments_and_structures_are_passed_over_and_damage_refused() {
        let mut seg1 = drhd(1, 0xfed9_2000, &[]);
        seg1[6] = 1;
        // A reserved-memory structure (type 1) of 24 bytes.
        let mut rmrr = vec![1u8, 0, 24, 0];
        rmrr.resize(24, 0);
        let d = parse(&dmar(&[seg1, rmrr, drhd(1, 0xfed9_0000, &[])])).unwrap();
        assert_eq!(d.units().map(|u| u.base).collect::<Vec<_>>(), [0xfed9_0000]);
        // A structure length of zero, or past the end.
        let mut zero = drhd(1, 0xfed9_0000, &[]);
        zero[2] = 0;
        zero[3] = 0;
        assert_eq!(parse(&dmar(&[zero])), Err(AcpiError::BadEntry(SIG)));
        let mut long = drhd(1, 0xfed9_0000, &[]);
        long[2] = 200;
        assert_eq!(parse(&dmar(&[long])), Err(AcpiError::BadEntry(SIG)));
        // A unit whose register base is not page-aligned.
        let odd = drhd(1, 0xfed9_0800, &[]);
        assert_eq!(parse(&dmar(&[odd])), Err(AcpiError::BadEntry(SIG)));
        // A scope entry shorter than its 6-byte header.
        let mut short = drhd(1, 0xfed9_0000, &[(0, 2, 0)]);
        short[16 + 1] = 4;
        assert_eq!(parse(&dmar(&[short])), Err(AcpiError::BadEntry(SIG)));
        // One unit more than are kept: it is counted as dropped.
        let many: Vec<_> = (0..=MAX_UNITS as u64)
            .map(|i| drhd(0, 0xfed9_0000 + i * 0x1000, &[]))
            .collect();
        assert_eq!(parse(&dmar(&many)).unwrap().dropped, 1);
    }
}
