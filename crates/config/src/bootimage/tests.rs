use super::*;
use crate::elf::build;

/// A raw-image header as the hypervisor's entry code lays it out.
fn header(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
    let mut h = vec![0u8; len];
    h[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes()); // b +64
    h[8..16].copy_from_slice(&text_offset.to_le_bytes());
    h[16..24].copy_from_slice(&image_size.to_le_bytes());
    h[24..32].copy_from_slice(&0xau64.to_le_bytes());
    h[56..60].copy_from_slice(b"ARM\x64");
    h
}

/// Same physical and virtual address, memsz = file size.
fn flat(segs: &[(u64, &[u8])]) -> Vec<u8> {
    let s: Vec<_> = segs
        .iter()
        .map(|(a, d)| (*a, *a, *d, d.len() as u64))
        .collect();
    build(segs[0].0, &s)
}

#[test]
fn lays_out_segments_from_lowest_paddr_with_zero_gaps_and_no_trailing_bss() {
    // Out of order on purpose; the data segment has 0x100 bytes of bss; a bss-only
    // segment far away does not move the start or grow the file.
    const HI: u64 = 0xffff_0000_0000_0000;
    let elf = build(
        HI + 0x4008_0000,
        &[
            (0x4008_1000, HI + 0x4008_1000, b"DATA", 0x104),
            (0x4008_0000, HI + 0x4008_0000, b"CODE!", 5),
            (0x5000_0000, HI + 0x5000_0000, b"", 0x1000),
        ],
    );
    let raw = to_raw(&elf).unwrap();
    assert_eq!(raw.load, 0x4008_0000);
    assert_eq!(raw.entry, 0x4008_0000, "e_entry translated to physical");
    assert_eq!(raw.bytes.len(), 0x1004);
    assert_eq!(&raw.bytes[..5], b"CODE!");
    assert!(raw.bytes[5..0x1000].iter().all(|&b| b == 0));
    assert_eq!(&raw.bytes[0x1000..], b"DATA");
    assert_eq!(raw.mem_end, 0x5000_1000);
}

#[test]
fn segments_are_laid_out_from_the_lowest_paddr() {
    let raw = to_raw(&flat(&[(0x4020_0010, b"BB"), (0x4020_0000, b"AAAA")])).unwrap();
    assert_eq!(raw.load, 0x4020_0000);
    assert_eq!(raw.entry, 0x4020_0010);
    let mut want = b"AAAA".to_vec();
    want.resize(0x10, 0);
    want.extend_from_slice(b"BB");
    assert_eq!(raw.bytes, want);
}

#[test]
fn rejects_overlap_truncation_garbage_and_huge_spans() {
    let overlap = flat(&[(0x1000, b"AAAA"), (0x1002, b"BB")]);
    assert!(to_raw(&overlap).unwrap_err().contains("overlap"));
    let huge = flat(&[(0, b"A"), (0x4000_0000, b"B")]);
    assert!(to_raw(&huge).unwrap_err().contains("linker script"));
    let mut cut = flat(&[(0x1000, b"AAAA")]);
    cut.truncate(cut.len() - 2);
    assert!(to_raw(&cut).is_err());
    let mut short = flat(&[(0x1000, b"AAAA")]);
    short.truncate(100);
    assert!(to_raw(&short).is_err());
    assert!(to_raw(b"not an elf").is_err());
    let empty = build(0, &[(0x1000, 0x1000, b"", 0x100)]);
    assert!(to_raw(&empty).unwrap_err().contains("no PT_LOAD"));
    let mut x86 = flat(&[(0x1000, b"AAAA")]);
    x86[0x12] = 62;
    assert!(to_raw(&x86).unwrap_err().contains("expected 183"));
}

#[test]
fn accepts_a_good_header_from_an_elf() {
    // The header comes the way the hypervisor produces it: the first bytes of its
    // lowest PT_LOAD segment, followed by bss.
    let elf = build(
        0x4020_0000,
        &[(
            0x4020_0000,
            0x4020_0000,
            &header(0x20_0000, 0x3_0000, 0x100),
            0x200,
        )],
    );
    let raw = to_raw(&elf).unwrap();
    let h = arm64_header(&raw.bytes).unwrap();
    assert_eq!(
        h,
        Arm64Header {
            text_offset: 0x20_0000,
            image_size: 0x3_0000,
            flags: 0xa
        }
    );
    assert_eq!(0x4000_0000 + h.text_offset, raw.load);
}

#[test]
fn rejects_bad_headers() {
    let err = |b: &[u8]| arm64_header(b).unwrap_err();
    assert!(err(&[0u8; 32]).contains("shorter"));
    assert!(err(&[0u8; 64]).contains("magic"));
    let mut no_magic = header(0, 0x1000, 64);
    no_magic[56] = b'X';
    assert!(err(&no_magic).contains("magic"));
    assert!(err(&header(0, 0, 64)).contains("image_size (offset 16) is 0"));
    assert!(err(&header(0, 0x40, 0x80)).contains("smaller than the file"));
    let mut be = header(0, 0x1000, 64);
    be[24] = 1;
    assert!(err(&be).contains("big-endian"));
    assert!(arm64_header(&header(0, 0x1000, 64)).is_ok());
}
