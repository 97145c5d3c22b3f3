extern crate std;

use super::*;
use crate::rng::Rng;
use std::vec::Vec;

fn rd(a: &mut X2Apic, m: u32) -> u64 {
    a.read(m, 0).unwrap()
}

fn wr(a: &mut X2Apic, m: u32, v: u64) -> Effect {
    a.write(m, v, 0).unwrap()
}

/// An APIC the guest has enabled, with nothing masked by TPR.
fn enabled(id: u32) -> X2Apic {
    let mut a = X2Apic::new(id);
    wr(&mut a, msr::SVR, u64::from(SVR_ENABLE | 0xff));
    a
}

#[test]
fn reset_values_and_identity() {
    let mut a = X2Apic::new(0x23);
    assert_eq!(rd(&mut a, msr::ID), 0x23);
    assert_eq!(rd(&mut a, msr::VERSION), 0x0005_0014);
    assert_eq!(rd(&mut a, msr::LDR), (2 << 16) | (1 << 3));
    assert_eq!(rd(&mut a, msr::SVR), 0xff);
    assert_eq!(rd(&mut a, msr::TPR), 0);
    assert_eq!(rd(&mut a, msr::PPR), 0);
    for m in [msr::LVT_CMCI, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837] {
        assert_eq!(rd(&mut a, m), u64::from(LVT_MASKED), "{m:#x}");
    }
    for m in 0x810..0x828 {
        assert_eq!(rd(&mut a, m), 0);
    }
    a.accept(0x40, false);
    a.reset();
    assert_eq!(a, X2Apic::new(0x23));
}

#[test]
fn refused_accesses_are_gp() {
    let mut a = X2Apic::new(1);
    // Not a register, write-only, read-only, out of the range.
    for m in [
        0x800, 0x801, 0x804, 0x809, 0x80c, 0x80e, 0x829, 0x831, 0x83a, 0x83d, 0x840, 0x8ff,
    ] {
        assert_eq!(a.read(m, 0), Err(Gp), "{m:#x}");
        assert_eq!(a.write(m, 0, 0), Err(Gp), "{m:#x}");
    }
    assert_eq!(a.read(msr::EOI, 0), Err(Gp));
    assert_eq!(a.read(msr::SELF_IPI, 0), Err(Gp));
    for m in [
        msr::ID,
        msr::VERSION,
        msr::PPR,
        msr::LDR,
        msr::ISR0,
        0x827,
        msr::TIMER_CURRENT,
    ] {
        assert_eq!(a.write(m, 0, 0), Err(Gp), "{m:#x}");
    }
    assert_eq!(a.read(0x7ff, 0), Err(Gp));
    assert_eq!(a.read(0x900, 0), Err(Gp));
    // Reserved bits.
    assert_eq!(a.write(msr::TPR, 1 << 32, 0), Err(Gp));
    assert_eq!(a.write(msr::EOI, 1, 0), Err(Gp));
    assert_eq!(a.write(msr::ESR, 1, 0), Err(Gp));
    assert_eq!(a.write(msr::SELF_IPI, 0x100, 0), Err(Gp));
    assert_eq!(a.write(msr::ICR, 1 << 20, 0), Err(Gp));
    assert_eq!(a, X2Apic::new(1), "a refused write changes nothing");
}

#[test]
fn priorities_ack_and_eoi_nest() {
    let mut a = X2Apic::new(0);
    a.accept(0x41, false);
    assert_eq!(a.pending(), None, "software-disabled");
    wr(&mut a, msr::SVR, 0x1ff);
    assert_eq!(a.pending(), Some(0x41));
    wr(&mut a, msr::TPR, 0x40);
    assert_eq!(a.pending(), None, "class 4 is not above TPR 0x40");
    wr(&mut a, msr::TPR, 0x3f);
    assert_eq!(a.ack(), Some(0x41));
    assert_eq!(rd(&mut a, msr::PPR), 0x40);
    assert_eq!(rd(&mut a, msr::ISR0 + 2), 1 << 1);
    a.accept(0x45, false);
    assert_eq!(a.pending(), None, "same class as the one in service");
    a.accept(0x80, false);
    assert_eq!(a.ack(), Some(0x80), "a higher class preempts");
    assert_eq!(rd(&mut a, msr::PPR), 0x80);
    assert_eq!(wr(&mut a, msr::EOI, 0), Effect::None);
    assert_eq!(rd(&mut a, msr::PPR), 0x40, "0x80 retired first");
    assert_eq!(wr(&mut a, msr::EOI, 0), Effect::None);
    assert_eq!(a.ack(), Some(0x45));
    assert_eq!(rd(&mut a, msr::IRR0 + 2), 0);
    assert_eq!(wr(&mut a, msr::EOI, 0), Effect::None);
    assert_eq!(
        wr(&mut a, msr::EOI, 0),
        Effect::None,
        "EOI with nothing in service"
    );
    assert_eq!(a.pending(), None);
}

