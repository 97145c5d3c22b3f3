//! Posted SPIs ([`PostedSpis`]) against injection under the lock.

use super::*;

/// The walk's "locked model": what `Model::lock` does before anything else.
fn locked(g: &mut VGic, spis: &PostedSpis) {
    let _ = g.fold_spis(spis);
}

/// A distributor write as the hypervisor makes it: locked, written, routes
/// published; the kicks of both.
fn write(g: &mut VGic, spis: &PostedSpis, off: u64, width: Width, v: u64) -> Notify {
    locked(g, spis);
    let n = g.dist_write(off, width, v).unwrap();
    n.or(g.publish_routes(spis))
}

/// `g` without what is meaningless in it: the `fresh` SPI of a vCPU that is not
/// settled (never read; posts folded in another order than their injections leave
/// other stale values there).
fn live(g: &VGic) -> VGic {
    let mut g = g.clone();
    for (v, f) in g.fresh.iter_mut().enumerate() {
        if g.settled & (1 << v) == 0 {
            *f = 0;
        }
    }
    g
}

/// What `gic(2)` writes after its reset, through the hypervisor's write path when
/// `spis` is given.
fn setup(g: &mut VGic, spis: Option<&PostedSpis>) {
    let d = |g: &mut VGic, off: u64, width: Width, v: u64| match spis {
        Some(s) => {
            let _ = write(g, s, off, width, v);
        }
        None => {
            let _ = g.dist_write(off, width, v).unwrap();
        }
    };
    d(g, gicd::CTLR, Width::Word, 0x3);
    for i in 1..4 {
        d(g, gicd::ISENABLER + 4 * i, Width::Word, u64::from(u32::MAX));
    }
    for intid in 32..NR_IRQS {
        d(g, gicd::IPRIORITYR + u64::from(intid), Width::Byte, 0xa0);
    }
    for v in 0..2 {
        rw(g, v, gicr::ISENABLER0, u32::MAX);
        for intid in 0..32 {
            set_prio(g, v, intid, 0xa0);
        }
    }
}

