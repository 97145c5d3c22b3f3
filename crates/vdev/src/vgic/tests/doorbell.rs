//! The doorbell's receive side ([`VGic::kick_spi`]) against the general refresh.

use super::*;

/// A doorbell's traffic, at random: SPIs injected (mostly one doorbell; routed now to
/// one vCPU, now to the other), the guests acknowledging and completing them, now and then an SGI
/// sent, a PPI injected, an SPI disabled or enabled or re-routed, a device's level
/// line driven (mostly to the level it has). At every kick with
/// every list register free the shortcut, where it applies, gives what the refill
/// gives (list registers and model alike), and changes nothing where it does not;
/// and it applies often (a fifth of the kicks and more).
#[test]
fn the_spi_kick_shortcut_agrees_with_the_general_refresh() {
    let mut r = crate::rng::Rng(0x5851_f42d_4c95_7f2d);
    let mut g = gic(2);
    let mut lrs = [[Lr::INVALID; 4]; 2];
    let (mut quick_kicks, mut kicks) = (0u32, 0u32);
    for step in 0..50_000u32 {
        let v = r.below(2) as usize;
        match r.below(13) {
            0..=4 => {
                // A ring (mostly the one doorbell, SPI 32): an SPI for whoever it
                // is routed to, then that vCPU's kick.
                let intid = if r.below(4) == 0 {
                    33 + r.below(3) as u32
                } else {
                    32
                };
                let _ = g.inject(intid, 0);
                let Some(t) = g.spi_target(intid) else {
                    continue;
                };
                let l = &mut lrs[t];
                if l.iter().all(|e| e.state == LrState::Invalid) {
                    kicks += 1;
                    let mut quick = g.clone();
                    let k = quick.kick_spi(t);
                    if k != Kicked::General {
                        quick_kicks += 1;
                        shortcut_agrees(k, &quick, &mut g, t, l, step);
                        continue;
                    }
                    assert_eq!(quick, g, "step {step}");
                }
                g.sync_lrs(t, l);
                let _ = g.flush_lrs(t, l);
            }
            5..=8 => {
                guest_runs(&mut r, &mut lrs[v]);
            }
            9 => {
                let bit = 1u32 << r.below(4);
                let reg = [gicd::ISENABLER + 4, gicd::ICENABLER + 4][r.below(2) as usize];
                dw(&mut g, reg, bit);
            }
            10 => {
                let _ = route(&mut g, 32 + r.below(4) as u32, r.below(2));
            }
            11 => drive_line(&mut r, &mut g, &mut lrs),
            _ => {
                if r.below(2) == 0 {
                    let _ = g.send_sgi(v, u64::from(r.below(4) as u32) << 24 | 1 << (1 - v));
                } else {
                    let _ = g.inject(16 + r.below(2) as u32, v);
                }
                g.sync_lrs(v, &lrs[v]);
                let _ = g.flush_lrs(v, &mut lrs[v]);
            }
        }
    }
    assert!(
        quick_kicks > 500,
        "{quick_kicks} shortcuts of {kicks} kicks"
    );
}

/// A device drives its level-sensitive line (SPI 36 or 37, routed to vCPU 0): mostly
/// low, so mostly to the level it already has (a UART or GPIO after each access),
/// now and then high; a vCPU the change kicks refreshes its list registers.
pub(super) fn drive_line(r: &mut crate::rng::Rng, g: &mut VGic, lrs: &mut [[Lr; 4]; 2]) {
    let line = 36 + r.below(2) as u32;
    let n = g.set_level(line, 0, r.below(32) == 0);
    for (v, l) in lrs.iter_mut().enumerate() {
        if n.kicks(v) {
            g.sync_lrs(v, l);
            let _ = g.flush_lrs(v, l);
        }
    }
}

/// A line driven again to the level it has changes nothing: both kick shortcuts
/// still apply after it (a device that drives its line after every access, such as
/// the console UART, must not turn them off). A real change of the line does
/// unsettle, and the kick then takes the general refresh.
#[test]
fn a_line_driven_to_its_own_level_leaves_the_shortcuts_on() {
    let mut g = gic(2);
    let mut lrs = [[Lr::INVALID; 4]; 2];
    for (v, l) in lrs.iter_mut().enumerate() {
        let _ = g.flush_lrs(v, l);
    }
    let before = g.clone();
    for _ in 0..3 {
        assert_eq!(g.set_level(40, 0, false), Notify::NONE);
    }
    assert_eq!(g, before, "a line kept low changes nothing");
    // The IPI's shortcut on vCPU 1.
    let posted = PostedSgis::new();
    posted.reset(2);
    let _ = posted.send(0, 3u64 << 24 | 0b10);
    assert!(matches!(g.clone().kick_sgis(1, &posted), Kicked::Load(lr) if lr.intid == 3));
    // The doorbell's shortcut on vCPU 0.
    let _ = g.inject(32, 0);
    assert_eq!(g.clone().kick_spi(0), Kicked::Load(lr_of(&g, 32)));
    // A real change: the line rises, SPI 40 is pending for vCPU 0, and neither
    // shortcut may ignore it.
    let n = g.set_level(40, 0, true);
    assert_eq!(n.kick, 1, "the rising line kicks its receiver");
    assert_eq!(g.clone().kick_spi(0), Kicked::General);
    assert_eq!(g.clone().kick_sgis(1, &posted), Kicked::General);
    // Held high, it still changes nothing more.
    let high = g.clone();
    assert_eq!(g.set_level(40, 0, true), Notify::NONE);
    assert_eq!(g, high);
}

/// The entry the general refill loads for `intid` on vCPU 0.
fn lr_of(g: &VGic, intid: u32) -> Lr {
    let mut l = [Lr::INVALID; 4];
    let _ = g.clone().refill(0, &mut l);
    assert_eq!(l[0].intid, intid);
    l[0]
}
