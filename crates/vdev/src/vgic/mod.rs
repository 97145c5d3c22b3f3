//! The virtual GICv3 of one VM: an emulated distributor, one emulated
//! redistributor per vCPU, and the bookkeeping behind the hardware list registers.
//!
//! The hypervisor holds one [`VGic`] per VM (behind its lock), calls
//! [`VGic::dist_read`]/[`VGic::dist_write`] and [`VGic::redist_read`]/
//! [`VGic::redist_write`] on trapped accesses, injects with [`VGic::inject`],
//! [`VGic::set_level`] and [`VGic::send_sgi`], and around every guest entry runs
//! [`VGic::sync_lrs`] (after the exit, with the list registers read back) and
//! [`VGic::flush_lrs`] (before the entry, then writes the list registers).
//!
//! Model (what the guest sees):
//! - One security state, Group 1 non-secure view, `GICD_CTLR.DS = 1` layout:
//!   bit 0 EnableGrp0, bit 1 EnableGrp1 (read-write), bit 4 ARE and bit 6 DS read
//!   as one (writes ignored), bit 31 RWP reads zero. Affinity routing is always on.
//! - INTIDs `0..NR_IRQS`: SGIs 0-15 and PPIs 16-31 banked per vCPU (in the
//!   redistributor; the distributor's banks for them read as zero, writes ignored),
//!   SPIs 32-127 shared. No LPIs, no extended ranges.
//! - Every interrupt has enable, pending latch, active, priority (all 8 bits),
//!   group, edge/level configuration, and a line level; SPIs have a route
//!   (`GICD_IROUTER`): Aff3.Aff2.Aff1 = 0 and Aff0 = vCPU index, or IRM = 1 which
//!   delivers to vCPU 0. A route that names no vCPU of this VM delivers nowhere.
//! - Reset values follow KVM's GICv3: every interrupt in Group 1 (so a bare-metal
//!   guest that never writes `IGROUPR` works), priority 0, disabled, SGIs edge
//!   (fixed), PPIs and SPIs level, SPIs routed to vCPU 0, redistributors asleep
//!   (`GICR_WAKER.ProcessorSleep = 1`).
//! - An interrupt is pending when its latch is set (edge, `ISPENDR`, [`VGic::inject`]),
//!   or it is level-sensitive and its line is high, or a list register holds it
//!   pending. `ISPENDR`/`ISACTIVER` reads include list-register state as of the
//!   last [`VGic::sync_lrs`]/[`VGic::flush_lrs`].
//! - A HW-linked interrupt ([`VGic::set_hw`]) also reads as pending or active when
//!   the hardware says so ([`HwLines`], asked by [`VGic::dist_read`] and
//!   [`VGic::redist_read`] for the linked INTIDs of the word a pending or active
//!   register read covers): a level-sensitive physical line, such as a timer's
//!   output, is pending while it is asserted, whatever the guest's enable. This
//!   only changes what reads show; delivery is the model's and the list registers'.
//! - SGIs carry no source (affinity routing). An SGI is made pending whatever its
//!   group at the target.
//! - The model's vCPU `i` has affinity `0.0.0.i`; the hypervisor must give the vCPU
//!   the same `VMPIDR_EL2` so that `GICR_TYPER` and `ICC_SGI1R_EL1` agree with it.
//!
//! Errors: an offset inside no register is [`MmioError::NoRegister`], a bad width
//! or misaligned access [`MmioError::BadWidth`], a write to a read-only register
//! [`MmioError::ReadOnly`]; the model is unchanged and the caller chooses the
//! policy (read-as-zero / write-ignored, or an abort). Register banks are
//! described in full architectural size (for example `IPRIORITYR` up to INTID
//! 1019), so every offset Linux's `irq-gic-v3` touches is a register; banks beyond
//! `NR_IRQS` and the reserved/secure-only ones (`ITARGETSR`, `IGRPMODR`, `NSACR`)
//! read as zero and ignore writes.
//!
//! List registers: see [`VGic::flush_lrs`] and [`VGic::sync_lrs`]. The model never
//! needs an exit per EOI: [`Flush::underflow`] tells when the maintenance interrupt
//! (`ICH_HCR_EL2.UIE`) is worth enabling.

pub mod bell;
mod bits;
pub mod dist;
mod kick;
mod lrs;
mod posted;
pub mod redist;
pub mod sgi;
mod spis;
mod state;
mod types;

pub use kick::Kicked;
pub use posted::{sgi_intid, sgi_targets, PostedSgis};
pub use spis::PostedSpis;
pub use state::{IntidIter, IntidSet};
pub use types::{Flush, HwError, HwLines, HwLink, HwState, Lr, LrState, NoHw, Notify};

