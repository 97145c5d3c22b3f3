//! List-register scheduling, injection, SGIs, routing, reset.

use super::*;

#[test]
fn priorities_highest_first_ties_to_lower_intid() {
    let mut g = gic(1);
    set_prio(&mut g, 0, 40, 0x80);
    set_prio(&mut g, 0, 50, 0x20);
    set_prio(&mut g, 0, 27, 0x80);
    set_prio(&mut g, 0, 3, 0xf0);
    for i in [40, 50, 27, 3, 60] {
        g.inject(i, 0);
    }
    let mut l = lrs(3);
    let f = g.flush_lrs(0, &mut l);
    assert!(f.underflow);
    // 50 (0x20), then 27 and 40 (both 0x80: the lower INTID first).
    assert_eq!(ids(&l, LrState::Pending), [50, 27, 40]);
    assert_eq!(l[0].priority, 0x20);
    assert!(l.iter().all(|x| x.group1 && x.hw.is_none()));
    // A higher-priority arrival displaces the lowest Pending entry.
    set_prio(&mut g, 0, 33, 0x10);
    g.inject(33, 0);
    g.sync_lrs(0, &l);
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [33, 50, 27]);
    assert!(g.is_pending(0, 40), "the displaced interrupt stays pending");
}

#[test]
fn pending_active_transitions() {
    let mut g = gic(1);
    assert!(!g.pending_for(0));
    let n = g.inject(40, 0);
    assert!(n.kicks(0));
    assert!(g.pending_for(0));
    let mut l = lrs(4);
    assert!(!g.flush_lrs(0, &mut l).underflow);
    assert_eq!(ids(&l, LrState::Pending), [40]);
    // Pending in the list register: still pending to the guest, not duplicated.
    assert!(g.is_pending(0, 40));
    assert!(!g.flush_lrs(0, &mut l).underflow);
    assert_eq!(ids(&l, LrState::Pending), [40]);
    // Guest acknowledges.
    l[0].state = LrState::Active;
    g.sync_lrs(0, &l);
    assert!(g.is_active(0, 40) && !g.is_pending(0, 40));
    assert_eq!(dr(&mut g, gicd::ISACTIVER + 4), 1 << 8);
    // Re-injected while active: the entry becomes PendingActive, no new slot.
    g.inject(40, 0);
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::PendingActive), [40]);
    assert_eq!(ids(&l, LrState::Pending), std::vec::Vec::<u32>::new());
    g.sync_lrs(0, &l);
    assert!(g.is_active(0, 40) && g.is_pending(0, 40));
    // Guest EOIs both instances: done.
    eoi_all(&mut l);
    g.sync_lrs(0, &l);
    assert!(!g.is_active(0, 40) && !g.is_pending(0, 40));
    assert!(!g.pending_for(0));
    g.flush_lrs(0, &mut l);
    assert!(l.iter().all(|x| x.state == LrState::Invalid));
}

#[test]
fn repended_after_ack_is_delivered_again() {
    let mut g = gic(1);
    g.inject(41, 0);
    let mut l = lrs(2);
    g.flush_lrs(0, &mut l);
    l[0].state = LrState::Active;
    g.inject(41, 0); // arrives while the guest runs its handler
    l[0].state = LrState::Invalid; // EOI before the next exit
    g.sync_lrs(0, &l);
    assert!(g.is_pending(0, 41));
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [41]);
}

#[test]
fn level_interrupts_follow_the_line() {
    let mut g = gic(1);
    assert!(g.set_level(48, 0, true).kicks(0));
    let mut l = lrs(2);
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [48]);
    l[0].state = LrState::Invalid; // handled, but the line is still high
    g.sync_lrs(0, &l);
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [48]);
    // Line drops before the guest took it: the entry is taken back.
    g.sync_lrs(0, &l);
    g.set_level(48, 0, false);
    g.flush_lrs(0, &mut l);
    assert!(l.iter().all(|x| x.state == LrState::Invalid));
    assert!(!g.is_pending(0, 48));
}

