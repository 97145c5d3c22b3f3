use super::*;
use crate::multiboot2::{MemKind, MemRegion};

const BASE: u64 = 0x80_0000;
const MIB: u64 = 1 << 20;

fn tables(n: usize) -> Vec<Table> {
    vec![Table::EMPTY; n]
}

fn both() -> [Format; 2] {
    [Format::Ept, Format::Npt]
}

#[test]
fn a_vm_sees_only_what_is_mapped() {
    for f in both() {
        let mut t = tables(8);
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), f).unwrap();
        s.map(Ipa::new(0), Hpa::new(0x4000_0000), 2 * MIB, Access::RWX)
            .unwrap();
        assert_eq!(
            s.translate(Ipa::new(0x1234)),
            Some((Hpa::new(0x4000_1234), Access::RWX))
        );
        assert_eq!(
            s.translate(Ipa::new(2 * MIB - 1)),
            Some((Hpa::new(0x4000_0000 + 2 * MIB - 1), Access::RWX))
        );
        assert_eq!(s.translate(Ipa::new(2 * MIB)), None, "{f:?}");
        assert_eq!(s.translate(Ipa::new(0x4000_0000)), None);
        assert_eq!(s.translate(Ipa::new(u64::MAX)), None);
        // Root, PDPT, PD: one 2 MiB page, no page table.
        assert_eq!(s.used(), 3);
    }
}

#[test]
fn large_pages_only_where_both_sides_align() {
    for f in both() {
        let mut t = tables(16);
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), f).unwrap();
        // The guest side aligned, the host side not: 4 KiB pages only.
        s.map(Ipa::new(0), Hpa::new(0x4000_1000), 2 * MIB, Access::RW)
            .unwrap();
        assert_eq!(s.used(), 4);
        // Aligned: 4 MiB = two large pages, then a 4 KiB tail.
        s.map(
            Ipa::new(4 * MIB),
            Hpa::new(0x8000_0000),
            4 * MIB + 0x1000,
            Access::R,
        )
        .unwrap();
        assert_eq!(s.used(), 5);
        assert_eq!(
            s.translate(Ipa::new(8 * MIB)),
            Some((Hpa::new(0x8040_0000), Access::R))
        );
        assert_eq!(s.translate(Ipa::new(8 * MIB + 0x1000)), None);
    }
}

#[test]
fn entry_bits_per_vendor() {
    let mut t = tables(8);
    {
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), Format::Ept).unwrap();
        s.map(Ipa::new(0), Hpa::new(0x20_0000), 2 * MIB, Access::RWX)
            .unwrap();
        s.map(Ipa::new(2 * MIB), Hpa::new(0x1000), 0x1000, Access::R)
            .unwrap();
        assert_eq!(s.eptp(), BASE | 0x1E);
    }
    // Non-leaf: RWX and the next table; the 2 MiB leaf: RWX, WB, large.
    assert_eq!(t[0].0[0], (BASE + 0x1000) | 7);
    assert_eq!(t[1].0[0], (BASE + 0x2000) | 7);
    assert_eq!(t[2].0[0], 0x20_0000 | 7 | (6 << 3) | (1 << 7));
    // 4 KiB read-only leaf: R, WB.
    assert_eq!(t[3].0[0], 0x1000 | 1 | (6 << 3));

    let mut t = tables(8);
    {
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), Format::Npt).unwrap();
        s.map(Ipa::new(0), Hpa::new(0x20_0000), 2 * MIB, Access::RWX)
            .unwrap();
        s.map(Ipa::new(2 * MIB), Hpa::new(0x1000), 0x1000, Access::R)
            .unwrap();
        assert_eq!(s.root(), Hpa::new(BASE));
    }
    // Every level present, writable, user.
    assert_eq!(t[0].0[0], (BASE + 0x1000) | 7);
    assert_eq!(t[2].0[0], 0x20_0000 | 7 | (1 << 7));
    // Read-only data: present, user, NX.
    assert_eq!(t[3].0[0], 0x1000 | 5 | (1 << 63));
}

#[test]
fn device_pages_are_uncached() {
    let mut t = tables(8);
    {
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), Format::Ept).unwrap();
        s.map(Ipa::new(0), Hpa::new(0xfe00_0000), 0x1000, Access::DEVICE)
            .unwrap();
    }
    // EPT: read, write, memory type UC (0), no execute.
    assert_eq!(t[3].0[0], 0xfe00_0000 | 3);
    let mut t = tables(8);
    {
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), Format::Npt).unwrap();
        s.map(Ipa::new(0), Hpa::new(0xfe00_0000), 0x1000, Access::DEVICE)
            .unwrap();
    }
    // NPT: present, writable, user, PWT and PCD, NX.
    assert_eq!(t[3].0[0], 0xfe00_0000 | 7 | (3 << 3) | (1 << 63));
}