use crate::{MmioError, Width};
use rtvisor_config::contract::aarch64 as contract;
use state::{Bank, PerIrq};

/// Largest number of vCPUs of one VM (the machine contract's limit).
pub const MAX_VCPUS: usize = rtvisor_config::contract::MAX_VCPUS;
/// Number of INTIDs modelled: SGIs 0-15, PPIs 16-31, SPIs 32-127 (the machine
/// contract's `VGIC_INTIDS`: the validator refuses a device SPI beyond it in a
/// virtual-mode VM).
pub const NR_IRQS: u32 = contract::VGIC_INTIDS;
/// First SPI.
pub const FIRST_SPI: u32 = 32;
/// Size of one redistributor (RD_base frame + SGI_base frame).
pub const GICR_FRAME_SIZE: u64 = contract::VGIC_REDIST_FRAME;
/// Size of the distributor region.
pub const GICD_SIZE: u64 = contract::VGIC_DIST_SIZE;

/// Number of SPIs.
const NR_SPIS: usize = (NR_IRQS - FIRST_SPI) as usize;
/// 32-bit words of one bit per INTID.
const WORDS: usize = (NR_IRQS / 32) as usize;

const _: () = assert!(
    MAX_VCPUS <= 16,
    "vCPU masks and SGI targeting assume Aff0 < 16"
);
const _: () = assert!(NR_IRQS.is_multiple_of(32) && NR_IRQS > FIRST_SPI && NR_IRQS <= 1020);

/// Value of `GICD_IIDR` and `GICR_IIDR`: ProductID 0x52 ('R' for rtvisor),
/// variant 0, revision 0, implementer 0x43B (JEP106 code of Arm, the architecture
/// owner).
pub const IIDR: u32 = 0x5200_043b;
/// Value of `GICD_PIDR2`/`GICR_PIDR2`: ArchRev 3 (GICv3) in bits 7:4.
pub const PIDR2: u32 = 0x3b;

/// `GICD_CTLR` bits.
pub mod ctlr {
    /// Enable Group 0 interrupts.
    pub const ENABLE_GRP0: u32 = 1 << 0;
    /// Enable Group 1 interrupts.
    pub const ENABLE_GRP1: u32 = 1 << 1;
    /// Affinity routing enabled (reads as one).
    pub const ARE: u32 = 1 << 4;
    /// Disable security (reads as one: a single security state).
    pub const DS: u32 = 1 << 6;
    /// Register write pending (reads as zero: writes take effect at once).
    pub const RWP: u32 = 1 << 31;
}

/// `GICR_WAKER` bits.
pub mod waker {
    /// The redistributor's PE is asleep (read-write).
    pub const PROCESSOR_SLEEP: u32 = 1 << 1;
    /// Mirrors `PROCESSOR_SLEEP` (read-only).
    pub const CHILDREN_ASLEEP: u32 = 1 << 2;
}

/// The virtual GICv3 state of one VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VGic {
    nvcpus: usize,
    ctlr: u32,
    /// vCPU whose redistributor the current register access targets (set by
    /// `redist_read`/`redist_write` before dispatching through the table).
    cur: usize,
    enabled: Bank,
    /// Pending latch (edge, `ISPENDR`, injection); level lines are in `level`.
    latch: Bank,
    active: Bank,
    group: Bank,
    /// Configured edge-triggered (`ICFGR` bit 1 of the field).
    edge: Bank,
    /// Line level of level-sensitive inputs.
    level: Bank,
    prio: PerIrq<u8>,
    hw: PerIrq<Option<u32>>,
    /// `GICD_IROUTER` as written (valid bits only), per SPI.
    irouter: [u64; NR_SPIS],
    /// Per vCPU: INTIDs it may receive (its private ones and the SPIs routed to it).
    reach: [IntidSet; MAX_VCPUS],
    waker: [u32; MAX_VCPUS],
    /// Per vCPU: INTIDs its list registers hold (not Invalid).
    in_lr: [IntidSet; MAX_VCPUS],
    /// Per vCPU: of those, pending (Pending or PendingActive).
    lr_pend: [IntidSet; MAX_VCPUS],
    /// Per vCPU: of those, active (Active or PendingActive).
    lr_act: [IntidSet; MAX_VCPUS],
    /// Per vCPU: of those, the ones whose latch was consumed when loaded (restored
    /// if the list register is taken back).
    lr_latch: [IntidSet; MAX_VCPUS],
    /// SPIs held by some vCPU's list register.
    spi_in_lr: IntidSet,
    /// vCPUs with nothing deliverable outside their list registers since their
    /// last fill (see `kick.rs`).
    settled: u32,
    /// Per settled vCPU: the one SPI made pending for it since its last fill (0 for
    /// none; see `kick.rs`). Meaningless (stale) while the vCPU is not settled.
    fresh: [u32; MAX_VCPUS],
    /// The hardware's word of HW-linked state for the register read in progress
    /// (set just before the read's dispatch, cleared after it).
    sample: Option<Sample>,
}

