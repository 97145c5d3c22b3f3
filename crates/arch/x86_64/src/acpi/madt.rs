//! The MADT ("APIC"): which CPUs exist and their APIC ids.
//!
//! ```text
//! header (36) | u32 local APIC address | u32 flags | entries: u8 type, u8 length, ...
//!   type 0  processor local APIC (8):  u8 uid, u8 apic_id, u32 flags
//!   type 1  I/O APIC (12):             u8 id, u8 0, u32 address, u32 gsi_base
//!   type 5  local APIC address override (12): u16 0, u64 address
//!   type 9  processor local x2APIC (16): u16 0, u32 x2apic_id, u32 flags, u32 uid
//! flags bit 0: enabled; bit 1: online capable (may be enabled later; not counted)
//! ```

use super::{AcpiError, Table};
use crate::bytes::{u16_at, u32_at, u64_at, u8_at};
use rtvisor_addr::Hpa;

/// The most CPUs the backend brings up (the size of its per-CPU arrays).
pub const MAX_CPUS: usize = 16;

const SIG: [u8; 4] = *b"APIC";
const ENABLED: u32 = 1;

/// What the MADT says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Madt {
    /// The xAPIC MMIO base (the override entry's when there is one).
    pub lapic_base: Hpa,
    /// APIC ids of the enabled CPUs, in table order, without repeats.
    apic_ids: [u32; MAX_CPUS],
    cpus: usize,
    /// Enabled CPUs beyond [`MAX_CPUS`], left out.
    pub dropped: usize,
    /// Whether any CPU was listed by an x2APIC entry.
    pub x2apic_entries: bool,
    /// The first I/O APIC's address and the GSI of its pin 0, if any.
    pub ioapic: Option<(Hpa, u32)>,
    /// That I/O APIC's id (what the DMAR's I/O APIC scopes name it by).
    pub ioapic_id: u8,
}

impl Madt {
    /// Reads the MADT `t` (already checked by `table_at`/`find`).
    pub fn parse(t: &Table<'_>) -> Result<Madt, AcpiError> {
        let body = t.body();
        let base = u32_at(body, 0).ok_or(AcpiError::BadLength(SIG))?;
        let mut m = Madt {
            lapic_base: Hpa::new(u64::from(base)),
            apic_ids: [0; MAX_CPUS],
            cpus: 0,
            dropped: 0,
            x2apic_entries: false,
            ioapic: None,
            ioapic_id: 0,
        };
        let mut off = 8usize;
        while off < body.len() {
            let kind = u8_at(body, off).ok_or(AcpiError::BadEntry(SIG))?;
            let len = usize::from(u8_at(body, off + 1).ok_or(AcpiError::BadEntry(SIG))?);
            let entry = body
                .get(off..off + len)
                .filter(|_| len >= 2)
                .ok_or(AcpiError::BadEntry(SIG))?;
            let field32 = |at| u32_at(entry, at).ok_or(AcpiError::BadEntry(SIG));
            match kind {
                0 => {
                    let id = u8_at(entry, 3).ok_or(AcpiError::BadEntry(SIG))?;
                    if field32(4)? & ENABLED != 0 {
                        m.add(u32::from(id));
                    }
                }
                1 if m.ioapic.is_none() => {
                    m.ioapic = Some((Hpa::new(u64::from(field32(4)?)), field32(8)?));
                    m.ioapic_id = u8_at(entry, 2).ok_or(AcpiError::BadEntry(SIG))?;
                }
                5 => {
                    let a = u64_at(entry, 4).ok_or(AcpiError::BadEntry(SIG))?;
                    m.lapic_base = Hpa::new(a);
                }
                9 => {
                    u16_at(entry, 2).ok_or(AcpiError::BadEntry(SIG))?;
                    let id = field32(4)?;
                    if field32(8)? & ENABLED != 0 {
                        m.x2apic_entries = true;
                        m.add(id);
                    }
                }
                _ => {}
            }
            off += len;
        }
        Ok(m)
    }

