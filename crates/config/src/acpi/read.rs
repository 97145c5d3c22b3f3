//! Reading boot data and ACPI tables back: the host-side check of what [`super`]
//! generates, and the table parsing `rtvisor board inspect` does on the files Linux
//! exposes in `/sys/firmware/acpi/tables`.
//!
//! [`check`] walks a boot-data blob the way a guest does: the start info's pointers,
//! the memory map, the module list and the command line must lie in the blob; the
//! RSDP's two checksums, revision and length must hold; the XSDT and every table it
//! reaches (the DSDT through the FADT) must lie in the blob with the length its header
//! says and a checksum that sums to zero; the MADT's entries must fill it exactly and
//! the DSDT's AML must decode with every PkgLength in place. One byte changed in any
//! table is an error.

use super::pvh::{e820, MEMMAP_ENTRY_LEN, MODLIST_ENTRY_LEN, START_INFO_LEN, START_INFO_MAGIC};
use super::read_aml;
use super::tables::{self, madt_entry, FADT_LEN, FADT_X_DSDT, HEADER_LEN, RSDP_LEN};
use crate::elf::{u16_at, u32_at, u64_at};

/// A table found in the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its signature.
    pub signature: String,
    /// Its guest-physical address.
    pub gpa: u64,
    /// Its bytes (as long as its header says).
    pub bytes: Vec<u8>,
}

/// A boot-data blob, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootData {
    /// The start info's version.
    pub version: u32,
    /// The memory map: (address, size, E820 type).
    pub memmap: Vec<(u64, u64, u32)>,
    /// The modules: (address, size).
    pub modules: Vec<(u64, u64)>,
    /// The command line.
    pub cmdline: Option<String>,
    /// The RSDP's address.
    pub rsdp: u64,
    /// Every table: the XSDT, the tables it lists in its order, then the DSDT.
    pub tables: Vec<Table>,
}

impl BootData {
    /// The table with `signature`.
    pub fn table(&self, signature: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.signature == signature)
    }
}

/// The blob, placed at `base`.
struct Blob<'a> {
    b: &'a [u8],
    base: u64,
}

impl Blob<'_> {
    /// The bytes at guest-physical `gpa`, `len` long, if they lie in the blob.
    fn at(&self, gpa: u64, len: usize, what: &str) -> Result<&[u8], String> {
        let off = gpa
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&o| o.checked_add(len).is_some_and(|e| e <= self.b.len()));
        match off {
            Some(o) => Ok(&self.b[o..o + len]),
            None => Err(format!(
                "{what} at {gpa:#x} ({len} bytes) is outside the boot data ({:#x}, {} bytes)",
                self.base,
                self.b.len()
            )),
        }
    }
}

