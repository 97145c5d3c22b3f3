//! `rtvisor board inspect --acpi DIR --memmap DIR`: an x86_64 board from what Linux
//! exposes on the target, as ACRN's board inspector reads it there: the firmware's
//! ACPI tables (`/sys/firmware/acpi/tables`: one file per table, named by signature)
//! and its memory map (`/sys/firmware/memmap`: one directory per range, with `start`,
//! `end` (inclusive) and `type`).
//!
//! - CPUs: the MADT's enabled (or online-capable) processors, in MADT order, by APIC ID;
//! - the local APIC's address (the MADT's, or its address override) and the I/O APICs;
//! - UARTs: each 16550 (`PNP0501`, `PNP0500`) the DSDT or an SSDT describes with a
//!   static `_CRS`; the PC's COM1 (port 0x3f8, IRQ 4) when none is, with a note;
//! - RAM: the `System RAM` ranges at or above 1 MiB, merged (below 1 MiB is the
//!   firmware's and the hypervisor's AP trampoline; the hypervisor loads at 2 MiB);
//! - the PCI host bridge of each MCFG entry of segment 0 (`[[pcie]]`: its ECAM window
//!   and buses), with the INTx GSIs of an ICH9 (q35) chipset's devices 0 to 24
//!   (PIRQE-H, GSIs 20 to 23), which the DSDT's routing methods do not give
//!   statically: a note says so.
//!
//! Every table read is checked first (its length and checksum). Reading is separate
//! from rendering ([`crate::render::x86_board_toml`]).

use anyhow::{bail, Context, Result};
use rtvisor_config::acpi::read::{check_table, dsdt_uarts, madt};
use std::path::Path;

pub use crate::dtprops::slug;

/// RAM below this is not listed (see the module docs).
const LOW_MEMORY: u64 = 0x10_0000;

/// What an x86_64 board file holds, read from ACPI tables and a memory map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X86Board {
    pub name: String,
    /// APIC ID of each CPU.
    pub cpus: Vec<u32>,
    /// RAM ranges: (base, size).
    pub ram: Vec<(u64, u64)>,
    pub local_apic: u64,
    /// (ID, base, GSI base).
    pub io_apics: Vec<(u8, u64, u32)>,
    /// (name, first port, IRQ).
    pub uarts: Vec<(String, u16, u8)>,
    /// PCI host bridges of segment 0: (ECAM base of bus 0, first bus, last bus).
    pub pcie: Vec<(u64, u8, u8)>,
    /// What the reader assumed, for comments in the board file.
    pub notes: Vec<String>,
}

/// Reads the tables in `acpi` and the memory map in `memmap`.
pub fn inspect(acpi: &Path, memmap: &Path, name: Option<String>) -> Result<X86Board> {
    let apic = read_table(acpi, "APIC")?;
    let m = madt(&apic).map_err(|e| anyhow::anyhow!("{}: {e}", acpi.join("APIC").display()))?;
    let cpus: Vec<u32> = m.cpus.iter().filter(|c| c.2).map(|c| c.1).collect();
    if cpus.is_empty() {
        bail!(
            "the MADT ({}) lists no enabled processor",
            acpi.join("APIC").display()
        );
    }
    if m.io_apics.is_empty() {
        bail!(
            "the MADT ({}) lists no I/O APIC",
            acpi.join("APIC").display()
        );
    }
    let mut notes = Vec::new();
    let mut found = Vec::new();
    for table in description_tables(acpi)? {
        let bytes = read_table(acpi, &table)?;
        found.extend(dsdt_uarts(&bytes));
    }
    found.sort_unstable();
    found.dedup();
    if found.is_empty() {
        notes.push(
            "no 16550 with a static _CRS in the DSDT or SSDTs: COM1 (port 0x3f8, IRQ 4) \
             is assumed; check it"
                .to_owned(),
        );
        found.push((0x3f8, 4));
    }
    let uarts = found
        .iter()
        .enumerate()
        .map(|(i, &(port, irq))| {
            (
                format!("com{}", com_number(port).unwrap_or(i + 1)),
                port,
                irq,
            )
        })
        .collect();
    let pcie = match acpi.join("MCFG").is_file() {
        true => mcfg(&read_table(acpi, "MCFG")?),
        false => Vec::new(),
    };
    if !pcie.is_empty() {
        notes.push(format!(
            "INTx of the PCI host bridge: PIRQE-H at GSIs {PC_INTX:?} are assumed (an ICH9's \
             routing of devices 0 to 24; the DSDT routes them with methods); check them \
             against its _PRT"
        ));
    }
    let name = name.unwrap_or_else(|| {
        let oem = String::from_utf8_lossy(&apic[10..16]).trim().to_owned();
        let table = String::from_utf8_lossy(&apic[16..24]).trim().to_owned();
        slug(&format!("{oem} {table}"))
    });
    Ok(X86Board {
        name,
        cpus,
        ram: ram(memmap)?,
        local_apic: m.local_apic,
        io_apics: m.io_apics,
        uarts,
        pcie,
        notes,
    })
}