    fn add(&mut self, id: u32) {
        if self.apic_ids().contains(&id) {
            return;
        }
        match self.apic_ids.get_mut(self.cpus) {
            Some(slot) => {
                *slot = id;
                self.cpus += 1;
            }
            None => self.dropped += 1,
        }
    }

    /// APIC ids of the enabled CPUs (at most [`MAX_CPUS`]).
    pub fn apic_ids(&self) -> &[u32] {
        &self.apic_ids[..self.cpus]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::testmem::table;

    fn entry_lapic(id: u8, flags: u32) -> Vec<u8> {
        let mut e = vec![0, 8, id, id];
        e.extend_from_slice(&flags.to_le_bytes());
        e
    }

    fn entry_x2apic(id: u32, flags: u32) -> Vec<u8> {
        let mut e = vec![9, 16, 0, 0];
        e.extend_from_slice(&id.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        e.extend_from_slice(&id.to_le_bytes());
        e
    }

    fn madt(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = 0xFEE0_0000u32.to_le_bytes().to_vec();
        body.extend_from_slice(&1u32.to_le_bytes());
        for e in entries {
            body.extend_from_slice(e);
        }
        table(*b"APIC", 4, &body)
    }

    fn parse(bytes: &[u8]) -> Result<Madt, AcpiError> {
        Madt::parse(&Table { bytes })
    }

    #[test]
    fn lists_enabled_cpus_from_both_entry_kinds() {
        let mut ioapic = vec![1, 12, 4, 0];
        ioapic.extend_from_slice(&0xFEC0_0000u32.to_le_bytes());
        ioapic.extend_from_slice(&0u32.to_le_bytes());
        let m = parse(&madt(&[
            entry_lapic(0, 1),
            entry_lapic(1, 1),
            entry_lapic(2, 2), // online capable only: not present now
            ioapic,
            entry_x2apic(300, 1),
            entry_x2apic(1, 1), // the same CPU listed twice
        ]))
        .unwrap();
        assert_eq!(m.apic_ids(), [0, 1, 300]);
        assert!(m.x2apic_entries);
        assert_eq!(m.lapic_base, Hpa::new(0xFEE0_0000));
        assert_eq!(m.ioapic, Some((Hpa::new(0xFEC0_0000), 0)));
        assert_eq!(m.ioapic_id, 4);
        assert_eq!(m.dropped, 0);
    }

    #[test]
    fn the_override_entry_moves_the_apic_and_extra_cpus_are_counted() {
        let mut ovr = vec![5, 12, 0, 0];
        ovr.extend_from_slice(&0x1_0000_0000u64.to_le_bytes());
        let mut entries: Vec<Vec<u8>> = (0..20).map(|i| entry_lapic(i, 1)).collect();
        entries.push(ovr);
        let m = parse(&madt(&entries)).unwrap();
        assert_eq!(m.apic_ids().len(), MAX_CPUS);
        assert_eq!(m.dropped, 4);
        assert_eq!(m.lapic_base, Hpa::new(0x1_0000_0000));
    }

    #[test]
    fn damaged_entries_are_errors() {
        // A zero-length entry would loop forever; an entry past the end; a short one.
        for bad in [vec![0, 0, 0, 0], vec![0, 40, 1, 1], vec![9, 6, 0, 0, 1, 0]] {
            let t = madt(&[entry_lapic(0, 1), bad]);
            assert_eq!(parse(&t).unwrap_err(), AcpiError::BadEntry(SIG), "{t:?}");
        }
        // A body without even the APIC address.
        assert_eq!(
            parse(&table(*b"APIC", 4, &[0, 0])).unwrap_err(),
            AcpiError::BadLength(SIG)
        );
    }

    #[test]
    fn every_truncation_and_byte_flip_is_handled() {
        let good = madt(&[entry_lapic(0, 1), entry_x2apic(7, 1), entry_lapic(3, 1)]);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        for i in 36..good.len() {
            for v in [0u8, 1, 2, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                if let Ok(m) = parse(&b) {
                    assert!(m.apic_ids().len() <= MAX_CPUS);
                }
            }
        }
    }
}
