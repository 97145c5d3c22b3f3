use super::super::{msr, X2Apic, TSC_DEADLINE_MSR};

/// An enabled APIC whose timer (LVT `lvt`) is armed for guest TSC 5,000, at 1,000,
/// with `tpr` and a self-IPI of each vector in `irr`.
fn armed(lvt: u32, tpr: u32, irr: &[u8]) -> X2Apic {
    let mut a = X2Apic::new(0);
    a.write(msr::SVR, 0x1ff, 1_000).unwrap();
    for &v in irr {
        a.write(msr::SELF_IPI, u64::from(v), 1_000).unwrap();
    }
    a.write(msr::TPR, u64::from(tpr), 1_000).unwrap();
    a.write(msr::LVT_TIMER, u64::from(lvt), 1_000).unwrap();
    if (lvt >> 17) & 3 == 2 {
        a.write(TSC_DEADLINE_MSR, 5_000, 1_000).unwrap();
    } else {
        a.write(msr::TIMER_DIVIDE, 0xb, 1_000).unwrap();
        a.write(msr::TIMER_INIT, 4_000, 1_000).unwrap();
    }
    a
}

/// What the unstaged wake does at guest TSC `now`: the expiry, then the injection of
/// the pending vector.
fn unstaged(a: &mut X2Apic, now: u64) -> Option<u8> {
    a.expire(now);
    let v = a.pending()?;
    a.take(v);
    Some(v)
}

#[test]
fn a_commit_does_what_the_unstaged_wake_does() {
    // One-shot and TSC-deadline timers, under priorities and requests; the wake at
    // the deadline or later.
    let mut staged = 0;
    for lvt in [0xec, (2 << 17) | 0xec, (2 << 17) | 0x31] {
        let cases = [
            (0, &[][..]),
            (0x20, &[0x25][..]),
            (0, &[0x91, 0x42][..]),
            (0x90, &[0x95][..]),
        ];
        for (tpr, irr) in cases {
            for late in [0, 1, 700] {
                let a = armed(lvt, tpr, irr);
                let Some(s) = a.stage_expiry() else {
                    continue;
                };
                staged += 1;
                assert_eq!(s.due(), 5_000);
                let (mut x, mut y) = (a.clone(), a);
                let now = 5_000 + late;
                let v = x.commit_expiry(&s, now);
                assert!(v.is_some());
                assert_eq!(v, unstaged(&mut y, now), "lvt {lvt:#x} tpr {tpr:#x}");
                assert_eq!(x, y);
                assert_eq!(x.deadline(), None);
                // Committed once: a second commit refuses.
                assert_eq!(x.commit_expiry(&s, now), None);
            }
        }
    }
    // With 0x91 requested the vCPU has a vector to take and is not staged; TPR 0x20
    // holds 0x25 back and lets the timer's vector through; TPR 0x90 lets 0xec
    // through, not 0x31.
    assert_eq!(staged, (3 + 3 + 2) * 3);
}

#[test]
fn what_is_not_staged() {
    // Masked, periodic, held back by priority, a vector to take already, disarmed.
    assert_eq!(armed((1 << 16) | 0xec, 0, &[]).stage_expiry(), None);
    assert_eq!(armed((1 << 17) | 0xec, 0, &[]).stage_expiry(), None);
    assert_eq!(armed((2 << 17) | 0xec, 0xf0, &[]).stage_expiry(), None);
    assert_eq!(armed((2 << 17) | 0x31, 0, &[0x91]).stage_expiry(), None);
    assert_eq!(X2Apic::new(0).stage_expiry(), None);
}

#[test]
fn a_change_after_staging_or_an_early_wake_refuses_the_commit() {
    let changes: [&dyn Fn(&mut X2Apic); 8] = [
        // Another CPU's IPI (or the I/O APIC) accepted while asleep.
        &|a| a.accept(0x41, false),
        &|a| a.write(msr::SELF_IPI, 0xf1, 2_000).map(|_| ()).unwrap(),
        // The deadline moved, or the timer stopped; the priority changed.
        &|a| a.write(TSC_DEADLINE_MSR, 9_000, 2_000).map(|_| ()).unwrap(),
        &|a| a.write(TSC_DEADLINE_MSR, 0, 2_000).map(|_| ()).unwrap(),
        &|a| a.set_tpr(0xf0),
        // The unstaged expiry came first; a reset; even a change back.
        &|a| {
            a.expire(5_000);
        },
        &|a| a.reset(),
        &|a| {
            a.set_tpr(0x10);
            a.set_tpr(0);
        },
    ];
    for change in changes {
        let a = armed((2 << 17) | 0xec, 0, &[]);
        let s = a.stage_expiry().unwrap();
        let mut b = a.clone();
        change(&mut b);
        let before = b.clone();
        assert_eq!(b.commit_expiry(&s, 6_000), None);
        assert_eq!(b, before);
        assert_eq!(b.state(), before.state());
    }
    // Before the deadline: refused, unchanged.
    let mut a = armed((2 << 17) | 0xec, 0, &[]);
    let s = a.stage_expiry().unwrap();
    assert_eq!(a.commit_expiry(&s, 4_999), None);
    assert_eq!(a.commit_expiry(&s, 5_000), Some(0xec));
}
