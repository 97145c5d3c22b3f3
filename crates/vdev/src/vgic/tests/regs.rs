//! Register reads and writes through the tables.

use super::*;

#[test]
fn distributor_identification() {
    let mut g = gic(3);
    assert_eq!(dr(&mut g, gicd::CTLR), 0x53);
    // Writes keep only the enables; ARE and DS stay one, RWP zero.
    dw(&mut g, gicd::CTLR, u32::MAX);
    assert_eq!(dr(&mut g, gicd::CTLR), 0x53);
    dw(&mut g, gicd::CTLR, 0);
    assert_eq!(dr(&mut g, gicd::CTLR), 0x50);
    // ITLinesNumber 3, CPUNumber 2, IDbits 9.
    assert_eq!(dr(&mut g, gicd::TYPER), 3 | 2 << 5 | 9 << 19);
    assert_eq!(dr(&mut g, gicd::IIDR), IIDR);
    assert_eq!(dr(&mut g, gicd::TYPER2), 0);
    assert_eq!(dr(&mut g, gicd::PIDR2), 0x3b);
    assert_eq!(dr(&mut g, gicd::PIDR2) >> 4 & 0xf, 3);
    assert_eq!(
        g.dist_write(gicd::TYPER, Width::Word, 0),
        Err(MmioError::ReadOnly)
    );
    assert_eq!(
        g.dist_read(0x10, Width::Word, &NoHw),
        Err(MmioError::NoRegister)
    );
    assert_eq!(
        g.dist_read(gicd::CTLR, Width::Double, &NoHw),
        Err(MmioError::BadWidth)
    );
    assert_eq!(
        g.dist_read(gicd::CTLR + 1, Width::Byte, &NoHw),
        Err(MmioError::BadWidth)
    );
}

#[test]
fn distributor_private_banks_are_raz_wi() {
    let mut g = gic(1);
    g.inject(20, 0);
    for off in [
        gicd::IGROUPR,
        gicd::ISENABLER,
        gicd::ISPENDR,
        gicd::IPRIORITYR,
        gicd::ICFGR + 4,
    ] {
        assert_eq!(dr(&mut g, off), 0, "{off:#x}");
        assert_eq!(dw(&mut g, off, u32::MAX), Notify::NONE);
    }
    assert_eq!(rr(&mut g, 0, gicr::ISENABLER0), u32::MAX);
    // Banks past NR_IRQS too.
    assert_eq!(dr(&mut g, gicd::ISENABLER + 4 * 4), 0);
    dw(&mut g, gicd::ISENABLER + 4 * 31, u32::MAX);
    assert_eq!(dr(&mut g, gicd::ISENABLER + 4 * 31), 0);
    assert_eq!(
        g.dist_read(gicd::IROUTER + 8 * 500, Width::Double, &NoHw),
        Ok(0)
    );
}

#[test]
fn bit_banks_set_clear() {
    let mut g = VGic::new();
    g.reset(2);
    assert_eq!(dr(&mut g, gicd::IGROUPR + 4), u32::MAX, "reset: Group 1");
    dw(&mut g, gicd::IGROUPR + 4, 0x0f0f_0f0f);
    assert_eq!(dr(&mut g, gicd::IGROUPR + 4), 0x0f0f_0f0f);
    dw(&mut g, gicd::ISENABLER + 8, 0b1010);
    dw(&mut g, gicd::ISENABLER + 8, 0b0100);
    assert_eq!(dr(&mut g, gicd::ICENABLER + 8), 0b1110);
    dw(&mut g, gicd::ICENABLER + 8, 0b0010);
    assert_eq!(dr(&mut g, gicd::ISENABLER + 8), 0b1100);
    dw(&mut g, gicd::ISPENDR + 12, 1 << 31);
    assert!(g.is_pending(0, 127));
    assert_eq!(dr(&mut g, gicd::ICPENDR + 12), 1 << 31);
    dw(&mut g, gicd::ICPENDR + 12, 1 << 31);
    assert!(!g.is_pending(0, 127));
    dw(&mut g, gicd::ISACTIVER + 4, 3);
    assert_eq!(dr(&mut g, gicd::ICACTIVER + 4), 3);
    dw(&mut g, gicd::ICACTIVER + 4, 1);
    assert_eq!(dr(&mut g, gicd::ISACTIVER + 4), 2);
    // Redistributor banks are per vCPU.
    rw(&mut g, 1, gicr::ISENABLER0, 1 << 27);
    rw(&mut g, 0, gicr::ISPENDR0, 1 << 1);
    assert_eq!(rr(&mut g, 1, gicr::ISENABLER0), 1 << 27);
    assert_eq!(rr(&mut g, 0, gicr::ISENABLER0), 0);
    assert_eq!(rr(&mut g, 0, gicr::ISPENDR0), 2);
    assert_eq!(rr(&mut g, 1, gicr::ISPENDR0), 0);
    rw(&mut g, 1, gicr::IGROUPR0, 0);
    assert_eq!(rr(&mut g, 1, gicr::IGROUPR0), 0);
    assert_eq!(rr(&mut g, 0, gicr::IGROUPR0), u32::MAX);
}

