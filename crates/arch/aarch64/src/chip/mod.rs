//! The aarch64 [`IrqChip`]: a VM's GICv3. In virtual mode it is the vGIC model
//! (`rtvisor_vdev::vgic`) behind the hardware list registers (`virt.rs`); in direct
//! mode it is the physical GIC, filtered to what the VM owns (`direct.rs`:
//! `rtvisor_vdev::gicpass`). Plain code over [`GicHw`], the hardware side the
//! hypervisor implements, so all of it is tested on the host.
//!
//! The hypervisor keeps SGIs 14 and 15 and the EL2 timer's PPI in Group 0 on every
//! CPU ([`RESERVED_PRIVATE`]): no guest access reaches them.

use crate::sysregs::{CpuIfReg, ICC_SGI1R_EL1};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use rtvisor_config::contract::aarch64;
use rtvisor_config::tables::{InterruptMode, VmConfig};
use rtvisor_core::handler::{Host, VmCtx};
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::mmio::DeviceKind;
use rtvisor_core::seam::{IrqChip, Refused};
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::vgic::{HwState, Kicked, Notify, PostedSgis, PostedSpis, VGic};
use rtvisor_vdev::Width;

mod direct;
mod fixed;
mod virt;

pub use fixed::{light_copies, light_offset, FixedCopies};

/// SGI that asks a CPU to look at its vCPU's state again (Group 0).
pub const SGI_KICK: u32 = aarch64::SGI_KICK;
/// SGI that stops a CPU for good (hypervisor fatal error, Group 0).
pub const SGI_HALT: u32 = aarch64::SGI_HALT;
/// SGIs the hypervisor keeps for itself on every physical CPU (Group 0).
pub const RESERVED_SGIS: u32 = (1 << SGI_HALT) | (1 << SGI_KICK);
/// The EL2 physical timer's PPI: the hypervisor's watchdog clock, in Group 0.
pub const HYP_TIMER_INTID: u32 = aarch64::HYP_TIMER_INTID;
/// Private interrupts the hypervisor keeps on every CPU (a direct-mode guest's
/// redistributor accesses cannot touch them).
pub const RESERVED_PRIVATE: u32 = RESERVED_SGIS | (1 << HYP_TIMER_INTID);
/// The EL1 virtual timer's PPI, HW-linked to each vCPU's own in virtual mode.
pub const VTIMER_INTID: u32 = aarch64::VTIMER_INTID;
/// The EL1 physical timer's PPI, HW-linked the same way.
pub const PTIMER_INTID: u32 = aarch64::PTIMER_INTID;
/// The private interrupts HW-linked to each vCPU's own in virtual mode: its timers.
pub const HW_LINKED_PPIS: [u32; 2] = [VTIMER_INTID, PTIMER_INTID];

/// The hardware side of a VM's GIC, which the hypervisor provides: what a change of
/// the model means for the physical CPUs, and the physical GIC a direct-mode VM
/// reaches through the filter. Every method concerns VM `vm`'s own CPUs and
/// interrupts only.
pub trait GicHw {
    /// The model of VM `vm` changed as `notify` says (vCPU `me` made the change, if
    /// one did): the vCPUs it names refresh their list registers before running guest
    /// code again (kicked if on another CPU), and HW-linked interrupts whose guest
    /// enable changed follow physically.
    fn changed(&self, vm: VmId, me: Option<VcpuId>, notify: &Notify);
    /// vCPU `me` of VM `vm` sent SGIs to the vCPUs of `targets` (posted, see
    /// [`PostedSgis`]): the same as [`GicHw::changed`] with a kick of `targets`.
    fn kick(&self, vm: VmId, me: VcpuId, targets: u32) {
        let notify = Notify {
            kick: targets,
            ..Notify::NONE
        };
        self.changed(vm, Some(me), &notify);
    }
    /// The vCPUs of `targets` of VM `vm` must refresh their list registers (a
    /// doorbell's pulse, which no vCPU of the VM made): the same as
    /// [`GicHw::changed`] with only a kick of `targets`.
    fn kick_pulsed(&self, vm: VmId, targets: u32) {
        let notify = Notify {
            kick: targets,
            ..Notify::NONE
        };
        self.changed(vm, None, &notify);
    }
    /// Direct mode: reads `width` at `off` of the physical distributor (`redist` is
    /// `None`) or of the redistributor of vCPU `redist`'s core.
    fn read(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width) -> u64;
    /// Direct mode: the matching write.
    fn write(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width, value: u64);
    /// Direct mode: sends physical Group-1 SGI `sgi` to the core of vCPU `vcpu`.
    fn send_sgi(&self, vm: VmId, vcpu: VcpuId, sgi: u32);
    /// Untrusted direct mode: reads (`write` is `None`) or writes the physical
    /// Group-1 CPU interface register `reg` of this CPU for the guest.
    fn cpu_interface(&self, reg: CpuIfReg, write: Option<u64>) -> u64;
    /// Direct mode: makes physical SPI `intid` (the VM's own) pending.
    fn set_pending(&self, intid: u32);
    /// Virtual mode: what the hardware holds of physical interrupt `pintid`, which
    /// virtual `intid` of vCPU `vcpu` (a private one; vCPU 0 for an SPI) of VM `vm`
    /// is HW-linked to, for a register read by vCPU `me` (see
    /// [`rtvisor_vdev::vgic::HwLines`]). Called with the VM's model locked.
    fn line(&self, vm: VmId, me: VcpuId, vcpu: VcpuId, intid: u32, pintid: u32) -> HwState;
    /// Whether any VM of this build may be in direct mode. A hypervisor whose scenario
    /// has none says `false`: every direct-mode branch is then known dead at compile
    /// time and the physical GIC filter (`gicpass`) is not in the image.
    const DIRECT: bool = true;
}

