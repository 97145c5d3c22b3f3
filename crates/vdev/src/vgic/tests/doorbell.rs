//! The doorbell's receive side ([`VGic::kick_spi`]) against the general refresh.

use super::*;

/// A doorbell's traffic, at random: SPIs injected (mostly one doorbell; routed now to
/// one vCPU, now to the other), the guests acknowledging and completing them, now and then an SGI
/// sent, a PPI injected, an SPI disabled or enabled or re-routed. At every kick with
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
        match r.below(12) {
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
