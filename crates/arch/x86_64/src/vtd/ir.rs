//! Interrupt remapping and queued invalidation, as plain encoders tested on the host
//! (Intel VT-d specification, 5.1 and 6.5.2): the interrupt remapping table entry
//! (IRTE) that says where a remapped interrupt goes, the remappable-format message
//! and I/O APIC entry that name an IRTE by its handle, and the invalidation
//! descriptors of the queue that drops cached context entries, translations and
//! IRTEs.
//!
//! With remapping on and compatibility-format interrupts blocked (GSTS.CFIS clear),
//! a write into 0xFEEx_xxxx by a device is an interrupt only when it names a
//! present IRTE whose source id is the device's own: the hypervisor writes every
//! IRTE, so a device's DMA cannot send an interrupt of its own choosing.

/// The interrupt remapping table's entries: one 4 KiB page (IRTA.S = 7).
pub const IRT_ENTRIES: usize = 256;
/// IRTA's size field for [`IRT_ENTRIES`]: 2^(S+1) entries.
pub const IRTA_SIZE: u64 = 7;

/// IRTE, low half: present, trigger mode level, vector (23:16), destination
/// (63:32; an xAPIC id in bits 47:40 when extended interrupt mode is off).
const IRTE_PRESENT: u64 = 1;
const IRTE_LEVEL: u64 = 1 << 4;
/// IRTE, high half: source validation type 01 (the requester id must equal SID,
/// all bits compared).
const IRTE_SVT_SID: u64 = 1 << 18;

/// The IRTE of a fixed, physical interrupt `vector` to the xAPIC id `apic`,
/// edge- or `level`-triggered, that only requester `sid` (bus:dev.func as
/// bus << 8 | dev << 3 | func) may raise; `sid` `None`: any requester (used only when
/// the firmware does not say which requester id an I/O APIC has).
pub const fn irte(vector: u8, apic: u8, level: bool, sid: Option<u16>) -> [u64; 2] {
    let trigger = if level { IRTE_LEVEL } else { 0 };
    let lo = IRTE_PRESENT | trigger | (vector as u64) << 16 | (apic as u64) << 40;
    let hi = match sid {
        Some(s) => IRTE_SVT_SID | s as u64,
        None => 0,
    };
    [lo, hi]
}

/// A requester id from bus, device and function.
pub const fn sid(bus: u8, dev: u8, func: u8) -> u16 {
    (bus as u16) << 8 | ((dev as u16) & 0x1f) << 3 | (func as u16) & 7
}

/// The remappable-format MSI naming IRTE `handle`: (address, data). Address bit 4
/// is the format, bits 19:5 the handle's bits 14:0, bit 2 its bit 15; no
/// subhandle (bit 3 clear), so the data is 0.
pub const fn msi(handle: u16) -> (u64, u32) {
    let h = handle as u64;
    (0xFEE0_0000 | (h & 0x7fff) << 5 | 1 << 4 | (h >> 15) << 2, 0)
}

/// An I/O APIC entry in remappable format naming IRTE `handle` (bits 63:49 its bits
/// 14:0, bit 48 the format, bit 11 its bit 15), with `vector` (which the IRTE
/// must repeat: the I/O APIC matches an EOI against it), level-triggered and
/// active low, `masked` or not.
pub const fn ioapic_entry(handle: u16, vector: u8, masked: bool) -> u64 {
    let h = handle as u64;
    let mask = if masked { 1 << 16 } else { 0 };
    (h & 0x7fff) << 49 | 1 << 48 | (h >> 15) << 11 | 1 << 15 | 1 << 13 | mask | vector as u64
}

/// An invalidation descriptor (128 bits).
pub type Descriptor = [u64; 2];

/// Context-cache invalidation: every entry (`None`) or domain `did`'s.
pub const fn inv_context(did: Option<u16>) -> Descriptor {
    match did {
        None => [0x1 | 1 << 4, 0],
        Some(d) => [0x1 | 2 << 4 | (d as u64) << 16, 0],
    }
}

/// IOTLB invalidation, draining reads and writes: every translation (`None`) or
/// domain `did`'s.
pub const fn inv_iotlb(did: Option<u16>) -> Descriptor {
    let drain = 1 << 7 | 1 << 6;
    match did {
        None => [0x2 | 1 << 4 | drain, 0],
        Some(d) => [0x2 | 2 << 4 | drain | (d as u64) << 16, 0],
    }
}

/// Interrupt-entry-cache invalidation: every IRTE (`None`) or the one at `index`.
pub const fn inv_iec(index: Option<u16>) -> Descriptor {
    match index {
        None => [0x4, 0],
        Some(i) => [0x4 | 1 << 4 | (i as u64) << 32, 0],
    }
}

/// Invalidation wait: when every descriptor before it is done, the unit writes
/// `data` to the 4-byte-aligned `status` address.
pub const fn inv_wait(status: u64, data: u32) -> Descriptor {
    [0x5 | 1 << 5 | (data as u64) << 32, status & !3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irtes() {
        // Vector 0x41 to APIC 3, edge, from 00:03.0.
        let [lo, hi] = irte(0x41, 3, false, Some(sid(0, 3, 0)));
        assert_eq!(lo, 1 | 0x41 << 16 | 3 << 40);
        assert_eq!(hi, 1 << 18 | 0x18);
        // Level-triggered (an I/O APIC line), requester unknown: no validation.
        let [lo, hi] = irte(0x50, 0xff, true, None);
        assert_eq!(lo, 1 | 1 << 4 | 0x50 << 16 | 0xff << 40);
        assert_eq!(hi, 0);
        assert_eq!(sid(0xff, 0, 0), 0xff00);
        assert_eq!(sid(1, 0x1f, 7), 0x1ff);
    }

    #[test]
    fn handles_in_messages_and_ioapic_entries() {
        assert_eq!(msi(0), (0xFEE0_0010, 0));
        assert_eq!(msi(5), (0xFEE0_00B0, 0));
        assert_eq!(msi(0x7fff), (0xFEEF_FFF0, 0));
        assert_eq!(msi(0x8000), (0xFEE0_0014, 0));
        let e = ioapic_entry(0x41, 0x45, true);
        assert_eq!(e >> 49, 0x41);
        assert_eq!(e >> 48 & 1, 1);
        assert_eq!(e & 0xffff_ffff, 0x45 | 1 << 13 | 1 << 15 | 1 << 16);
        assert_eq!(
            ioapic_entry(0x8001, 0x45, false) & (1 << 11 | 1 << 16),
            1 << 11
        );
    }

    #[test]
    fn descriptors() {
        assert_eq!(inv_context(None), [0x11, 0]);
        assert_eq!(inv_context(Some(3)), [0x21 | 3 << 16, 0]);
        assert_eq!(inv_iotlb(None), [0xd2, 0]);
        assert_eq!(inv_iotlb(Some(2)), [0xe2 | 2 << 16, 0]);
        assert_eq!(inv_iec(None), [4, 0]);
        assert_eq!(inv_iec(Some(0x41)), [0x14 | 0x41 << 32, 0]);
        assert_eq!(inv_wait(0x1003, 7), [0x25 | 7 << 32, 0x1000]);
    }
}
