//! Interrupt sources: device injection, level lines, and SGIs between the VM's own
//! vCPUs (a trapped `ICC_SGI1R_EL1` write).

use super::state::vcpu_bit;
use super::{Notify, VGic, FIRST_SPI, NR_IRQS};

/// `ICC_SGI1R_EL1` fields.
pub mod sgi1r {
    /// TargetList, bits 15:0: one bit per Aff0 value `RS * 16 + bit`.
    pub const TARGET_LIST: u64 = 0xffff;
    /// Aff1, bits 23:16.
    pub const AFF1_SHIFT: u32 = 16;
    /// INTID, bits 27:24.
    pub const INTID_SHIFT: u32 = 24;
    /// Aff2, bits 39:32.
    pub const AFF2_SHIFT: u32 = 32;
    /// Interrupt Routing Mode, bit 40: 1 = every PE but the sender.
    pub const IRM: u64 = 1 << 40;
    /// Range Selector, bits 47:44.
    pub const RS_SHIFT: u32 = 44;
    /// Aff3, bits 55:48.
    pub const AFF3_SHIFT: u32 = 48;
}

impl VGic {
    /// The vCPU that receives `intid`: `vcpu` for a private one (if it exists),
    /// the routed vCPU for an SPI.
    fn receiver(&self, intid: u32, vcpu: usize) -> Option<usize> {
        if intid >= NR_IRQS {
            None
        } else if intid < FIRST_SPI {
            (vcpu < self.nvcpus).then_some(vcpu)
        } else {
            self.spi_target(intid)
        }
    }

    /// Kick for `target` if `intid` is deliverable there.
    fn kick_if_deliverable(&self, target: usize, intid: u32) -> Notify {
        if self.deliverable(target, intid) {
            Notify {
                kick: vcpu_bit(target),
                ..Notify::NONE
            }
        } else {
            Notify::NONE
        }
    }

    /// Makes `intid` pending (edge semantics: sets its latch, whatever its
    /// configuration). `vcpu` selects the vCPU for an SGI or PPI and is ignored for
    /// an SPI. A HW-linked interrupt is delivered with its physical INTID. An INTID
    /// out of range, or a private one of a vCPU that does not exist, is ignored.
    /// The kick names the receiving vCPU when the interrupt is deliverable now.
    pub fn inject(&mut self, intid: u32, vcpu: usize) -> Notify {
        if intid >= NR_IRQS || (intid < FIRST_SPI && vcpu >= self.nvcpus) {
            self.unsettle();
            return Notify::NONE;
        }
        self.latch.set(vcpu, intid, true);
        match self.receiver(intid, vcpu) {
            Some(t) => {
                self.freshen(t, intid);
                self.kick_if_deliverable(t, intid)
            }
            None => {
                self.unsettle();
                Notify::NONE
            }
        }
    }

    /// Drives the input line of `intid` (`vcpu` as for [`VGic::inject`]). A
    /// level-sensitive interrupt is pending while the line is high; an
    /// edge-triggered one latches on a rising edge.
    ///
    /// A line driven to the level it already has changes nothing, so it leaves
    /// every vCPU's settled state alone (a device that drives its line after every
    /// access keeps the kick shortcuts working); a real change unsettles them all.
    pub fn set_level(&mut self, intid: u32, vcpu: usize, high: bool) -> Notify {
        if intid >= NR_IRQS || (intid < FIRST_SPI && vcpu >= self.nvcpus) {
            return Notify::NONE;
        }
        let was = self.level.get(vcpu, intid);
        if was == high {
            return Notify::NONE;
        }
        self.unsettle();
        self.level.set(vcpu, intid, high);
        if !high {
            return Notify::NONE;
        }
        if self.edge.get(vcpu, intid) {
            self.latch.set(vcpu, intid, true);
        }
        match self.receiver(intid, vcpu) {
            Some(t) => self.kick_if_deliverable(t, intid),
            None => Notify::NONE,
        }
    }

    /// The vCPUs an `ICC_SGI1R_EL1` value written by `from` targets in this VM.
    ///
    /// vCPU `i` has affinity `0.0.0.i`, so a target list only names vCPUs when
    /// Aff3, Aff2, Aff1 and RS are zero; targets at or past `nvcpus` are dropped.
    /// IRM = 1 targets every other vCPU of this VM. Nothing ever leaves the VM.
    pub fn sgi_targets(&self, from: usize, value: u64) -> u32 {
        super::posted::sgi_targets(self.nvcpus, from, value)
    }

    /// Handles a trapped `ICC_SGI1R_EL1` write by vCPU `from`: makes SGI
    /// `value[27:24]` pending on each target ([`VGic::sgi_targets`]). The kick
    /// names the targets for which it is deliverable now.
    pub fn send_sgi(&mut self, from: usize, value: u64) -> Notify {
        let intid = super::posted::sgi_intid(value);
        let mut kick = 0;
        // Only the targets are visited (each one exists: `sgi_targets` says so).
        let mut rest = self.sgi_targets(from, value);
        while rest != 0 {
            let t = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            self.latch.set(t, intid, true);
            self.set_settled(t, false);
            if self.deliverable(t, intid) {
                kick |= vcpu_bit(t);
            }
        }
        Notify {
            kick,
            ..Notify::NONE
        }
    }
}
