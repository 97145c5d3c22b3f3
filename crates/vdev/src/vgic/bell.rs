//! The doorbell's armed receive: a kick that brings one posted SPI, taken without
//! the model's lock.
//!
//! After the doorbell's receive ([`VGic::kick_posted_spi`]) has loaded SPI `x` for
//! `vcpu` its quick way, the model is often in a state that the same receive of `x`
//! posted once more leaves exactly as it is, and loads the same list register: the
//! model already holds `x` in `vcpu`'s list registers, pending, and nothing else
//! (the guest being done with it shows only in the hardware's list registers).
//! [`VGic::bell`] says whether the model is in such a state, and gives that list
//! register. The owner of the lock keeps the answer in one word beside the model;
//! any later lock clears it. While it is set, the kicked
//! vCPU whose list registers are all free, with no SGI posted to it and `x` the only
//! SPI posted in the VM, takes the post ([`PostedSpis::take_only`]) and loads the
//! list register without the lock: what the locked receive would have done, model
//! and list register alike (the walk in `tests/spis.rs` checks it at every receive
//! that could take it).

use super::spis::PostedSpis;
use super::state::vcpu_bit;
use super::{Lr, LrState, VGic, FIRST_SPI, MAX_VCPUS, NR_IRQS};
use core::sync::atomic::Ordering::SeqCst as SEQ;

impl VGic {
    /// The list register that [`VGic::kick_posted_spi`] of `vcpu`, with only the SPI
    /// it names posted, would load while leaving the model exactly as it is now;
    /// `None` unless the model is in such a state: `vcpu` the only settled vCPU, with
    /// no fresh SPI; its list registers holding one SPI `x`, pending, its latch
    /// consumed, not active; no other SPI held anywhere; `x` routed to `vcpu` and
    /// deliverable (enabled, its group on), its own latch and active bit clear, not
    /// HW-linked.
    pub fn bell(&self, vcpu: usize) -> Option<Lr> {
        if vcpu >= self.nvcpus.min(MAX_VCPUS)
            || self.settled != vcpu_bit(vcpu)
            || self.fresh[vcpu] != 0
        {
            return None;
        }
        let held = self.in_lr[vcpu];
        let x = held.single().filter(|x| (FIRST_SPI..NR_IRQS).contains(x))?;
        let quiet = self.lr_pend[vcpu] == held
            && self.lr_latch[vcpu] == held
            && self.lr_act[vcpu].is_empty()
            && self.spi_in_lr == held;
        let (w, bit) = ((x / 32) as usize, 1u32 << (x % 32));
        let (s, i) = (w - 1, (x - FIRST_SPI) as usize);
        let ready = self.reach[vcpu].word(w)
            & self.enabled.spi_word(s)
            & self.group_ok(vcpu, w)
            & !self.latch.spi_word(s)
            & !self.active.spi_word(s)
            & bit
            != 0;
        if !quiet || !ready || self.hw.spi(i).copied().flatten().is_some() {
            return None;
        }
        Some(Lr {
            intid: x,
            state: LrState::Pending,
            priority: self.prio.spi(i).copied().unwrap_or(u8::MAX),
            group1: self.group.spi_word(s) & bit != 0,
            hw: None,
        })
    }
}

impl PostedSpis {
    /// Takes SPI `intid`'s post when it is the only SPI posted; false (nothing
    /// taken) otherwise.
    #[inline(always)]
    pub fn take_only(&self, intid: u32) -> bool {
        let Some(i) = intid.checked_sub(FIRST_SPI).map(|i| i as usize) else {
            return false;
        };
        let (w, bit) = (i / 32, 1u32 << (i % 32));
        let others = self
            .words
            .iter()
            .enumerate()
            .any(|(n, word)| n != w && word.load(SEQ) != 0);
        match self.words.get(w) {
            Some(word) if !others => word.compare_exchange(bit, 0, SEQ, SEQ).is_ok(),
            _ => false,
        }
    }

    /// Posts SPI `intid` again after [`PostedSpis::take_only`] took it (a receive
    /// that could not use it after all).
    pub fn repost(&self, intid: u32) {
        let Some(i) = intid.checked_sub(FIRST_SPI).map(|i| i as usize) else {
            return;
        };
        if let Some(word) = self.words.get(i / 32) {
            word.fetch_or(1 << (i % 32), SEQ);
        }
    }
}
