//! A fake physical memory and table builders for the host tests.

use super::PhysMem;
use rtvisor_addr::Hpa;

/// Bytes placed at physical addresses.
#[derive(Default)]
pub struct Mem {
    pub chunks: Vec<(u64, Vec<u8>)>,
}

impl Mem {
    pub fn put(&mut self, addr: u64, bytes: Vec<u8>) {
        self.chunks.push((addr, bytes));
    }
}

impl PhysMem for Mem {
    fn read(&self, addr: Hpa, len: usize) -> Option<&[u8]> {
        let a = addr.raw();
        self.chunks.iter().find_map(|(base, b)| {
            let off = usize::try_from(a.checked_sub(*base)?).ok()?;
            b.get(off..off.checked_add(len)?)
        })
    }
}

/// Sets byte `at` so that `b` sums to zero.
pub fn fix_checksum(b: &mut [u8], at: usize) {
    b[at] = 0;
    let s = b.iter().fold(0u8, |s, &x| s.wrapping_add(x));
    b[at] = 0u8.wrapping_sub(s);
}

/// A table with a correct header, length and checksum around `body`.
pub fn table(sig: [u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sig);
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.push(revision);
    t.push(0);
    t.extend_from_slice(b"RTVSOR");
    t.extend_from_slice(b"TESTTABL");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"RTV ");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(body);
    fix_checksum(&mut t, 9);
    t
}

/// An RSDP of `revision` (0: ACPI 1.0, 20 bytes; 2: 36 bytes) pointing at both roots.
pub fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut r = b"RSD PTR ".to_vec();
    r.push(0);
    r.extend_from_slice(b"RTVSOR");
    r.push(revision);
    r.extend_from_slice(&rsdt.to_le_bytes());
    fix_checksum(&mut r, 8);
    if revision >= 2 {
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        fix_checksum(&mut r, 32);
    }
    r
}
