//! Image placement against QEMU 7.2's `-kernel` rules, one row per kind and corner.

use super::*;

const RAM: u64 = 0x4000_0000;

fn elf_at(paddr: u64, len: u64) -> Vec<u8> {
    elf::build(paddr, &[(paddr, paddr, b"code", len)])
}

/// (what, format, file, RAM size) -> (kind, load, entry, end).
#[test]
fn every_kind_lands_where_qemu_puts_it() {
    type Row = (
        &'static str,
        FormatSpec,
        Vec<u8>,
        u64,
        (Kind, u64, u64, u64),
    );
    let rows: Vec<Row> = vec![
        (
            "headerless, auto",
            FormatSpec::Auto,
            vec![1, 2, 3],
            2 * MIB,
            (Kind::Headerless, 0x4008_0000, 0x4008_0000, 0x4008_0003),
        ),
        (
            "headerless, raw",
            FormatSpec::Raw,
            vec![1, 2, 3],
            2 * MIB,
            (Kind::Headerless, 0x4008_0000, 0x4008_0000, 0x4008_0003),
        ),
        (
            "Image, text_offset 0: 2 MiB up (QEMU's boot stub is at RAM start)",
            FormatSpec::Auto,
            linux_header(0, 0x30_0000, 4096),
            64 * MIB,
            (Kind::Image, 0x4020_0000, 0x4020_0000, 0x4050_0000),
        ),
        (
            "Image, text_offset 0xfff: still below the stub's 4 KiB",
            FormatSpec::LinuxImage,
            linux_header(0xfff, 0x1000, 4096),
            64 * MIB,
            (Kind::Image, 0x4020_0fff, 0x4020_0fff, 0x4020_1fff),
        ),
        (
            "Image, text_offset 0x8_0000 (kernels before 5.8)",
            FormatSpec::Auto,
            linux_header(0x8_0000, 0x1_0000, 4096),
            64 * MIB,
            (Kind::Image, 0x4008_0000, 0x4008_0000, 0x4009_0000),
        ),
        (
            "Image with image_size 0 (before 3.17): like a headerless file",
            FormatSpec::Auto,
            linux_header(0x1234, 0, 4096),
            64 * MIB,
            (Kind::Image, 0x4008_0000, 0x4008_0000, 0x4008_1000),
        ),
        (
            "Image declared raw: headerless, as declared",
            FormatSpec::Raw,
            linux_header(0, 0x30_0000, 4096),
            64 * MIB,
            (Kind::Headerless, 0x4008_0000, 0x4008_0000, 0x4008_1000),
        ),
        (
            "ELF, auto",
            FormatSpec::Auto,
            elf_at(0x4010_0000, 0x100),
            2 * MIB,
            (Kind::Elf, 0x4010_0000, 0x4010_0000, 0x4010_0100),
        ),
    ];
    for (what, format, file, size, want) in rows {
        let p = place(format, file, RAM, size).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!((p.kind, p.load, p.entry, p.end), want, "{what}");
        assert_eq!(p.linux(), want.0 != Kind::Elf, "{what}");
    }
}

#[test]
fn refusals_say_why() {
    let e = place(FormatSpec::Raw, vec![0; 2 * MIB as usize], RAM, 2 * MIB).unwrap_err();
    assert_eq!(
        e.message,
        "does not fit in the VM's RAM: it spans 0x4008_0000..0x4028_0000, past the end of RAM at 0x4020_0000"
    );
    assert_eq!(e.hint, "give the VM at least 4 MiB of memory");
    let e = place(
        FormatSpec::LinuxImage,
        vec![0x1f, 0x8b, 0, 0],
        RAM,
        64 * MIB,
    )
    .unwrap_err();
    assert_eq!(
        e.hint,
        "this is gzip-compressed (Image.gz or vmlinuz): decompress it first"
    );
    let e = place(FormatSpec::Auto, vec![0x1f, 0x8b, 0, 0], RAM, 64 * MIB).unwrap_err();
    assert_eq!(e.message, "is gzip-compressed (Image.gz or vmlinuz)");
    let e = place(FormatSpec::Raw, elf_at(0x4008_0000, 4), RAM, 2 * MIB).unwrap_err();
    assert!(e.message.starts_with("is an ELF file"), "{e:?}");
    let e = place(FormatSpec::Elf, elf_at(0x8_0000, 4), RAM, 2 * MIB).unwrap_err();
    assert_eq!(
        e.message,
        "has a segment at 0x0008_0000..0x0008_0004, outside the VM's RAM (0x4000_0000..0x4020_0000)"
    );
    assert_eq!(
        place(FormatSpec::Auto, Vec::new(), RAM, 2 * MIB)
            .unwrap_err()
            .message,
        "is empty"
    );
}

#[test]
fn the_content_decides_and_contradictions_are_named() {
    assert_eq!(Kind::of(&elf_at(0x4008_0000, 4)), Kind::Elf);
    assert_eq!(Kind::of(&linux_header(0, 1 << 20, 4096)), Kind::Image);
    assert_eq!(Kind::of(b"ARM\x64"), Kind::Headerless);
    // The magic alone at the very end is not a header (QEMU wants more than 60 bytes).
    let mut short = vec![0u8; 60];
    short[56..60].copy_from_slice(b"ARM\x64");
    assert_eq!(Kind::of(&short), Kind::Headerless);
    let image = linux_header(0, 1 << 20, 4096);
    assert!(contradiction(FormatSpec::Raw, &image).is_some());
    for f in [FormatSpec::Auto, FormatSpec::LinuxImage] {
        assert_eq!(contradiction(f, &image), None);
    }
    assert_eq!(contradiction(FormatSpec::Raw, &[1, 2, 3]), None);
}
