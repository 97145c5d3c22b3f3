use super::*;

/// Builds a boot information structure from `(type, payload)` tags.
fn mbi(tags: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    for (kind, payload) in tags {
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&(payload.len() as u32 + 8).to_le_bytes());
        b.extend_from_slice(payload);
        while !b.len().is_multiple_of(8) {
            b.push(0);
        }
    }
    b.extend_from_slice(&[0, 0, 0, 0, 8, 0, 0, 0]);
    let total = b.len() as u32;
    b[0..4].copy_from_slice(&total.to_le_bytes());
    b
}

fn mmap(entries: &[(u64, u64, u32)], entry_size: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&entry_size.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    for &(base, len, kind) in entries {
        let start = p.len();
        p.extend_from_slice(&base.to_le_bytes());
        p.extend_from_slice(&len.to_le_bytes());
        p.extend_from_slice(&kind.to_le_bytes());
        p.resize(start + entry_size as usize, 0);
    }
    p
}

const QEMU_MAP: &[(u64, u64, u32)] = &[
    (0, 0x9fc00, 1),
    (0x9fc00, 0x400, 2),
    (0xf0000, 0x10000, 2),
    (0x10_0000, 0x7fee_0000, 1),
    (0x7ffe_0000, 0x2_0000, 2),
    (0xfeff_c000, 0x4000, 2),
];

#[test]
fn reads_the_tags_grub_passes() {
    let rsdp = b"RSD PTR \x4e\x42\x4f\x43\x48\x53\x20\x00\x60\xfe\x07\x00".to_vec();
    let b = mbi(&[
        (TAG_CMDLINE, b"fault=ud console\0".to_vec()),
        (TAG_LOADER_NAME, b"GRUB 2.06\0".to_vec()),
        (TAG_MMAP, mmap(QEMU_MAP, 24)),
        (TAG_ACPI_OLD, rsdp.clone()),
    ]);
    let m = Mbi::new(BOOTLOADER_MAGIC, &b).unwrap();
    assert_eq!(m.cmdline(), Some("fault=ud console"));
    assert_eq!(m.loader_name(), Some("GRUB 2.06"));
    assert_eq!(m.rsdp_old(), Some(&rsdp[..]));
    assert_eq!(m.rsdp_new(), None);
    let map: Vec<MemRegion> = m.memory_map().collect();
    assert_eq!(map.len(), 6);
    assert_eq!(map[3].base, Hpa::new(0x10_0000));
    assert_eq!(map[3].kind, MemKind::Available);
    assert_eq!(map[1].kind, MemKind::Reserved);
    let s = summarize(m.memory_map());
    assert_eq!(s.regions, 6);
    assert_eq!(s.available, 0x9fc00 + 0x7fee_0000);
    assert_eq!(s.top_available, 0x7ffe_0000);
    assert_eq!(s.top, 0xff00_0000);
}

#[test]
fn larger_memory_map_entries_are_stepped_over() {
    let b = mbi(&[(TAG_MMAP, mmap(QEMU_MAP, 32))]);
    let m = Mbi::new(BOOTLOADER_MAGIC, &b).unwrap();
    let bases: Vec<u64> = m.memory_map().map(|r| r.base.raw()).collect();
    assert_eq!(
        bases,
        [0, 0x9fc00, 0xf0000, 0x10_0000, 0x7ffe_0000, 0xfeff_c000]
    );
}

#[test]
fn refuses_a_wrong_magic_and_a_short_structure() {
    let b = mbi(&[]);
    assert_eq!(
        Mbi::new(0x2BAD_B002, &b).unwrap_err(),
        MbiError::BadMagic(0x2BAD_B002)
    );
    assert_eq!(
        Mbi::new(BOOTLOADER_MAGIC, &b[..4]).unwrap_err(),
        MbiError::Truncated
    );
    let mut big = b.clone();
    big[0..4].copy_from_slice(&1000u32.to_le_bytes());
    assert_eq!(
        Mbi::new(BOOTLOADER_MAGIC, &big).unwrap_err(),
        MbiError::Truncated
    );
}

#[test]
fn damaged_tags_end_the_walk_without_panicking() {
    // A memory map whose entry size is too small to hold an entry: no entries.
    let b = mbi(&[(TAG_MMAP, mmap(&[(0, 0x1000, 1)], 8))]);
    assert_eq!(
        Mbi::new(BOOTLOADER_MAGIC, &b).unwrap().memory_map().count(),
        0
    );
    // A tag whose size runs past the end, then a tag of size 4 (below its header).
    for size in [0xFFFF_FFF0u32, 4] {
        let mut b = mbi(&[(TAG_CMDLINE, b"x\0".to_vec())]);
        b[12..16].copy_from_slice(&size.to_le_bytes());
        let m = Mbi::new(BOOTLOADER_MAGIC, &b).unwrap();
        assert_eq!(m.cmdline(), None);
        assert_eq!(m.memory_map().count(), 0);
    }
    // Every truncation of a good structure parses or fails cleanly.
    let good = mbi(&[
        (TAG_CMDLINE, b"a b c\0".to_vec()),
        (TAG_MMAP, mmap(QEMU_MAP, 24)),
    ]);
    for cut in 0..good.len() {
        let mut b = good[..cut].to_vec();
        if b.len() >= 4 {
            b[0..4].copy_from_slice(&(cut as u32).to_le_bytes());
        }
        if let Ok(m) = Mbi::new(BOOTLOADER_MAGIC, &b) {
            let _ = m.cmdline();
            assert!(m.memory_map().count() <= QEMU_MAP.len());
        }
    }
}
