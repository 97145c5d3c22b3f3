//! List-register scheduling: which interrupts of a vCPU sit in its list registers,
//! and folding back what the hardware did with them.
//!
//! The caller keeps one `[Lr]` per vCPU (as many entries as `ICH_VTR_EL2.ListRegs`
//! says), and around each guest entry:
//! 1. after the exit, reads the hardware list registers into it and calls
//!    [`VGic::sync_lrs`];
//! 2. before the entry, calls [`VGic::flush_lrs`] and writes the entries back
//!    (only changed ones, if it tracks that), enabling `ICH_HCR_EL2.UIE` only when
//!    [`Flush::underflow`] is set.
//!
//! Only list registers this model filled are touched; an entry it does not know
//! (not loaded by `flush_lrs` for this vCPU since the last reset) is left alone and
//! never counted as free unless it is Invalid.

use super::IntidSet;
use super::{Flush, Lr, LrState, VGic, FIRST_SPI, WORDS};

impl VGic {
    /// INTIDs that `vcpu` should receive and that no list register holds:
    /// pending (latch or level), enabled, group enabled, routed to it.
    pub(super) fn candidates(&self, vcpu: usize) -> IntidSet {
        let (Some(reach), Some(in_lr)) = (self.reach.get(vcpu), self.in_lr.get(vcpu)) else {
            return IntidSet::EMPTY;
        };
        let mut s = IntidSet::EMPTY;
        for n in 0..WORDS {
            let pending = self.model_pending(vcpu, n);
            if pending == 0 {
                // Most words hold nothing pending: skip the other masks.
                continue;
            }
            let w = pending
                & self.enabled.word(vcpu, n)
                & self.group_ok(vcpu, n)
                & reach.word(n)
                & !in_lr.word(n)
                & !self.spi_in_lr.word(n);
            s.set_word(n, w);
        }
        s
    }

