//! The initrd and device-tree rules of QEMU 7.2's `-kernel`, one row per case.

use super::*;
use crate::image::Kind;

const RAM: u64 = 0x4000_0000;

fn img(kind: Kind, load: u64, end: u64) -> Placed {
    Placed {
        bytes: Vec::new(),
        load,
        entry: load,
        end,
        kind,
    }
}

#[test]
fn initrd_and_dtb_follow_qemu() {
    use Kind::*;
    // (what, RAM size, image, initrd length, dtb-ipa) -> (initrd, dtb, room)
    type Row = (
        &'static str,
        u64,
        Placed,
        Option<u64>,
        Option<u64>,
        (Option<u64>, u64, u64),
    );
    let rows: Vec<Row> = vec![
        (
            "headerless in 16 MiB: dtb at RAM + 8 MiB (half of RAM)",
            16 * MIB,
            img(Headerless, RAM + 0x8_0000, RAM + 0x9_0000),
            None,
            None,
            (None, RAM + 8 * MIB, 8 * MIB),
        ),
        (
            "headerless in 2 GiB: dtb at RAM + 128 MiB",
            2048 * MIB,
            img(Headerless, RAM + 0x8_0000, RAM + 0x9_0000),
            None,
            None,
            (None, RAM + 128 * MIB, 1920 * MIB),
        ),
        (
            "Image in 512 MiB with an initrd: initrd at +128 MiB, dtb at the next 2 MiB",
            512 * MIB,
            img(Image, RAM + 2 * MIB, RAM + 42 * MIB),
            Some(0x10_0001),
            None,
            (Some(RAM + 128 * MIB), RAM + 130 * MIB, 382 * MIB),
        ),
        (
            "Image larger than half of RAM: initrd right after it, page aligned",
            64 * MIB,
            img(Image, RAM + 2 * MIB, RAM + 40 * MIB + 1),
            Some(0x1000),
            None,
            (Some(RAM + 40 * MIB + 0x1000), RAM + 42 * MIB, 22 * MIB),
        ),
        (
            "Image whose initrd ends on a 2 MiB boundary: dtb right there",
            64 * MIB,
            img(Image, RAM + 2 * MIB, RAM + 4 * MIB),
            Some(2 * MIB),
            None,
            (Some(RAM + 32 * MIB), RAM + 34 * MIB, 30 * MIB),
        ),
        (
            "ELF above RAM base: dtb at RAM base, room up to the image",
            16 * MIB,
            img(Elf, RAM + 0x8_0000, RAM + 0x9_0000),
            None,
            None,
            (None, RAM, 0x8_0000),
        ),
        (
            "ELF at RAM base: dtb in the last 2 MiB",
            16 * MIB,
            img(Elf, RAM, RAM + 0x1_0000),
            Some(0x1000),
            None,
            (Some(RAM + 8 * MIB), RAM + 14 * MIB, 2 * MIB),
        ),
        (
            "dtb-ipa at RAM base under an Image",
            64 * MIB,
            img(Image, RAM + 2 * MIB, RAM + 3 * MIB),
            None,
            Some(RAM),
            (None, RAM, 2 * MIB),
        ),
        (
            "dtb-ipa between the image and the initrd",
            64 * MIB,
            img(Image, RAM + 2 * MIB, RAM + 3 * MIB),
            Some(0x1000),
            Some(RAM + 4 * MIB),
            (Some(RAM + 32 * MIB), RAM + 4 * MIB, 28 * MIB),
        ),
    ];
    for (what, size, image, initrd, dtb_ipa, want) in rows {
        let got =
            place(RAM, size, &image, initrd, dtb_ipa).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!((got.initrd, got.dtb, got.dtb_room), want, "{what}");
    }
}

#[test]
fn misfits_are_named() {
    use Kind::*;
    let small = img(Headerless, RAM + 0x8_0000, RAM + 0x9_0000);
    // 2 MiB of RAM: QEMU wants the device tree at RAM + 2 MiB, the end of RAM.
    assert_eq!(
        place(RAM, 2 * MIB, &small, None, None),
        Err(Misfit::NoDtbRoom { at: RAM + 2 * MIB })
    );
    assert_eq!(
        place(RAM, 16 * MIB, &small, Some(9 * MIB), None),
        Err(Misfit::Initrd {
            load: RAM + 8 * MIB,
            limit: RAM + 16 * MIB
        })
    );
    let elf = img(Elf, RAM, RAM + 15 * MIB);
    assert_eq!(
        place(RAM, 16 * MIB, &elf, None, None),
        Err(Misfit::NoDtbRoom { at: RAM + 14 * MIB })
    );
    let bad = |at| match place(RAM, 16 * MIB, &small, None, Some(at)) {
        Err(Misfit::BadDtbIpa(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        bad(RAM + 4),
        "is not 8-byte aligned, as the arm64 boot protocol requires"
    );
    assert_eq!(
        bad(RAM + 16 * MIB),
        "is outside the VM's RAM (0x4000_0000..0x4100_0000)"
    );
    assert_eq!(
        bad(RAM + 0x8_0008),
        "is inside the kernel image or initrd (0x4008_0000..0x4009_0000)"
    );
}
