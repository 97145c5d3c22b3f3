//! T0 tests of the virtual GICv3.

extern crate std;

use super::dist::reg as gicd;
use super::redist::reg as gicr;
use super::*;

mod doorbell;
mod fuzz;
mod hwlines;
mod lrs;
mod posted;
mod regs;
mod spis;

/// A vGIC with `n` vCPUs, both groups enabled, every SPI and private interrupt
/// enabled at priority 0xa0 (as Linux would leave them).
fn gic(n: usize) -> VGic {
    let mut g = VGic::new();
    g.reset(n);
    dw(&mut g, gicd::CTLR, 0x3);
    for i in 1..4 {
        dw(&mut g, gicd::ISENABLER + 4 * i, u32::MAX);
    }
    for v in 0..n {
        rw(&mut g, v, gicr::ISENABLER0, u32::MAX);
    }
    for intid in 0..NR_IRQS {
        set_prio(&mut g, 0, intid, 0xa0);
    }
    for v in 1..n {
        for intid in 0..32 {
            set_prio(&mut g, v, intid, 0xa0);
        }
    }
    g
}

fn set_prio(g: &mut VGic, vcpu: usize, intid: u32, p: u8) {
    if intid < 32 {
        g.redist_write(
            vcpu,
            gicr::IPRIORITYR0 + u64::from(intid),
            Width::Byte,
            p.into(),
        )
        .unwrap();
    } else {
        g.dist_write(gicd::IPRIORITYR + u64::from(intid), Width::Byte, p.into())
            .unwrap();
    }
}

fn dr(g: &mut VGic, off: u64) -> u32 {
    g.dist_read(off, Width::Word, &NoHw).unwrap() as u32
}
fn dw(g: &mut VGic, off: u64, v: u32) -> Notify {
    g.dist_write(off, Width::Word, v.into()).unwrap()
}
fn rr(g: &mut VGic, vcpu: usize, off: u64) -> u32 {
    g.redist_read(vcpu, off, Width::Word, &NoHw).unwrap() as u32
}
fn rw(g: &mut VGic, vcpu: usize, off: u64, v: u32) -> Notify {
    g.redist_write(vcpu, off, Width::Word, v.into()).unwrap()
}

/// Routes SPI `intid` to `vcpu`.
fn route(g: &mut VGic, intid: u32, vcpu: u64) -> Notify {
    let off = gicd::IROUTER + 8 * u64::from(intid - 32);
    g.dist_write(off, Width::Double, vcpu).unwrap()
}

/// The list registers a kick shortcut leaves (its entry in the first one).
fn kicked_lrs(k: Kicked) -> [Lr; 4] {
    let mut l = [Lr::INVALID; 4];
    if let Kicked::Load(lr) = k {
        l[0] = lr;
    }
    l
}

/// `l` with every free entry in the model's reset form (a free entry keeps its old
/// fields in hardware).
fn live_lrs(l: &[Lr; 4]) -> [Lr; 4] {
    l.map(|e| match e.state {
        LrState::Invalid => Lr::INVALID,
        _ => e,
    })
}

/// `n` free list registers.
fn lrs(n: usize) -> std::vec::Vec<Lr> {
    std::vec![Lr::INVALID; n]
}

/// INTIDs in the list registers with the given state, in slot order.
fn ids(lrs: &[Lr], state: LrState) -> std::vec::Vec<u32> {
    lrs.iter()
        .filter(|l| l.state == state)
        .map(|l| l.intid)
        .collect()
}

/// The guest acknowledges and completes every Pending entry (EOI): they become
/// Invalid, as the hardware leaves them.
fn eoi_all(lrs: &mut [Lr]) {
    for l in lrs.iter_mut() {
        if l.state != LrState::Invalid {
            l.state = LrState::Invalid;
        }
    }
}

/// The guest runs on one vCPU of a ping-pong walk: each entry is acknowledged or
/// completed, or left as it is, at random.
fn guest_runs(r: &mut crate::rng::Rng, l: &mut [Lr; 4]) {
    for e in l.iter_mut() {
        e.state = match (e.state, r.below(2)) {
            (LrState::Pending, 0) => LrState::Active,
            (LrState::Active | LrState::PendingActive, 0) => LrState::Invalid,
            (s, _) => s,
        };
    }
}

/// A kick shortcut's answer `k`, leaving the model `quick`, against the refill of
/// `g` with `vcpu`'s list registers `l`: the same entries, the same model.
fn shortcut_agrees(k: Kicked, quick: &VGic, g: &mut VGic, vcpu: usize, l: &mut [Lr; 4], step: u32) {
    let f = g.refill(vcpu, l).expect("the shortcut implies a refill");
    assert_eq!(
        (f, kicked_lrs(k), quick),
        (Flush::default(), live_lrs(l), &*g),
        "step {step}"
    );
}

/// The zeroed vGIC of a VM table that was never loaded reaches the same state as a
/// fresh one once reset (what a VM's load does), HW links kept.
#[test]
fn unloaded_then_reset_is_a_reset_vgic() {
    let mut fresh = VGic::new();
    let mut unloaded = VGic::unloaded();
    assert_ne!(
        fresh, unloaded,
        "the unloaded vGIC differs before its reset"
    );
    fresh.reset(2);
    unloaded.reset(2);
    assert_eq!(fresh, unloaded);
    fresh.set_hw(27, 1, 27).unwrap();
    unloaded.set_hw(27, 1, 27).unwrap();
    fresh.reset(2);
    unloaded.reset(2);
    assert_eq!(fresh, unloaded);
}
