//! The system description tables, byte by byte (ACPI 6.5, section 5.2): the RSDP,
//! the XSDT, a hardware-reduced FADT, the MADT and the MCFG. Every table is a 36-byte
//! header and a body; [`sdt`] fills in the length and the checksum (all bytes sum to
//! zero). The offsets the checker and the listings read are named here too.

use crate::contract::x86_64::{
    IOAPIC_GPA, IOAPIC_ID, LAPIC_GPA, PM1A_CNT_PORT, RESET_PORT, RESET_VALUE, SLEEP_CONTROL_PORT,
    SLEEP_STATUS_PORT,
};

/// OEMID of every table (6 bytes).
pub const OEM_ID: [u8; 6] = *b"RTVSOR";
/// OEM Table ID of every table (8 bytes).
pub const OEM_TABLE_ID: [u8; 8] = *b"RTVISOR ";
/// Creator ID (4 bytes).
pub const CREATOR_ID: [u8; 4] = *b"RTVS";
/// Length of a table header.
pub const HEADER_LEN: usize = 36;
/// Length of an ACPI 2.0+ RSDP.
pub const RSDP_LEN: usize = 36;

/// FADT: the 32-bit DSDT address.
pub const FADT_DSDT: usize = 40;
/// FADT: the PM1a control block's port.
pub const FADT_PM1A_CNT_BLK: usize = 64;
/// FADT: PM1_CNT_LEN.
pub const FADT_PM1_CNT_LEN: usize = 89;
/// FADT: IAPC_BOOT_ARCH.
pub const FADT_IAPC_BOOT_ARCH: usize = 109;
/// FADT: the fixed feature flags.
pub const FADT_FLAGS: usize = 112;
/// FADT: RESET_REG (a generic address).
pub const FADT_RESET_REG: usize = 116;
/// FADT: RESET_VALUE.
pub const FADT_RESET_VALUE: usize = 128;
/// FADT: the minor version.
pub const FADT_MINOR: usize = 131;
/// FADT: X_DSDT.
pub const FADT_X_DSDT: usize = 140;
/// FADT: X_PM1a_CNT_BLK.
pub const FADT_X_PM1A_CNT: usize = 172;
/// FADT: SLEEP_CONTROL_REG.
pub const FADT_SLEEP_CONTROL: usize = 244;
/// FADT: SLEEP_STATUS_REG.
pub const FADT_SLEEP_STATUS: usize = 256;
/// FADT: the hypervisor vendor identity.
pub const FADT_HYPERVISOR_ID: usize = 268;
/// The length of an ACPI 6.3+ FADT.
pub const FADT_LEN: usize = 276;

/// FADT flag: the reset register is supported.
pub const RESET_REG_SUP: u32 = 1 << 10;
/// FADT flag: the power button is a control-method device (no fixed one).
pub const PWR_BUTTON: u32 = 1 << 4;
/// FADT flag: no fixed sleep button.
pub const SLP_BUTTON: u32 = 1 << 5;
/// FADT flag: hardware-reduced ACPI (no PM1 event blocks, no SCI, no FACS needed).
pub const HW_REDUCED_ACPI: u32 = 1 << 20;
/// IAPC_BOOT_ARCH: no VGA.
pub const VGA_NOT_PRESENT: u16 = 1 << 2;
/// IAPC_BOOT_ARCH: no MSI (a VM without PCI).
pub const MSI_NOT_SUPPORTED: u16 = 1 << 3;
/// IAPC_BOOT_ARCH: no CMOS RTC.
pub const CMOS_RTC_NOT_PRESENT: u16 = 1 << 5;
/// The FADT's hypervisor vendor identity.
pub const HYPERVISOR_ID: [u8; 8] = *b"rtvisor\0";

/// The byte that makes `bytes` sum to zero.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
}

/// A table: the header (`signature`, `revision`, the OEM fields) and `body`, with its
/// length and checksum.
pub fn sdt(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let len = (HEADER_LEN + body.len()) as u32;
    let mut t = Vec::with_capacity(len as usize);
    t.extend(signature);
    t.extend(len.to_le_bytes());
    t.push(revision);
    t.push(0); // checksum, below
    t.extend(OEM_ID);
    t.extend(OEM_TABLE_ID);
    t.extend(1u32.to_le_bytes()); // OEM revision
    t.extend(CREATOR_ID);
    t.extend(1u32.to_le_bytes()); // creator revision
    t.extend(body);
    t[9] = checksum(&t);
    t
}

/// The RSDP (revision 2) pointing at the XSDT; no RSDT.
pub fn rsdp(xsdt: u64) -> Vec<u8> {
    let mut r = Vec::with_capacity(RSDP_LEN);
    r.extend(b"RSD PTR ");
    r.push(0); // checksum of the first 20 bytes
    r.extend(OEM_ID);
    r.push(2); // revision: ACPI 2.0+
    r.extend(0u32.to_le_bytes()); // RSDT address: none
    r.extend((RSDP_LEN as u32).to_le_bytes());
    r.extend(xsdt.to_le_bytes());
    r.push(0); // extended checksum
    r.extend([0; 3]);
    r[8] = checksum(&r[..20]);
    r[32] = checksum(&r);
    r
}

/// The XSDT listing `tables`.
pub fn xsdt(tables: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = tables.iter().flat_map(|a| a.to_le_bytes()).collect();
    sdt(b"XSDT", 1, &body)
}