/// Rings of SPIs posted without the lock, in a walk of everything that decides their
/// delivery: enables, priorities, groups, the distributor's group enables, edge or
/// level configuration, routes, active and pending state written by the guest, a
/// level line driven, the guests acknowledging and completing, and VM resets. The
/// same walk runs on a model that takes each ring by [`VGic::inject`] under the
/// lock. At every step: the post kicks what the injection kicks; once folded (the
/// next lock), the two models are equal; and the doorbell's kick shortcut
/// ([`VGic::kick_spi`]) gives the same answer on both.
///
/// The posting model also keeps the armed receive as the hypervisor does
/// (`vgic/bell.rs`: armed after a receive that loads, when [`VGic::bell`]
/// says so; cleared by every other lock). Whenever a receive could take the post
/// without the lock ([`PostedSpis::take_only`]), the locked receive must load the
/// armed list register and leave the model exactly as it was.
#[test]
fn a_posted_spi_is_an_injection_under_the_lock() {
    let mut r = crate::rng::Rng(0x2545_f491_4f6c_dd1d);
    let mut a = gic(2);
    let mut b = a.clone();
    let spis = PostedSpis::new();
    let _ = b.publish_routes(&spis);
    let mut lrs_a = [[Lr::INVALID; 4]; 2];
    let mut lrs_b = [[Lr::INVALID; 4]; 2];
    let (mut posts, mut kicked, mut quick, mut single) = (0u32, 0u32, 0u32, 0u32);
    // The armed receive beside `b` (vCPU and list register), and the receives
    // it took.
    let (mut armed, mut unlocked): (Option<(usize, Lr)>, u32) = (None, 0);
    // Posts since b's last fold.
    let mut unfolded = 0u32;
    for step in 0..60_000u32 {
        let v = r.below(2) as usize;
        let intid = if r.below(3) == 0 {
            32 + r.below(6) as u32
        } else {
            32
        };
        let (w, bit) = (u64::from(intid / 32), 1u32 << (intid % 32));
        let op = match r.below(32) {
            n @ 0..=13 => n / 2,
            n @ 14..=19 => n / 2,
            n => n - 10,
        };
        match op {
            0..=6 => {
                assert_eq!(lrs_a, lrs_b, "step {step}");
                if let Some(t) = a.spi_target(intid).filter(|_| r.below(4) != 0) {
                    // Mostly, the guest completed the last doorbell before this one.
                    eoi_all(&mut lrs_a[t]);
                    eoi_all(&mut lrs_b[t]);
                }
                let na = a.inject(intid, 0);
                let kb = spis.post(intid).expect("no route changes meanwhile");
                posts += 1;
                unfolded += 1;
                assert_eq!(
                    na.kick, kb,
                    "step {step}: the post kicks the injection's vCPU"
                );
                if kb != 0 {
                    kicked += 1;
                }
                // The kicked vCPU's refresh, both ways.
                let Some(t) = (0..2).find(|&t| kb & (1 << t) != 0) else {
                    continue;
                };
                if lrs_a[t].iter().all(|e| e.state == LrState::Invalid) {
                    // The receive without the lock, when armed for it.
                    let fast = match armed {
                        Some((v, lr)) if v == t && spis.take_only(lr.intid) => {
                            spis.repost(lr.intid);
                            Some((lr, b.clone()))
                        }
                        _ => None,
                    };
                    // The receive with every list register free: the model's
                    // shortcut after the injection, the posts' fold and shortcut.
                    let ka = a.kick_spi(t);
                    let kbs = b.kick_posted_spi(t, &spis);
                    if let Some((lr, before)) = fast {
                        assert_eq!(kbs, Kicked::Load(lr), "step {step}: the armed load");
                        assert!(b == before, "step {step}: the armed receive's model");
                        unlocked += 1;
                    }
                    armed = match (kbs, b.bell(t)) {
                        (Kicked::Load(_), Some(lr)) => Some((t, lr)),
                        _ => None,
                    };
                    let was = core::mem::take(&mut unfolded);
                    assert_eq!((ka, live(&a)), (kbs, live(&b)), "step {step}: the receive");
                    if ka != Kicked::General {
                        quick += 1;
                        // One SPI posted: the receive's own way, without the fold.
                        single += u32::from(was == 1);
                        lrs_a[t] = kicked_lrs(ka);
                        lrs_b[t] = kicked_lrs(kbs);
                        continue;
                    }
                } else {
                    locked(&mut b, &spis);
                    armed = None;
                    unfolded = 0;
                    assert_eq!(live(&a), live(&b), "step {step}: folded");
                }
                for (g, l) in [(&mut a, &mut lrs_a[t]), (&mut b, &mut lrs_b[t])] {
                    g.sync_lrs(t, l);
                    let _ = g.flush_lrs(t, l);
                }
            }
            7..=9 => {
                let mut rb = crate::rng::Rng(r.0);
                guest_runs(&mut r, &mut lrs_a[v]);
                guest_runs(&mut rb, &mut lrs_b[v]);
                locked(&mut b, &spis);
                armed = None;
                unfolded = 0;
                for (g, l) in [(&mut a, &mut lrs_a[v]), (&mut b, &mut lrs_b[v])] {
                    g.sync_lrs(v, l);
                    let _ = g.flush_lrs(v, l);
                }
            }
            n => {
                let (off, width, value) = match n {
                    10 => {
                        let reg = [gicd::ISENABLER, gicd::ICENABLER][r.below(2) as usize];
                        (reg + 4 * w, Width::Word, u64::from(bit))
                    }
                    11 => (
                        gicd::IPRIORITYR + u64::from(intid),
                        Width::Byte,
                        u64::from(r.below(256) as u32 & 0xf0),
                    ),
                    12 => (
                        gicd::IGROUPR + 4 * w,
                        Width::Word,
                        u64::from(if r.below(4) != 0 { u32::MAX } else { !bit }),
                    ),
                    13 => (
                        gicd::CTLR,
                        Width::Word,
                        [0x3, 0x3, 0x3, 0x2, 0x1][r.below(5) as usize],
                    ),
                    14 => {
                        // Edge (0b10) or level (0b00) in the SPI's 2-bit field.
                        let reg = gicd::ICFGR + 4 * u64::from(intid / 16);
                        let field: u32 = if r.below(2) == 0 { 0b10 } else { 0 };
                        (reg, Width::Word, u64::from(field << (2 * (intid % 16))))
                    }
                    15 => (
                        gicd::IROUTER + 8 * u64::from(intid - 32),
                        Width::Double,
                        [0, 1, 5, 1 << 31][r.below(4) as usize],
                    ),
                    16 => {
                        let reg = [gicd::ISACTIVER, gicd::ICACTIVER][r.below(2) as usize];
                        (reg + 4 * w, Width::Word, u64::from(bit))
                    }
                    17 => (gicd::ICPENDR + 4 * w, Width::Word, u64::from(bit)),
                    18 => {
                        // A level line (SPI 36 or 37) driven, mostly low.
                        let line = 36 + r.below(2) as u32;
                        let high = r.below(4) == 0;
                        let na = a.set_level(line, 0, high);
                        locked(&mut b, &spis);
                        armed = None;
                        unfolded = 0;
                        let nb = b.set_level(line, 0, high);
                        assert_eq!(na, nb, "step {step}");
                        continue;
                    }
                    _ => {
                        if r.below(40) != 0 {
                            continue;
                        }
                        // A VM reset (a ring may come between the reset and the
                        // guest's set-up), then the guest's set-up writes.
                        a.reset(2);
                        locked(&mut b, &spis);
                        b.reset(2);
                        let _ = b.publish_routes(&spis);
                        if r.below(2) == 0 {
                            assert_eq!(a.inject(intid, 0).kick, 0);
                            assert_eq!(spis.post(intid), Some(0), "nothing deliverable");
                        }
                        setup(&mut a, None);
                        setup(&mut b, Some(&spis));
                        lrs_a = [[Lr::INVALID; 4]; 2];
                        lrs_b = [[Lr::INVALID; 4]; 2];
                        locked(&mut b, &spis);
                        armed = None;
                        unfolded = 0;
                        assert_eq!(live(&a), live(&b), "step {step}: reset");
                        continue;
                    }
                };
                let na = a.dist_write(off, width, value).unwrap();
                let nb = write(&mut b, &spis, off, width, value);
                armed = None;
                unfolded = 0;
                assert_eq!(na.kick | nb.kick, nb.kick, "step {step}: the write's kicks");
                assert_eq!(live(&a), live(&b), "step {step}: after a write");
            }
        }
    }
    assert!(
        posts > 20_000 && kicked > 5_000 && quick > 1_000 && single > 500 && unlocked > 150,
        "{posts} posts, {kicked} kicks, {quick} shortcuts, {single} of one post, \
         {unlocked} without the lock"
    );
}