/// One VM's GICv3: the vGIC model and the hardware side.
#[derive(Debug)]
pub struct Gic<W> {
    model: Model,
    hw: W,
}

/// The vGIC model behind its lock, and the SGIs and SPIs posted to it without the
/// lock ([`PostedSgis`], [`PostedSpis`]): [`Model::lock`] folds them in first, so a
/// locked model has seen every SGI sent and every doorbell pulsed before.
#[derive(Debug)]
pub struct Model {
    vgic: Mutex<VGic>,
    posted: PostedSgis,
    spis: PostedSpis,
    /// vCPUs kicked by a doorbell's pulse since their last kick: only their kick
    /// tries the doorbell's shortcut (a stale bit costs one try, which is exact).
    rung: AtomicU32,
    /// The doorbell's armed receive ([`rtvisor_vdev::vgic::bell`]): the list
    /// register's value with the vCPU's index in its bits 32-39 (zero in a list
    /// register that is not HW-linked); set by a receive under the lock, cleared by
    /// every lock after it; 0 for none.
    bell: AtomicU64,
}

/// The locked model.
pub type ModelGuard<'a> = spin::mutex::MutexGuard<'a, VGic>;

impl Model {
    /// Locks the model, with every posted SGI folded into it. (The senders kicked
    /// the targets: the fold's own kick is not needed.)
    #[inline]
    pub fn lock(&self) -> ModelGuard<'_> {
        let mut g = self.lock_disarmed();
        self.fold(&mut g);
        g
    }

    /// Locks the model and clears the doorbell's armed receive: whoever holds the
    /// lock may change the model, and the armed word speaks of the model as it was
    /// when it was set. Sequentially consistent, so that a receive without the lock
    /// ([`Model::take_bell`]) that takes a post this holder's fold did not see
    /// also sees the word cleared, or ran before it was cleared.
    #[inline(always)]
    fn lock_disarmed(&self) -> ModelGuard<'_> {
        let g = self.vgic.lock();
        self.bell.store(0, Ordering::SeqCst);
        g
    }

    /// Folds what is posted into the locked model `g`. (The posters kicked the
    /// vCPUs it concerns: the fold's kicks are not needed.)
    #[inline]
    pub fn fold(&self, g: &mut VGic) {
        let _ = g.fold_posted(&self.posted);
        let _ = g.fold_spis(&self.spis);
    }

    /// Injects SPI `intid` (a doorbell's pulse): posted without the lock
    /// ([`PostedSpis::post`]), folded at once under it when the routes changed
    /// meanwhile, or injected under it when it is not an SPI of the model. Returns
    /// the vCPUs to kick.
    #[inline]
    pub fn pulse(&self, intid: u32) -> u32 {
        match self.spis.post(intid) {
            Some(kick) => kick,
            None => {
                // The routes changed meanwhile: the fold injects it (unless the
                // holder that changed them did already, and kicked).
                let mut g = self.lock_disarmed();
                let _ = g.fold_posted(&self.posted);
                let kick = g.fold_spis(&self.spis).kick;
                if PostedSpis::takes(intid) {
                    kick
                } else {
                    kick | g.inject(intid, 0).kick
                }
            }
        }
    }

    /// After a change of the locked model `g` that may move where SPIs are
    /// deliverable (a distributor write, a reset): the posters' copy of the routes
    /// follows it; the kicks are those of the SPIs posted meanwhile.
    #[inline]
    pub fn publish_routes(&self, g: &mut VGic) -> Notify {
        g.publish_routes(&self.spis)
    }

    /// The SGIs sent without the lock.
    pub fn posted(&self) -> &PostedSgis {
        &self.posted
    }

    /// Locks the model for the kick of `vcpu` whose list registers are all free:
    /// only the SGIs posted to it are taken ([`VGic::kick_sgis`]; others stay posted
    /// for the next [`Model::lock`]). With [`Kicked::General`] the guard is for the
    /// general refresh.
    #[inline(always)]
    pub fn lock_kick(&self, vcpu: usize) -> (ModelGuard<'_>, Kicked) {
        let mut g = self.vgic.lock();
        let k = g.kick_sgis(vcpu, &self.posted);
        // While a receive is armed, the shortcut of `kick_sgis` cannot apply (the
        // armed vCPU holds an SPI, every other one is unsettled), so a shortcut
        // leaves the armed word alone; the general refresh that follows may change
        // anything, and folds the posted SPIs: cleared as `lock_disarmed` does.
        if k == Kicked::General {
            self.bell.store(0, Ordering::SeqCst);
        }
        (g, k)
    }

    /// Whether a doorbell's pulse kicked `vcpu` since this was last asked.
    #[inline]
    pub fn take_rung(&self, vcpu: usize) -> bool {
        let bit = 1u32.checked_shl(vcpu as u32).unwrap_or(0);
        self.rung.load(Ordering::Relaxed) & bit != 0
            && self.rung.fetch_and(!bit, Ordering::Acquire) & bit != 0
    }

    /// [`Model::lock_kick`] when no SGI is posted to `vcpu` but a doorbell rang: the
    /// model is locked, the SPIs posted folded, and its fresh SPI, a doorbell, may be
    /// loaded ([`VGic::kick_posted_spi`]). The SGIs posted to other vCPUs stay posted
    /// (as with [`Model::lock_kick`]); with [`Kicked::General`] the caller folds them.
    /// Not inlined: the IPI's kick stays as lean as it was.
    /// When the receive loads a doorbell and leaves the model in a state that the
    /// same receive would leave as it is ([`VGic::bell`]), it arms the next one
    /// ([`Model::take_bell`]).
    #[inline(never)]
    pub fn lock_kick_spi(&self, vcpu: usize) -> (ModelGuard<'_>, Kicked) {
        let mut g = self.lock_disarmed();
        let k = g.kick_posted_spi(vcpu, &self.spis);
        if let (Kicked::Load(_), Some(lr)) = (k, g.bell(vcpu)) {
            // Under the lock: the next holder clears it before changing anything.
            let word = crate::lr::encode(&lr) | (vcpu as u64 & 0xff) << 32;
            self.bell.store(word, Ordering::Relaxed);
        }
        (g, k)
    }

    /// The doorbell's receive without the lock, for the kick of `vcpu` whose list
    /// registers are all free and to which no SGI is posted: when the receive is
    /// armed for `vcpu` and its SPI is the only one posted, the post is taken and
    /// the value to write into a list register returned; the model stays as it
    /// is, which is what the locked receive ([`Model::lock_kick_spi`]) would leave
    /// (see [`rtvisor_vdev::vgic::bell`]). `None`, with nothing taken, otherwise.
    #[inline(always)]
    pub fn take_bell(&self, vcpu: usize) -> Option<u64> {
        let word = self.bell.load(Ordering::SeqCst);
        if word == 0 || word >> 32 & 0xff != vcpu as u64 {
            return None;
        }
        // The virtual INTID, bits 0-31 of a list register.
        let intid = word as u32;
        if !self.spis.take_only(intid) {
            return None;
        }
        // A holder that cleared the word meanwhile may have changed the model
        // before the post came: give the post back to the locked receive.
        if self.bell.load(Ordering::SeqCst) != word {
            self.spis.repost(intid);
            return None;
        }
        Some(word & !(0xff << 32))
    }
}