    /// The highest-priority member of `set` (lowest value; ties to lower INTID).
    fn best(&self, vcpu: usize, set: &IntidSet) -> Option<u32> {
        if let Some(only) = set.single() {
            // The common case of a kick: one new interrupt, no priorities to compare.
            return Some(only);
        }
        let mut best: Option<(u8, u32)> = None;
        for intid in set.iter() {
            let p = self.prio.get(vcpu, intid).copied().unwrap_or(u8::MAX);
            if best.is_none_or(|(bp, _)| p < bp) {
                best = Some((p, intid));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Whether `vcpu` has anything to deliver: a candidate for a list register,
    /// or a list register it holds pending (as of the last sync). For WFI.
    pub fn pending_for(&self, vcpu: usize) -> bool {
        vcpu < self.nvcpus
            && (!self.candidates(vcpu).is_empty()
                || self.lr_pend.get(vcpu).is_some_and(|s| !s.is_empty()))
    }

    /// Fills `vcpu`'s list registers before it enters the guest.
    ///
    /// - Every list register this model loaded and that is still only Pending is
    ///   first taken back into the model (its consumed latch restored), so a
    ///   disabled, cleared, re-prioritised or re-routed interrupt leaves the list
    ///   registers, and a higher-priority interrupt displaces a lower-priority
    ///   Pending one. Active and PendingActive entries stay; an Active entry whose
    ///   interrupt is pending again (and not HW-linked) becomes PendingActive.
    /// - Free (Invalid) entries are then filled, in slice order, with the
    ///   highest-priority deliverable interrupts, ties to the lower INTID. A loaded
    ///   interrupt's latch moves into the list register; a model-active interrupt
    ///   is loaded PendingActive (Pending only, when HW-linked).
    /// - `underflow` is set when deliverable interrupts remain.
    ///
    /// Nothing is delivered to a vCPU that does not exist, or while the
    /// distributor has the interrupt's group disabled.
    pub fn flush_lrs(&mut self, vcpu: usize, lrs: &mut [Lr]) -> Flush {
        if vcpu >= self.nvcpus {
            return Flush::default();
        }
        for lr in lrs.iter_mut() {
            if !self.owns(vcpu, lr.intid) {
                continue;
            }
            match lr.state {
                LrState::Pending => {
                    self.retract(vcpu, lr.intid);
                    *lr = Lr::INVALID;
                }
                LrState::Active if lr.hw.is_none() => self.repend(vcpu, lr),
                _ => {}
            }
        }
        self.fill(vcpu, lrs)
    }

    /// The refresh of a kick, when the guest is done with every list register this
    /// model loaded for `vcpu` (each reads Invalid in `lrs`, the list registers as the
    /// hardware left them): exactly what [`VGic::sync_lrs`] then [`VGic::flush_lrs`]
    /// would do, with nothing to fold back entry by entry. Returns `None`, having
    /// changed nothing, when a list register it loaded is still in use (or `vcpu`
    /// does not exist): the caller then syncs and flushes.
    pub fn refill(&mut self, vcpu: usize, lrs: &mut [Lr]) -> Option<Flush> {
        if vcpu >= self.nvcpus {
            return None;
        }
        let held = self.in_lr.get(vcpu).copied()?;
        if !held.is_empty()
            && lrs
                .iter()
                .any(|lr| lr.state != LrState::Invalid && held.contains(lr.intid))
        {
            return None;
        }
        // The sync: every entry it loaded is done. The flush then owns no entry.
        self.set_lr_state(
            vcpu,
            held,
            IntidSet::EMPTY,
            IntidSet::EMPTY,
            IntidSet::EMPTY,
        );
        Some(self.fill(vcpu, lrs))
    }

    /// Fills the Invalid entries of `lrs`, in slice order, with the best candidates.
    fn fill(&mut self, vcpu: usize, lrs: &mut [Lr]) -> Flush {
        let mut cand = self.candidates(vcpu);
        if let Some(only) = cand.single() {
            // The common case of a kick: one interrupt, into the first free entry.
            return match lrs.iter_mut().find(|l| l.state == LrState::Invalid) {
                Some(lr) => {
                    *lr = self.load(vcpu, only);
                    self.set_settled(vcpu, true);
                    Flush::default()
                }
                None => {
                    self.set_settled(vcpu, false);
                    Flush { underflow: true }
                }
            };
        }
        for lr in lrs.iter_mut().filter(|l| l.state == LrState::Invalid) {
            if cand.is_empty() {
                break;
            }
            let Some(intid) = self.best(vcpu, &cand) else {
                break;
            };
            cand.remove(intid);
            *lr = self.load(vcpu, intid);
        }
        self.set_settled(vcpu, cand.is_empty());
        Flush {
            underflow: !cand.is_empty(),
        }
    }

    /// Folds back `vcpu`'s list registers as the hardware left them after an exit:
    /// an entry now Invalid means the guest is done with that interrupt (it stays
    /// pending only if re-pended in the model meanwhile); Active, Pending and
    /// PendingActive entries are recorded as such. Entries this model did not load
    /// are ignored.
    pub fn sync_lrs(&mut self, vcpu: usize, lrs: &[Lr]) {
        self.set_settled(vcpu, false);
        let Some(old) = self.in_lr.get(vcpu).copied() else {
            return;
        };
        let (mut now, mut pend, mut act) = (IntidSet::EMPTY, IntidSet::EMPTY, IntidSet::EMPTY);
        for lr in lrs {
            if !old.contains(lr.intid) || now.contains(lr.intid) {
                continue;
            }
            match lr.state {
                LrState::Invalid => continue,
                LrState::Pending => pend.insert(lr.intid),
                LrState::Active => act.insert(lr.intid),
                LrState::PendingActive => {
                    pend.insert(lr.intid);
                    act.insert(lr.intid);
                }
            }
            now.insert(lr.intid);
        }
        self.set_lr_state(vcpu, old.minus(now), now, pend, act);
    }

    /// Installs the bookkeeping of `vcpu`: `now` held, `done` released.
    fn set_lr_state(
        &mut self,
        vcpu: usize,
        done: IntidSet,
        now: IntidSet,
        pend: IntidSet,
        act: IntidSet,
    ) {
        let spis = done.minus(private_mask());
        if !spis.is_empty() {
            self.unsettle_others(vcpu);
        }
        self.spi_in_lr = self.spi_in_lr.minus(spis);
        if let Some(s) = self.in_lr.get_mut(vcpu) {
            *s = now;
        }
        if let Some(s) = self.lr_pend.get_mut(vcpu) {
            *s = pend;
        }
        if let Some(s) = self.lr_act.get_mut(vcpu) {
            *s = act;
        }
        if let Some(s) = self.lr_latch.get_mut(vcpu) {
            *s = s.and(pend);
        }
    }

    /// Whether `intid` sits in one of `vcpu`'s list registers per the bookkeeping.
    fn owns(&self, vcpu: usize, intid: u32) -> bool {
        self.in_lr.get(vcpu).is_some_and(|s| s.contains(intid))
    }

    /// Takes a Pending list register of `vcpu` back into the model.
    fn retract(&mut self, vcpu: usize, intid: u32) {
        if self.lr_latch.get(vcpu).is_some_and(|s| s.contains(intid)) {
            self.latch.set(vcpu, intid, true);
        }
        self.release(vcpu, intid);
    }

    fn release(&mut self, vcpu: usize, intid: u32) {
        for sets in [
            &mut self.in_lr,
            &mut self.lr_pend,
            &mut self.lr_act,
            &mut self.lr_latch,
        ] {
            if let Some(s) = sets.get_mut(vcpu) {
                s.remove(intid);
            }
        }
        if intid >= FIRST_SPI {
            self.unsettle_others(vcpu);
            self.spi_in_lr.remove(intid);
        }
    }

    /// An Active entry whose interrupt is deliverable-pending again in the model
    /// becomes PendingActive (no exit needed for the second instance).
    fn repend(&mut self, vcpu: usize, lr: &mut Lr) {
        let intid = lr.intid;
        let word = (intid / 32) as usize;
        let bit = 1u32 << (intid % 32);
        let ready = self.model_pending(vcpu, word)
            & self.enabled.word(vcpu, word)
            & self.group_ok(vcpu, word)
            & bit
            != 0;
        if !ready {
            return;
        }
        if self.latch.get(vcpu, intid) {
            self.latch.set(vcpu, intid, false);
            mark(&mut self.lr_latch, vcpu, intid);
        }
        mark(&mut self.lr_pend, vcpu, intid);
        lr.state = LrState::PendingActive;
    }

    /// Moves a candidate into a list register. (Not inlined: inlined, the fill loop
    /// sets up every bank's address on entry, which costs more than the call.)
    #[inline(never)]
    pub(super) fn load(&mut self, vcpu: usize, intid: u32) -> Lr {
        let hw = self.hw.get(vcpu, intid).copied().flatten();
        if self.latch.get(vcpu, intid) {
            self.latch.set(vcpu, intid, false);
            mark(&mut self.lr_latch, vcpu, intid);
        }
        let mut state = LrState::Pending;
        if self.active.get(vcpu, intid) && hw.is_none() {
            self.active.set(vcpu, intid, false);
            mark(&mut self.lr_act, vcpu, intid);
            state = LrState::PendingActive;
        }
        mark(&mut self.lr_pend, vcpu, intid);
        mark(&mut self.in_lr, vcpu, intid);
        if intid >= FIRST_SPI {
            self.spi_in_lr.insert(intid);
        }
        Lr {
            intid,
            state,
            priority: self.prio.get(vcpu, intid).copied().unwrap_or(u8::MAX),
            group1: self.group.get(vcpu, intid),
            hw,
        }
    }
}

fn mark(sets: &mut [IntidSet], vcpu: usize, intid: u32) {
    if let Some(s) = sets.get_mut(vcpu) {
        s.insert(intid);
    }
}

/// The private word (INTIDs 0-31) set.
fn private_mask() -> IntidSet {
    let mut s = IntidSet::EMPTY;
    s.set_word(0, u32::MAX);
    s
}
