use super::*;

const HYP: u32 = (1 << 14) | (1 << 15);

#[test]
fn hypervisor_sgis_are_masked_in_bit_registers() {
    let a = redist(SGI_BASE + 0x100, Width::Word, true, true, HYP);
    assert_eq!(
        a,
        Action::Hw {
            mask: 0xffff_3fff,
            rmw: false
        }
    );
    // A guest that writes all ones to ICENABLER0 leaves SGIs 14 and 15 alone.
    assert_eq!(merge(0xffff_3fff, false, 0xc000, 0xffff_ffff), 0xffff_3fff);
    // IGROUPR0 is read-only: a guest interrupt moved to Group 0 would reach EL2 as FIQ
    // (and a level-triggered one would never stop arriving); the hypervisor's SGIs
    // read as zero.
    assert_eq!(
        redist(SGI_BASE + 0x80, Width::Word, true, true, HYP),
        Action::Ignore
    );
    assert_eq!(
        redist(SGI_BASE + 0x80, Width::Word, false, true, HYP),
        Action::Hw {
            mask: 0xffff_3fff,
            rmw: false
        }
    );
}

#[test]
fn priorities_of_reserved_sgis_are_kept() {
    // IPRIORITYR3 holds INTIDs 12..15: bytes 2 and 3 are the hypervisor's.
    let a = redist(SGI_BASE + 0x40c, Width::Word, true, true, HYP);
    assert_eq!(a, Action::Priority { mask: 0x0000_ffff });
    // The guest's 0xa0 is stored as 0xd0; the hypervisor's 0x00 bytes stay.
    let stored = merge(0xffff, true, 0x0000_0000, priority_to_hw(0xa0a0_a0a0));
    assert_eq!(stored, 0x0000_d0d0);
    // Byte access to INTID 27's priority belongs to the guest.
    let b = redist(SGI_BASE + 0x41b, Width::Byte, true, true, HYP);
    assert_eq!(b, Action::Priority { mask: 0xff });
    let c = redist(SGI_BASE + 0x40f, Width::Byte, true, true, HYP);
    assert_eq!(c, Action::Priority { mask: 0 });
}

#[test]
fn no_guest_priority_reaches_the_hypervisors() {
    // Whatever the guest writes, every byte it owns ends at 0x80 or below (numerically
    // at or above), strictly under the hypervisor's 0x00.
    for p in 0..=255u64 {
        let v = p * 0x0101_0101;
        let stored = priority_to_hw(v) & 0xffff_ffff;
        for byte in stored.to_le_bytes().iter().take(4) {
            assert!(*byte >= 0x80, "guest priority {p:#x} stored as {byte:#x}");
        }
        // Reads give back what was written, to the precision the hardware keeps.
        assert_eq!(priority_from_hw(stored) & 0xff, p & 0xfe);
    }
}

#[test]
fn reserved_ppis_keep_their_trigger() {
    // GICR_ICFGR1: two bits per PPI 16..31; PPI 26 (the hypervisor's timer) is bits
    // 20..21.
    let Action::Hw { mask, rmw } = redist(SGI_BASE + 0xc04, Width::Word, true, true, HYP | 1 << 26)
    else {
        panic!("ICFGR1 is passed through");
    };
    assert!(rmw);
    assert_eq!(mask, 0xffff_ffff & !(0b11 << 20));
    assert_eq!(merge(mask, rmw, 0, 0xffff_ffff) & (0b11 << 20), 0);
}

#[test]
fn misaligned_and_wrong_width_accesses_are_refused() {
    let refused = [
        // ldrh at SGI_base + 0x101 (inside ISENABLER0).
        (SGI_BASE + 0x101, Width::Half),
        // ldr at IPRIORITYR + 2.
        (SGI_BASE + 0x402, Width::Word),
        // 64-bit access to a 32-bit register, and to two priority words.
        (SGI_BASE + 0x100, Width::Double),
        (SGI_BASE + 0x400, Width::Double),
        (SGI_BASE + 0xc04, Width::Half),
        (SGI_BASE + 0x080, Width::Byte),
        // GICR_TYPER's upper word read as 64 bits.
        (0xc, Width::Double),
    ];
    for (off, w) in refused {
        for write in [false, true] {
            assert_eq!(
                redist(off, w, write, true, HYP),
                Action::Refuse,
                "redistributor {off:#x} {w:?} write={write}"
            );
        }
    }
    assert_eq!(dist(0x102, Width::Half, false, virtio), Action::Refuse);
    assert_eq!(dist(0x400 + 73, Width::Word, true, virtio), Action::Refuse);
    assert_eq!(
        dist(0x6000 + 8 * 79 + 4, Width::Double, false, virtio),
        Action::Refuse
    );
    // Byte priority accesses are architectural.
    assert_eq!(
        redist(SGI_BASE + 0x41b, Width::Byte, false, true, HYP),
        Action::Priority { mask: 0xff }
    );
}

