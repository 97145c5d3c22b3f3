//! The refresh of a kick that only brings posted SGIs ([`VGic::kick_sgis`]): the
//! receiving vCPU's list registers are all free, the model had nothing else to
//! deliver to it when it last filled them, and one SGI (at most) arrives. Then
//! the SGI goes straight into the first list register, with none of the general
//! fold, sync and fill; anything else is left to [`VGic::refill`] and
//! [`VGic::flush_lrs`], with the SGIs folded in first, as a fold would have.
//!
//! The shortcut rests on one flag per vCPU, `settled`: set by a fill that left no
//! candidate behind (every deliverable interrupt is in a list register), cleared by
//! anything that may change what the vCPU should receive (every register write,
//! injection, line change, HW link change, SGI, fold and sync), except one injected
//! SPI, which the vCPU keeps as its `fresh` SPI ([`VGic::kick_spi`], the doorbell's
//! receive side). While it is set, the only new candidates can be the SGIs just
//! posted, the fresh SPI, and entries the guest is done with that were made
//! pending again (each shortcut checks for those). The random walks check that
//! both shortcuts give exactly what the general path gives, whenever they apply.

use super::posted::PostedSgis;
use super::state::vcpu_bit;
use super::{IntidSet, Lr, LrState, VGic, FIRST_SPI, MAX_VCPUS};

/// SGIs (INTIDs 0-15) in the private word.
const SGI_MASK: u32 = 0xffff;

/// What [`VGic::kick_sgis`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kicked {
    /// The list registers stay free: nothing to deliver.
    Nothing,
    /// This one entry goes into the first list register; the others stay free.
    Load(Lr),
    /// The shortcut does not apply: the posted SGIs are folded into the model,
    /// which is otherwise unchanged; refresh the general way.
    General,
}

impl VGic {
    /// Marks whether `vcpu` has anything left to deliver after a fill.
    pub(super) fn set_settled(&mut self, vcpu: usize, settled: bool) {
        if settled {
            self.settled |= vcpu_bit(vcpu);
        } else {
            self.settled &= !vcpu_bit(vcpu);
        }
        if let Some(f) = self.fresh.get_mut(vcpu) {
            *f = 0;
        }
    }

    /// Forgets every vCPU's settled state (a change that may concern any of them).
    /// Their `fresh` SPIs are left as they are: a vCPU's `fresh` is read only while
    /// it is settled, and settling it again ([`VGic::set_settled`]) clears it.
    pub(super) fn unsettle(&mut self) {
        self.settled = 0;
    }

    /// Unsettles every vCPU but `vcpu`: an SPI changed that they may reach (made
    /// pending, or released by `vcpu`'s list registers while pending). One mask,
    /// no walk of the `fresh` array (see [`VGic::unsettle`]).
    pub(super) fn unsettle_others(&mut self, vcpu: usize) {
        self.settled &= vcpu_bit(vcpu);
    }

    /// `intid` was made pending for its receiver `vcpu`: an SPI keeps a settled
    /// receiver settled, as its one fresh SPI (every other vCPU it may reach is
    /// unsettled); anything else unsettles it.
    pub(super) fn freshen(&mut self, vcpu: usize, intid: u32) {
        if intid < FIRST_SPI {
            self.set_settled(vcpu, false);
            return;
        }
        self.unsettle_others(vcpu);
        match self.fresh.get(vcpu).copied() {
            Some(f) if self.settled & vcpu_bit(vcpu) != 0 && (f == 0 || f == intid) => {
                self.fresh[vcpu] = intid
            }
            _ => self.set_settled(vcpu, false),
        }
    }

    /// The kick's refresh of `vcpu` when every one of its list registers is free
    /// (Invalid in hardware), taking the SGIs posted to it from `posted`. Exactly
    /// what folding them in and then [`VGic::refill`] would give, when
    /// [`Kicked::Nothing`] or [`Kicked::Load`]; with [`Kicked::General`] only the
    /// fold is done.
    #[inline(always)]
    pub fn kick_sgis(&mut self, vcpu: usize, posted: &PostedSgis) -> Kicked {
        let sgis = posted.take(vcpu) & SGI_MASK;
        if vcpu >= self.nvcpus.min(MAX_VCPUS) {
            return Kicked::General;
        }
        let held = self.in_lr[vcpu];
        let latch = self.latch.word(vcpu, 0);
        let reach = self.reach[vcpu].word(0);
        let new = sgis & self.enabled.word(vcpu, 0) & self.group_ok(vcpu, 0) & reach;
        // A held SGI sent again while in its list register is pending once more
        // when the entry is released: a candidate the fill did not see.
        let quick = self.settled & vcpu_bit(vcpu) != 0
            && self.fresh[vcpu] == 0
            && held.only_in_word0(SGI_MASK)
            && held.word(0) & latch == 0
            && new & self.active.word(vcpu, 0) == 0
            && new.count_ones() <= 1;
        // The latch takes every posted SGI (as a send does); a loaded one is
        // consumed from it just below.
        let _ = self.latch.update(vcpu, 0, |w| w | sgis);
        if !quick {
            if sgis != 0 {
                self.set_settled(vcpu, false);
            }
            return Kicked::General;
        }
        // The guest is done with every entry: release them (the sync's part); the
        // vCPU stays settled (the loaded SGI was the only candidate).
        if new == 0 {
            self.in_lr[vcpu] = IntidSet::EMPTY;
            self.lr_pend[vcpu] = IntidSet::EMPTY;
            self.lr_act[vcpu] = IntidSet::EMPTY;
            self.lr_latch[vcpu] = IntidSet::EMPTY;
            return Kicked::Nothing;
        }
        let _ = self.latch.update(vcpu, 0, |w| w & !new);
        let only = IntidSet::word0(new);
        self.in_lr[vcpu] = only;
        self.lr_pend[vcpu] = only;
        self.lr_act[vcpu] = IntidSet::EMPTY;
        self.lr_latch[vcpu] = only;
        let intid = new.trailing_zeros();
        Kicked::Load(Lr {
            intid,
            state: LrState::Pending,
            priority: self.prio.get(vcpu, intid).copied().unwrap_or(u8::MAX),
            group1: self.group.get(vcpu, intid),
            hw: None,
        })
    }
}