#[test]
fn level_triggered_eoi_is_reported() {
    let mut a = enabled(0);
    a.accept(0x30, true);
    assert_eq!(rd(&mut a, msr::TMR0 + 1), 1 << 16);
    assert_eq!(a.ack(), Some(0x30));
    assert_eq!(wr(&mut a, msr::EOI, 0), Effect::Eoi(0x30));
}

#[test]
fn illegal_vectors_set_esr() {
    let mut a = enabled(0);
    a.accept(15, false);
    assert_eq!(a.pending(), None);
    assert_eq!(rd(&mut a, msr::ESR), u64::from(ESR_RECEIVE_ILLEGAL));
    wr(&mut a, msr::ESR, 0);
    assert_eq!(rd(&mut a, msr::ESR), 0);
    assert_eq!(wr(&mut a, msr::ICR, (1 << 32) | 3), Effect::None);
    assert_eq!(rd(&mut a, msr::ESR), 1 << 5, "send illegal vector");
}

#[test]
fn icr_and_self_ipi() {
    let mut a = enabled(2);
    // A fixed IPI to APIC id 5: the caller's, delivered inside the VM.
    let e = wr(&mut a, msr::ICR, (5 << 32) | 0x51);
    assert_eq!(
        e,
        Effect::Ipi(Icr {
            vector: 0x51,
            mode: 0,
            logical: false,
            assert: false,
            level: false,
            shorthand: 0,
            dest: 5
        })
    );
    assert_eq!(rd(&mut a, msr::ICR), (5 << 32) | 0x51);
    // Self by shorthand and SELF IPI: accepted here.
    assert_eq!(wr(&mut a, msr::ICR, (1 << 18) | 0x61), Effect::None);
    assert_eq!(wr(&mut a, msr::SELF_IPI, 0x71), Effect::None);
    assert_eq!(a.ack(), Some(0x71));
    assert_eq!(
        a.ack(),
        None,
        "0x61 is of a lower class than 0x71 in service"
    );
    wr(&mut a, msr::EOI, 0);
    assert_eq!(a.ack(), Some(0x61));
    // INIT, SIPI, all-but-self and logical: the caller's.
    for v in [
        (5 << 8) | (1 << 14) | (3 << 32),
        (6 << 8) | 0x9a,
        (3 << 18) | 0x40,
        (1 << 11) | 0x40,
    ] {
        assert!(matches!(wr(&mut a, msr::ICR, v), Effect::Ipi(_)), "{v:#x}");
    }
}

#[test]
fn svr_disable_masks_the_lvt() {
    let mut a = enabled(0);
    wr(&mut a, msr::LVT_TIMER, 0x20);
    assert_eq!(rd(&mut a, msr::LVT_TIMER), 0x20);
    wr(&mut a, msr::SVR, 0xff);
    assert_eq!(rd(&mut a, msr::LVT_TIMER), 0x1_0020);
    wr(&mut a, msr::LVT_TIMER, 0x20);
    assert_eq!(
        rd(&mut a, msr::LVT_TIMER),
        0x1_0020,
        "stays masked while disabled"
    );
    // Writable bits only.
    let mut a = enabled(0);
    wr(&mut a, msr::LVT_ERROR, 0xffff_ffff);
    assert_eq!(rd(&mut a, msr::LVT_ERROR), 0x1_00ff);
    wr(&mut a, 0x835, 0xffff_ffff);
    assert_eq!(rd(&mut a, 0x835), 0x1_a7ff);
    wr(&mut a, msr::TIMER_DIVIDE, 0xff);
    assert_eq!(rd(&mut a, msr::TIMER_DIVIDE), 0xb);
}