#[test]
fn typer_is_the_cores_with_the_vms_last_bit() {
    assert_eq!(
        redist(0x8, Width::Double, false, true, HYP),
        Action::Typer { last: true }
    );
    assert_eq!(
        typer_view(0x0300_0000_0310, true, 0, Width::Double),
        0x0300_0000_0310
    );
    assert_eq!(typer_view(0x0300_0000_0300, true, 0, Width::Word), 0x310);
    assert_eq!(typer_view(0x0300_0000_0310, false, 4, Width::Word), 0x0300);
    assert_eq!(typer_view(0x0000_0000_0310, false, 0, Width::Word), 0x300);
    assert_eq!(
        redist(0xc, Width::Word, false, false, HYP),
        Action::Typer { last: false }
    );
    assert_eq!(redist(0x8, Width::Word, true, true, HYP), Action::Ignore);
}

#[test]
fn control_registers_are_not_the_guests() {
    assert_eq!(redist(0x0, Width::Word, true, true, HYP), Action::Ignore);
    assert_eq!(
        redist(0x14, Width::Word, false, true, HYP),
        Action::Value(0)
    );
    assert_eq!(dist(0x0, Width::Word, true, none), Action::Ignore);
    assert_eq!(dist(0x0, Width::Word, false, none), Action::Value(0x52));
    assert_eq!(
        dist(0x4, Width::Word, false, none),
        Action::Hw {
            mask: 0xffff_ffff,
            rmw: false
        }
    );
    // SPIs a direct VM does not own read as zero and ignore writes.
    assert_eq!(dist(0x104, Width::Word, true, none), Action::Ignore);
    assert_eq!(dist(0x104, Width::Word, false, none), Action::Value(0));
    assert_eq!(
        dist(0x6100 + 8 * 40, Width::Double, true, none),
        Action::Ignore
    );
}

#[test]
fn accesses_wider_than_the_register_are_refused() {
    assert_eq!(
        redist(SGI_BASE + 0x100, Width::Double, true, true, HYP),
        Action::Refuse
    );
    assert_eq!(
        redist(SGI_BASE + 0x41c, Width::Double, false, true, HYP),
        Action::Refuse
    );
}

#[test]
fn unknown_offsets_never_reach_the_hardware() {
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = x % 0x2_0000;
        let width = [Width::Byte, Width::Half, Width::Word, Width::Double][(x >> 20) as usize % 4];
        let write = x & (1 << 30) != 0;
        let a = redist(off, width, write, x & 1 == 0, HYP);
        if let Action::Hw { mask, .. } | Action::Priority { mask } = a {
            assert!(
                matches!(find_access(REDIST, off, width), Lookup::Row(_)),
                "offset {off:#x} passed through"
            );
            assert!(
                off.is_multiple_of(width.bytes()),
                "misaligned {off:#x} passed"
            );
            assert_eq!(mask & !width.mask(), 0);
        }
        // The distributor: only the owned SPIs' bits (INTIDs 72..79) ever pass.
        let a = dist(off % 0x1_0000, width, write, virtio);
        if let Action::Hw { mask, .. } = a {
            assert_eq!(mask & !width.mask(), 0);
        }
    }
}

#[test]
fn direct_sgis_reach_only_the_vms_cores() {
    let cores = [2u64, 3];
    // SGI 1 to Aff0 = 3: vCPU 1.
    assert_eq!(sgi_targets(1 << 24 | 1 << 3, 0, &cores, HYP), (0b10, 1));
    // To cores 1 and 3: only 3 belongs to the VM.
    assert_eq!(sgi_targets(1 << 24 | 0b1010, 0, &cores, HYP), (0b10, 1));
    // Broadcast: every other core of the VM, nothing else.
    assert_eq!(sgi_targets(5 << 24 | 1 << 40, 1, &cores, HYP), (0b01, 5));
    // Aff1 != 0 names no core of the VM.
    assert_eq!(
        sgi_targets(1 << 24 | 1 << 16 | 1 << 3, 0, &cores, HYP),
        (0, 1)
    );
    // The hypervisor's SGIs are never sent for a guest.
    assert_eq!(sgi_targets(15 << 24 | 1 << 40, 0, &cores, HYP).0, 0);
}

fn none(_: u32) -> bool {
    false
}

/// A VM owning the SPIs 72..=79 (the virtio page of QEMU virt).
fn virtio(intid: u32) -> bool {
    (72..=79).contains(&intid)
}

