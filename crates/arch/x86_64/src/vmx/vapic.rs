//! The virtual-APIC page of VT-x's virtual-interrupt delivery (Intel SDM volume 3,
//! chapter "APIC virtualization and virtual interrupts") and what the engine does
//! with it, as plain code tested on the host: the hardware keeps the guest's IRR,
//! ISR and TPR there and in the guest interrupt status (RVI: the highest requested
//! vector; SVI: the highest in service), delivers and retires vectors without an
//! exit, and reads TPR, PPR, ISR, TMR and IRR for the guest's RDMSR
//! (APIC-register virtualization). The emulated x2APIC keeps everything else
//! (`rtvisor_vdev::x2apic`, its `hand` module: how the vectors move between them).

use rtvisor_vdev::x2apic::{HwVectors, Vectors};

/// Byte offsets of the registers the hardware keeps; the 256-bit sets are eight
/// 32-bit words 16 bytes apart.
pub mod off {
    pub const TPR: usize = 0x80;
    pub const PPR: usize = 0xA0;
    pub const ISR: usize = 0x100;
    pub const TMR: usize = 0x180;
    pub const IRR: usize = 0x200;
}

/// The x2APIC MSRs the guest reads from the page (RDMSR passes): TPR, PPR, ISR,
/// TMR, IRR. Every other read exits to the model, whose registers the page does not
/// copy.
pub const READS: [core::ops::RangeInclusive<u32>; 3] =
    [0x808..=0x808, 0x80A..=0x80A, 0x810..=0x827];
/// The x2APIC MSRs the hardware virtualizes on a write (WRMSR passes): TPR and
/// EOI. Every other write exits, SELF IPI among them: the model accepts a self IPI
/// as edge-triggered, which clears the vector's TMR bit (its EOI then is not
/// reported to the I/O APIC), and rejects a vector below 16 in ESR, neither of which
/// the hardware's self-IPI virtualization does.
pub const WRITES: [u32; 2] = [0x808, 0x80B];

/// One vCPU's virtual-APIC page.
#[repr(C, align(4096))]
pub struct VapicPage(pub [u32; 1024]);

impl VapicPage {
    pub const ZERO: VapicPage = VapicPage([0; 1024]);

    /// The 32-bit register at byte offset `off`.
    pub fn reg(&self, off: usize) -> u32 {
        self.0[off / 4]
    }

    fn set_reg(&mut self, off: usize, v: u32) {
        self.0[off / 4] = v;
    }

    /// Word `n` of the set at `base` ([`off::ISR`], [`off::TMR`], [`off::IRR`]).
    pub fn word(&self, base: usize, n: usize) -> u32 {
        self.reg(base + 0x10 * n)
    }

    fn set_word(&mut self, base: usize, n: usize, v: u32) {
        self.set_reg(base + 0x10 * n, v);
    }

    /// The set at `base` (the tests' CPU model reads it).
    #[cfg(test)]
    fn set(&self, base: usize) -> Vectors {
        let mut s = Vectors::EMPTY;
        for n in 0..8 {
            s.set_word(n, self.word(base, n));
        }
        s
    }

    /// Starts over with the vectors and TPR the model hands over; returns the guest
    /// interrupt status (RVI in bits 7:0, SVI in bits 15:8).
    pub fn load(&mut self, hw: &HwVectors) -> u16 {
        self.0.fill(0);
        for n in 0..8 {
            self.set_word(off::IRR, n, hw.irr.word(n));
            self.set_word(off::ISR, n, hw.isr.word(n));
            self.set_word(off::TMR, n, hw.tmr.word(n));
        }
        self.set_reg(off::TPR, hw.tpr & 0xff);
        let svi = hw.isr.highest().unwrap_or(0);
        let ppr = if hw.tpr & 0xf0 >= u32::from(svi & 0xf0) {
            hw.tpr & 0xff
        } else {
            u32::from(svi & 0xf0)
        };
        self.set_reg(off::PPR, ppr);
        status(hw.irr.highest().unwrap_or(0), svi)
    }

    /// Requests the posted vectors `irr` (`level`: the level-triggered ones, whose
    /// TMR bit is set; the others' is cleared); returns the guest interrupt status
    /// with RVI raised to the highest of them.
    pub fn post(&mut self, irr: &Vectors, level: &Vectors, intr_status: u16) -> u16 {
        let mut busy = irr.busy();
        while busy != 0 {
            let n = busy.trailing_zeros() as usize;
            busy &= busy - 1;
            let w = irr.word(n);
            self.set_word(off::IRR, n, self.word(off::IRR, n) | w);
            let tmr = (self.word(off::TMR, n) & !w) | (level.word(n) & w);
            self.set_word(off::TMR, n, tmr);
        }
        let rvi = (intr_status as u8).max(irr.highest().unwrap_or(0));
        status(rvi, (intr_status >> 8) as u8)
    }

    /// Whether the hardware would deliver a vector now to a guest that can take
    /// one: RVI's priority class above the processor priority's (the TPR's class or
    /// SVI's, whichever is higher). A halted vCPU for which this holds does not
    /// sleep.
    pub fn deliverable(&self, intr_status: u16) -> bool {
        let rvi = u32::from(intr_status as u8 & 0xf0);
        let svi = u32::from((intr_status >> 8) as u8 & 0xf0);
        rvi > (self.reg(off::TPR) & 0xf0).max(svi)
    }
}

/// The guest interrupt status field of `rvi` and `svi`.
pub const fn status(rvi: u8, svi: u8) -> u16 {
    rvi as u16 | (svi as u16) << 8
}

/// The EOI-exit bitmap (four 64-bit fields) with the level-triggered vectors
/// among `posted` set and the others cleared; `None` when that changes nothing.
pub fn eoi_exits(bitmap: [u64; 4], posted: &Vectors, level: &Vectors) -> Option<[u64; 4]> {
    if level.busy() == 0 && bitmap == [0; 4] {
        // Edge-triggered vectors only, none level-triggered before: the usual case.
        return None;
    }
    let mut out = bitmap;
    for (i, b) in out.iter_mut().enumerate() {
        let p = u64::from(posted.word(2 * i)) | u64::from(posted.word(2 * i + 1)) << 32;
        let l = u64::from(level.word(2 * i)) | u64::from(level.word(2 * i + 1)) << 32;
        *b = (*b & !p) | (l & p);
    }
    (out != bitmap).then_some(out)
}

/// The EOI-exit bitmap of the vectors `hw` hands over: the level-triggered ones
/// requested or in service.
pub fn eoi_exits_of(hw: &HwVectors) -> [u64; 4] {
    let mut both = Vectors::EMPTY;
    for n in 0..8 {
        both.set_word(n, hw.irr.word(n) | hw.isr.word(n));
    }
    eoi_exits([0; 4], &both, &hw.tmr).unwrap_or([0; 4])
}

#[cfg(test)]
mod tests;