/// Parses and checks the boot data `blob`, placed at guest-physical `base`.
pub fn check(blob: &[u8], base: u64) -> Result<BootData, String> {
    let b = Blob { b: blob, base };
    let si = b.at(base, START_INFO_LEN, "hvm_start_info")?;
    let word = |at: usize| u32_at(si, at).unwrap_or(0);
    let quad = |at: usize| u64_at(si, at).unwrap_or(0);
    if word(0) != START_INFO_MAGIC {
        return Err(format!("hvm_start_info magic is {:#x}", word(0)));
    }
    let version = word(4);
    if version < 1 {
        return Err("hvm_start_info is version 0: it has no memory map".into());
    }
    let nr_modules = word(12) as usize;
    let mut modules = Vec::new();
    if nr_modules > 0 {
        let len = nr_modules.saturating_mul(MODLIST_ENTRY_LEN);
        let list = b.at(quad(16), len, "the module list")?;
        for k in 0..nr_modules {
            let e = k * MODLIST_ENTRY_LEN;
            modules.push((
                u64_at(list, e).unwrap_or(0),
                u64_at(list, e + 8).unwrap_or(0),
            ));
        }
    }
    let cmdline = match quad(24) {
        0 => None,
        at => {
            b.at(at, 1, "the command line")?;
            let tail = &blob[(at - base) as usize..];
            let n = tail
                .iter()
                .position(|&c| c == 0)
                .ok_or("the command line has no NUL")?;
            Some(String::from_utf8_lossy(&tail[..n]).into_owned())
        }
    };
    let memmap = memory_map(&b, quad(40), word(48) as usize)?;
    let rsdp = quad(32);
    let mut tables_found = Vec::new();
    let xsdt = rsdp_xsdt(&b, rsdp)?;
    let x = table(&b, xsdt, Some("XSDT"))?;
    if !(x.bytes.len() - HEADER_LEN).is_multiple_of(8) {
        return Err(format!(
            "the XSDT's length {} is not 36 + 8n",
            x.bytes.len()
        ));
    }
    let listed: Vec<u64> = x.bytes[HEADER_LEN..]
        .chunks(8)
        .map(|c| u64_at(c, 0).unwrap_or(0))
        .collect();
    tables_found.push(x);
    let mut dsdt = None;
    for gpa in listed {
        let t = table(&b, gpa, None)?;
        match t.signature.as_str() {
            "FACP" => dsdt = Some(fadt(&t)?),
            "APIC" => {
                madt(&t.bytes)?;
            }
            "MCFG"
                if t.bytes.len() < HEADER_LEN + 8 || !(t.bytes.len() - 44).is_multiple_of(16) =>
            {
                return Err(format!(
                    "the MCFG's length {} is not 44 + 16n",
                    t.bytes.len()
                ));
            }
            "DSDT" => return Err("the XSDT lists the DSDT (the FADT points at it)".into()),
            _ => {}
        }
        if tables_found
            .iter()
            .any(|o: &Table| o.signature == t.signature)
        {
            return Err(format!("the XSDT lists two {} tables", t.signature));
        }
        tables_found.push(t);
    }
    for needed in ["FACP", "APIC"] {
        if !tables_found.iter().any(|t| t.signature == needed) {
            return Err(format!("the XSDT lists no {needed}"));
        }
    }
    let dsdt = table(&b, dsdt.ok_or("no FADT")?, Some("DSDT"))?;
    read_aml::parse(&dsdt.bytes[HEADER_LEN..]).map_err(|e| format!("DSDT: {e}"))?;
    tables_found.push(dsdt);
    Ok(BootData {
        version,
        memmap,
        modules,
        cmdline,
        rsdp,
        tables: tables_found,
    })
}

fn memory_map(b: &Blob, at: u64, n: usize) -> Result<Vec<(u64, u64, u32)>, String> {
    let bytes = b.at(at, n.saturating_mul(MEMMAP_ENTRY_LEN), "the memory map")?;
    let mut map: Vec<(u64, u64, u32)> = Vec::new();
    for e in bytes.chunks(MEMMAP_ENTRY_LEN) {
        let (addr, size) = (u64_at(e, 0).unwrap_or(0), u64_at(e, 8).unwrap_or(0));
        let kind = u32_at(e, 16).unwrap_or(0);
        if size == 0 || !(e820::RAM..=5).contains(&kind) {
            return Err(format!(
                "memory map entry {addr:#x} has size {size:#x}, type {kind}"
            ));
        }
        if let Some(&(pa, ps, _)) = map.last() {
            if addr < pa + ps {
                return Err(format!(
                    "memory map entry {addr:#x} is not after the one at {pa:#x}"
                ));
            }
        }
        map.push((addr, size, kind));
    }
    Ok(map)
}

/// The RSDP's checks; its XSDT address.
fn rsdp_xsdt(b: &Blob, at: u64) -> Result<u64, String> {
    let r = b.at(at, RSDP_LEN, "the RSDP")?;
    if &r[..8] != b"RSD PTR " {
        return Err(format!("no RSDP signature at {at:#x}"));
    }
    if tables::checksum(&r[..20]) != 0 {
        return Err("the RSDP's checksum (first 20 bytes) does not sum to zero".into());
    }
    if r[15] != 2 {
        return Err(format!("the RSDP's revision is {}, not 2", r[15]));
    }
    if u32_at(r, 20) != Some(RSDP_LEN as u32) {
        return Err(format!("the RSDP's length is {:?}, not 36", u32_at(r, 20)));
    }
    if tables::checksum(r) != 0 {
        return Err("the RSDP's extended checksum does not sum to zero".into());
    }
    Ok(u64_at(r, 24).unwrap_or(0))
}