impl<W> Gic<W> {
    /// A GIC in reset state over hardware side `hw`.
    pub const fn new(hw: W) -> Self {
        Self::with(VGic::new(), hw)
    }

    /// The chip of a VM never loaded: its vGIC all zero ([`VGic::unloaded`]), so that
    /// a static table of them costs no image bytes; `IrqChip::reset` at the VM's load
    /// gives it the reset values.
    pub const fn unloaded(hw: W) -> Self {
        Self::with(VGic::unloaded(), hw)
    }

    const fn with(vgic: VGic, hw: W) -> Self {
        Self {
            model: Model {
                vgic: Mutex::new(vgic),
                posted: PostedSgis::new(),
                spis: PostedSpis::new(),
                rung: AtomicU32::new(0),
                bell: AtomicU64::new(0),
            },
            hw,
        }
    }

    /// The vGIC model (virtual mode; in direct mode only reset).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The hardware side.
    pub fn hw(&self) -> &W {
        &self.hw
    }
}

impl<W: GicHw> Gic<W> {
    /// vCPU `me` of VM `vm` writes `value` to ICC_SGI1R_EL1: in virtual mode the model
    /// sends the SGIs (the targets are kicked), in direct mode the filtered physical
    /// SGIs go to the VM's own cores. The exception entry's light path calls this for
    /// the trap directly; the exit handler's system-register path does the same.
    #[inline]
    pub fn sgi1r_write(&self, vm: &VmCtx<'_, Self>, me: VcpuId, value: u64) {
        if direct::<W>(vm.cfg) {
            direct::send_sgi(self, vm, me, value);
        } else {
            self.sgi1r_virtual(vm.id, me, value);
        }
    }