#[test]
fn refused_maps_change_nothing() {
    for f in both() {
        let mut t = tables(8);
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), f).unwrap();
        s.map(Ipa::new(0x3000), Hpa::new(0x9000), 0x1000, Access::RW)
            .unwrap();
        let used = s.used();
        assert_eq!(
            s.map(Ipa::new(0), Hpa::new(0x10_0000), 0x10000, Access::RW),
            Err(Stage2Error::Overlap(Ipa::new(0x3000)))
        );
        assert_eq!(s.translate(Ipa::new(0)), None);
        assert_eq!(s.used(), used);
        let bad = [
            (0x800, 0x1000, 0x1000),
            (0x1000, 0x1800, 0x1000),
            (0x1000, 0x1000, 0x10),
            (0x1000, 0x1000, 0),
        ];
        for (g, h, l) in bad {
            assert_eq!(
                s.map(Ipa::new(g), Hpa::new(h), l, Access::RW),
                Err(Stage2Error::Unaligned)
            );
        }
        assert_eq!(
            s.map(Ipa::new(MAX_GPA - 0x1000), Hpa::new(0), 0x2000, Access::RW),
            Err(Stage2Error::TooHigh)
        );
        assert_eq!(
            s.map(Ipa::new(u64::MAX - 0xFFF), Hpa::new(0), 0x2000, Access::RW),
            Err(Stage2Error::TooHigh)
        );
        let none = Access {
            read: false,
            write: true,
            exec: false,
            uncached: false,
        };
        assert_eq!(
            s.map(Ipa::new(0), Hpa::new(0), 0x1000, none),
            Err(Stage2Error::NoRead)
        );
    }
}

#[test]
fn the_pool_runs_out_cleanly() {
    for f in both() {
        let mut t = tables(2);
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), f).unwrap();
        assert_eq!(
            s.map(Ipa::new(0), Hpa::new(0), 0x1000, Access::RW),
            Err(Stage2Error::OutOfTables)
        );
        assert!(Stage2::new(&mut [], Hpa::new(BASE), f).is_err());
    }
}

#[test]
fn unmap_splits_large_pages_and_owes_a_flush() {
    for f in both() {
        let mut t = tables(8);
        let mut s = Stage2::new(&mut t, Hpa::new(BASE), f).unwrap();
        s.map(Ipa::new(0), Hpa::new(0x4000_0000), 4 * MIB, Access::RWX)
            .unwrap();
        // One page out of the first 2 MiB page: the rest stays, as 4 KiB pages.
        let (gone, flush) = s.unmap(Ipa::new(0x5000), 0x1000).unwrap();
        assert_eq!((gone, flush), (1, Flush));
        assert_eq!(s.translate(Ipa::new(0x5000)), None);
        assert_eq!(
            s.translate(Ipa::new(0x6000)),
            Some((Hpa::new(0x4000_6000), Access::RWX))
        );
        assert_eq!(
            s.translate(Ipa::new(0x4000)),
            Some((Hpa::new(0x4000_4000), Access::RWX))
        );
        // The whole second large page goes at once.
        let (gone, _) = s.unmap(Ipa::new(2 * MIB), 2 * MIB).unwrap();
        assert_eq!(gone, 512);
        assert_eq!(s.translate(Ipa::new(3 * MIB)), None);
        // Unmapping nothing is fine; remapping the hole works.
        let (gone, _) = s.unmap(Ipa::new(1 << 40), 0x2000).unwrap();
        assert_eq!(gone, 0);
        s.map(Ipa::new(0x5000), Hpa::new(0x9000), 0x1000, Access::R)
            .unwrap();
        assert_eq!(
            s.translate(Ipa::new(0x5000)),
            Some((Hpa::new(0x9000), Access::R))
        );
    }
}

#[test]
fn vm_memory_comes_from_the_top_of_available_ram() {
    let r = |base: u64, len: u64, kind| MemRegion {
        base: Hpa::new(base),
        len,
        kind,
    };
    let map = [
        r(0, 0x9_F000, MemKind::Available),
        r(0x10_0000, 0x7FED_F000, MemKind::Available),
        r(0x7FFE_0000, 0x2_0000, MemKind::Reserved),
        r(0x1_0000_0000, 0x10_0000, MemKind::Available),
    ];
    let top = carve_top(map.iter(), 2 * MIB, 4 * MIB, 1 << 32);
    assert_eq!(top, Some(Hpa::new(0x7FC0_0000)));
    // Nothing fits below the floor or in a region too small.
    assert_eq!(carve_top(map[..1].iter(), 2 * MIB, 0, u64::MAX), None);
    assert_eq!(carve_top(map.iter(), 2 * MIB, 0x7FE0_0000, 1 << 32), None);
    assert_eq!(carve_top(map.iter(), 3 * MIB, 0, u64::MAX), None);
}
