//! Posted SPIs: a doorbell's pulse ([`VGic::inject`] of an SPI) without the VM's lock.
//!
//! The ringing CPU sets the SPI's bit in a posted word ([`PostedSpis::post`]) and
//! kicks the vCPU the SPI is deliverable to, which it reads from a copy of the model's
//! routes kept beside it (per SPI, the vCPU that [`VGic::inject`] would kick, or
//! none). Whoever locks the model next folds every
//! posted SPI in with [`VGic::inject`] itself ([`VGic::fold_spis`]), so the locked
//! model is exactly what the injections would have made of it, as if each came when
//! the fold ran: a post only sets a pending latch, which is what an injection does
//! whatever the SPI's enable, group, priority or route, and posts of one SPI merge
//! as injections do in the latch.
//!
//! The copy of the routes changes only under the model's lock
//! ([`VGic::publish_routes`], after any distributor write and at reset), with a
//! change count bumped before the holder folds once more. A post reads the count,
//! the route, sets its bit, and reads the count again: if it did not change, the
//! route it kicked was the one in force when its bit was set, or the holder's fold
//! that followed the change took the bit and kicked by the new routes; if it did
//! change, the post returns `None` and the poster locks the model (folding) and
//! kicks what that fold says. Everything here is sequentially consistent, which is
//! what this argument needs.

use super::kick::Kicked;
use super::state::vcpu_bit;
use super::{ctlr, IntidSet, Lr, LrState, Notify, VGic, FIRST_SPI, MAX_VCPUS, NR_SPIS};
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering::SeqCst};

/// Posted words: one bit per SPI.
const SPI_WORDS: usize = NR_SPIS.div_ceil(32);

/// One VM's posted SPIs and the copy of its routes that posters read. Beside the
/// model, outside its lock.
#[derive(Debug)]
pub struct PostedSpis {
    /// SPIs posted and not folded yet (bit `i` of word `w`: INTID 32 + 32w + i).
    pub(super) words: [AtomicU32; SPI_WORDS],
    /// Per SPI: 1 + the vCPU it is deliverable to now, 0 for none.
    route: [AtomicU8; NR_SPIS],
    /// Changes of `route` so far.
    changes: AtomicU32,
}

impl Default for PostedSpis {
    fn default() -> Self {
        Self::new()
    }
}

impl PostedSpis {
    /// Nothing posted, no SPI deliverable anywhere.
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU32::new(0) }; SPI_WORDS],
            route: [const { AtomicU8::new(0) }; NR_SPIS],
            changes: AtomicU32::new(0),
        }
    }

    /// Makes SPI `intid` pending without the lock. Returns the vCPUs to kick (none,
    /// when the SPI is deliverable nowhere), or `None` when the routes changed
    /// meanwhile: the caller must then lock the model and act on what its fold
    /// ([`VGic::fold_spis`]) returns. An INTID that is not an SPI of the model is
    /// `None` too, and nothing is posted: the caller injects it under the lock.
    #[inline(always)]
    pub fn post(&self, intid: u32) -> Option<u32> {
        let i = usize::try_from(intid.checked_sub(FIRST_SPI)?).ok()?;
        let route = self.route.get(i)?;
        let word = self.words.get(i / 32)?;
        let before = self.changes.load(SeqCst);
        let to = route.load(SeqCst);
        word.fetch_or(1 << (i % 32), SeqCst);
        if self.changes.load(SeqCst) != before {
            return None;
        }
        Some(match to {
            0 => 0,
            t => 1u32.checked_shl(u32::from(t) - 1).unwrap_or(0),
        })
    }

    /// Whether `intid` is an SPI of the model ([`PostedSpis::post`] takes nothing
    /// else).
    pub const fn takes(intid: u32) -> bool {
        intid >= FIRST_SPI && intid < FIRST_SPI + NR_SPIS as u32
    }

    /// Whether anything is posted (a look, without taking it).
    #[inline]
    pub fn any(&self) -> bool {
        self.words.iter().any(|w| w.load(SeqCst) != 0)
    }
}

impl VGic {
    /// The doorbell's kick of `vcpu` when every one of its list registers is free and
    /// no SGI is posted to it: the SPIs posted in `posted` folded in, then
    /// [`VGic::kick_spi`]; exactly that, in every case. When the one SPI posted is
    /// `vcpu`'s and its only news since its last fill, the fold's injection and the
    /// shortcut's checks and load are done at once, without the injection's search
    /// for the receiver and its kick.
    #[inline(always)]
    pub fn kick_posted_spi(&mut self, vcpu: usize, posted: &PostedSpis) -> Kicked {
        let mut taken = [0u32; SPI_WORDS];
        // The last word with a post (model word `w`), and whether anything else
        // was posted.
        let (mut w, mut bit, mut more) = (0, 0u32, false);
        for (n, (t, word)) in taken.iter_mut().zip(posted.words.iter()).enumerate() {
            if word.load(SeqCst) != 0 {
                *t = word.swap(0, SeqCst);
                more |= bit != 0;
                (w, bit) = (n + 1, *t);
            }
        }
        if bit == 0 {
            return self.fold_taken_and_kick(vcpu, taken);
        }
        let vb = vcpu_bit(vcpu);
        if !more && bit & (bit - 1) == 0 && vcpu < self.nvcpus.min(MAX_VCPUS) {
            let x = 32 * w as u32 + bit.trailing_zeros();
            let held = self.in_lr[vcpu];
            let f = self.fresh[vcpu];
            // Entries held besides `x` that are not private, and SPIs held by
            // another vCPU's list registers.
            let mut stray = self.spi_in_lr.word(0) & !held.word(0);
            for n in 1..super::WORDS {
                let mine = if n == w { bit } else { 0 };
                stray |= held.word(n) & !mine | self.spi_in_lr.word(n) & !held.word(n);
            }
            let quick = self.settled & vb != 0
                && (f == 0 || f == x)
                && self.reach[vcpu].word(w) & bit != 0
                && stray == 0
                && held.word(0) & self.model_pending(vcpu, 0) == 0;
            if quick {
                // The injection (`vcpu` stays the only settled vCPU, `x` its fresh
                // SPI) and the shortcut after it, at once.
                self.settled = vb;
                return self.load_posted(vcpu, w - 1, bit, x);
            }
        }
        self.fold_taken_and_kick(vcpu, taken)
    }