#[test]
fn overflow_sets_underflow_then_delivers_the_rest() {
    let mut g = gic(1);
    for i in 32..38 {
        g.inject(i, 0);
    }
    let mut l = lrs(4);
    assert!(g.flush_lrs(0, &mut l).underflow);
    assert_eq!(ids(&l, LrState::Pending), [32, 33, 34, 35]);
    // The guest handles two; an underflow maintenance exit follows.
    l[0].state = LrState::Invalid;
    l[1].state = LrState::Active;
    g.sync_lrs(0, &l);
    // 33 still Active: three slots for 34..37, so one is still left over.
    assert!(g.flush_lrs(0, &mut l).underflow);
    let mut all: std::vec::Vec<u32> = l.iter().map(|x| x.intid).collect();
    all.sort();
    assert_eq!(all, [33, 34, 35, 36]);
    assert_eq!(
        l[1],
        Lr {
            state: LrState::Active,
            ..l[1]
        }
    );
    eoi_all(&mut l);
    g.sync_lrs(0, &l);
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [37]);
}

#[test]
fn enable_disable_and_group_enable() {
    let mut g = gic(1);
    dw(&mut g, gicd::ICENABLER + 4, 1 << 8); // INTID 40
    assert_eq!(g.inject(40, 0), Notify::NONE);
    let mut l = lrs(2);
    assert!(!g.flush_lrs(0, &mut l).underflow);
    assert!(l.iter().all(|x| x.state == LrState::Invalid));
    assert!(g.is_pending(0, 40) && !g.pending_for(0));
    assert!(dw(&mut g, gicd::ISENABLER + 4, 1 << 8).kicks(0));
    g.flush_lrs(0, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [40]);
    // Disabled while Pending in a list register: taken back, still pending.
    g.sync_lrs(0, &l);
    dw(&mut g, gicd::ICENABLER + 4, 1 << 8);
    g.flush_lrs(0, &mut l);
    assert!(l.iter().all(|x| x.state == LrState::Invalid));
    assert!(g.is_pending(0, 40));
    dw(&mut g, gicd::ISENABLER + 4, 1 << 8);
    // Distributor Group 1 disabled blocks everything.
    dw(&mut g, gicd::CTLR, 0x1);
    g.inject(27, 0);
    g.send_sgi(0, 1 | 5 << 24);
    assert!(!g.flush_lrs(0, &mut l).underflow);
    assert!(l.iter().all(|x| x.state == LrState::Invalid));
    assert!(dw(&mut g, gicd::CTLR, 0x3).kicks(0));
    assert!(g.flush_lrs(0, &mut l).underflow, "INTID 40 is left over");
    assert_eq!(ids(&l, LrState::Pending), [5, 27]);
}

#[test]
fn clear_pending_retracts_a_pending_entry() {
    let mut g = gic(1);
    g.inject(45, 0);
    let mut l = lrs(1);
    g.flush_lrs(0, &mut l);
    g.sync_lrs(0, &l);
    assert_eq!(dr(&mut g, gicd::ISPENDR + 4), 1 << 13);
    dw(&mut g, gicd::ICPENDR + 4, 1 << 13);
    g.flush_lrs(0, &mut l);
    assert_eq!(l[0].state, LrState::Invalid);
    assert!(!g.is_pending(0, 45));
}

#[test]
fn sgi_targeting_limits() {
    let mut g = gic(3);
    let sgi = |id: u64| id << 24;
    // Target list bits 1, 2 and 5: vCPU 5 does not exist.
    let n = g.send_sgi(0, sgi(3) | 0b10_0110);
    assert_eq!(n.kick, 0b110);
    assert!(g.is_pending(1, 3) && g.is_pending(2, 3) && !g.is_pending(0, 3));
    // IRM = 1: every other vCPU of this VM.
    assert_eq!(g.sgi_targets(1, 1 << 40), 0b101);
    assert_eq!(g.send_sgi(1, sgi(4) | 1 << 40).kick, 0b101);
    assert!(g.is_pending(0, 4) && g.is_pending(2, 4) && !g.is_pending(1, 4));
    // Aff1, Aff2, Aff3 or RS non-zero name no vCPU of this VM.
    for hi in [1u64 << 16, 1 << 32, 1 << 48, 1 << 44] {
        assert_eq!(g.send_sgi(0, sgi(6) | hi | 0xffff), Notify::NONE);
    }
    assert!((0..3).all(|v| !g.is_pending(v, 6)));
    // From a vCPU that does not exist: nothing.
    assert_eq!(g.send_sgi(7, sgi(6) | 1 << 40), Notify::NONE);
    // To self through the target list is allowed.
    assert_eq!(g.send_sgi(2, sgi(7) | 0b100).kick, 0b100);
    let mut l = lrs(4);
    g.flush_lrs(2, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [3, 4, 7]);
}

