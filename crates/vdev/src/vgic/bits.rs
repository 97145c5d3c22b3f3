//! Register semantics shared by the distributor and the redistributors: the
//! one-bit-per-INTID banks, `IPRIORITYR` and `ICFGR`. The tables in `dist.rs` and
//! `redist.rs` only choose the word (`n`) and the vCPU.

use super::{Notify, VGic, MAX_VCPUS};
use crate::regs::Write;

/// Which one-bit-per-INTID state a register addresses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Field {
    /// `IGROUPR`.
    Group,
    /// `ISENABLER`/`ICENABLER`.
    Enable,
    /// `ISPENDR`/`ICPENDR`.
    Pend,
    /// `ISACTIVER`/`ICACTIVER`.
    Active,
}

/// Const-generic encodings of [`Field`] for table handlers.
pub(super) const GROUP: u8 = 0;
pub(super) const ENABLE: u8 = 1;
pub(super) const PEND: u8 = 2;
pub(super) const ACTIVE: u8 = 3;

pub(super) const fn field(f: u8) -> Field {
    match f {
        GROUP => Field::Group,
        ENABLE => Field::Enable,
        PEND => Field::Pend,
        _ => Field::Active,
    }
}

/// The written 32-bit value, restricted to the written lanes.
pub(super) fn bits32(w: Write) -> u32 {
    u32::try_from(w.value & w.mask & 0xffff_ffff).unwrap_or(0)
}

impl VGic {
    /// Word `n` of `f` as the guest sees it from `vcpu`.
    pub(super) fn bits_read(&self, f: Field, vcpu: usize, n: usize) -> u32 {
        match f {
            Field::Group => self.group.word(vcpu, n),
            Field::Enable => self.enabled.word(vcpu, n),
            Field::Pend => self.pending_view(vcpu).word(n) | self.hw_word(vcpu, n).0,
            Field::Active => self.active_view(vcpu).word(n) | self.hw_word(vcpu, n).1,
        }
    }

    /// `IGROUPR` write: the written bits replace the group bits.
    pub(super) fn group_write(&mut self, vcpu: usize, n: usize, w: Write) -> Notify {
        let (old, new) = self.group.update(vcpu, n, |x| {
            u32::try_from(w.merge(u64::from(x)) & 0xffff_ffff).unwrap_or(x)
        });
        self.concerned(vcpu, n, old ^ new)
    }

    /// Write-1-to-set of `bits` in word `n`.
    pub(super) fn set_bits(&mut self, f: Field, vcpu: usize, n: usize, bits: u32) -> Notify {
        match f {
            Field::Group => {
                let (old, new) = self.group.update(vcpu, n, |x| x | bits);
                self.concerned(vcpu, n, old ^ new)
            }
            Field::Enable => {
                let (old, new) = self.enabled.update(vcpu, n, |x| x | bits);
                let changed = old ^ new;
                self.concerned(vcpu, n, changed)
                    .or(self.hw_notify(vcpu, n, changed))
            }
            Field::Pend => {
                self.latch.update(vcpu, n, |x| x | bits);
                self.concerned(vcpu, n, bits)
            }
            Field::Active => {
                self.active.update(vcpu, n, |x| x | bits);
                self.concerned(vcpu, n, bits)
            }
        }
    }

