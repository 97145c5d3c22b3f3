//! The few ACPI facts the test guests need: the CPUs' APIC ids (MADT), how to power
//! off (FADT: PM1a_CNT or the hardware-reduced sleep control register, with SLP_TYP
//! for S5 from the DSDT's `\_S5` package) and the PM timer (FADT PM_TMR_BLK).
//!
//! Every table is checked (signature, length, checksum) before it is read; a bad or
//! missing table leaves the defaults: 1 CPU, q35's documented PM1a_CNT port 0x604
//! with SLP_TYP 0 (QEMU's S5), no PM timer.

use super::pvh::{below_4g, read_le, MAX_DT_CPUS};

/// q35's PM1a_CNT (PMBASE 0x600 + 4, as SeaBIOS and QEMU set it up).
pub const Q35_PM1A_CNT: u16 = 0x604;
/// SLP_EN in PM1a_CNT.
const PM1_SLP_EN: u16 = 1 << 13;
/// Largest table accepted.
const MAX_TABLE: u64 = 1 << 20;

/// How to enter S5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerOff {
    /// Write `SLP_TYP << 10 | SLP_EN` to this PM1a_CNT I/O port.
    Pm1aPort { port: u16, slp_typ: u8 },
    /// Hardware-reduced ACPI: write `SLP_TYP << 2 | SLP_EN (1 << 5)` to this
    /// sleep control register (I/O port).
    SleepControlPort { port: u16, slp_typ: u8 },
}

/// What the tables said.
#[derive(Clone, Copy, Debug)]
pub struct Acpi {
    /// Enabled CPUs in the MADT (0: no MADT).
    pub cpus: usize,
    /// Their APIC ids, MADT order.
    pub apic_ids: [u64; MAX_DT_CPUS],
    pub power_off: PowerOff,
    /// The ACPI PM timer's I/O port (3.579545 MHz), if the FADT has one.
    pub pm_timer: Option<u16>,
    /// The RSDP used.
    pub rsdp: Option<usize>,
    /// The machine has the two legacy 8259s (MADT flags bit 0, PCAT_COMPAT; assumed
    /// without a MADT). rtvisor's VMs have none.
    pub pcat_compat: bool,
}

impl Default for Acpi {
    fn default() -> Self {
        Acpi {
            cpus: 0,
            apic_ids: [0; MAX_DT_CPUS],
            power_off: PowerOff::Pm1aPort {
                port: Q35_PM1A_CNT,
                slp_typ: 0,
            },
            pm_timer: None,
            rsdp: None,
            pcat_compat: true,
        }
    }
}

fn checksum_ok(addr: usize, len: usize) -> bool {
    (0..len).fold(0u8, |s, i| s.wrapping_add(read_le::<1>(addr + i) as u8)) == 0
}

fn signature(addr: usize) -> [u8; 4] {
    (read_le::<4>(addr) as u32).to_le_bytes()
}

/// A valid table at `addr`: its length.
fn table(addr: u64) -> Option<usize> {
    if !below_4g(addr, 36) {
        return None;
    }
    let len = read_le::<4>(addr as usize + 4);
    ((36..=MAX_TABLE).contains(&len)
        && below_4g(addr, len)
        && checksum_ok(addr as usize, len as usize))
    .then_some(len as usize)
}

/// The RSDP in the BIOS read-only area, if any (16-byte aligned "RSD PTR ").
pub fn search_rsdp() -> Option<usize> {
    (0xe_0000..0x10_0000)
        .step_by(16)
        .find(|&a| read_le::<8>(a) == u64::from_le_bytes(*b"RSD PTR ") && checksum_ok(a, 20))
}

impl Acpi {
    /// Reads the tables the RSDP at `rsdp` leads to.
    pub fn parse(rsdp: usize) -> Acpi {
        let mut out = Acpi {
            rsdp: Some(rsdp),
            ..Acpi::default()
        };
        if !below_4g(rsdp as u64, 36) || read_le::<8>(rsdp) != u64::from_le_bytes(*b"RSD PTR ") {
            return out;
        }
        let revision = read_le::<1>(rsdp + 15);
        let (root, entry) = if revision >= 2 && read_le::<8>(rsdp + 24) != 0 {
            (read_le::<8>(rsdp + 24), 8)
        } else {
            (read_le::<4>(rsdp + 16), 4)
        };
        let Some(len) = table(root) else {
            return out;
        };
        let root = root as usize;
        for i in 0..(len - 36) / entry {
            let at = root + 36 + i * entry;
            let addr = if entry == 8 {
                read_le::<8>(at)
            } else {
                read_le::<4>(at)
            };
            let Some(tlen) = table(addr) else {
                continue;
            };
            match &signature(addr as usize) {
                b"APIC" => out.madt(addr as usize, tlen),
                b"FACP" => out.fadt(addr as usize, tlen),
                _ => {}
            }
        }
        out
    }

