//! The xAPIC page, IA32_APIC_BASE and destination matching.

extern crate std;

use super::xapic::off;
use super::*;
use crate::rng::Rng;
use crate::MmioError;
use rtvisor_config::contract::x86_64::LAPIC_GPA;
use std::vec::Vec;

fn rd(a: &mut X2Apic, o: u64) -> u32 {
    a.mmio_read(o, Width::Word, 0).unwrap() as u32
}

fn wr(a: &mut X2Apic, o: u64, v: u32) -> Effect {
    a.mmio_write(o, Width::Word, u64::from(v), 0).unwrap()
}

fn xapic(id: u32) -> X2Apic {
    let mut a = X2Apic::in_mode(id, Mode::XApic);
    wr(&mut a, off::SVR, SVR_ENABLE | 0xff);
    a
}

#[test]
fn page_reset_values() {
    let mut a = X2Apic::in_mode(5, Mode::XApic);
    assert_eq!(rd(&mut a, off::ID), 5 << 24);
    assert_eq!(rd(&mut a, off::VERSION), VERSION);
    assert_eq!(rd(&mut a, off::LDR), 0);
    assert_eq!(rd(&mut a, off::DFR), 0xffff_ffff);
    assert_eq!(rd(&mut a, off::SVR), 0xff);
    for o in [0x2f0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370] {
        assert_eq!(rd(&mut a, o), LVT_MASKED, "{o:#x}");
    }
    // Gaps, the tail of a register and the end of the page.
    for o in [0x00, 0x10, 0x40, 0x90, 0x3f0, 0x400, 0xff0, 0x1000] {
        assert_eq!(
            a.mmio_read(o, Width::Word, 0),
            Err(MmioError::NoRegister),
            "{o:#x}"
        );
    }
    assert_eq!(
        a.mmio_read(0x24, Width::Word, 0),
        Err(MmioError::NoRegister)
    );
    assert_eq!(
        a.mmio_read(off::ID, Width::Double, 0),
        Err(MmioError::BadWidth)
    );
    assert_eq!(
        a.mmio_read(off::ID, Width::Byte, 0),
        Err(MmioError::BadWidth)
    );
    assert_eq!(a.mmio_read(off::EOI, Width::Word, 0), Ok(0));
    assert_eq!(
        a.mmio_write(off::ID, Width::Word, 0, 0),
        Err(MmioError::ReadOnly)
    );
    // The MSRs are not there in xAPIC mode.
    assert_eq!(a.read(msr::TPR, 0), Err(Gp));
    assert_eq!(a.write(msr::EOI, 0, 0), Err(Gp));
}

#[test]
fn page_reaches_the_same_state_as_the_msrs() {
    let mut a = xapic(1);
    wr(&mut a, off::TPR, 0x1_0020);
    assert_eq!(rd(&mut a, off::TPR), 0x20);
    a.accept(0x50, true);
    a.accept(0x31, false);
    assert_eq!(a.ack(), Some(0x50));
    assert_eq!(rd(&mut a, off::ISR0 + 0x20), 1 << 16);
    assert_eq!(rd(&mut a, off::TMR0 + 0x20), 1 << 16);
    assert_eq!(rd(&mut a, off::IRR0 + 0x10), 1 << 17);
    assert_eq!(rd(&mut a, off::PPR), 0x50);
    // EOI takes any value and reports the level-triggered vector.
    assert_eq!(wr(&mut a, off::EOI, 0xdead), Effect::Eoi(0x50));
    assert_eq!(rd(&mut a, off::PPR), 0x20);
    assert_eq!(a.ack(), Some(0x31));
    assert_eq!(wr(&mut a, off::EOI, 0), Effect::None);
    // Timer: one-shot at divide 1.
    wr(&mut a, off::TIMER_DIVIDE, 0xb);
    wr(&mut a, off::LVT_TIMER, 0x40);
    assert_eq!(
        a.mmio_write(off::TIMER_INIT, Width::Word, 100, 1000),
        Ok(Effect::Timer(Some(1100)))
    );
    assert_eq!(a.mmio_read(off::TIMER_CURRENT, Width::Word, 1040), Ok(60));
    assert_eq!(a.expire(1100), None);
    assert_eq!(a.pending(), Some(0x40));
    // Reserved bits are dropped, not refused.
    wr(&mut a, off::LVT_TIMER + 0x40, 0xffff_ffff);
    assert_eq!(rd(&mut a, off::LVT_TIMER + 0x40), 0x1_a7ff);
    wr(&mut a, off::ESR, 0x1234);
    assert_eq!(rd(&mut a, off::ESR), 0);
}