/// A table's header and checksum, in the blob.
fn table(b: &Blob, gpa: u64, want: Option<&str>) -> Result<Table, String> {
    let head = b.at(gpa, HEADER_LEN, "a table header")?;
    let len = u32_at(head, 4).unwrap_or(0) as usize;
    let bytes = b.at(gpa, len.max(HEADER_LEN), "a table")?;
    let signature = String::from_utf8_lossy(&head[..4]).into_owned();
    check_table(bytes).map_err(|e| format!("{signature} at {gpa:#x}: {e}"))?;
    if let Some(w) = want.filter(|w| *w != signature) {
        return Err(format!(
            "found {signature} at {gpa:#x} where the {w} should be"
        ));
    }
    Ok(Table {
        signature,
        gpa,
        bytes: bytes.to_vec(),
    })
}

/// One table on its own (as a file of `/sys/firmware/acpi/tables`): its length field
/// is its size and its bytes sum to zero.
pub fn check_table(bytes: &[u8]) -> Result<(), String> {
    let len = u32_at(bytes, 4).ok_or("shorter than a table header")? as usize;
    if len < HEADER_LEN || len != bytes.len() {
        return Err(format!(
            "its length field says {len} bytes, it has {}",
            bytes.len()
        ));
    }
    if tables::checksum(bytes) != 0 {
        return Err("its checksum does not sum to zero".into());
    }
    Ok(())
}

/// The FADT's checks; its DSDT's address.
fn fadt(t: &Table) -> Result<u64, String> {
    let b = &t.bytes;
    if b.len() < FADT_LEN {
        return Err(format!(
            "the FADT has {} bytes, fewer than 276 (ACPI 6.3)",
            b.len()
        ));
    }
    let flags = u32_at(b, tables::FADT_FLAGS).unwrap_or(0);
    if flags & tables::HW_REDUCED_ACPI == 0 {
        return Err("the FADT is not hardware-reduced".into());
    }
    match (
        u64_at(b, FADT_X_DSDT).unwrap_or(0),
        u32_at(b, tables::FADT_DSDT).unwrap_or(0),
    ) {
        (0, 0) => Err("the FADT names no DSDT".into()),
        (0, d) => Ok(u64::from(d)),
        (x, d) if d != 0 && u64::from(d) != x => {
            Err(format!("the FADT's DSDT {d:#x} and X_DSDT {x:#x} differ"))
        }
        (x, _) => Ok(x),
    }
}

/// A parsed MADT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Madt {
    /// The local APIC's address (from the header, or an address override).
    pub local_apic: u64,
    /// Processors: (UID, APIC ID, enabled or online-capable).
    pub cpus: Vec<(u32, u32, bool)>,
    /// I/O APICs: (ID, address, GSI base).
    pub io_apics: Vec<(u8, u64, u32)>,
    /// Source overrides: (ISA IRQ, GSI, flags).
    pub overrides: Vec<(u8, u32, u16)>,
}