    /// MADT entries: type 0 (local APIC: flags bit 0 enabled, bit 1 online capable)
    /// and type 9 (x2APIC), in table order.
    fn madt(&mut self, addr: usize, len: usize) {
        if len >= 44 {
            self.pcat_compat = read_le::<4>(addr + 40) & 1 != 0;
        }
        let mut at = addr + 44;
        while at + 2 <= addr + len {
            let (kind, elen) = (read_le::<1>(at), read_le::<1>(at + 1) as usize);
            if elen < 2 || at + elen > addr + len {
                break;
            }
            let id_flags = match (kind, elen) {
                (0, 8..) => Some((read_le::<1>(at + 3), read_le::<4>(at + 4))),
                (9, 16..) => Some((read_le::<4>(at + 4), read_le::<4>(at + 8))),
                _ => None,
            };
            if let Some((id, flags)) = id_flags {
                if flags & 3 != 0 {
                    if let Some(slot) = self.apic_ids.get_mut(self.cpus) {
                        *slot = id;
                    }
                    self.cpus += 1;
                }
            }
            at += elen;
        }
    }

    /// FADT: the PM timer, PM1a_CNT (or the sleep control register of a
    /// hardware-reduced FADT) and the DSDT's S5 sleep type.
    fn fadt(&mut self, addr: usize, len: usize) {
        let field = |off: usize, n: usize| {
            (off + n <= len).then(|| match n {
                1 => read_le::<1>(addr + off),
                4 => read_le::<4>(addr + off),
                _ => read_le::<8>(addr + off),
            })
        };
        // A Generic Address Structure in I/O space: its port.
        let gas_port = |off: usize| {
            (field(off, 1)? == 1)
                .then(|| field(off + 4, 8))
                .flatten()
                .and_then(|a| u16::try_from(a).ok())
                .filter(|&p| p != 0)
        };
        let dsdt = field(140, 8).filter(|&d| d != 0).or_else(|| field(40, 4));
        let slp_typ = dsdt.and_then(s5_sleep_type).unwrap_or(0);
        self.pm_timer = field(76, 4)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
            .or_else(|| gas_port(208));
        let pm1a = field(64, 4)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
            .or_else(|| gas_port(172));
        self.power_off = match (pm1a, gas_port(244)) {
            (Some(port), _) => PowerOff::Pm1aPort { port, slp_typ },
            (None, Some(port)) => PowerOff::SleepControlPort { port, slp_typ },
            (None, None) => self.power_off,
        };
    }
}

/// SLP_TYPa of `\_S5`: the first element of the package that follows the name
/// `_S5_` in the DSDT (`Name (_S5, Package () { a, b, ... })`: NameOp 0x08, the
/// name, PackageOp 0x12, PkgLength, NumElements, then a ByteConst or Zero/One).
fn s5_sleep_type(dsdt: u64) -> Option<u8> {
    let len = table(dsdt)?;
    let dsdt = dsdt as usize;
    let name = u32::from_le_bytes(*b"_S5_") as u64;
    let at = (dsdt + 36..dsdt + len.saturating_sub(8)).find(|&a| read_le::<4>(a) == name)?;
    let mut p = at + 4;
    if read_le::<1>(p) != 0x12 {
        return None;
    }
    p += 1;
    // PkgLength: bits 7-6 of the lead byte are the count of extra bytes.
    p += 1 + (read_le::<1>(p) >> 6) as usize;
    p += 1; // NumElements
    match read_le::<1>(p) {
        0x0a => Some(read_le::<1>(p + 1) as u8),
        0x00 => Some(0),
        0x01 => Some(1),
        _ => None,
    }
}

/// Enters S5 as the FADT says; returns only if the machine is still running.
pub fn power_off(how: PowerOff) {
    match how {
        PowerOff::Pm1aPort { port, slp_typ } => {
            super::cpu::outw(port, u16::from(slp_typ & 7) << 10 | PM1_SLP_EN)
        }
        PowerOff::SleepControlPort { port, slp_typ } => {
            super::cpu::outb(port, (slp_typ & 7) << 2 | 1 << 5)
        }
    }
}