    /// The rest of [`VGic::kick_posted_spi`]: the SPIs `taken` from the posted words
    /// injected, then [`VGic::kick_spi`]. Out of line, so that the one-post case keeps
    /// a small frame.
    #[inline(never)]
    fn fold_taken_and_kick(&mut self, vcpu: usize, taken: [u32; SPI_WORDS]) -> Kicked {
        for (n, t) in (1u32..).zip(taken) {
            let mut bits = t;
            while bits != 0 {
                let intid = 32 * n + bits.trailing_zeros();
                bits &= bits - 1;
                let _ = self.inject(intid, 0);
            }
        }
        self.kick_spi(vcpu)
    }

    /// [`VGic::kick_fresh`] of SPI `x` (bit `bit` of SPI word `s`) just made pending
    /// and reachable by `vcpu`, on the SPI words alone: its latch is set, as the
    /// injection sets it, and taken by the load when it is deliverable.
    #[inline(always)]
    fn load_posted(&mut self, vcpu: usize, s: usize, bit: u32, x: u32) -> Kicked {
        if let Some(f) = self.fresh.get_mut(vcpu) {
            *f = 0;
        }
        let g = self.group.spi_word(s);
        let mut groups = 0;
        if self.ctlr & ctlr::ENABLE_GRP1 != 0 {
            groups |= g;
        }
        if self.ctlr & ctlr::ENABLE_GRP0 != 0 {
            groups |= !g;
        }
        if self.enabled.spi_word(s) & groups & bit == 0 {
            if let Some(l) = self.latch.spi_word_mut(s) {
                *l |= bit;
            }
            self.release_all(vcpu, IntidSet::EMPTY, IntidSet::EMPTY, IntidSet::EMPTY);
            return Kicked::Nothing;
        }
        // Pending before or not, the load takes the latch.
        if let Some(l) = self.latch.spi_word_mut(s) {
            *l &= !bit;
        }
        let i = (x - FIRST_SPI) as usize;
        let hw = self.hw.spi(i).copied().flatten();
        let mut only = IntidSet::EMPTY;
        only.set_word(s + 1, bit);
        let active = match self.active.spi_word_mut(s) {
            Some(a) if hw.is_none() && *a & bit != 0 => {
                *a &= !bit;
                true
            }
            _ => false,
        };
        self.release_all(
            vcpu,
            only,
            only,
            if active { only } else { IntidSet::EMPTY },
        );
        Kicked::Load(Lr {
            intid: x,
            state: if active {
                LrState::PendingActive
            } else {
                LrState::Pending
            },
            priority: self.prio.spi(i).copied().unwrap_or(u8::MAX),
            group1: g & bit != 0,
            hw,
        })
    }

    /// Folds every SPI posted in `posted` into the model with [`VGic::inject`]: the
    /// kicks name the vCPUs those injections would have kicked. A look at the posted
    /// words when nothing is posted (every lock of the model does this).
    #[inline]
    pub fn fold_spis(&mut self, posted: &PostedSpis) -> Notify {
        if !posted.any() {
            return Notify::NONE;
        }
        self.fold_spis_now(posted)
    }

    /// [`VGic::fold_spis`] when something may be posted.
    #[inline(never)]
    fn fold_spis_now(&mut self, posted: &PostedSpis) -> Notify {
        let mut kick = 0;
        for (w, word) in (1u32..).zip(posted.words.iter()) {
            let mut bits = match word.load(SeqCst) {
                0 => continue,
                _ => word.swap(0, SeqCst),
            };
            while bits != 0 {
                let intid = 32 * w + bits.trailing_zeros();
                bits &= bits - 1;
                kick |= self.inject(intid, 0).kick;
            }
        }
        Notify {
            kick,
            ..Notify::NONE
        }
    }

    /// Copies the model's routes into `posted` (where an SPI injected now is
    /// deliverable, if anywhere) and, when any changed, folds what was posted
    /// meanwhile: the kicks are the fold's. Called with the model locked, after any
    /// change of what makes an SPI deliverable (a distributor write, a reset).
    pub fn publish_routes(&mut self, posted: &PostedSpis) -> Notify {
        let mut changed = false;
        for (intid, route) in (FIRST_SPI..).zip(posted.route.iter()) {
            let to = self
                .spi_target(intid)
                .filter(|&t| self.deliverable(t, intid))
                .and_then(|t| u8::try_from(t + 1).ok())
                .unwrap_or(0);
            if route.load(SeqCst) != to {
                route.store(to, SeqCst);
                changed = true;
            }
        }
        if !changed {
            return Notify::NONE;
        }
        posted.changes.fetch_add(1, SeqCst);
        self.fold_spis(posted)
    }
}