/// The hardware's pending and active bits of the HW-linked INTIDs of word `n` of
/// `vcpu`, for one register read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Sample {
    vcpu: usize,
    n: usize,
    pending: u32,
    active: u32,
}

impl Default for VGic {
    fn default() -> Self {
        Self::new()
    }
}

impl VGic {
    /// A vGIC with no vCPUs; call [`VGic::reset`] before use.
    pub const fn new() -> Self {
        Self {
            nvcpus: 0,
            ctlr: 0,
            cur: 0,
            enabled: Bank::ZERO,
            latch: Bank::ZERO,
            active: Bank::ZERO,
            group: Bank::ONES,
            edge: Bank::SGIS_EDGE,
            level: Bank::ZERO,
            prio: PerIrq::filled(0),
            hw: PerIrq::filled(None),
            irouter: [0; NR_SPIS],
            reach: [IntidSet::EMPTY; MAX_VCPUS],
            waker: [waker::PROCESSOR_SLEEP | waker::CHILDREN_ASLEEP; MAX_VCPUS],
            in_lr: [IntidSet::EMPTY; MAX_VCPUS],
            lr_pend: [IntidSet::EMPTY; MAX_VCPUS],
            lr_act: [IntidSet::EMPTY; MAX_VCPUS],
            lr_latch: [IntidSet::EMPTY; MAX_VCPUS],
            spi_in_lr: IntidSet::EMPTY,
            settled: 0,
            fresh: [0; MAX_VCPUS],
            sample: None,
        }
    }

    /// A vGIC whose VM was never loaded: all zero (no groups, no edge-triggered SGIs,
    /// redistributors awake), so that a static table of them costs no image bytes
    /// (`.bss`). [`VGic::reset`] gives it the reset values before its guest runs.
    pub const fn unloaded() -> Self {
        Self {
            group: Bank::ZERO,
            edge: Bank::ZERO,
            waker: [0; MAX_VCPUS],
            ..Self::new()
        }
    }

    /// Returns every register and interrupt state to reset values, forgets all
    /// list-register bookkeeping (the caller must also invalidate the hardware
    /// list registers), and sets the vCPU count (clamped to [`MAX_VCPUS`]).
    ///
    /// HW links ([`VGic::set_hw`]) are configuration, not guest state: they are
    /// kept. Physical interrupts still active on behalf of the old guest are the
    /// caller's to deactivate.
    pub fn reset(&mut self, nvcpus: usize) {
        let hw = self.hw;
        *self = Self::new();
        self.hw = hw;
        self.nvcpus = nvcpus.min(MAX_VCPUS);
        self.recompute_reach();
    }

    /// Number of vCPUs.
    pub const fn nvcpus(&self) -> usize {
        self.nvcpus
    }

    /// Guest read of the distributor at `offset` from its base; `lines` tells the
    /// hardware state of HW-linked SPIs.
    pub fn dist_read(
        &mut self,
        offset: u64,
        width: Width,
        lines: &impl HwLines,
    ) -> Result<u64, MmioError> {
        // SPIs are shared: the distributor's banks are read as vCPU 0 sees them.
        self.sample = dist::live_word(offset).map(|n| self.sample_word(0, n, lines));
        let v = dist::REGS.read(self, offset, width);
        self.sample = None;
        v
    }