/// Parses a MADT (a whole table): every entry's length must be right for its type and
/// the entries must fill the table exactly. Unknown entry types are skipped.
pub fn madt(t: &[u8]) -> Result<Madt, String> {
    check_table(t)?;
    let mut m = Madt {
        local_apic: u64::from(u32_at(t, HEADER_LEN).ok_or("the MADT has no body")?),
        ..Madt::default()
    };
    let mut at = HEADER_LEN + 8;
    while at < t.len() {
        let (kind, len) = match t.get(at..at + 2) {
            Some(&[k, l]) => (k, usize::from(l)),
            _ => return Err(format!("a MADT entry at byte {at} is cut short")),
        };
        let want = match kind {
            madt_entry::LOCAL_APIC => Some(8),
            madt_entry::IO_APIC | madt_entry::LOCAL_APIC_OVERRIDE => Some(12),
            madt_entry::SOURCE_OVERRIDE => Some(10),
            madt_entry::LOCAL_APIC_NMI => Some(6),
            madt_entry::LOCAL_X2APIC => Some(16),
            _ => None,
        };
        if len < 2 || at + len > t.len() || want.is_some_and(|w| w != len) {
            return Err(format!(
                "MADT entry type {kind} at byte {at} has length {len}"
            ));
        }
        let e = &t[at..at + len];
        let flags_online = |f: u32| f & 0b11 != 0; // enabled, or online-capable
        match kind {
            madt_entry::LOCAL_APIC => {
                let f = u32_at(e, 4).unwrap_or(0);
                m.cpus
                    .push((u32::from(e[2]), u32::from(e[3]), flags_online(f)));
            }
            madt_entry::LOCAL_X2APIC => {
                let (id, f, uid) = (u32_at(e, 4), u32_at(e, 8), u32_at(e, 12));
                m.cpus.push((
                    uid.unwrap_or(0),
                    id.unwrap_or(0),
                    flags_online(f.unwrap_or(0)),
                ));
            }
            madt_entry::IO_APIC => {
                let addr = u64::from(u32_at(e, 4).unwrap_or(0));
                m.io_apics.push((e[2], addr, u32_at(e, 8).unwrap_or(0)));
            }
            madt_entry::SOURCE_OVERRIDE => {
                m.overrides
                    .push((e[3], u32_at(e, 4).unwrap_or(0), u16_at(e, 8).unwrap_or(0)));
            }
            madt_entry::LOCAL_APIC_OVERRIDE => m.local_apic = u64_at(e, 4).unwrap_or(0),
            _ => {}
        }
        at += len;
    }
    Ok(m)
}

/// The 16550 UARTs a DSDT describes: each `Device` whose `_HID` is `PNP0500` or
/// `PNP0501` with a `_CRS` buffer holding an IO and an IRQ descriptor, as (first
/// port, ISA IRQ). Firmware DSDTs hold methods this crate does not decode, so this
/// scans the bytes: for each `Name (_HID, EisaId ("PNP0501"))`, the next
/// `Name (_CRS, Buffer (...))` before the following `_HID` (QEMU and Bochs write COM
/// ports that way).
pub fn dsdt_uarts(dsdt: &[u8]) -> Vec<(u16, u8)> {
    let hid = |id: &str| {
        let mut p = super::aml::name("_HID", Vec::new());
        p.extend(super::aml::integer(u64::from(super::aml::eisa_id(id))));
        p
    };
    let crs = super::aml::name("_CRS", vec![super::aml::BUFFER_OP]);
    let any_hid = super::aml::name("_HID", Vec::new());
    let mut out = Vec::new();
    let starts: Vec<usize> = [hid("PNP0501"), hid("PNP0500")]
        .iter()
        .flat_map(|p| find_all(dsdt, p))
        .collect();
    for start in starts {
        let after = start + 5;
        let next_hid = find_all(&dsdt[after..], &any_hid)
            .first()
            .map_or(dsdt.len(), |n| after + n);
        let Some(c) = find_all(&dsdt[after..next_hid], &crs)
            .first()
            .map(|c| after + c)
        else {
            continue;
        };
        // `Name (_CRS, ...)` is 5 bytes; the buffer starts at its BufferOp.
        let Ok(read_aml::Obj::Buffer(bytes)) = read_aml::object_at(dsdt, c + 5) else {
            continue;
        };
        let Ok(res) = read_aml::resources(&bytes) else {
            continue;
        };
        let port = res.iter().find_map(|r| match r {
            read_aml::Resource::Io(p, _) => Some(*p),
            _ => None,
        });
        let irq = res.iter().find_map(|r| match r {
            read_aml::Resource::Irq(mask) if *mask != 0 => Some(mask.trailing_zeros() as u8),
            read_aml::Resource::Interrupt(_, g) => g.first().and_then(|&g| u8::try_from(g).ok()),
            _ => None,
        });
        if let (Some(p), Some(i)) = (port, irq) {
            out.push((p, i));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| &hay[i..i + needle.len()] == needle)
        .collect()
}
