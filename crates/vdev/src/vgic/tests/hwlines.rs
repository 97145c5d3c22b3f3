//! Pending and active reads of HW-linked interrupts show the hardware's state
//! ([`HwLines`]), also with the interrupt disabled; delivery stays the model's.

use super::*;
use core::cell::RefCell;
use std::vec::Vec;

/// Hardware whose asserted and active lines are listed as (vCPU, physical INTID);
/// every question is recorded as (vCPU, virtual INTID, physical INTID).
#[derive(Default)]
struct Lines {
    pending: Vec<(usize, u32)>,
    active: Vec<(usize, u32)>,
    asked: RefCell<Vec<(usize, u32, u32)>>,
}

impl HwLines for Lines {
    fn state(&self, vcpu: usize, intid: u32, pintid: u32) -> HwState {
        self.asked.borrow_mut().push((vcpu, intid, pintid));
        HwState {
            pending: self.pending.contains(&(vcpu, pintid)),
            active: self.active.contains(&(vcpu, pintid)),
        }
    }
}

const VTIMER: u32 = 27;

fn read_r(g: &mut VGic, vcpu: usize, off: u64, lines: &Lines) -> u32 {
    g.redist_read(vcpu, off, Width::Word, lines).unwrap() as u32
}

/// Two vCPUs whose PPI 27 is linked to physical 27, disabled by the guest.
fn timers() -> VGic {
    let mut g = gic(2);
    for v in 0..2 {
        g.set_hw(VTIMER, v, VTIMER).unwrap();
        rw(&mut g, v, gicr::ICENABLER0, 1 << VTIMER);
    }
    g
}

#[test]
fn a_disabled_timer_reads_pending_while_its_line_is_asserted() {
    let mut g = timers();
    let high = Lines {
        pending: std::vec![(0, VTIMER)],
        ..Lines::default()
    };
    for off in [gicr::ISPENDR0, gicr::ICPENDR0] {
        assert_eq!(read_r(&mut g, 0, off, &high) & 1 << VTIMER, 1 << VTIMER);
        // vCPU 1's line is low: its own frame says so.
        assert_eq!(read_r(&mut g, 1, off, &high) & 1 << VTIMER, 0);
        assert_eq!(read_r(&mut g, 0, off, &Lines::default()) & 1 << VTIMER, 0);
    }
    // Without hardware the model's record alone: nothing.
    assert_eq!(rr(&mut g, 0, gicr::ISPENDR0) & 1 << VTIMER, 0);
    // The same for the active registers.
    let active = Lines {
        active: std::vec![(1, VTIMER)],
        ..Lines::default()
    };
    for off in [gicr::ISACTIVER0, gicr::ICACTIVER0] {
        assert_eq!(read_r(&mut g, 1, off, &active), 1 << VTIMER);
        assert_eq!(read_r(&mut g, 0, off, &active), 0);
    }
}

#[test]
fn only_linked_interrupts_of_pending_and_active_reads_ask_the_hardware() {
    let mut g = timers();
    let lines = Lines::default();
    for off in [
        gicr::ISENABLER0,
        gicr::IPRIORITYR0,
        gicr::ICFGR0,
        gicr::TYPER,
    ] {
        read_r(&mut g, 0, off, &lines);
    }
    g.dist_read(gicd::ISPENDR + 4, Width::Word, &lines).unwrap();
    assert!(lines.asked.borrow().is_empty());
    read_r(&mut g, 1, gicr::ISACTIVER0, &lines);
    assert_eq!(*lines.asked.borrow(), [(1, VTIMER, VTIMER)]);
}

#[test]
fn a_linked_spi_reads_pending_through_the_distributor() {
    let mut g = gic(2);
    g.set_hw(40, 0, 72).unwrap();
    dw(&mut g, gicd::ICENABLER + 4, 1 << 8);
    let lines = Lines {
        pending: std::vec![(0, 72)],
        ..Lines::default()
    };
    for off in [gicd::ISPENDR + 4, gicd::ICPENDR + 4] {
        let v = g.dist_read(off, Width::Word, &lines).unwrap();
        assert_eq!(v, 1 << 8);
    }
    assert_eq!(*lines.asked.borrow().first().unwrap(), (0, 40, 72));
    // Bank 0 (private INTIDs) stays read-as-zero in the distributor.
    assert_eq!(g.dist_read(gicd::ISPENDR, Width::Word, &lines), Ok(0));
}

#[test]
fn the_hardware_state_is_not_delivered_by_the_model() {
    let mut g = timers();
    rw(&mut g, 0, gicr::ISENABLER0, 1 << VTIMER);
    let high = Lines {
        pending: std::vec![(0, VTIMER)],
        ..Lines::default()
    };
    assert_eq!(read_r(&mut g, 0, gicr::ISPENDR0, &high), 1 << VTIMER);
    // The forwarded interrupt reaches the guest by its own path; the read left
    // nothing behind for the list registers.
    let mut l = lrs(4);
    g.flush_lrs(0, &mut l);
    assert!(ids(&l, LrState::Pending).is_empty());
    assert!(!g.is_pending(0, VTIMER));
    // The model's own pending state still shows beside the hardware's.
    rw(&mut g, 0, gicr::ISPENDR0, 1 << 3);
    assert_eq!(
        read_r(&mut g, 0, gicr::ISPENDR0, &high),
        1 << VTIMER | 1 << 3
    );
}
