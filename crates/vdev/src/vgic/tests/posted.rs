//! Posted SGIs: what a sender posts without the lock, folded in by the next lock,
//! leaves the model exactly as the locked sends would have.

use super::*;

/// SGI `intid` to the vCPUs of `targets` (a target list, Aff1..3 and RS zero).
fn sgi(intid: u32, targets: u64) -> u64 {
    u64::from(intid) << 24 | targets
}

#[test]
fn several_posts_fold_as_the_sends_in_order() {
    let sends = [
        (0, sgi(1, 0b0110)),
        (1, sgi(1, 0b0001)),
        (2, sgi(7, 0b1011)),
        (0, sgi(15, 0) | (1 << 40)),     // IRM: every vCPU but the sender
        (3, sgi(2, 0b1000)),             // to itself
        (1, sgi(3, 0b0001) | (1 << 16)), // Aff1 = 1: nobody in this VM
    ];
    let mut locked = gic(4);
    // SGI 7 disabled on vCPU 1: pending all the same, but not deliverable there.
    rw(&mut locked, 1, gicr::ICENABLER0, 1 << 7);
    let mut folded = locked.clone();
    let posted = PostedSgis::new();
    posted.reset(folded.nvcpus());
    let mut kick = 0;
    let mut sent_to = 0;
    for (from, value) in sends {
        kick |= locked.send_sgi(from, value).kick;
        sent_to |= posted.send(from, value);
    }
    let n = folded.fold_posted(&posted);
    assert_eq!(folded, locked);
    assert_eq!(n.kick, kick);
    assert_eq!(sent_to, 0b1111);
    for v in 0..4 {
        assert_eq!(
            rr(&mut folded, v, gicr::ISPENDR0),
            rr(&mut locked, v, gicr::ISPENDR0)
        );
    }
    assert!(folded.is_pending(1, 7) && !folded.candidates(1).contains(7));
    assert!(folded.is_pending(3, 2) && folded.is_pending(2, 15) && !folded.is_pending(0, 15));
    // A second fold finds nothing left.
    let again = folded.clone();
    assert_eq!(folded.fold_posted(&posted), Notify::NONE);
    assert_eq!(folded, again);
}

#[test]
fn posts_outside_the_vm_or_past_sgi_15_are_dropped() {
    let posted = PostedSgis::new();
    posted.reset(2);
    // From a vCPU the VM does not have, and to targets past its count.
    assert_eq!(posted.send(2, sgi(1, 0b11)), 0);
    assert_eq!(posted.send(0, sgi(1, 0b1100)), 0);
    posted.post(0b11, 16);
    posted.post(0b11, u32::MAX);
    let mut g = gic(2);
    let before = g.clone();
    assert_eq!(g.fold_posted(&posted), Notify::NONE);
    assert_eq!(g, before);
}

#[test]
fn a_reset_drops_what_is_posted_and_sets_the_count() {
    let posted = PostedSgis::new();
    assert_eq!(
        posted.send(0, sgi(1, 0b10)),
        0,
        "no vCPU before the first reset"
    );
    posted.reset(2);
    assert_eq!(posted.nvcpus(), 2);
    assert_eq!(posted.send(0, sgi(4, 0b10)), 0b10);
    posted.reset(2);
    let mut g = gic(2);
    let _ = g.fold_posted(&posted);
    assert!(!g.is_pending(1, 4));
    posted.reset(MAX_VCPUS + 5);
    assert_eq!(posted.nvcpus(), MAX_VCPUS);
}

/// The IPI's own traffic, at random: SGIs posted between two vCPUs, the guests
/// acknowledging and completing them, now and then an SGI disabled or enabled, an
/// SPI raised or a device's level line driven (mostly to the level it has). At every kick the shortcut, where it applies, gives what folding and
/// the general refresh give; and it applies most of the time.
#[test]
fn the_kick_shortcut_agrees_with_the_general_refresh() {
    let mut r = crate::rng::Rng(0x2545_f491_4f6c_dd1d);
    let mut g = gic(2);
    let mut lrs = [[Lr::INVALID; 4]; 2];
    let (mut quick_kicks, mut kicks) = (0u32, 0u32);
    for step in 0..50_000u32 {
        let v = r.below(2) as usize;
        match r.below(10) {
            0..=3 => {
                let (pq, pg) = (PostedSgis::new(), PostedSgis::new());
                pq.reset(2);
                pg.reset(2);
                let value = sgi(r.below(4) as u32, 1 << (1 - v));
                pq.send(v, value);
                pg.send(v, value);
                let target = 1 - v;
                let l = &mut lrs[target];
                if l.iter().all(|e| e.state == LrState::Invalid) {
                    kicks += 1;
                    let mut quick = g.clone();
                    let k = quick.kick_sgis(target, &pq);
                    let _ = g.fold_posted(&pg);
                    if k != Kicked::General {
                        quick_kicks += 1;
                        shortcut_agrees(k, &quick, &mut g, target, l, step);
                        continue;
                    }
                    assert_eq!(quick, g, "step {step}");
                } else {
                    let _ = g.fold_posted(&pg);
                }
                g.sync_lrs(target, l);
                let _ = g.flush_lrs(target, l);
            }
            4..=7 => {
                guest_runs(&mut r, &mut lrs[v]);
            }
            8 => {
                let reg = [gicr::ISENABLER0, gicr::ICENABLER0][r.below(2) as usize];
                let _ = rw(&mut g, v, reg, 1 << r.below(4));
            }
            _ if r.below(2) == 0 => {
                let _ = g.inject(32 + r.below(4) as u32, 0);
                g.sync_lrs(v, &lrs[v]);
                let _ = g.flush_lrs(v, &mut lrs[v]);
            }
            _ => super::doorbell::drive_line(&mut r, &mut g, &mut lrs),
        }
    }
    assert!(
        quick_kicks > 1000,
        "{quick_kicks} shortcuts of {kicks} kicks"
    );
}