#[test]
fn icr_halves_send_to_an_8_bit_destination() {
    let mut a = xapic(0);
    wr(&mut a, off::ICR_HIGH, 0x03ff_ffff);
    assert_eq!(rd(&mut a, off::ICR_HIGH), 0x0300_0000);
    let e = wr(&mut a, off::ICR_LOW, 0xfff0_1941);
    let Effect::Ipi(icr) = e else { panic!("{e:?}") };
    assert_eq!(
        (icr.vector, icr.mode, icr.logical, icr.dest),
        (0x41, 1, true, 3)
    );
    assert_eq!(rd(&mut a, off::ICR_LOW), 0x941);
    // Self shorthand: taken here; an illegal vector sets ESR.
    assert_eq!(wr(&mut a, off::ICR_LOW, (1 << 18) | 0x60), Effect::None);
    assert_eq!(a.pending(), Some(0x60));
    assert_eq!(wr(&mut a, off::ICR_LOW, 0x05), Effect::None);
    assert_eq!(rd(&mut a, off::ESR), 1 << 5);
    // INIT to all but self goes out.
    assert!(
        matches!(wr(&mut a, off::ICR_LOW, (3 << 18) | (5 << 8)), Effect::Ipi(i) if i.shorthand == 3 && i.mode == 5)
    );
}

#[test]
fn apic_base_transitions() {
    let en = LAPIC_GPA | BASE_EN;
    let x2 = en | BASE_EXTD;
    let mut a = X2Apic::new(2);
    assert_eq!(a.base(true), x2 | BASE_BSP);
    assert_eq!(a.base(false), x2);
    // Reserved bits, a move, the invalid state, x2APIC straight to xAPIC.
    for bad in [
        x2 | 1,
        x2 | (1 << 9),
        (x2 & !LAPIC_GPA) | 0xfed0_0000,
        LAPIC_GPA | BASE_EXTD,
        en,
    ] {
        let before = a.clone();
        assert_eq!(a.set_base(bad), Err(Gp), "{bad:#x}");
        assert_eq!(a, before);
    }
    a.set_base(x2 | BASE_BSP).unwrap();
    assert_eq!(a.apic_mode(), Mode::X2Apic);
    // Disabled: reset, nothing answers or is accepted.
    a.accept(0x40, false);
    a.set_base(LAPIC_GPA).unwrap();
    assert_eq!(a.apic_mode(), Mode::Disabled);
    assert_eq!(a.state().1, Vectors::default());
    assert_eq!(a.read(msr::ID, 0), Err(Gp));
    a.accept(0x40, false);
    assert_eq!(a.state().1, Vectors::default());
    assert!(!a.is_target(false, 2));
    // Disabled straight to x2APIC is refused; through xAPIC it is not.
    assert_eq!(a.set_base(x2), Err(Gp));
    a.set_base(en).unwrap();
    assert_eq!(a.apic_mode(), Mode::XApic);
    assert_eq!(a.base(false), en);
    wr(&mut a, off::TPR, 0x30);
    a.set_base(x2).unwrap();
    assert_eq!(a.read(msr::TPR, 0), Ok(0x30), "state kept into x2APIC mode");
    assert_eq!(a.read(msr::LDR, 0), Ok(1 << 2));
}

#[test]
fn destinations_in_each_mode() {
    let mut a = X2Apic::new(0x13);
    assert!(a.is_target(false, 0x13) && !a.is_target(false, 0x3));
    assert!(a.is_target(false, u32::MAX) && a.is_target(true, u32::MAX));
    assert!(a.is_target(true, (1 << 16) | (1 << 3)));
    assert!(!a.is_target(true, 1 << 3) && !a.is_target(true, (1 << 16) | (1 << 4)));
    a.set_base(LAPIC_GPA).unwrap();
    a.set_base(LAPIC_GPA | BASE_EN).unwrap();
    // xAPIC physical: 8 bits, 0xFF broadcast.
    assert!(a.is_target(false, 0x13) && a.is_target(false, 0xff));
    assert!(!a.is_target(false, 0x14));
    // Flat: a common bit of the 8-bit LDR.
    wr(&mut a, off::LDR, 0x24ff_ffff);
    assert_eq!(rd(&mut a, off::LDR), 0x2400_0000);
    assert!(a.is_target(true, 0x04) && a.is_target(true, 0x21));
    assert!(!a.is_target(true, 0x08));
    // Cluster: cluster 2, member bit 2; cluster 0xF reaches every cluster.
    wr(&mut a, off::DFR, 0x0fff_ffff);
    assert_eq!(rd(&mut a, off::DFR), 0x0fff_ffff);
    assert!(a.is_target(true, 0x24) && a.is_target(true, 0x2f) && a.is_target(true, 0xf4));
    assert!(!a.is_target(true, 0x14) && !a.is_target(true, 0x28));
}

/// One operation of the differential walk.
#[derive(Debug, Clone, Copy)]
enum Op {
    Tpr(u32),
    Svr(u32),
    Eoi,
    Lvt(usize, u32),
    TimerInit(u32),
    Divide(u32),
    SelfIpi(u8),
    Accept(u8, bool),
    Ack,
    Expire,
    Read(usize),
}