    /// Guest write to the distributor at `offset` from its base.
    pub fn dist_write(
        &mut self,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<Notify, MmioError> {
        self.unsettle();
        dist::REGS.write(self, offset, width, value)
    }

    /// Guest read of vCPU `vcpu`'s redistributor at `offset` from the start of
    /// its 128 KiB frame; `lines` tells the hardware state of its HW-linked PPIs. A
    /// vCPU that does not exist is [`MmioError::NoRegister`].
    pub fn redist_read(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: Width,
        lines: &impl HwLines,
    ) -> Result<u64, MmioError> {
        if vcpu >= self.nvcpus {
            return Err(MmioError::NoRegister);
        }
        self.cur = vcpu;
        self.sample = redist::live_word(offset).map(|n| self.sample_word(vcpu, n, lines));
        let v = redist::REGS.read(self, offset, width);
        self.sample = None;
        v
    }

    /// Asks `lines` for the HW-linked INTIDs of word `n` of `vcpu`.
    fn sample_word(&self, vcpu: usize, n: usize, lines: &impl HwLines) -> Sample {
        let mut sample = Sample {
            vcpu,
            n,
            pending: 0,
            active: 0,
        };
        let base = u32::try_from(n).unwrap_or(u32::MAX).saturating_mul(32);
        for bit in 0..32 {
            let intid = base.saturating_add(bit);
            if let Some(pintid) = self.hw.get(vcpu, intid).copied().flatten() {
                let hw = lines.state(vcpu, intid, pintid);
                sample.pending |= u32::from(hw.pending) << bit;
                sample.active |= u32::from(hw.active) << bit;
            }
        }
        sample
    }

    /// The hardware's (pending, active) bits of word `n` of `vcpu` for the read in
    /// progress; zero outside a read.
    pub(super) fn hw_word(&self, vcpu: usize, n: usize) -> (u32, u32) {
        match self.sample {
            Some(s) if s.vcpu == vcpu && s.n == n => (s.pending, s.active),
            _ => (0, 0),
        }
    }

    /// Guest write to vCPU `vcpu`'s redistributor at `offset` from the start of
    /// its frame.
    pub fn redist_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<Notify, MmioError> {
        self.unsettle();
        if vcpu >= self.nvcpus {
            return Err(MmioError::NoRegister);
        }
        self.cur = vcpu;
        redist::REGS.write(self, offset, width, value)
    }

    /// Splits an offset into the redistributor region into (vCPU, offset in its
    /// frame); `None` past the last vCPU's frame.
    pub fn redist_split(&self, region_offset: u64) -> Option<(usize, u64)> {
        let vcpu = usize::try_from(region_offset / GICR_FRAME_SIZE).ok()?;
        (vcpu < self.nvcpus).then_some((vcpu, region_offset % GICR_FRAME_SIZE))
    }

    /// Links virtual `intid` (a PPI of `vcpu`, or an SPI, where `vcpu` is ignored)
    /// to physical `pintid`: list registers for it carry the HW bit.
    pub fn set_hw(&mut self, intid: u32, vcpu: usize, pintid: u32) -> Result<(), HwError> {
        self.unsettle();
        if !(16..1020).contains(&pintid) {
            return Err(HwError::BadPintid);
        }
        if intid < 16 || (intid < FIRST_SPI && vcpu >= MAX_VCPUS) {
            return Err(HwError::BadIntid);
        }
        let slot = self.hw.get_mut(vcpu, intid).ok_or(HwError::BadIntid)?;
        *slot = Some(pintid);
        Ok(())
    }

    /// Removes the HW link of `intid` (of `vcpu` for a PPI), if any.
    pub fn clear_hw(&mut self, intid: u32, vcpu: usize) {
        self.unsettle();
        if let Some(slot) = self.hw.get_mut(vcpu, intid) {
            *slot = None;
        }
    }

    /// The HW link of `intid` (of `vcpu` for a private one) and whether the guest
    /// has it enabled.
    pub fn hw_link(&self, vcpu: usize, intid: u32) -> Option<HwLink> {
        let pintid = self.hw.get(vcpu, intid).copied().flatten()?;
        Some(HwLink {
            pintid,
            enabled: self.enabled.get(vcpu, intid),
        })
    }

    /// Whether `intid` (of `vcpu` for a private one) is pending as the guest sees
    /// it (latch, high level-sensitive line, or a pending list register).
    pub fn is_pending(&self, vcpu: usize, intid: u32) -> bool {
        self.pending_view(vcpu).contains(intid)
    }

    /// Whether `intid` is active as the guest sees it.
    pub fn is_active(&self, vcpu: usize, intid: u32) -> bool {
        self.active_view(vcpu).contains(intid)
    }

    /// Whether `intid` is enabled.
    pub fn is_enabled(&self, vcpu: usize, intid: u32) -> bool {
        self.enabled.get(vcpu, intid)
    }

    /// The priority of `intid`.
    pub fn priority(&self, vcpu: usize, intid: u32) -> Option<u8> {
        self.prio.get(vcpu, intid).copied()
    }

    /// The vCPU an SPI is routed to, if any.
    pub fn spi_target(&self, intid: u32) -> Option<usize> {
        if intid < FIRST_SPI {
            return None;
        }
        (0..self.nvcpus).find(|&v| self.reach.get(v).is_some_and(|r| r.contains(intid)))
    }
}

#[cfg(test)]
mod tests;
