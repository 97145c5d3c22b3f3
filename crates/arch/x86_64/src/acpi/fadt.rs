//! The FADT ("FACP") and the one thing read from the DSDT: how to power off (S5).
//!
//! ```text
//! FADT offset  40 u32 DSDT         48 u32 SMI_CMD     52 u8 ACPI_ENABLE
//!              64 u32 PM1a_CNT_BLK 68 u32 PM1b_CNT_BLK
//!              76 u32 PM_TMR_BLK   112 u32 flags (bit 8: 32-bit PM timer)
//!             140 u64 X_DSDT (when the table is that long)
//! PM1x_CNT: SLP_TYP in bits 10-12, SLP_EN is bit 13, SCI_EN bit 0.
//! ```
//!
//! The sleep type of S5 is the first two integers of the `\_S5_` package in the DSDT's
//! AML (`Name (_S5, Package () { a, b, ... })`); this reads only that object.

use super::{AcpiError, PhysMem, Rsdp, Table};
use crate::bytes::{u16_at, u32_at, u64_at, u8_at};
use rtvisor_addr::Hpa;

const SIG: [u8; 4] = *b"FACP";

/// What the power-off and the PM timer need from the FADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fadt {
    pub dsdt: Hpa,
    /// I/O port that switches the machine to ACPI mode (0: always in ACPI mode).
    pub smi_cmd: u16,
    pub acpi_enable: u8,
    pub pm1a_cnt: u16,
    /// 0 when there is no second control block.
    pub pm1b_cnt: u16,
    /// The ACPI PM timer's port (0: none); it counts at [`PM_TIMER_HZ`].
    pub pm_timer: u16,
    /// Whether the PM timer counts 32 bits (else 24).
    pub pm_timer_32: bool,
}

/// The ACPI PM timer's frequency.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// SLP_EN in PM1x_CNT.
pub const SLP_EN: u16 = 1 << 13;
/// SCI_EN in PM1x_CNT: the machine is in ACPI mode.
pub const SCI_EN: u16 = 1;

/// An I/O port number from a 32-bit FADT field; ports above 0xFFFF do not exist.
fn port(v: u32) -> Result<u16, AcpiError> {
    u16::try_from(v).map_err(|_| AcpiError::BadEntry(SIG))
}

impl Fadt {
    pub fn parse(t: &Table<'_>) -> Result<Fadt, AcpiError> {
        let b = t.bytes;
        let short = AcpiError::BadLength(SIG);
        let dsdt32 = u32_at(b, 40).ok_or(short)?;
        let x_dsdt = u64_at(b, 140).unwrap_or(0);
        let flags = u32_at(b, 112).unwrap_or(0);
        Ok(Fadt {
            dsdt: Hpa::new(if x_dsdt != 0 {
                x_dsdt
            } else {
                u64::from(dsdt32)
            }),
            smi_cmd: port(u32_at(b, 48).ok_or(short)?)?,
            acpi_enable: u8_at(b, 52).ok_or(short)?,
            pm1a_cnt: port(u32_at(b, 64).ok_or(short)?)?,
            pm1b_cnt: port(u32_at(b, 68).ok_or(short)?)?,
            pm_timer: port(u32_at(b, 76).ok_or(short)?)?,
            pm_timer_32: flags & (1 << 8) != 0,
        })
    }
}

/// The S5 sleep types for PM1a and PM1b (each 0..=7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepType {
    pub a: u8,
    pub b: u8,
}

impl SleepType {
    /// The PM1x_CNT value that enters this sleep state for block a or b.
    pub fn control(typ: u8) -> u16 {
        (u16::from(typ & 7) << 10) | SLP_EN
    }
}

/// One AML integer at the start of `b`: its value and encoded length.
fn aml_integer(b: &[u8]) -> Option<(u64, usize)> {
    match *b.first()? {
        0x00 => Some((0, 1)),                        // ZeroOp
        0x01 => Some((1, 1)),                        // OneOp
        0xFF => Some((u64::MAX, 1)),                 // OnesOp
        0x0A => Some((u64::from(*b.get(1)?), 2)),    // BytePrefix
        0x0B => Some((u64::from(u16_at(b, 1)?), 3)), // WordPrefix
        0x0C => Some((u64::from(u32_at(b, 1)?), 5)), // DWordPrefix
        _ => None,
    }
}

/// The S5 sleep types from a DSDT's bytes, if it defines `\_S5_` as a package of
/// integers.
pub fn s5_sleep_type(dsdt: &[u8]) -> Option<SleepType> {
    let at = dsdt.windows(4).position(|w| w == b"_S5_")?;
    let mut p = dsdt.get(at + 4..)?;
    if *p.first()? != 0x12 {
        return None; // not PackageOp
    }
    // PkgLength: bits 7-6 of the lead byte say how many bytes follow.
    let follow = usize::from(*p.get(1)? >> 6);
    p = p.get(2 + follow + 1..)?; // PackageOp, PkgLength, NumElements
    let (a, n) = aml_integer(p)?;
    let (b, _) = aml_integer(p.get(n..)?)?;
    Some(SleepType {
        a: (a & 7) as u8,
        b: (b & 7) as u8,
    })
}

/// The FADT and the S5 sleep type from the DSDT it points to.
pub fn power_info(mem: &impl PhysMem, rsdp: &Rsdp) -> Result<(Fadt, Option<SleepType>), AcpiError> {
    let fadt = Fadt::parse(&super::find(mem, rsdp, SIG)?)?;
    let s5 = super::table_at(mem, fadt.dsdt, *b"DSDT")
        .ok()
        .and_then(|t| s5_sleep_type(t.body()));
    Ok((fadt, s5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_s5_in_each_integer_encoding() {
        // Name (_S5, Package (4) { Zero, Zero, Zero, Zero }) as QEMU writes it.
        let qemu = [0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0];
        assert_eq!(s5_sleep_type(&qemu), Some(SleepType { a: 0, b: 0 }));
        // \_S5 with BytePrefix values and a two-byte PkgLength.
        let two = [
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x40, 0x00, 0x02, 0x0A, 0x05, 0x0A, 0x07,
        ];
        assert_eq!(s5_sleep_type(&two), Some(SleepType { a: 5, b: 7 }));
        let words = [
            b'_', b'S', b'5', b'_', 0x12, 0x08, 0x02, 0x0B, 0x06, 0, 0x01,
        ];
        assert_eq!(s5_sleep_type(&words), Some(SleepType { a: 6, b: 1 }));
        assert_eq!(SleepType::control(5), 0x3400);
    }

    #[test]
    fn a_missing_or_damaged_s5_is_none() {
        assert_eq!(s5_sleep_type(b"no such object"), None);
        assert_eq!(s5_sleep_type(&[b'_', b'S', b'5', b'_', 0x10]), None);
        let good = [
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x0A, 5, 0, 0,
        ];
        for cut in 0..8 {
            assert_eq!(s5_sleep_type(&good[..cut]), None, "{cut}");
        }
        // A method call instead of an integer.
        let m = [b'_', b'S', b'5', b'_', 0x12, 0x06, 0x02, 0x14, 0, 0];
        assert_eq!(s5_sleep_type(&m), None);
    }
}