/// A random walk of the same operations through the xAPIC page of one APIC and the
/// MSRs of another: the two views reach the same interrupt state (IRR, ISR, TMR,
/// PPR, pending vector, timer) and report the same effects; and nothing panics.
#[test]
fn random_walk_page_against_msrs() {
    let mut rng = Rng(0x005e_ed0f_a91c);
    let mut x = X2Apic::in_mode(4, Mode::XApic);
    let mut m = X2Apic::new(4);
    let mut now = 0u64;
    let mut delivered = 0;
    let regs = [
        off::TPR,
        off::PPR,
        off::ISR0,
        off::IRR0 + 0x30,
        off::TMR0 + 0x20,
        off::TIMER_CURRENT,
        off::SVR,
        off::LVT_TIMER,
    ];
    for _ in 0..100_000 {
        now += rng.below(50);
        let vec = rng.pick(&[0x20u8, 0x31, 0x45, 0x46, 0x80, 0xf0, 0x05]);
        let op = match rng.below(11) {
            0 => Op::Tpr(rng.next() as u32 & 0xff),
            1 => Op::Svr(rng.pick(&[0x1ff, 0xff, 0x1f0])),
            2 | 3 => Op::Eoi,
            4 => Op::Lvt(
                rng.index(6),
                u32::from(vec) | (rng.next() as u32 & 0x7_0000),
            ),
            5 => Op::TimerInit(rng.below(300) as u32),
            6 => Op::Divide(rng.next() as u32 & 0xb),
            7 => Op::SelfIpi(vec),
            8 => Op::Accept(vec, rng.below(2) == 1),
            9 => Op::Ack,
            _ => match rng.below(2) {
                0 => Op::Expire,
                _ => Op::Read(rng.index(regs.len())),
            },
        };
        let (ex, em) = match op {
            Op::Tpr(v) => (
                wr_at(&mut x, off::TPR, v, now),
                w_msr(&mut m, msr::TPR, v, now),
            ),
            Op::Svr(v) => (
                wr_at(&mut x, off::SVR, v, now),
                w_msr(&mut m, msr::SVR, v, now),
            ),
            Op::Eoi => (
                wr_at(&mut x, off::EOI, 0, now),
                w_msr(&mut m, msr::EOI, 0, now),
            ),
            Op::Lvt(i, v) => (
                wr_at(&mut x, off::LVT_TIMER + 16 * i as u64, v, now),
                w_msr(&mut m, msr::LVT_TIMER + i as u32, v, now),
            ),
            Op::TimerInit(v) => (
                wr_at(&mut x, off::TIMER_INIT, v, now),
                w_msr(&mut m, msr::TIMER_INIT, v, now),
            ),
            Op::Divide(v) => (
                wr_at(&mut x, off::TIMER_DIVIDE, v, now),
                w_msr(&mut m, msr::TIMER_DIVIDE, v, now),
            ),
            Op::SelfIpi(v) => (
                wr_at(&mut x, off::ICR_LOW, (1 << 18) | u32::from(v), now),
                w_msr(&mut m, msr::ICR, (1 << 18) | u32::from(v), now),
            ),
            Op::Accept(v, level) => {
                x.accept(v, level);
                m.accept(v, level);
                (Effect::None, Effect::None)
            }
            Op::Ack => {
                let (a, b) = (x.ack(), m.ack());
                assert_eq!(a, b);
                delivered += usize::from(a.is_some());
                (Effect::None, Effect::None)
            }
            Op::Expire => {
                assert_eq!(x.expire(now), m.expire(now));
                (Effect::None, Effect::None)
            }
            Op::Read(i) => {
                let o = regs[i];
                let msr_no = MSR_BASE + (o / 16) as u32;
                let a = x.mmio_read(o, Width::Word, now).unwrap();
                let b = m.read(msr_no, now).unwrap();
                assert_eq!(a, b, "{o:#x}");
                (Effect::None, Effect::None)
            }
        };
        assert_eq!(ex, em, "{op:?}");
        assert_eq!(x.state(), m.state(), "{op:?}");
        assert_eq!(
            (x.ppr(), x.pending(), x.deadline()),
            (m.ppr(), m.pending(), m.deadline())
        );
    }
    assert!(
        delivered > 1000,
        "the walk delivered interrupts: {delivered}"
    );
}

fn wr_at(a: &mut X2Apic, o: u64, v: u32, now: u64) -> Effect {
    a.mmio_write(o, Width::Word, u64::from(v), now).unwrap()
}

fn w_msr(a: &mut X2Apic, n: u32, v: u32, now: u64) -> Effect {
    a.write(n, u64::from(v), now).unwrap()
}

#[test]
fn page_table_names() {
    let names: Vec<_> = xapic::registers().regs().iter().map(|r| r.name).collect();
    assert!(names.contains(&"ICR_LOW") && names.contains(&"DFR"));
}