#[test]
fn hw_linked_interrupt_carries_pintid() {
    let mut g = gic(2);
    assert_eq!(g.set_hw(3, 0, 40), Err(HwError::BadIntid));
    assert_eq!(g.set_hw(40, 0, 1020), Err(HwError::BadPintid));
    assert_eq!(g.set_hw(200, 0, 40), Err(HwError::BadIntid));
    g.set_hw(79, 0, 79).unwrap();
    g.set_hw(27, 1, 27).unwrap();
    g.inject(79, 0);
    g.set_level(27, 1, true);
    let mut l = lrs(2);
    g.flush_lrs(0, &mut l);
    assert_eq!(
        l[0],
        Lr {
            intid: 79,
            state: LrState::Pending,
            priority: 0xa0,
            group1: true,
            hw: Some(79)
        }
    );
    g.flush_lrs(1, &mut l[1..]);
    assert_eq!(l[1].hw, Some(27));
    // The guest disabling/enabling it is reported for the physical side.
    let n = dw(&mut g, gicd::ICENABLER + 8, 1 << 15);
    assert!(n.hw_changed.contains(79));
    assert_eq!(
        g.hw_link(0, 79),
        Some(HwLink {
            pintid: 79,
            enabled: false
        })
    );
    let n = rw(&mut g, 1, gicr::ICENABLER0, 1 << 27);
    assert_eq!(n.hw_changed.iter().collect::<std::vec::Vec<_>>(), [27]);
    assert_eq!(
        dw(&mut g, gicd::ICENABLER + 8, 1 << 15).hw_changed,
        IntidSet::EMPTY
    );
}

#[test]
fn spi_routing_via_irouter() {
    let mut g = gic(4);
    assert_eq!(g.spi_target(50), Some(0));
    g.inject(50, 0);
    assert!(route(&mut g, 50, 2).kicks(2));
    assert_eq!(g.spi_target(50), Some(2));
    let mut l = lrs(2);
    g.flush_lrs(0, &mut l);
    assert!(l.iter().all(|x| x.state == LrState::Invalid));
    g.flush_lrs(2, &mut l);
    assert_eq!(ids(&l, LrState::Pending), [50]);
    // Moved while in vCPU 2's list register: not delivered twice.
    g.sync_lrs(2, &l);
    l[0].state = LrState::Active;
    g.sync_lrs(2, &l);
    route(&mut g, 50, 3);
    g.inject(50, 0);
    let mut l3 = lrs(2);
    g.flush_lrs(3, &mut l3);
    assert!(l3.iter().all(|x| x.state == LrState::Invalid));
    eoi_all(&mut l);
    g.sync_lrs(2, &l);
    g.flush_lrs(3, &mut l3);
    assert_eq!(ids(&l3, LrState::Pending), [50]);
    // IRM = 1 goes to vCPU 0; Aff1 != 0 or a missing vCPU goes nowhere.
    route(&mut g, 51, 1 << 31);
    assert_eq!(g.spi_target(51), Some(0));
    route(&mut g, 51, 1 << 8 | 1);
    assert_eq!(g.spi_target(51), None);
    route(&mut g, 51, 4);
    assert_eq!(g.spi_target(51), None);
    // Re-routing a HW-linked SPI is reported so the physical route can follow;
    // re-routing an unlinked one, or writing the same route, is not.
    g.set_hw(52, 0, 52).unwrap();
    assert!(route(&mut g, 52, 1).hw_changed.contains(52));
    assert!(route(&mut g, 52, 1).hw_changed.is_empty());
    assert!(route(&mut g, 53, 1).hw_changed.is_empty());
    assert_eq!(g.inject(51, 0), Notify::NONE);
    assert_eq!(
        g.dist_read(gicd::IROUTER + 8 * 19, Width::Double, &NoHw),
        Ok(4)
    );
}