#[test]
fn tsc_deadline_timer() {
    let mut a = enabled(0);
    // Not in TSC-deadline mode: the MSR reads 0 and writes do nothing.
    assert_eq!(a.write(TSC_DEADLINE_MSR, 1000, 0), Ok(Effect::None));
    assert_eq!(a.read(TSC_DEADLINE_MSR, 0), Ok(0));
    wr(&mut a, msr::LVT_TIMER, (2 << 17) | 0xec);
    assert_eq!(
        regmap::mode_of(rd(&mut a, msr::LVT_TIMER) as u32),
        timer_mode::TSC_DEADLINE
    );
    assert_eq!(
        a.write(TSC_DEADLINE_MSR, 5000, 10),
        Ok(Effect::Timer(Some(5000)))
    );
    assert_eq!(a.read(TSC_DEADLINE_MSR, 20), Ok(5000));
    assert_eq!(a.expire(4999), Some(5000), "early: nothing");
    assert_eq!(a.pending(), None);
    assert_eq!(a.expire(5003), None, "one-shot");
    assert_eq!(a.pending(), Some(0xec));
    assert_eq!(a.read(TSC_DEADLINE_MSR, 20), Ok(0));
    assert_eq!(a.expire(6000), None, "stale");
    // Writing 0 disarms; leaving the mode disarms.
    a.write(TSC_DEADLINE_MSR, 9000, 0).unwrap();
    assert_eq!(a.write(TSC_DEADLINE_MSR, 0, 0), Ok(Effect::Timer(None)));
    a.write(TSC_DEADLINE_MSR, 9000, 0).unwrap();
    assert_eq!(wr(&mut a, msr::LVT_TIMER, 0xec), Effect::Timer(None));
    assert_eq!(a.deadline(), None);
    // Initial count is ignored in TSC-deadline mode.
    wr(&mut a, msr::LVT_TIMER, (2 << 17) | 0xec);
    assert_eq!(wr(&mut a, msr::TIMER_INIT, 100), Effect::None);
    assert_eq!(a.deadline(), None);
}

#[test]
fn masked_timer_fires_without_interrupt() {
    let mut a = enabled(0);
    wr(&mut a, msr::LVT_TIMER, (2 << 17) | LVT_MASKED as u64 | 0xec);
    a.write(TSC_DEADLINE_MSR, 100, 0).unwrap();
    assert_eq!(a.expire(100), None);
    assert_eq!(a.pending(), None);
}

#[test]
fn one_shot_and_periodic_count() {
    let mut a = enabled(0);
    wr(&mut a, msr::TIMER_DIVIDE, 0x3); // divide by 16
    wr(&mut a, msr::LVT_TIMER, 0xd0);
    assert_eq!(
        a.write(msr::TIMER_INIT, 100, 1000),
        Ok(Effect::Timer(Some(2600)))
    );
    assert_eq!(a.read(msr::TIMER_CURRENT, 1000), Ok(100));
    assert_eq!(a.read(msr::TIMER_CURRENT, 1800), Ok(50));
    assert_eq!(a.expire(2600), None);
    assert_eq!(a.read(msr::TIMER_CURRENT, 2700), Ok(0));
    assert_eq!(a.ack(), Some(0xd0));
    wr(&mut a, msr::EOI, 0);

    // Periodic, divide by 1: re-armed at the next multiple of the period, even late.
    wr(&mut a, msr::TIMER_DIVIDE, 0xb);
    wr(&mut a, msr::LVT_TIMER, (1 << 17) | 0xd1);
    assert_eq!(a.write(msr::TIMER_INIT, 50, 0), Ok(Effect::Timer(Some(50))));
    assert_eq!(a.expire(50), Some(100));
    assert_eq!(a.read(msr::TIMER_CURRENT, 60), Ok(40));
    assert_eq!(
        a.expire(260),
        Some(300),
        "late: periods skipped, not stacked"
    );
    assert_eq!(a.ack(), Some(0xd1));
    // Initial count 0 stops it.
    assert_eq!(a.write(msr::TIMER_INIT, 0, 300), Ok(Effect::Timer(None)));
    assert_eq!(a.read(msr::TIMER_CURRENT, 300), Ok(0));
}

#[test]
fn divide_configurations() {
    let mut a = enabled(0);
    for (code, div) in [
        (0, 2),
        (1, 4),
        (2, 8),
        (3, 16),
        (8, 32),
        (9, 64),
        (0xa, 128),
        (0xb, 1),
    ] {
        wr(&mut a, msr::TIMER_DIVIDE, code);
        assert_eq!(
            a.write(msr::TIMER_INIT, 10, 0),
            Ok(Effect::Timer(Some(10 * div))),
            "divide code {code:#x}"
        );
    }
}

#[test]
fn register_table_names() {
    let names: Vec<_> = registers().regs().iter().map(|r| r.name).collect();
    assert!(names.contains(&"ICR") && names.contains(&"SELF_IPI"));
}

