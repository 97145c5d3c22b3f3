//! The light data-abort path's answers in virtual mode: copies of the vGIC model's
//! fixed distributor registers (`Access::Fixed` in its register table: identification
//! and type, the same from one reset to the next), taken from the model's own 32-bit
//! reads each time a vCPU starts on a CPU, and kept per CPU. A guest read of one is
//! then answered from the exception entry, without the exit handler, the VM lookup,
//! the region lookup or the model's lock; the model stays the only source of the
//! values. A direct-mode vCPU's CPU has no copies: its distributor is the physical
//! one, filtered, on the full path.

use super::Gic;
use crate::decode::{self, Load, SyndromeRegs};
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_addr::Ipa;
use rtvisor_config::contract::aarch64::{VGIC_DIST_IPA, VGIC_DIST_SIZE};
use rtvisor_config::contract::MAX_CPUS;
use rtvisor_config::tables::VmConfig;
use rtvisor_vdev::vgic::{dist, NoHw};
use rtvisor_vdev::Width;

/// A copy in use: this bit, the word's offset in bits 47..32 (the distributor is
/// 64 KiB), its value in bits 31..0. 0: no copy.
const IN_USE: u64 = 1 << 63;

const _: () = assert!(VGIC_DIST_SIZE <= 1 << 16);

/// Copies of one VM's fixed distributor words (`dist::fixed_words`), one slot each.
#[derive(Debug)]
pub struct FixedCopies([AtomicU64; dist::FIXED_WORDS]);

impl FixedCopies {
    /// No copies: every read takes the full path.
    pub const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; dist::FIXED_WORDS])
    }

    /// Whether there are copies (a virtual-mode vCPU's): [`Gic::copy_fixed`] fills
    /// every slot or none, so the first one tells.
    #[inline(always)]
    pub fn in_use(&self) -> bool {
        self.0
            .first()
            .is_some_and(|s| s.load(Ordering::Relaxed) != 0)
    }

    /// The light path's answer to `load`, a 32-bit read at offset `off` of the
    /// emulated distributor ([`light_offset`]): when it is a fixed register, the
    /// value the transfer register gets, as the model answered the same read when
    /// the copies were taken. `None`: anything else, for the full path (which gives
    /// the same answer, slower).
    #[inline(always)]
    pub fn read(&self, load: Load, off: u64) -> Option<u64> {
        let key = IN_USE | off << 32;
        self.0
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .find(|&copy| copy & !0xffff_ffff == key)
            .map(|copy| load.value(copy & 0xffff_ffff))
    }
}

impl Default for FixedCopies {
    fn default() -> Self {
        Self::new()
    }
}

/// Per CPU: the copies of the VM whose vCPU runs there, written by that CPU when the
/// vCPU starts ([`Gic::copy_fixed`]) and read by its light path, never by another.
static COPIES: [FixedCopies; MAX_CPUS] = [const { FixedCopies::new() }; MAX_CPUS];

/// CPU `cpu`'s copies (by its index in TPIDR_EL2).
#[inline(always)]
pub fn light_copies(cpu: usize) -> Option<&'static FixedCopies> {
    COPIES.get(cpu)
}

/// Where the light path's read `load` of a data abort whose syndrome `regs` holds
/// (`decode::light_load`) goes: when it is a 32-bit read in the emulated
/// distributor, its offset there. Asks nothing of the VM, so that every other abort
/// leaves the light path at once.
#[inline(always)]
pub fn light_offset(load: Load, regs: &impl SyndromeRegs) -> Option<u64> {
    if load.width != Width::Word {
        return None;
    }
    let off = decode::abort_ipa(regs).offset_from(Ipa::new(VGIC_DIST_IPA))?;
    (off < VGIC_DIST_SIZE).then_some(off)
}

impl<W: super::GicHw> Gic<W> {
    /// Fills `copies` from this VM's model (VM `cfg`, whose vCPU is about to run
    /// where the light path reads them); none in direct mode.
    pub fn copy_fixed(&self, copies: &FixedCopies, cfg: &VmConfig) {
        let mut model = (!super::direct::<W>(cfg)).then(|| self.model.lock());
        let mut offs = dist::fixed_words();
        for slot in &copies.0 {
            let off = offs.next();
            // A fixed register reads no hardware line: `NoHw` changes nothing.
            let value = match (&mut model, off) {
                (Some(m), Some(off)) => m.dist_read(off, Width::Word, &NoHw).ok(),
                _ => None,
            };
            // Every fixed word reads without error (a model test checks it): all
            // slots are filled, or none.
            let copy = match (off, value) {
                (Some(off), Some(v)) => IN_USE | off << 32 | (v & 0xffff_ffff),
                _ => 0,
            };
            slot.store(copy, Ordering::Relaxed);
        }
    }
}