/// The GSIs of INTA..INTD of device 0 on a chipset with an MCFG: an ICH9 LPC (QEMU's
/// q35) routes pin p of device d (0 to 24) to PIRQ (d + p) % 4 + 4, PIRQE-H, which
/// are GSIs 20 to 23 in APIC mode.
pub const PC_INTX: [u32; 4] = [20, 21, 22, 23];

/// The MCFG's windows of segment 0: (base, first bus, last bus). Each entry is 16
/// bytes after the header and 8 reserved bytes.
fn mcfg(b: &[u8]) -> Vec<(u64, u8, u8)> {
    b.get(44..)
        .unwrap_or_default()
        .chunks_exact(16)
        .filter(|e| u16::from_le_bytes([e[8], e[9]]) == 0)
        .map(|e| {
            let base = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
            (base, e[10], e[11])
        })
        .collect()
}

/// The number of a standard PC COM port.
fn com_number(port: u16) -> Option<usize> {
    [0x3f8, 0x2f8, 0x3e8, 0x2e8]
        .iter()
        .position(|&p| p == port)
        .map(|i| i + 1)
}

/// One table file, checked.
fn read_table(dir: &Path, signature: &str) -> Result<Vec<u8>> {
    let path = dir.join(signature);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    check_table(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(bytes)
}

/// The DSDT and the SSDTs (`SSDT`, `SSDT1`, ...) in `dir`, sorted.
fn description_tables(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name == "DSDT" || name.starts_with("SSDT") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The `System RAM` ranges of the memory map at or above 1 MiB, merged.
fn ram(dir: &Path) -> Result<Vec<(u64, u64)>> {
    let mut ranges = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries {
        let entry = e?.path();
        if !entry.is_dir() {
            continue;
        }
        let field = |f: &str| -> Result<String> {
            let p = entry.join(f);
            Ok(std::fs::read_to_string(&p)
                .with_context(|| format!("reading {}", p.display()))?
                .trim()
                .to_owned())
        };
        if field("type")? != "System RAM" {
            continue;
        }
        let (start, end) = (number(&field("start")?)?, number(&field("end")?)?);
        if end < start {
            bail!("{}: the range ends before it starts", entry.display());
        }
        let start = start.max(LOW_MEMORY);
        if end >= start {
            ranges.push((start, end + 1));
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    if merged.is_empty() {
        bail!(
            "the memory map ({}) lists no System RAM above 1 MiB",
            dir.display()
        );
    }
    Ok(merged.into_iter().map(|(s, e)| (s, e - s)).collect())
}

/// `0x9fbff` or decimal.
fn number(text: &str) -> Result<u64> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.with_context(|| format!("`{text}` is not a number"))
}
