use super::*;
use std::collections::BTreeMap;

/// Physical memory made of byte blocks at addresses.
struct Mem(BTreeMap<u64, Vec<u8>>);

impl PhysMem for Mem {
    fn read(&self, addr: Hpa, len: usize) -> Option<&[u8]> {
        let (&base, bytes) = self.0.range(..=addr.raw()).next_back()?;
        let off = (addr.raw() - base) as usize;
        bytes.get(off..off.checked_add(len)?)
    }
}

fn info(version: u32, cmdline: u64, rsdp: u64, memmap: u64, entries: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [START_MAGIC, version, 0, 0] {
        b.extend(w.to_le_bytes());
    }
    for q in [0, cmdline, rsdp, memmap] {
        b.extend(q.to_le_bytes());
    }
    b.extend(entries.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b
}

fn entry(addr: u64, size: u64, kind: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(addr.to_le_bytes());
    b.extend(size.to_le_bytes());
    b.extend(kind.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b
}

/// QEMU's q35 with 2 GiB as its PVH option ROM hands it over.
fn qemu() -> Mem {
    let mut m = BTreeMap::new();
    m.insert(0x6000, info(1, 0x7000, 0xf_5000, 0x6100, 3));
    let mut map = entry(0, 0x9_fc00, 1);
    map.extend(entry(0xf_0000, 0x1_0000, 2));
    map.extend(entry(0x10_0000, 0x7ff0_0000, 1));
    m.insert(0x6100, map);
    m.insert(0x7000, b"vm=bench console\0garbage".to_vec());
    m.insert(0xf_5000, b"RSD PTR rest-of-the-36-bytes-of-it....".to_vec());
    Mem(m)
}

#[test]
fn reads_what_qemu_hands_over() {
    let mem = qemu();
    let s = StartInfo::read(&mem, 0x6000).unwrap();
    let map: Vec<_> = s.memory_map(&mem).collect();
    assert_eq!(map.len(), 3);
    assert_eq!(
        map[2],
        MemRegion {
            base: Hpa::new(0x10_0000),
            len: 0x7ff0_0000,
            kind: MemKind::Available
        }
    );
    assert_eq!(map[1].kind, MemKind::Reserved);
    assert_eq!(s.cmdline(&mem), Some("vm=bench console"));
    assert_eq!(&s.rsdp(&mem).unwrap()[..8], b"RSD PTR ");
    assert_eq!(s.rsdp(&mem).unwrap().len(), 36);
    assert_eq!(
        s.spans(),
        [(0x6000, 0x6038), (0x6100, 0x6148), (0x7000, 0x7100)]
    );
}

#[test]
fn refuses_a_wrong_magic_no_map_or_nothing_there() {
    let mut m = qemu();
    assert_eq!(StartInfo::read(&m, 0x9000), Err(PvhError::Unreadable));
    m.0.insert(0x8000, info(0, 0, 0, 0, 0));
    assert_eq!(StartInfo::read(&m, 0x8000), Err(PvhError::NoMemoryMap));
    m.0.insert(0x8000, info(1, 0, 0, 0, 4));
    assert_eq!(StartInfo::read(&m, 0x8000), Err(PvhError::NoMemoryMap));
    let mut bad = info(1, 0, 0, 0x6100, 3);
    bad[0] ^= 1;
    m.0.insert(0x8000, bad);
    assert_eq!(
        StartInfo::read(&m, 0x8000),
        Err(PvhError::BadMagic(START_MAGIC ^ 1))
    );
}

#[test]
fn a_damaged_map_or_line_is_shorter_never_a_panic() {
    let mut m = qemu();
    // More entries claimed than there are: the map ends at the last readable one.
    m.0.insert(0x6000, info(1, 0, 0, 0x6100, 1000));
    let s = StartInfo::read(&m, 0x6000).unwrap();
    assert_eq!(s.memory_map(&m).count(), 3);
    // Entries are capped, so the span the boot avoids stays bounded.
    assert_eq!(s.spans()[1], (0x6100, 0x6100 + 128 * 24));
    assert_eq!(s.cmdline(&m), None);
    assert_eq!(s.rsdp(&m), None);
    // A map at the top of the address space cannot wrap.
    m.0.insert(0x6000, info(1, 0, 0, u64::MAX - 30, 5));
    let s = StartInfo::read(&m, 0x6000).unwrap();
    assert_eq!(s.memory_map(&m).count(), 0);
    // A command line with no NUL before unreadable memory, and one not UTF-8.
    m.0.insert(0x6000, info(1, 0xa000, 0, 0x6100, 3));
    m.0.insert(0xa000, b"short".to_vec());
    let s = StartInfo::read(&m, 0x6000).unwrap();
    assert_eq!(s.cmdline(&m), Some("short"));
    m.0.insert(0xa000, vec![0xff, 0xfe, 0]);
    assert_eq!(s.cmdline(&m), None);
}