    /// The virtual-mode half of [`Gic::sgi1r_write`], for a caller that knows VM `vm`
    /// is in virtual mode: the SGI is posted to its targets without the model's lock
    /// ([`PostedSgis`]) and every target is kicked (the kicked vCPU's refresh folds
    /// it in and finds whether it is deliverable). It needs no handler context (the
    /// exception entry's light path calls it).
    #[inline]
    pub fn sgi1r_virtual(&self, vm: VmId, me: VcpuId, value: u64) {
        let targets = self.model.posted.send(me.index(), value);
        if targets != 0 {
            self.hw.kick(vm, me, targets);
        }
    }
}

/// Whether the VM of `cfg` is in direct mode (never, when the build has no direct-mode
/// VM: [`GicHw::DIRECT`]).
fn direct<W: GicHw>(cfg: &VmConfig) -> bool {
    W::DIRECT && cfg.interrupt_mode == InterruptMode::Direct
}

impl<W: GicHw> IrqChip for Gic<W> {
    fn owns(kind: DeviceKind) -> bool {
        matches!(kind, DeviceKind::GicDist | DeviceKind::GicRedist)
    }

    fn mmio<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        host: &H,
        me: VcpuId,
        kind: DeviceKind,
        off: u64,
        width: Width,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let redist = kind == DeviceKind::GicRedist;
        if direct::<W>(vm.cfg) {
            direct::mmio(self, vm, host, redist, off, width, value)
        } else {
            virt::mmio(self, vm, me, redist, off, width, value)
        }
    }

    #[inline]
    fn register<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        host: &H,
        me: VcpuId,
        id: u32,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        if id != ICC_SGI1R_EL1 {
            return direct::cpu_interface(self, vm, host, id, value);
        }
        // ICC_SGI1R_EL1 is write-only.
        match value {
            None => Ok(Some(0)),
            Some(v) => {
                self.sgi1r_write(vm, me, v);
                Ok(None)
            }
        }
    }

    fn set_level<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        _host: &H,
        me: Option<VcpuId>,
        line: u32,
        level: bool,
    ) {
        // A direct-mode VM owns the physical GIC: its emulated devices have no
        // interrupt (it polls them).
        if direct::<W>(vm.cfg) {
            return;
        }
        let n = self.model.lock().set_level(line, 0, level);
        if n != Notify::NONE {
            self.hw.changed(vm.id, me, &n);
        }
    }

    fn pulse<H: Host>(&self, vm: &VmCtx<'_, Self>, _host: &H, line: u32) {
        if direct::<W>(vm.cfg) {
            // Its doorbells are physical SPIs it owns (configured at its start).
            self.hw.set_pending(line);
        } else {
            let kick = self.model.pulse(line);
            if kick != 0 {
                self.model.rung.fetch_or(kick, Ordering::Release);
                self.hw.kick_pulsed(vm.id, kick);
            }
        }
    }

    fn reset(&self, cfg: &VmConfig) {
        let mut gic = self.model.lock();
        gic.reset(cfg.cpus.len());
        self.model.posted.reset(gic.nvcpus());
        // Nothing is deliverable after a reset: SPIs posted meanwhile only latch.
        let _ = self.model.publish_routes(&mut gic);
        if !direct::<W>(cfg) {
            for v in 0..cfg.cpus.len() {
                // The EL1 timers of each vCPU are its own physical PPIs.
                for intid in HW_LINKED_PPIS {
                    let _ = gic.set_hw(intid, v, intid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
