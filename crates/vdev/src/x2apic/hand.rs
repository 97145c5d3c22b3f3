//! The interrupt state a backend's hardware keeps in the model's place (VT-x's
//! virtual-interrupt delivery, "APICv"): the hardware holds IRR, ISR and TPR in its
//! virtual-APIC page, delivers a requested vector when the guest can take it and
//! retires it at the guest's EOI, with no exit for any of it. The model then keeps
//! no vector of its own:
//! - [`X2Apic::hand_over`] gives the hardware what the model held when the backend
//!   starts (the model keeps an empty ISR and a TPR of 0, so that its PPR is 0);
//! - vectors accepted since (IPIs, the I/O APIC, the timer; by any CPU, under the
//!   model's lock) wait in the model's IRR as posted ones, and
//!   [`X2Apic::take_posted`] hands them to the hardware before the next entry;
//! - the hardware reports the EOI of a level-triggered vector (its EOI-exit bitmap
//!   bit, which the backend sets from the level-triggered set `take_posted` gives),
//!   and [`X2Apic::hw_eoi`] tells the caller, as an EOI write would.
//!
//! What the hardware does not do stays here: every other register, the timer, IPIs.
//! The backend gives the hardware only x2APIC mode; a guest that leaves it passes
//! through the disabled mode, which drops every vector (`set_base`), so nothing has
//! to come back.

use super::{Effect, Vectors, X2Apic};

/// Vectors the hardware takes over from the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HwVectors {
    /// Requested (IRR).
    pub irr: Vectors,
    /// In service (ISR).
    pub isr: Vectors,
    /// The level-triggered ones among them (TMR).
    pub tmr: Vectors,
    /// The task priority.
    pub tpr: u32,
}

impl X2Apic {
    /// Gives IRR, ISR and TPR to the hardware; the model's are emptied (TPR 0). The
    /// trigger modes stay (an EOI of a level-triggered vector is still reported).
    pub fn hand_over(&mut self) -> HwVectors {
        let out = HwVectors {
            irr: self.irr,
            isr: self.isr,
            tmr: self.tmr,
            tpr: self.tpr,
        };
        self.irr = Vectors::EMPTY;
        self.isr = Vectors::EMPTY;
        self.tpr = 0;
        out
    }

    /// Takes back what [`hand_over`](Self::hand_over) gave when the hardware could
    /// not take it (its vectors and TPR join the model's again).
    pub fn take_back(&mut self, hw: &HwVectors) {
        for n in 0..8 {
            self.irr.set_word(n, self.irr.word(n) | hw.irr.word(n));
            self.isr.set_word(n, self.isr.word(n) | hw.isr.word(n));
        }
        self.tpr = hw.tpr;
    }

    /// The vectors accepted since the last call, and the level-triggered ones among
    /// them, when the APIC would deliver them (software-enabled); IRR is emptied.
    /// `None` when there is nothing to hand over: the common case, found without a
    /// scan.
    pub fn take_posted(&mut self) -> Option<(Vectors, Vectors)> {
        self.pending()?;
        let irr = core::mem::take(&mut self.irr);
        let mut level = Vectors::EMPTY;
        let mut busy = irr.busy() & self.tmr.busy();
        while busy != 0 {
            let n = busy.trailing_zeros() as usize;
            busy &= busy - 1;
            level.set_word(n, irr.word(n) & self.tmr.word(n));
        }
        Some((irr, level))
    }

    /// The hardware retired vector `v` at the guest's EOI (its EOI-exit bitmap bit
    /// was set): a level-triggered vector (TMR, which the vector's next acceptance
    /// sets or clears) is reported as an EOI write reports it.
    pub fn hw_eoi(&self, v: u8) -> Effect {
        if self.tmr.get(v) {
            Effect::Eoi(v)
        } else {
            Effect::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{msr, SVR_ENABLE};
    use super::*;

    fn enabled() -> X2Apic {
        let mut a = X2Apic::new(1);
        a.write(msr::SVR, u64::from(SVR_ENABLE | 0xff), 0).unwrap();
        a
    }

    #[test]
    fn hand_over_empties_the_model() {
        let mut a = enabled();
        a.accept(0x40, false);
        a.accept(0x51, true);
        a.write(msr::TPR, 0x20, 0).unwrap();
        assert_eq!(a.ack(), Some(0x51));
        let before = a.clone();
        let hw = a.hand_over();
        assert!(hw.isr.get(0x51) && hw.irr.get(0x40) && hw.tmr.get(0x51));
        assert_eq!(hw.tpr, 0x20);
        assert_eq!((a.tpr(), a.ppr(), a.pending()), (0, 0, None));
        let mut back = a.clone();
        back.take_back(&hw);
        assert_eq!(back, before);
        // The level vector's EOI still comes back.
        assert_eq!(a.hw_eoi(0x51), Effect::Eoi(0x51));
        assert_eq!(a.hw_eoi(0x40), Effect::None);
    }

    #[test]
    fn posted_vectors_move_once_with_their_trigger_mode() {
        let mut a = enabled();
        assert_eq!(a.take_posted(), None);
        a.accept(0x30, false);
        a.accept(0x90, true);
        let (irr, level) = a.take_posted().unwrap();
        assert!(irr.get(0x30) && irr.get(0x90));
        assert!(level.get(0x90) && !level.get(0x30));
        assert_eq!(level.highest(), Some(0x90));
        assert_eq!(a.take_posted(), None);
        assert_eq!(a.hw_eoi(0x30), Effect::None);
        assert_eq!(a.hw_eoi(0x90), Effect::Eoi(0x90));
    }

    #[test]
    fn a_software_disabled_apic_hands_over_nothing() {
        let mut a = X2Apic::new(1);
        a.accept(0x30, false);
        assert_eq!(a.take_posted(), None);
    }
}
