//! Posted SGIs: the lock-free half of a trapped `ICC_SGI1R_EL1` write.
//!
//! The sender does not take the VM's lock: it works out the targets in closed form
//! ([`sgi_targets`], from the VM's vCPU count alone) and sets the SGI's bit in each
//! target's posted word ([`PostedSgis::post`]), then kicks them. Whoever locks the
//! model next folds every posted word into the pending latches
//! ([`VGic::fold_posted`]) before doing anything else, so the model, once locked,
//! is exactly what [`VGic::send_sgi`] would have made of the same writes. The
//! posted words therefore carry only "set pending" requests: setting an SGI's latch
//! is what a write does whatever its enable, group or priority, and requests for
//! one SGI merge, as they do in the latch.
//!
//! Order: a post (the target's word, then the VM's mask of vCPUs with something
//! posted) happens before the sender's kick (both on the sender's CPU), and the
//! kicked CPU locks the model (folding) after it takes the kick; a post seen by
//! another CPU's fold meanwhile is in the latch when the kicked CPU looks. A fold
//! that runs between a post's two writes leaves that post for the next lock, as if
//! it came a little later.

use super::sgi::sgi1r;
use super::state::vcpu_bit;
use super::{Notify, VGic, MAX_VCPUS};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// The vCPUs an `ICC_SGI1R_EL1` value written by vCPU `from` targets in a VM of
/// `nvcpus` vCPUs (see [`VGic::sgi_targets`], which is this with the model's count).
pub fn sgi_targets(nvcpus: usize, from: usize, value: u64) -> u32 {
    if from >= nvcpus {
        return 0;
    }
    // One bit below `nvcpus` each (at most MAX_VCPUS <= 16, checked in mod.rs).
    let all = vcpu_bit(nvcpus.min(MAX_VCPUS)).wrapping_sub(1);
    if value & sgi1r::IRM != 0 {
        return all & !vcpu_bit(from);
    }
    // Aff1, Aff2, Aff3 and RS must all be zero for a target list to name a vCPU.
    const ELSEWHERE: u64 = (0xff << sgi1r::AFF1_SHIFT)
        | (0xff << sgi1r::AFF2_SHIFT)
        | (0xff << sgi1r::AFF3_SHIFT)
        | (0xf << sgi1r::RS_SHIFT);
    if value & ELSEWHERE != 0 {
        return 0;
    }
    u32::try_from(value & sgi1r::TARGET_LIST).unwrap_or(0) & all
}

/// The SGI number (INTID) of an `ICC_SGI1R_EL1` value.
pub fn sgi_intid(value: u64) -> u32 {
    u32::try_from((value >> sgi1r::INTID_SHIFT) & 0xf).unwrap_or(0)
}

/// One VM's posted SGIs: per vCPU, a bit per SGI a sender made pending that the
/// model has not folded in yet. Beside the model, outside its lock.
#[derive(Debug)]
pub struct PostedSgis {
    nvcpus: AtomicUsize,
    /// vCPUs whose word may hold something (set after the word, by the sender):
    /// a fold with nothing posted anywhere looks at this alone.
    vcpus: AtomicU32,
    words: [AtomicU32; MAX_VCPUS],
}

impl Default for PostedSgis {
    fn default() -> Self {
        Self::new()
    }
}

impl PostedSgis {
    /// No vCPU, nothing posted.
    pub const fn new() -> Self {
        Self {
            nvcpus: AtomicUsize::new(0),
            vcpus: AtomicU32::new(0),
            words: [const { AtomicU32::new(0) }; MAX_VCPUS],
        }
    }

    /// Drops whatever is posted and sets the vCPU count senders target from (the
    /// model's own count; called with the model locked, at its reset).
    pub fn reset(&self, nvcpus: usize) {
        for w in &self.words {
            w.store(0, Ordering::Relaxed);
        }
        self.vcpus.store(0, Ordering::Relaxed);
        self.nvcpus.store(nvcpus.min(MAX_VCPUS), Ordering::Release);
    }

    /// The vCPU count senders target from.
    pub fn nvcpus(&self) -> usize {
        self.nvcpus.load(Ordering::Acquire)
    }

    /// vCPU `from` writes `value` to ICC_SGI1R_EL1: its SGI is posted to each target.
    /// Returns the targets (to be kicked).
    #[inline]
    pub fn send(&self, from: usize, value: u64) -> u32 {
        let targets = sgi_targets(self.nvcpus(), from, value);
        self.post(targets, sgi_intid(value));
        targets
    }

    /// Posts SGI `intid` (0..16; others are ignored) to every vCPU in `targets`.
    pub fn post(&self, targets: u32, intid: u32) {
        let Some(bit) = 1u32.checked_shl(intid).filter(|_| intid < 16) else {
            return;
        };
        let mut rest = targets;
        while rest != 0 {
            let t = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if let Some(w) = self.words.get(t) {
                w.fetch_or(bit, Ordering::Release);
            }
        }
        if targets != 0 {
            self.vcpus.fetch_or(targets, Ordering::Release);
        }
    }

    /// Takes the mask of vCPUs whose words may hold something.
    fn take_vcpus(&self) -> u32 {
        match self.vcpus.load(Ordering::Relaxed) {
            0 => 0,
            _ => self.vcpus.swap(0, Ordering::Acquire),
        }
    }

    /// Whether anything is posted to vCPU `vcpu` (a look, without taking it).
    pub fn any(&self, vcpu: usize) -> bool {
        self.words
            .get(vcpu)
            .is_some_and(|w| w.load(Ordering::Relaxed) != 0)
    }

    /// Takes what is posted to vCPU `vcpu` (0 when nothing, without a write).
    pub(super) fn take(&self, vcpu: usize) -> u32 {
        match self.words.get(vcpu) {
            Some(w) if w.load(Ordering::Relaxed) != 0 => w.swap(0, Ordering::Acquire),
            _ => 0,
        }
    }
}

impl VGic {
    /// Folds everything posted in `posted` into the pending latches, as
    /// [`VGic::send_sgi`] would have set them. The kick names the vCPUs for which a
    /// folded SGI is deliverable now (the senders kicked every target already).
    pub fn fold_posted(&mut self, posted: &PostedSgis) -> Notify {
        let mut kick = 0;
        let mut vcpus = posted.take_vcpus() & self.all_vcpus();
        while vcpus != 0 {
            let t = vcpus.trailing_zeros() as usize;
            vcpus &= vcpus - 1;
            let mut sgis = posted.take(t);
            if sgis != 0 {
                self.set_settled(t, false);
            }
            while sgis != 0 {
                let intid = sgis.trailing_zeros();
                sgis &= sgis - 1;
                self.latch.set(t, intid, true);
                if self.deliverable(t, intid) {
                    kick |= vcpu_bit(t);
                }
            }
        }
        Notify {
            kick,
            ..Notify::NONE
        }
    }
}
