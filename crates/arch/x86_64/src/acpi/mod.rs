//! ACPI tables the way firmware leaves them: RSDP -> XSDT (or RSDT) -> MADT, FADT,
//! DSDT. Plain code over [`PhysMem`], tested on the host; the backend reads physical
//! memory through the identity map.
//!
//! Every table is checked before use: its signature, a length that covers at least
//! its header and stays within [`MAX_TABLE`], and its checksum. A damaged table is an
//! [`AcpiError`], never a panic or an endless walk.

pub mod dmar;
pub mod fadt;
pub mod madt;

use crate::bytes::{array, slice, sums_to_zero, u32_at, u64_at, u8_at};
use rtvisor_addr::Hpa;

/// Size of the common table header.
pub const HEADER_LEN: usize = 36;
/// The largest table this code reads (a DSDT of a big machine fits).
pub const MAX_TABLE: usize = 1 << 20;

/// Reads physical memory.
pub trait PhysMem {
    /// `len` bytes at `addr`, or `None` where there is no memory to read.
    fn read(&self, addr: Hpa, len: usize) -> Option<&[u8]>;
}

/// Why a table could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP was passed by the loader.
    NoRsdp,
    /// The RSDP's signature, length or checksum is wrong.
    BadRsdp,
    /// A table's address cannot be read.
    Unreadable([u8; 4]),
    /// A table's signature differs from what pointed to it.
    BadSignature([u8; 4]),
    /// A table's length is below its header or above [`MAX_TABLE`].
    BadLength([u8; 4]),
    /// A table's checksum is wrong.
    BadChecksum([u8; 4]),
    /// No table with this signature in the XSDT/RSDT.
    NotFound([u8; 4]),
    /// An entry inside a table is damaged (a length of zero or past the end).
    BadEntry([u8; 4]),
}

/// The root pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    pub revision: u8,
    pub rsdt: u32,
    /// The XSDT's address (revision 2 and later; 0 otherwise).
    pub xsdt: u64,
}

impl Rsdp {
    /// Checks and reads an RSDP (the copy in a Multiboot2 ACPI tag).
    pub fn parse(b: &[u8]) -> Result<Rsdp, AcpiError> {
        let v1 = slice(b, 0, 20).ok_or(AcpiError::BadRsdp)?;
        if &v1[..8] != b"RSD PTR " || !sums_to_zero(v1) {
            return Err(AcpiError::BadRsdp);
        }
        let revision = v1[15];
        let rsdt = u32_at(v1, 16).ok_or(AcpiError::BadRsdp)?;
        let mut xsdt = 0;
        if revision >= 2 {
            let len = u32_at(b, 20).ok_or(AcpiError::BadRsdp)? as usize;
            let all = slice(b, 0, len.max(36)).ok_or(AcpiError::BadRsdp)?;
            if !sums_to_zero(all) {
                return Err(AcpiError::BadRsdp);
            }
            xsdt = u64_at(all, 24).ok_or(AcpiError::BadRsdp)?;
        }
        Ok(Rsdp {
            revision,
            rsdt,
            xsdt,
        })
    }
}

/// The RSDP from the newest tag the loader passed that checks out.
pub fn rsdp_from_tags(new: Option<&[u8]>, old: Option<&[u8]>) -> Result<Rsdp, AcpiError> {
    let mut err = AcpiError::NoRsdp;
    for tag in [new, old].into_iter().flatten() {
        match Rsdp::parse(tag) {
            Ok(r) => return Ok(r),
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// A table that passed its checks: the whole of it, header included.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Table<'a> {
    pub fn signature(&self) -> [u8; 4] {
        array(self.bytes, 0).unwrap_or_default()
    }
    pub fn revision(&self) -> u8 {
        u8_at(self.bytes, 8).unwrap_or(0)
    }
    /// What follows the header.
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// Reads and checks the table at `addr`, which must carry signature `sig`.
pub fn table_at<'m>(
    mem: &'m impl PhysMem,
    addr: Hpa,
    sig: [u8; 4],
) -> Result<Table<'m>, AcpiError> {
    let head = mem
        .read(addr, HEADER_LEN)
        .ok_or(AcpiError::Unreadable(sig))?;
    if array::<4>(head, 0) != Some(sig) {
        return Err(AcpiError::BadSignature(sig));
    }
    let len = u32_at(head, 4).ok_or(AcpiError::BadLength(sig))? as usize;
    if !(HEADER_LEN..=MAX_TABLE).contains(&len) {
        return Err(AcpiError::BadLength(sig));
    }
    let bytes = mem.read(addr, len).ok_or(AcpiError::Unreadable(sig))?;
    if !sums_to_zero(bytes) {
        return Err(AcpiError::BadChecksum(sig));
    }
    Ok(Table { bytes })
}

/// The table with signature `sig` listed in the XSDT (when the RSDP has one) or RSDT.
/// Entries whose table is damaged are passed over, so one bad table hides only itself.
pub fn find<'m>(mem: &'m impl PhysMem, rsdp: &Rsdp, sig: [u8; 4]) -> Result<Table<'m>, AcpiError> {
    let (root, width) = if rsdp.revision >= 2 && rsdp.xsdt != 0 {
        (table_at(mem, Hpa::new(rsdp.xsdt), *b"XSDT")?, 8)
    } else {
        (table_at(mem, Hpa::new(u64::from(rsdp.rsdt)), *b"RSDT")?, 4)
    };
    let mut first_err = None;
    for entry in root.body().chunks_exact(width) {
        let addr = if width == 8 {
            u64_at(entry, 0)
        } else {
            u32_at(entry, 0).map(u64::from)
        };
        let Some(addr) = addr else { continue };
        let Some(head) = mem.read(Hpa::new(addr), 4) else {
            continue;
        };
        if head != sig {
            continue;
        }
        match table_at(mem, Hpa::new(addr), sig) {
            Ok(t) => return Ok(t),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(AcpiError::NotFound(sig)))
}

#[cfg(test)]
pub(crate) mod testmem;
#[cfg(test)]
mod tests;