impl VGic {
    /// The kick's refresh of `vcpu` when every one of its list registers is free
    /// and no SGI is posted to it: the doorbell's case, one SPI injected since the
    /// vCPU's last fill (its `fresh` SPI) and nothing else changed for it. Exactly
    /// what [`VGic::refill`] would give, when [`Kicked::Nothing`] or
    /// [`Kicked::Load`]; with [`Kicked::General`] nothing is changed.
    ///
    /// Besides the settled state it needs: no SPI held in another vCPU's list
    /// register (releasing one there may make it a candidate here), and the
    /// entries it releases hold at most private interrupts not pending again, and
    /// the fresh SPI.
    #[inline(always)]
    pub fn kick_spi(&mut self, vcpu: usize) -> Kicked {
        if vcpu >= self.nvcpus.min(MAX_VCPUS) || self.settled & vcpu_bit(vcpu) == 0 {
            return Kicked::General;
        }
        let x = self.fresh[vcpu];
        let held = self.in_lr[vcpu];
        let mut rest = held;
        rest.remove(x);
        let quick = x >= FIRST_SPI
            && rest.only_in_word0(u32::MAX)
            && rest.word(0) & self.model_pending(vcpu, 0) == 0
            && self.spi_in_lr.minus(held).is_empty();
        if !quick {
            return Kicked::General;
        }
        self.kick_fresh(vcpu, x)
    }

    /// The load of [`VGic::kick_spi`], its checks passed: `vcpu` is settled with `x`
    /// its fresh SPI (made pending), every entry its list registers held released.
    #[inline(always)]
    pub(super) fn kick_fresh(&mut self, vcpu: usize, x: u32) -> Kicked {
        // The fill's part: the fresh SPI is the only candidate left, if it is one.
        let (w, bit) = ((x / 32) as usize, 1u32 << (x % 32));
        let cand = self.model_pending(vcpu, w)
            & self.enabled.word(vcpu, w)
            & self.group_ok(vcpu, w)
            & self.reach[vcpu].word(w)
            & bit
            != 0;
        self.set_settled(vcpu, true);
        // The sync's part (the guest is done with every entry), and the load of the
        // fresh SPI into the freed list registers' bookkeeping, at once.
        if !cand {
            self.release_all(vcpu, IntidSet::EMPTY, IntidSet::EMPTY, IntidSet::EMPTY);
            return Kicked::Nothing;
        }
        Kicked::Load(self.load_only_spi(vcpu, x, w, bit))
    }

    /// The bookkeeping of `vcpu`'s list registers after they were all released:
    /// `held` loaded, `latched` of them with their latch consumed, `act` of them
    /// pending and active.
    #[inline(always)]
    pub(super) fn release_all(
        &mut self,
        vcpu: usize,
        held: IntidSet,
        latched: IntidSet,
        act: IntidSet,
    ) {
        self.in_lr[vcpu] = held;
        self.lr_pend[vcpu] = held;
        self.lr_act[vcpu] = act;
        self.lr_latch[vcpu] = latched;
        self.spi_in_lr = held;
    }

    /// [`VGic::load`] of SPI `x` (bit `bit` of word `w`) when `vcpu`'s list registers
    /// were all released just now: the same entry and the same model, without the
    /// general load's look-ups of a private bank.
    #[inline(always)]
    fn load_only_spi(&mut self, vcpu: usize, x: u32, w: usize, bit: u32) -> Lr {
        let hw = self.hw.get(vcpu, x).copied().flatten();
        let only = {
            let mut s = IntidSet::EMPTY;
            s.set_word(w, bit);
            s
        };
        let latched = self.latch.word(vcpu, w) & bit != 0;
        if latched {
            let _ = self.latch.update(vcpu, w, |v| v & !bit);
        }
        let active = hw.is_none() && self.active.word(vcpu, w) & bit != 0;
        if active {
            let _ = self.active.update(vcpu, w, |v| v & !bit);
        }
        let pick = |on: bool| if on { only } else { IntidSet::EMPTY };
        self.release_all(vcpu, only, pick(latched), pick(active));
        Lr {
            intid: x,
            state: if active {
                LrState::PendingActive
            } else {
                LrState::Pending
            },
            priority: self.prio.get(vcpu, x).copied().unwrap_or(u8::MAX),
            group1: self.group.word(vcpu, w) & bit != 0,
            hw,
        }
    }
}