    /// Write-1-to-clear of `bits` in word `n`.
    ///
    /// Clearing the pending state of an interrupt that a list register holds as
    /// Pending takes it back at that vCPU's next `flush_lrs` (it is not restored);
    /// one held as PendingActive stays so. Clearing the active state only clears
    /// the model's: an Active list register stays until the guest deactivates it.
    pub(super) fn clear_bits(&mut self, f: Field, vcpu: usize, n: usize, bits: u32) -> Notify {
        match f {
            Field::Group => {
                let (old, new) = self.group.update(vcpu, n, |x| x & !bits);
                self.concerned(vcpu, n, old ^ new)
            }
            Field::Enable => {
                let (old, new) = self.enabled.update(vcpu, n, |x| x & !bits);
                let changed = old ^ new;
                self.concerned(vcpu, n, changed)
                    .or(self.hw_notify(vcpu, n, changed))
            }
            Field::Pend => {
                self.latch.update(vcpu, n, |x| x & !bits);
                let notify = self.concerned(vcpu, n, bits);
                for (v, set) in self.lr_latch.iter_mut().enumerate().take(MAX_VCPUS) {
                    if n != 0 || v == vcpu {
                        let word = set.word(n);
                        set.set_word(n, word & !bits);
                    }
                }
                notify
            }
            Field::Active => {
                self.active.update(vcpu, n, |x| x & !bits);
                self.concerned(vcpu, n, bits)
            }
        }
    }

    /// `IPRIORITYR` index `i` (INTIDs `4i..4i+4`) as `vcpu` sees it.
    pub(super) fn prio_read(&self, vcpu: usize, i: usize) -> u64 {
        let base = prio_base(i);
        (0..4u32).fold(0, |acc, k| {
            let p = base
                .and_then(|b| self.prio.get(vcpu, b.saturating_add(k)))
                .copied()
                .unwrap_or(0);
            acc | u64::from(p) << (8 * k)
        })
    }

    /// `IPRIORITYR` write: the written byte lanes replace the priorities.
    pub(super) fn prio_write(&mut self, vcpu: usize, w: Write) -> Notify {
        let Some(base) = prio_base(w.index) else {
            return Notify::NONE;
        };
        let mut changed = 0u32;
        for k in 0..4u32 {
            if (w.mask >> (8 * k)) & 0xff == 0 {
                continue;
            }
            let Some(p) = self.prio.get_mut(vcpu, base.saturating_add(k)) else {
                continue;
            };
            let v = ((w.value >> (8 * k)) & 0xff) as u8;
            if *p != v {
                *p = v;
                changed |= 1 << (base.saturating_add(k) % 32);
            }
        }
        self.concerned(vcpu, word_of(base), changed)
    }

    /// `ICFGR` index `i` (INTIDs `16i..16i+16`): bit `2k+1` set for edge.
    pub(super) fn cfg_read(&self, vcpu: usize, i: usize) -> u64 {
        let Some(base) = cfg_base(i) else {
            return 0;
        };
        let edge = self.edge.word(vcpu, word_of(base)) >> (base % 32);
        (0..16).fold(0, |acc, k| {
            if edge & (1 << k) != 0 {
                acc | 2 << (2 * k)
            } else {
                acc
            }
        })
    }

    /// `ICFGR` write. SGIs stay edge-triggered whatever is written.
    pub(super) fn cfg_write(&mut self, vcpu: usize, w: Write) -> Notify {
        let Some(base) = cfg_base(w.index) else {
            return Notify::NONE;
        };
        let mut set = 0u32;
        let mut clear = 0u32;
        for k in 0..16u32 {
            let bit = 2u64 << (2 * k);
            if w.mask & bit == 0 || base.saturating_add(k) < 16 {
                continue;
            }
            let b = 1u32 << (base.saturating_add(k) % 32);
            if w.value & bit != 0 {
                set |= b;
            } else {
                clear |= b;
            }
        }
        let n = word_of(base);
        let (old, new) = self.edge.update(vcpu, n, |x| (x | set) & !clear);
        self.concerned(vcpu, n, old ^ new)
    }
}

/// First INTID of `IPRIORITYR` index `i`.
fn prio_base(i: usize) -> Option<u32> {
    u32::try_from(i).ok()?.checked_mul(4)
}

/// First INTID of `ICFGR` index `i`.
fn cfg_base(i: usize) -> Option<u32> {
    u32::try_from(i).ok()?.checked_mul(16)
}

/// Word of `intid` in a bank.
fn word_of(intid: u32) -> usize {
    usize::try_from(intid / 32).unwrap_or(usize::MAX)
}
