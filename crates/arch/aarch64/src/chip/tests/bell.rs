//! The doorbell's armed receive beside the model ([`Model::take_bell`]): armed by a
//! receive under the lock that loads, it takes one post without the lock and loads
//! what that receive loaded; any lock clears it, and a post it does not take stays
//! for the locked receive.

use super::World;
use crate::chip::Model;
use rtvisor_core::seam::IrqChip;
use rtvisor_core::testkit::{DIRECT, VIRT};
use rtvisor_vdev::vgic::dist::reg as gicd;
use rtvisor_vdev::vgic::{Kicked, Lr};
use rtvisor_vdev::Width;

const BELL: u32 = 127;

/// The guest's set-up: both groups on, SPIs 126 and 127 enabled (routed to vCPU 0
/// since the reset), through the hypervisor's write path.
fn ready(m: &Model) {
    let mut g = m.lock();
    g.dist_write(gicd::CTLR, Width::Word, 0x3).unwrap();
    g.dist_write(gicd::ISENABLER + 12, Width::Word, 0xc000_0000)
        .unwrap();
    g.dist_write(gicd::IPRIORITYR + u64::from(BELL), Width::Byte, 0xa0)
        .unwrap();
    let _ = m.publish_routes(&mut g);
}

#[test]
fn an_armed_receive_takes_one_post_until_a_lock() {
    let w = World::new(VIRT, DIRECT);
    let chip = &w.vms[0].chip;
    let m = chip.model();
    ready(m);
    let ring = |intid| chip.pulse(&w.ctx(0), &w.host, intid);
    ring(BELL);
    assert_eq!(m.take_bell(0), None, "nothing armed yet");
    // The first receive takes the general way (the vCPU never filled), as the
    // hypervisor's refresh does.
    let (mut g, k) = m.lock_kick_spi(0);
    assert_eq!(k, Kicked::General);
    m.fold(&mut g);
    let mut lrs = [Lr::INVALID; 4];
    assert!(g.refill(0, &mut lrs).is_some());
    drop(g);
    assert_eq!(lrs[0].intid, BELL);
    assert_eq!(m.take_bell(0), None, "still nothing armed");
    // The guest completed it; the next receive under the lock loads and arms.
    ring(BELL);
    let Kicked::Load(lr) = m.lock_kick_spi(0).1 else {
        panic!("the locked receive loads the doorbell");
    };
    assert_eq!(lr, lrs[0]);
    let model = m.lock().clone();
    ring(BELL);
    assert_eq!(m.take_bell(0), None, "the lock above cleared it");
    assert_eq!(m.lock_kick_spi(0).1, Kicked::Load(lr), "the post stayed");
    assert_eq!(*m.lock_kick_spi(0).0, model);
    // The lock just taken cleared it again; a receive that loads arms it.
    ring(BELL);
    assert_eq!(m.lock_kick_spi(0).1, Kicked::Load(lr));
    for _ in 0..3 {
        ring(BELL);
        assert_eq!(m.take_bell(1), None, "another vCPU's kick");
        assert_eq!(m.take_bell(0), Some(crate::lr::encode(&lr)));
        assert_eq!(m.take_bell(0), None, "one post, one receive");
    }
    // A kick with an SGI's shortcut cannot apply to the armed vCPU: it takes the
    // general way, which clears the armed word.
    assert_eq!(m.lock_kick(0).1, Kicked::General);
    ring(BELL);
    assert_eq!(m.take_bell(0), None);
    // Two SPIs posted: neither is taken, the locked receive gets both.
    ring(BELL - 1);
    ring(BELL);
    assert_eq!(m.take_bell(0), None);
    let g = m.lock();
    assert!(g.is_pending(0, BELL - 1) && g.is_pending(0, BELL));
    assert_ne!(*g, model, "both folded in");
}
