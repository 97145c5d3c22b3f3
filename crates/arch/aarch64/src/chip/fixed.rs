//! The light data-abort path's answers in virtual mode: copies of the vGIC model's
//! fixed distributor registers (`Access::Fixed` in its register table: identification
//! and type, the same from one reset to the next), taken from the model's own 32-bit
//! reads at each reset of the VM. A guest read of one is then answered from the
//! exception entry, without the exit handler, the region lookup or the model's lock;
//! the model stays the only source of the values. A direct-mode VM has no copies: its
//! distributor is the physical one, filtered, on the full path.

use super::Gic;
use crate::decode::{self, Load, SyndromeRegs};
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_addr::Ipa;
use rtvisor_config::contract::aarch64::{VGIC_DIST_IPA, VGIC_DIST_SIZE};
use rtvisor_vdev::vgic::{dist, NoHw, VGic};
use rtvisor_vdev::Width;

/// A copy in use: this bit, the word's offset in bits 47..32 (the distributor is
/// 64 KiB), its value in bits 31..0. 0: no copy.
const IN_USE: u64 = 1 << 63;

const _: () = assert!(VGIC_DIST_SIZE <= 1 << 16);

/// One VM's copies, one slot per fixed distributor word (`dist::fixed_words`).
/// Written at the VM's reset only, while none of its vCPUs runs; read by any of them.
#[derive(Debug)]
pub(super) struct FixedRegs([AtomicU64; dist::FIXED_WORDS]);

impl FixedRegs {
    pub(super) const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; dist::FIXED_WORDS])
    }

    /// Takes the copies from `model`, which has just been reset.
    pub(super) fn take_from(&self, model: &mut VGic) {
        for (slot, off) in self.0.iter().zip(dist::fixed_words()) {
            // A fixed register reads no hardware line: `NoHw` changes nothing.
            let copy = match model.dist_read(off, Width::Word, &NoHw) {
                Ok(v) => IN_USE | off << 32 | (v & 0xffff_ffff),
                Err(_) => 0,
            };
            slot.store(copy, Ordering::Relaxed);
        }
    }

    /// Drops every copy: every read takes the full path.
    pub(super) fn drop_all(&self) {
        for slot in &self.0 {
            slot.store(0, Ordering::Relaxed);
        }
    }

    /// The copy of the word at offset `off` (below the distributor's size).
    #[inline(always)]
    fn word(&self, off: u64) -> Option<u32> {
        let key = IN_USE | off << 32;
        self.0
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .find(|&copy| copy & !0xffff_ffff == key)
            .map(|copy| copy as u32)
    }
}

/// Where the light path's read `load` of a data abort whose syndrome `regs` holds
/// (`decode::light_load`) goes: when it is a 32-bit read in the emulated
/// distributor, its offset there, for [`Gic::light_read`]. Asks nothing of the VM,
/// so that every other abort leaves the light path at once.
#[inline(always)]
pub fn light_offset(load: Load, regs: &impl SyndromeRegs) -> Option<u64> {
    if load.width != Width::Word {
        return None;
    }
    let off = decode::abort_ipa(regs).offset_from(Ipa::new(VGIC_DIST_IPA))?;
    (off < VGIC_DIST_SIZE).then_some(off)
}

impl<W> Gic<W> {
    /// The light path's answer to `load`, a 32-bit read at offset `off` of this VM's
    /// emulated distributor ([`light_offset`]): when it is a fixed register, the
    /// value the transfer register gets, as the model answered the same read at the
    /// VM's last reset. `None`: anything else, for the full path (which gives the
    /// same answer, slower).
    #[inline(always)]
    pub fn light_read(&self, load: Load, off: u64) -> Option<u64> {
        self.fixed.word(off).map(|v| load.value(u64::from(v)))
    }
}