/// A random walk of MSR accesses, accepted vectors, acks and timer expiries against a
/// shadow of which vectors were delivered: every acked vector was accepted and not
/// acked since, it is the highest requested one above the processor priority, an EOI
/// retires the highest in service, and nothing panics.
#[test]
fn random_walk_against_a_shadow() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut a = X2Apic::new(3);
    let mut requested = [false; 256];
    let mut in_service: Vec<u8> = Vec::new();
    let mut now = 0u64;
    let mut acked = 0;
    for _ in 0..200_000 {
        let r = rng.next();
        let v = rng.next();
        now += r % 64;
        let m = if r & 0x100 != 0 {
            0x800 + (v % 0x100) as u32
        } else {
            [
                msr::TPR,
                msr::SVR,
                msr::EOI,
                msr::ICR,
                msr::SELF_IPI,
                msr::LVT_TIMER,
                msr::TIMER_INIT,
                TSC_DEADLINE_MSR,
            ][(v % 8) as usize]
        };
        let value = match r % 4 {
            _ if m == msr::EOI && r & 0x400 != 0 => 0,
            _ if m == msr::TPR && r & 0x400 != 0 => rng.next() & 0x3f,
            0 => rng.next(),
            1 => rng.next() & 0xff,
            _ => (rng.next() & 0x7_01ff) | (1 << 8),
        };
        let before = a.clone();
        match (r >> 16) % 6 {
            0 => {
                let _ = a.read(m, now);
            }
            1 | 2 => match a.write(m, value, now) {
                Err(Gp) => {
                    let mut b = before.clone();
                    b.now = now;
                    assert_eq!(a, b, "a refused write changes nothing");
                }
                Ok(_) if m == msr::EOI => {
                    if let Some(top) = in_service.iter().copied().max() {
                        in_service.retain(|&x| x != top);
                    }
                }
                Ok(_) => {}
            },
            3 => {
                let vec = (v & 0xff) as u8;
                a.accept(vec, r & 0x200 != 0);
                if vec >= 16 {
                    requested[usize::from(vec)] = true;
                }
            }
            4 => {
                let want = a.pending();
                let got = a.ack();
                assert_eq!(got, want);
                if let Some(x) = got {
                    assert!(requested[usize::from(x)], "{x:#x} acked without a request");
                    requested[usize::from(x)] = false;
                    assert!(!in_service.contains(&x));
                    in_service.push(x);
                    acked += 1;
                }
            }
            _ => {
                let _ = a.expire(now);
            }
        }
        // Self IPIs and the timer request vectors too: mirror IRR into the shadow's
        // superset check below.
        let (isr, irr, _) = a.state();
        for x in 16..=255u8 {
            if irr.get(x) {
                requested[usize::from(x)] = true;
            }
            assert_eq!(isr.get(x), in_service.contains(&x), "ISR bit {x:#x}");
        }
        if let Some(p) = a.pending() {
            assert!(u32::from(p) & 0xf0 > a.ppr() & 0xf0);
            assert_eq!(Some(p), irr.highest());
        }
        let ppr = a.ppr();
        assert!(ppr <= 0xff);
        if let Some(top) = isr.highest() {
            assert!(ppr & 0xf0 >= u32::from(top) & 0xf0);
        }
    }
    assert!(acked > 1000, "the walk delivered interrupts: {acked}");
}

/// The highest vector set, by a scan of every bit.
fn scanned(v: &Vectors) -> Option<u8> {
    (0..=255u8).rev().find(|&n| v.get(n))
}

#[test]
fn the_highest_vector_is_the_scans_through_any_sets_and_clears() {
    let mut rng = Rng(0x5eed_0f1a_57c0);
    let mut v = Vectors::EMPTY;
    assert_eq!(v.highest(), None);
    for step in 0..20_000u32 {
        let n = (rng.next() % 256) as u8;
        // Clear more often than set once a few are set, so words empty again.
        let on = rng.next().is_multiple_of(3);
        v.set(n, on);
        assert_eq!(v.highest(), scanned(&v), "step {step}: vector {n} set {on}");
    }
    for n in 0..=255u8 {
        v.set(n, false);
    }
    assert_eq!((v.highest(), v), (None, Vectors::EMPTY));
}

#[test]
fn take_of_the_pending_vector_is_ack() {
    // Every mix of requested and in-service vectors, across the priority classes:
    // pending + take leaves the same state and vector as ack.
    let vectors = [0x20u8, 0x31, 0x45, 0x4f, 0x80, 0xec, 0xff];
    for irr in 0u32..(1 << vectors.len()) {
        for isr in [None, Some(0x40u8), Some(0x81), Some(0xf0)] {
            let mut a = enabled(0);
            if let Some(s) = isr {
                a.accept(s, false);
                assert_eq!(a.ack(), Some(s));
            }
            for (i, &v) in vectors.iter().enumerate() {
                if irr & (1 << i) != 0 {
                    a.accept(v, false);
                }
            }
            let mut b = a.clone();
            let acked = a.ack();
            let pending = b.pending();
            if let Some(v) = pending {
                b.take(v);
            }
            assert_eq!(acked, pending, "{irr:#x} {isr:?}");
            assert_eq!(a.state(), b.state(), "{irr:#x} {isr:?}");
        }
    }
}
