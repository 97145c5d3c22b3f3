//! The public value types of the vGIC interface.

#[cfg(doc)]
use super::VGic;
use super::{state, IntidSet};

/// State of one list register, as the hardware encodes it (`ICH_LR<n>_EL2.State`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LrState {
    /// Free.
    Invalid,
    /// Pending, not yet acknowledged by the guest.
    Pending,
    /// Acknowledged, not yet deactivated.
    Active,
    /// Active, and pending again.
    PendingActive,
}

/// The abstract content of one list register.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Lr {
    /// Virtual INTID.
    pub intid: u32,
    /// State.
    pub state: LrState,
    /// Priority, all 8 bits (the hypervisor keeps the bits `ICH_VTR_EL2` has).
    pub priority: u8,
    /// Group 1 (else Group 0).
    pub group1: bool,
    /// Physical INTID when the interrupt is HW-linked (`ICH_LR.HW = 1`): the
    /// guest's deactivation deactivates it.
    pub hw: Option<u32>,
}

impl Lr {
    /// A free list register.
    pub const INVALID: Lr = Lr {
        intid: 0,
        state: LrState::Invalid,
        priority: 0,
        group1: false,
        hw: None,
    };
}

impl Default for Lr {
    fn default() -> Self {
        Self::INVALID
    }
}

/// Result of [`VGic::flush_lrs`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Flush {
    /// Deliverable interrupts were left out for lack of free list registers: enable
    /// the underflow maintenance interrupt (`ICH_HCR_EL2.UIE`) for this entry.
    pub underflow: bool,
}

/// What the caller must do after a state change.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Notify {
    /// Bit `i`: vCPU `i` must run [`VGic::flush_lrs`] before it next runs guest code
    /// (a vCPU running on another physical CPU needs a kick to exit).
    pub kick: u32,
    /// HW-linked INTIDs whose enable bit the guest changed: look each up with
    /// [`VGic::hw_link`] and enable or disable the physical interrupt. INTIDs below
    /// 32 refer to the vCPU whose redistributor was written.
    pub hw_changed: IntidSet,
}

impl Notify {
    /// Nothing to do.
    pub const NONE: Notify = Notify {
        kick: 0,
        hw_changed: IntidSet::EMPTY,
    };

    /// Both notifications.
    pub fn or(self, other: Notify) -> Notify {
        Notify {
            kick: self.kick | other.kick,
            hw_changed: self.hw_changed.or(other.hw_changed),
        }
    }

    /// Whether vCPU `vcpu` must re-evaluate its list registers.
    pub fn kicks(&self, vcpu: usize) -> bool {
        state::vcpu_bit(vcpu) & self.kick != 0
    }
}

/// The physical side of a HW-linked interrupt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HwLink {
    /// Physical INTID.
    pub pintid: u32,
    /// Whether the guest has the virtual interrupt enabled.
    pub enabled: bool,
}

/// Why [`VGic::set_hw`] refused a link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HwError {
    /// The virtual INTID is an SGI, out of range, or its vCPU does not exist.
    BadIntid,
    /// The physical INTID is not a PPI or SPI (16..=1019).
    BadPintid,
}

/// What the hardware holds of a HW-linked interrupt now, as a guest's register read
/// should see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct HwState {
    /// The physical line is asserted (or latched pending): for a timer, its output
    /// (`ENABLE && ISTATUS && !IMASK`), whether or not the guest has the interrupt
    /// enabled.
    pub pending: bool,
    /// The guest has acknowledged it and not yet deactivated it.
    pub active: bool,
}

/// The hardware side of HW-linked interrupts, which the interrupt controller's
/// hardware side provides to the register reads: `ISPENDR`/`ICPENDR` and
/// `ISACTIVER`/`ICACTIVER` of a HW-linked interrupt show the model's state OR this.
/// Only the linked INTIDs of the word being read are asked, once per read, while
/// the model is borrowed: an implementation must not reach for the model again.
pub trait HwLines {
    /// The state of the physical interrupt `pintid` that virtual `intid` is linked to
    /// (of vCPU `vcpu` for a private one; for an SPI, `vcpu` is 0).
    fn state(&self, vcpu: usize, intid: u32, pintid: u32) -> HwState;
}

/// No hardware behind the links (host tests, or a caller that has none): every line
/// is low and nothing is active.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NoHw;

impl HwLines for NoHw {
    fn state(&self, _vcpu: usize, _intid: u32, _pintid: u32) -> HwState {
        HwState::default()
    }
}