#[test]
fn a_direct_vm_reaches_the_bits_of_its_own_spis_only() {
    // ISENABLER2 holds INTIDs 64..95: bits 8..15 are the VM's.
    assert_eq!(
        dist(0x108, Width::Word, true, virtio),
        Action::Hw {
            mask: 0xff00,
            rmw: false
        }
    );
    // ICENABLER1 (32..63): none of them.
    assert_eq!(dist(0x184, Width::Word, true, virtio), Action::Ignore);
    assert_eq!(dist(0x184, Width::Word, false, virtio), Action::Value(0));
    // IPRIORITYR of INTIDs 72..75 (one word) is all the VM's; 68..71 none.
    assert_eq!(
        dist(0x400 + 72, Width::Word, true, virtio),
        Action::Priority { mask: 0xffff_ffff }
    );
    assert_eq!(dist(0x400 + 68, Width::Word, true, virtio), Action::Ignore);
    // ICFGR4 covers 64..79: the upper 16 bits (72..79) are the VM's.
    assert_eq!(
        dist(0xc00 + 16, Width::Word, true, virtio),
        Action::Hw {
            mask: 0xffff_0000,
            rmw: true
        }
    );
    // IGROUPR is read through for owned bits, never written.
    assert_eq!(
        dist(0x88, Width::Word, false, virtio),
        Action::Hw {
            mask: 0xff00,
            rmw: false
        }
    );
    assert_eq!(dist(0x88, Width::Word, true, virtio), Action::Ignore);
    // SGIs and PPIs are never the distributor's to give, whatever `owns` says.
    assert_eq!(dist(0x100, Width::Word, true, |_| true), Action::Ignore);
    assert_eq!(
        dist(0x6000 + 8 * 27, Width::Double, true, |_| true),
        Action::Ignore
    );
}

#[test]
fn a_direct_vm_routes_its_spis_to_its_own_cores_only() {
    assert_eq!(
        dist(0x6000 + 8 * 79, Width::Double, true, virtio),
        Action::Route { intid: 79 }
    );
    assert_eq!(
        dist(0x6000 + 8 * 79, Width::Double, false, virtio),
        Action::Hw {
            mask: u64::MAX,
            rmw: false
        }
    );
    // Half a router, or another VM's SPI: ignored.
    assert_eq!(
        dist(0x6000 + 8 * 79, Width::Word, true, virtio),
        Action::Ignore
    );
    assert_eq!(
        dist(0x6000 + 8 * 80, Width::Double, true, virtio),
        Action::Ignore
    );
    let cores = [0x2, 0x3];
    assert!(route_allowed(0x3, &cores));
    assert!(!route_allowed(0x1, &cores), "another partition's core");
    assert!(!route_allowed(1 << 31, &cores), "any-core routing");
    assert!(
        !route_allowed(0x3 | 1 << 40, &cores),
        "bits outside the affinity fields"
    );
}

#[test]
fn sgis_to_the_vms_own_cores_pass_as_they_are() {
    const RESERVED: u32 = 1 << 14 | 1 << 15;
    // The VM's cores are 0.0.0.2 and 0.0.0.3.
    let route = sgi_route([2, 3]);
    assert_eq!(route, 0b1100);
    let sgi = |intid: u64, list: u64| intid << 24 | list;
    assert_eq!(
        sgi_pass(route, sgi(1, 0b1000), RESERVED),
        Some(sgi(1, 0b1000))
    );
    assert_eq!(
        sgi_pass(route, sgi(2, 0b1100), RESERVED),
        Some(sgi(2, 0b1100))
    );
    assert_eq!(sgi_pass(route, sgi(2, 0), RESERVED), Some(sgi(2, 0)));
    // Another core, a reserved number, a broadcast, another affinity group or range.
    assert_eq!(sgi_pass(route, sgi(1, 0b0010), RESERVED), None);
    assert_eq!(sgi_pass(route, sgi(15, 0b1000), RESERVED), None);
    assert_eq!(sgi_pass(route, sgi(14, 0b0100), RESERVED), None);
    assert_eq!(sgi_pass(route, 1 << 40 | sgi(1, 0), RESERVED), None);
    assert_eq!(sgi_pass(route, 1 << 16 | sgi(1, 0b1000), RESERVED), None);
    assert_eq!(sgi_pass(route, 1 << 32 | sgi(1, 0b1000), RESERVED), None);
    assert_eq!(sgi_pass(route, 1 << 44 | sgi(1, 0b1000), RESERVED), None);
    assert_eq!(sgi_pass(route, 1 << 48 | sgi(1, 0b1000), RESERVED), None);
    // The register's reserved bits are not passed on.
    assert_eq!(
        sgi_pass(route, 1 << 63 | 1 << 30 | sgi(1, 0b1000), RESERVED),
        Some(sgi(1, 0b1000))
    );
    // No route: nothing passes.
    assert_eq!(sgi_pass(0, sgi(1, 0), RESERVED), None);
    // Whatever passes, `sgi_targets` would send to the same cores.
    let mpidrs = [2, 3];
    for list in 0..16u64 {
        for intid in 0..16u64 {
            let v = sgi(intid, list);
            if let Some(p) = sgi_pass(route, v, RESERVED) {
                let (mask, n) = sgi_targets(p, 0, &mpidrs, RESERVED);
                let want = (list >> 2 & 1) as u32 | ((list >> 3 & 1) as u32) << 1;
                assert_eq!((mask, u64::from(n)), (want, intid), "{v:#x}");
            }
        }
    }
}

#[test]
fn cores_in_two_groups_have_no_sgi_route() {
    assert_eq!(sgi_route([0x100, 0x101]), 1 << 16 | 0b11);
    assert_eq!(sgi_route([0x1_0000, 0x1_0001]), 1 << 32 | 0b11);
    assert_eq!(sgi_route([0x100, 0x200]), 0);
    assert_eq!(sgi_route([0x0f, 0x10]), 0);
    assert_eq!(sgi_route([]), 0);
}