#[test]
fn reset_clears_state() {
    let mut g = gic(2);
    g.set_hw(40, 0, 40).unwrap();
    route(&mut g, 40, 1);
    g.inject(40, 0);
    g.send_sgi(0, 1 << 40 | 2 << 24);
    rw(&mut g, 1, gicr::WAKER, 0);
    let mut l = lrs(2);
    g.flush_lrs(1, &mut l);
    g.reset(2);
    let mut fresh = VGic::new();
    fresh.reset(2);
    fresh.set_hw(40, 0, 40).unwrap();
    assert_eq!(g, fresh);
    assert!(!g.pending_for(0) && !g.pending_for(1));
    assert_eq!(dr(&mut g, gicd::CTLR), ctlr::ARE | ctlr::DS);
    // Stale list registers of the old life are never folded back in.
    l[0].state = LrState::Active;
    g.sync_lrs(1, &l);
    assert!(!g.is_active(1, 40));
    assert_eq!(VGic::default(), VGic::new());
}

#[test]
fn out_of_range_sources_are_ignored() {
    let mut g = gic(2);
    assert_eq!(g.inject(NR_IRQS, 0), Notify::NONE);
    assert_eq!(g.inject(u32::MAX, 0), Notify::NONE);
    assert_eq!(g.inject(20, 2), Notify::NONE);
    assert_eq!(g.set_level(20, usize::MAX, true), Notify::NONE);
    let mut l = lrs(4);
    assert_eq!(g.flush_lrs(9, &mut l), Flush::default());
    g.sync_lrs(9, &l);
    let bogus = [Lr {
        intid: u32::MAX,
        state: LrState::Active,
        ..Lr::INVALID
    }];
    g.sync_lrs(0, &bogus);
    assert!(!g.pending_for(0) && !g.pending_for(5));
}

#[test]
fn sgi_resent_while_the_model_still_sees_it_pending_is_not_lost() {
    // The IPI ping-pong: vCPU 1 acknowledges and completes SGI 1 without an exit in
    // between, so the model's last view of that list register is "Pending"; vCPU 0
    // then sends SGI 1 again before vCPU 1's next list-register refresh.
    let mut g = gic(2);
    let sgi1_to_vcpu1 = (1u64 << 24) | (1 << 1);
    let mut l1 = lrs(4);
    g.send_sgi(0, sgi1_to_vcpu1);
    g.flush_lrs(1, &mut l1);
    assert_eq!(ids(&l1, LrState::Pending), [1]);
    l1[0].state = LrState::Invalid; // acknowledged and completed by vCPU 1, no exit
    let n = g.send_sgi(0, sgi1_to_vcpu1);
    assert!(
        n.kicks(1),
        "the sender must make vCPU 1 refresh its list registers"
    );
    g.sync_lrs(1, &l1);
    g.flush_lrs(1, &mut l1);
    assert_eq!(
        ids(&l1, LrState::Pending),
        [1],
        "the second SGI must be delivered"
    );
}

#[test]
fn a_set_names_its_only_member() {
    let mut s = IntidSet::EMPTY;
    assert_eq!(s.single(), None);
    s.insert(40);
    assert_eq!(s.single(), Some(40));
    s.insert(3);
    assert_eq!(s.single(), None);
    s.remove(40);
    assert_eq!(s.single(), Some(3));
    s.insert(5);
    s.remove(3);
    assert_eq!(s.single(), Some(5));
    s.insert(6);
    assert_eq!(s.single(), None, "two in one word");
}