/// A generic address of `bits` bits at I/O port `port`.
fn gas_io(port: u16, bits: u8) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = 1; // system I/O
    g[1] = bits;
    g[3] = bits / 8; // access size: 1 byte, 2 word
    g[4..6].copy_from_slice(&port.to_le_bytes());
    g
}

/// The FADT (revision 6, minor 3), hardware-reduced: sleep through the sleep control
/// register, the PM1a control block for guests that ignore the flag, reset at port
/// 0xcf9, the DSDT at `dsdt`.
pub fn fadt(dsdt: u64, pci: bool) -> Vec<u8> {
    let mut b = vec![0u8; FADT_LEN - HEADER_LEN];
    let mut put = |at: usize, bytes: &[u8]| {
        b[at - HEADER_LEN..at - HEADER_LEN + bytes.len()].copy_from_slice(bytes)
    };
    put(FADT_DSDT, &(dsdt as u32).to_le_bytes());
    put(FADT_PM1A_CNT_BLK, &u32::from(PM1A_CNT_PORT).to_le_bytes());
    put(FADT_PM1_CNT_LEN, &[2]);
    let mut boot_arch = VGA_NOT_PRESENT | CMOS_RTC_NOT_PRESENT;
    if !pci {
        boot_arch |= MSI_NOT_SUPPORTED;
    }
    put(FADT_IAPC_BOOT_ARCH, &boot_arch.to_le_bytes());
    let flags = HW_REDUCED_ACPI | RESET_REG_SUP | PWR_BUTTON | SLP_BUTTON;
    put(FADT_FLAGS, &flags.to_le_bytes());
    put(FADT_RESET_REG, &gas_io(RESET_PORT, 8));
    put(FADT_RESET_VALUE, &[RESET_VALUE]);
    put(FADT_MINOR, &[3]);
    put(FADT_X_DSDT, &dsdt.to_le_bytes());
    put(FADT_X_PM1A_CNT, &gas_io(PM1A_CNT_PORT, 16));
    put(FADT_SLEEP_CONTROL, &gas_io(SLEEP_CONTROL_PORT, 8));
    put(FADT_SLEEP_STATUS, &gas_io(SLEEP_STATUS_PORT, 8));
    put(FADT_HYPERVISOR_ID, &HYPERVISOR_ID);
    sdt(b"FACP", 6, &b)
}

/// MADT entry types.
pub mod madt_entry {
    /// Processor local APIC (8 bytes).
    pub const LOCAL_APIC: u8 = 0;
    /// I/O APIC (12 bytes).
    pub const IO_APIC: u8 = 1;
    /// Interrupt source override (10 bytes).
    pub const SOURCE_OVERRIDE: u8 = 2;
    /// Local APIC NMI (6 bytes).
    pub const LOCAL_APIC_NMI: u8 = 4;
    /// Local APIC address override (12 bytes).
    pub const LOCAL_APIC_OVERRIDE: u8 = 5;
    /// Processor local x2APIC (16 bytes).
    pub const LOCAL_X2APIC: u8 = 9;
}

/// An ISA interrupt that reaches another GSI, or another trigger, than the ISA default
/// (edge, active high, GSI = IRQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceOverride {
    /// The ISA IRQ.
    pub source: u8,
    /// Its GSI.
    pub gsi: u32,
    /// Level-triggered (else edge).
    pub level: bool,
}

/// The MADT: the local APIC at [`LAPIC_GPA`], one enabled processor per APIC ID
/// (UID = vCPU index; x2APIC entries for IDs above 254), the I/O APIC at
/// [`IOAPIC_GPA`] from GSI 0, then `overrides`. No 8259s (flags 0).
pub fn madt(apic_ids: &[u32], overrides: &[SourceOverride]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend((LAPIC_GPA as u32).to_le_bytes());
    b.extend(0u32.to_le_bytes()); // no PC-AT 8259s
    for (uid, &id) in apic_ids.iter().enumerate() {
        match u8::try_from(id) {
            Ok(id8) if id8 != 0xff => {
                b.extend([madt_entry::LOCAL_APIC, 8, uid as u8, id8]);
                b.extend(1u32.to_le_bytes()); // enabled
            }
            _ => {
                b.extend([madt_entry::LOCAL_X2APIC, 16, 0, 0]);
                b.extend(id.to_le_bytes());
                b.extend(1u32.to_le_bytes());
                b.extend((uid as u32).to_le_bytes());
            }
        }
    }
    b.extend([madt_entry::IO_APIC, 12, IOAPIC_ID, 0]);
    b.extend((IOAPIC_GPA as u32).to_le_bytes());
    b.extend(0u32.to_le_bytes()); // GSI base
    for o in overrides {
        b.extend([madt_entry::SOURCE_OVERRIDE, 10, 0, o.source]);
        b.extend(o.gsi.to_le_bytes());
        // Polarity active high (01); trigger edge (01) or level (11).
        let flags: u16 = 0b01 | if o.level { 0b11 << 2 } else { 0b01 << 2 };
        b.extend(flags.to_le_bytes());
    }
    sdt(b"APIC", 5, &b)
}

/// The MCFG of a VM with PCI: one ECAM window for segment 0, buses `first..=last`.
pub fn mcfg(ecam: u64, first: u8, last: u8) -> Vec<u8> {
    let mut b = vec![0u8; 8]; // reserved
    b.extend(ecam.to_le_bytes());
    b.extend(0u16.to_le_bytes()); // segment group
    b.extend([first, last]);
    b.extend([0; 4]);
    sdt(b"MCFG", 1, &b)
}