#[test]
fn priority_byte_access() {
    let mut g = gic(2);
    let off = gicd::IPRIORITYR + 40; // INTIDs 40..43
    dw(&mut g, off, 0x1122_3344);
    assert_eq!(g.priority(0, 40), Some(0x44));
    assert_eq!(g.priority(0, 43), Some(0x11));
    g.dist_write(off + 2, Width::Byte, 0xa0).unwrap();
    assert_eq!(dr(&mut g, off), 0x11a0_3344);
    assert_eq!(g.dist_read(off + 3, Width::Byte, &NoHw), Ok(0x11));
    assert_eq!(
        g.dist_read(off + 2, Width::Half, &NoHw),
        Err(MmioError::BadWidth)
    );
    // All eight bits are kept.
    g.dist_write(off, Width::Byte, 0xff).unwrap();
    assert_eq!(g.priority(0, 40), Some(0xff));
    // Private priorities in the redistributor, per vCPU.
    g.redist_write(1, gicr::IPRIORITYR0 + 27, Width::Byte, 0x10)
        .unwrap();
    assert_eq!(g.priority(1, 27), Some(0x10));
    assert_eq!(g.priority(0, 27), Some(0xa0));
    assert_eq!(rr(&mut g, 1, gicr::IPRIORITYR0 + 24), 0x10a0_a0a0);
}

#[test]
fn config_registers() {
    let mut g = gic(1);
    // SPIs reset level; writes set edge on bit 2k+1 only.
    assert_eq!(dr(&mut g, gicd::ICFGR + 8), 0);
    dw(&mut g, gicd::ICFGR + 8, 0xffff_ffff);
    assert_eq!(dr(&mut g, gicd::ICFGR + 8), 0xaaaa_aaaa);
    dw(&mut g, gicd::ICFGR + 8, 0x8);
    assert_eq!(dr(&mut g, gicd::ICFGR + 8), 0x8); // INTID 33 edge
                                                  // An edge interrupt latches on a rising edge and survives the line dropping.
    g.set_level(33, 0, true);
    g.set_level(33, 0, false);
    assert!(g.is_pending(0, 33));
    // SGIs are read-only edge, PPIs programmable.
    assert_eq!(rr(&mut g, 0, gicr::ICFGR0), 0xaaaa_aaaa);
    rw(&mut g, 0, gicr::ICFGR0, 0);
    assert_eq!(rr(&mut g, 0, gicr::ICFGR0), 0xaaaa_aaaa);
    assert_eq!(rr(&mut g, 0, gicr::ICFGR0 + 4), 0);
    rw(&mut g, 0, gicr::ICFGR0 + 4, 2 << 22);
    assert_eq!(rr(&mut g, 0, gicr::ICFGR0 + 4), 2 << 22);
}

