use super::*;

const BASE: u64 = 0x40_0000;

fn pool(tables: &mut [Table]) -> Pool<'_> {
    Pool::new(tables, BASE)
}

fn image() -> [Region; 6] {
    [
        Region {
            start: 0,
            end: 0x1000,
            perm: Perm::None,
        },
        Region {
            start: 0x8000,
            end: 0x9000,
            perm: Perm::Rw,
        },
        Region {
            start: 0x20_0000,
            end: 0x20_3000,
            perm: Perm::Rx,
        },
        Region {
            start: 0x20_3000,
            end: 0x20_5000,
            perm: Perm::R,
        },
        Region {
            start: 0x20_5000,
            end: 0x20_6000,
            perm: Perm::None,
        },
        Region {
            start: 0xFEE0_0000,
            end: 0xFEE0_1000,
            perm: Perm::Device,
        },
    ]
}

#[test]
fn identity_map_with_section_permissions() {
    let mut t = vec![Table::EMPTY; 16];
    let mut p = pool(&mut t);
    let root = p.identity(2 << 30, &image()).unwrap();
    assert_eq!(root, BASE);
    let at = |a: u64| p.lookup(root, a);
    assert_eq!(at(0), None, "page 0 is a guard");
    assert_eq!(at(0xFFF), None);
    assert_eq!(at(0x1000), Some((0x1000, Perm::Rw)));
    assert_eq!(at(0x20_0010), Some((0x20_0010, Perm::Rx)));
    assert_eq!(at(0x20_2FFF), Some((0x20_2FFF, Perm::Rx)));
    assert_eq!(at(0x20_3000), Some((0x20_3000, Perm::R)));
    assert_eq!(at(0x20_5000), None, "stack guard");
    assert_eq!(at(0x20_6000), Some((0x20_6000, Perm::Rw)));
    assert_eq!(at(0x7FFF_FFFF), Some((0x7FFF_FFFF, Perm::Rw)));
    // Past `top` only the device region is mapped, uncached.
    assert_eq!(at(0x8000_0000), None);
    assert_eq!(at(0xFEE0_0030), Some((0xFEE0_0030, Perm::Device)));
    assert_eq!(at(0xFEE0_1000), None);
    assert_eq!(at(0xC000_0000), None);
    // Root, PDPT, 3 PDs (GiB 0, 1 and the APIC's), 3 split 2 MiB chunks.
    assert_eq!(p.used(), 1 + 1 + 3 + 3);
}

#[test]
fn no_page_is_writable_and_executable() {
    let mut t = vec![Table::EMPTY; 16];
    let mut p = pool(&mut t);
    let root = p.identity(1 << 30, &image()).unwrap();
    let mut a = 0;
    while a < 1 << 30 {
        if let Some((pa, perm)) = p.lookup(root, a) {
            assert_eq!(pa, a, "identity");
            assert_ne!(perm, Perm::None, "W+X at {a:#x}");
        }
        a += PAGE;
    }
}

#[test]
fn the_trampoline_page_can_change_its_permission() {
    let mut t = vec![Table::EMPTY; 16];
    let mut p = pool(&mut t);
    let root = p.identity(1 << 30, &image()).unwrap();
    let used = p.used();
    // The map is changed later through a new pool over the same tables.
    let mut p = Pool::with_used(&mut t, BASE, used);
    p.set_perm(root, 0x8000, Perm::Rx).unwrap();
    assert_eq!(p.lookup(root, 0x8010), Some((0x8010, Perm::Rx)));
    p.set_perm(root, 0x8000, Perm::None).unwrap();
    assert_eq!(p.lookup(root, 0x8010), None);
    // A 2 MiB page cannot be changed page by page.
    assert_eq!(
        p.set_perm(root, 0x60_0000, Perm::Rx),
        Err(PtError::NotSplit(0x60_0000))
    );
}

#[test]
fn bad_input_is_an_error() {
    let mut t = vec![Table::EMPTY; 16];
    for bad in [
        Region {
            start: 0x1000,
            end: 0x1000,
            perm: Perm::R,
        },
        Region {
            start: 0x1001,
            end: 0x2000,
            perm: Perm::R,
        },
        Region {
            start: 0x1000,
            end: 0x1800,
            perm: Perm::R,
        },
    ] {
        assert_eq!(
            pool(&mut t).identity(1 << 30, &[bad]),
            Err(PtError::BadRegion(bad))
        );
    }
    let r = image();
    let unsorted = [r[2], r[1]];
    assert_eq!(
        pool(&mut t).identity(1 << 30, &unsorted),
        Err(PtError::BadRegion(r[1]))
    );
    assert_eq!(
        pool(&mut t).identity(MAX_TOP + 1, &[]),
        Err(PtError::TooHigh)
    );
    let mut few = vec![Table::EMPTY; 3];
    assert_eq!(
        Pool::new(&mut few, BASE).identity(2 << 30, &[]),
        Err(PtError::OutOfTables)
    );
}

#[test]
fn device_pages_are_added_after_boot() {
    let mut t = vec![Table::EMPTY; 16];
    let mut p = pool(&mut t);
    let root = p.identity(2 << 30, &image()).unwrap();
    let before = p.used();
    // In the 3rd GiB, which the boot map did not reach: new tables.
    p.map_page(root, 0xB000_8123, Perm::Device).unwrap();
    assert_eq!(
        p.lookup(root, 0xB000_8000),
        Some((0xB000_8000, Perm::Device))
    );
    assert_eq!(p.lookup(root, 0xB000_9000), None);
    assert_eq!(p.used(), before + 2);
    // In the APIC's GiB: its directory is reused, one page table is new.
    p.map_page(root, 0xFEBF_1000, Perm::Device).unwrap();
    assert_eq!(p.used(), before + 3);
    assert_eq!(
        p.lookup(root, 0xFEE0_0000),
        Some((0xFEE0_0000, Perm::Device))
    );
    assert_eq!(
        p.lookup(root, 0xFEBF_1000),
        Some((0xFEBF_1000, Perm::Device))
    );
    // A 2 MiB page of the map is split: the page asked for becomes a device page,
    // its 511 neighbours keep their rights.
    let before = p.used();
    p.map_page(root, 0x40_3000, Perm::Device).unwrap();
    assert_eq!(p.used(), before + 1);
    assert_eq!(p.lookup(root, 0x40_3000), Some((0x40_3000, Perm::Device)));
    assert_eq!(p.lookup(root, 0x40_2fff), Some((0x40_2fff, Perm::Rw)));
    assert_eq!(p.lookup(root, 0x5f_f000), Some((0x5f_f000, Perm::Rw)));
    // The image's code and read-only data are refused, as is the space past the top.
    assert_eq!(
        p.map_page(root, 0x20_0000, Perm::Device),
        Err(PtError::NotSplit(0x20_0000))
    );
    assert_eq!(
        p.map_page(root, 0x20_3000, Perm::Device),
        Err(PtError::NotSplit(0x20_3000))
    );
    assert_eq!(
        p.map_page(root, MAX_TOP, Perm::Device),
        Err(PtError::TooHigh)
    );
}
