//! The ICH_LR<n>_EL2 format: a model list register ([`Lr`]) as the value the
//! hardware holds, and back. Plain bit work, so the chip's host tests use it too
//! (`ich` reads and writes the registers).

use rtvisor_vdev::vgic::{Lr, LrState};

/// ICH_LR<n>_EL2.HW: the virtual interrupt is linked to physical interrupt pINTID.
pub(crate) const LR_HW: u64 = 1 << 61;
/// ICH_LR<n>_EL2.Group: Group 1.
pub(crate) const LR_GROUP1: u64 = 1 << 60;

/// ICH_LR<n>_EL2 value for a model list register.
#[inline]
pub fn encode(lr: &Lr) -> u64 {
    let state = match lr.state {
        LrState::Invalid => return 0,
        LrState::Pending => 1u64,
        LrState::Active => 2,
        LrState::PendingActive => 3,
    };
    let hw = lr.hw.map_or(0, |p| LR_HW | (u64::from(p) & 0x1fff) << 32);
    let group = if lr.group1 { LR_GROUP1 } else { 0 };
    state << 62 | hw | group | u64::from(lr.priority) << 48 | u64::from(lr.intid)
}

/// The model view of an ICH_LR<n>_EL2 value.
pub fn decode(v: u64) -> Lr {
    let state = match v >> 62 {
        0 => return Lr::INVALID,
        1 => LrState::Pending,
        2 => LrState::Active,
        _ => LrState::PendingActive,
    };
    Lr {
        intid: v as u32,
        state,
        priority: (v >> 48) as u8,
        group1: v & LR_GROUP1 != 0,
        hw: (v & LR_HW != 0).then_some(((v >> 32) & 0x1fff) as u32),
    }
}