#[test]
fn redistributor_identification_and_waker() {
    let mut g = gic(3);
    for v in 0..3u64 {
        let typer = g
            .redist_read(v as usize, gicr::TYPER, Width::Double, &NoHw)
            .unwrap();
        assert_eq!(typer >> 32, v, "Aff0 = vCPU index");
        assert_eq!(typer >> 8 & 0xffff, v, "Processor_Number");
        assert_eq!(typer & super::super::redist::TYPER_LAST != 0, v == 2);
        let hi = g
            .redist_read(v as usize, gicr::TYPER + 4, Width::Word, &NoHw)
            .unwrap();
        assert_eq!(hi, typer >> 32);
    }
    assert_eq!(rr(&mut g, 1, gicr::IIDR), IIDR);
    assert_eq!(rr(&mut g, 1, gicr::PIDR2), 0x3b);
    assert_eq!(rr(&mut g, 1, gicr::CTLR), 0);
    // WAKER: asleep at reset; ChildrenAsleep follows ProcessorSleep.
    assert_eq!(rr(&mut g, 1, gicr::WAKER), 0b110);
    rw(&mut g, 1, gicr::WAKER, 0);
    assert_eq!(rr(&mut g, 1, gicr::WAKER), 0);
    assert_eq!(rr(&mut g, 0, gicr::WAKER), 0b110);
    rw(&mut g, 1, gicr::WAKER, 0b010);
    assert_eq!(rr(&mut g, 1, gicr::WAKER), 0b110);
    rw(&mut g, 1, gicr::WAKER, 0b100);
    assert_eq!(rr(&mut g, 1, gicr::WAKER), 0);
    // Missing vCPU frames and offsets.
    assert_eq!(
        g.redist_read(3, gicr::TYPER, Width::Double, &NoHw),
        Err(MmioError::NoRegister)
    );
    assert_eq!(
        g.redist_write(3, gicr::WAKER, Width::Word, 0),
        Err(MmioError::NoRegister)
    );
    assert_eq!(
        g.redist_read(0, 0x20, Width::Word, &NoHw),
        Err(MmioError::NoRegister)
    );
    assert_eq!(g.redist_split(0x4_0014), Some((2, 0x14)));
    assert_eq!(g.redist_split(0x6_0000), None);
    assert_eq!(
        g.redist_write(0, gicr::TYPER, Width::Double, 0),
        Err(MmioError::ReadOnly)
    );
}

#[test]
fn irouter_accesses() {
    let mut g = gic(2);
    let off = gicd::IROUTER + 8 * 8; // INTID 40
    g.dist_write(off, Width::Double, u64::MAX).unwrap();
    assert_eq!(g.dist_read(off, Width::Double, &NoHw), Ok(0xff_80ff_ffff));
    assert_eq!(g.spi_target(40), Some(0), "IRM = 1");
    g.dist_write(off, Width::Word, 1).unwrap();
    g.dist_write(off + 4, Width::Word, 0).unwrap();
    assert_eq!(g.dist_read(off, Width::Double, &NoHw), Ok(1));
    assert_eq!(g.spi_target(40), Some(1));
    assert_eq!(g.dist_read(off + 4, Width::Word, &NoHw), Ok(0));
    assert_eq!(
        g.dist_read(off + 2, Width::Half, &NoHw),
        Err(MmioError::BadWidth)
    );
}

#[test]
fn the_fixed_distributor_words_read_at_32_bits_and_follow_only_the_vcpu_count() {
    let words = [gicd::TYPER, gicd::IIDR, gicd::TYPER2, gicd::PIDR2];
    assert!(dist::fixed_words().eq(words));
    assert_eq!(dist::FIXED_WORDS, words.len());
    for n in 1..=MAX_VCPUS {
        let mut g = gic(n);
        let fresh = words.map(|off| g.dist_read(off, Width::Word, &NoHw));
        assert!(fresh.iter().all(Result::is_ok), "{n} vCPUs: {fresh:x?}");
        // The guest cannot change them.
        for off in (0..GICD_SIZE).step_by(4) {
            let _ = g.dist_write(off, Width::Word, u64::from(u32::MAX));
        }
        assert_eq!(words.map(|off| g.dist_read(off, Width::Word, &NoHw)), fresh);
    }
}
