//! Emulated I/O APIC: the indirect register window (IOREGSEL at 0x00, IOWIN at 0x10,
//! the EOI register at 0x40) over a table of indirect registers (ID, version,
//! arbitration, the redirection table), and the input lines of its pins.
//!
//! Model:
//! - Registers (indirect index in IOREGSEL): 0x00 ID (bits 27:24 writable), 0x01
//!   version (0x20, the highest entry in bits 23:16), 0x02 arbitration (the ID),
//!   0x10 + 2n and 0x11 + 2n the low and high halves of redirection entry n: vector
//!   (7:0), delivery mode (10:8), destination mode (11), delivery status (12, read
//!   as idle), polarity (13, active low), remote IRR (14, read-only), trigger mode
//!   (15, level), mask (16) and destination (63:56). Every entry resets masked. An
//!   index with no register reads zero and ignores writes. The window registers take
//!   32-bit accesses only.
//! - Lines: [`IoApic::set_line`] drives a pin's input; a pin is asserted when its
//!   input differs from its polarity bit (active low asserts a low input). An
//!   edge-triggered pin sends one message per rising assertion while unmasked (an
//!   edge while masked is lost); a level-triggered pin sends while asserted,
//!   unmasked and its remote IRR clear, and sets remote IRR. [`IoApic::eoi`] (the
//!   local APICs' EOI broadcast, or a write of the vector to the EOI register)
//!   clears remote IRR of the level entries with that vector, so a line still high
//!   sends again. Unmasking an asserted level entry sends too.
//! - Messages ([`Msg`]) go to the caller's closure, which delivers them to the local
//!   APICs of its VM; the model never names a CPU.
//! - Forwarded pins ([`IoApic::forward`]): a host device's level-triggered line (a
//!   passed-through PCI function's INTx). Its input is the device's assertion whatever
//!   the polarity the guest programs (the guest's polarity describes the wire, which
//!   the host already read). An EOI that clears its remote IRR also lowers its input,
//!   and the pin is reported ended ([`IoApic::take_changes`]): the hypervisor unmasks
//!   the host's pin, and a device still asserting raises the input again. A write to
//!   its redirection entry is reported too (the host's entry follows the guest's
//!   mask and destination).

use crate::regs::{Access, RegDesc, RegTable, Widths, Write};
use crate::{MmioError, Width};

/// The most pins a model has (the width of its line bitmaps).
pub const MAX_PINS: usize = 64;
/// The version register's version.
pub const VERSION: u32 = 0x20;
/// Window offsets.
pub mod off {
    /// IOREGSEL: the index of the indirect register IOWIN reaches.
    pub const IOREGSEL: u64 = 0x00;
    /// IOWIN: the selected register.
    pub const IOWIN: u64 = 0x10;
    /// EOI: a write of a vector is an EOI for it.
    pub const EOI: u64 = 0x40;
}
/// Indirect register indices.
pub mod reg {
    /// ID.
    pub const ID: u32 = 0x00;
    /// Version.
    pub const VERSION: u32 = 0x01;
    /// Arbitration.
    pub const ARB: u32 = 0x02;
    /// Redirection entry 0, low half (entry n: 0x10 + 2n low, 0x11 + 2n high).
    pub const REDIR0: u32 = 0x10;
}

/// Redirection entry bits.
pub mod rte {
    /// Destination mode: logical.
    pub const LOGICAL: u64 = 1 << 11;
    /// Polarity: active low.
    pub const ACTIVE_LOW: u64 = 1 << 13;
    /// Remote IRR (level-triggered: sent, not yet EOI'd).
    pub const REMOTE_IRR: u64 = 1 << 14;
    /// Trigger mode: level.
    pub const LEVEL: u64 = 1 << 15;
    /// Masked.
    pub const MASKED: u64 = 1 << 16;
    /// What a guest writes: everything but delivery status, remote IRR and the
    /// reserved bits 55:17.
    pub const WRITABLE: u64 = 0xff00_0000_0001_afff;
}

/// An interrupt message for the local APICs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    /// The pin that sent it.
    pub pin: u8,
    /// The vector.
    pub vector: u8,
    /// Delivery mode: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT.
    pub mode: u8,
    /// Logical destination mode.
    pub logical: bool,
    /// The 8-bit destination.
    pub dest: u8,
    /// Level-triggered (its EOI must reach [`IoApic::eoi`]).
    pub level: bool,
}

/// The I/O APIC of one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoApic {
    id: u32,
    pins: usize,
    sel: u32,
    redir: [u64; MAX_PINS],
    /// Input level of each pin.
    lines: u64,
    /// Forwarded pins.
    forwarded: u64,
    /// Forwarded pins an EOI ended since [`IoApic::take_changes`].
    ended: u64,
    /// Forwarded pins whose redirection entry the guest wrote since then.
    written: u64,
}

impl IoApic {
    /// The reset state of an I/O APIC with `pins` pins (at most [`MAX_PINS`]) and
    /// ID `id`: every entry masked, every input low.
    pub const fn new(id: u8, pins: usize) -> Self {
        Self {
            id: (id as u32 & 0xf) << 24,
            pins: if pins > MAX_PINS { MAX_PINS } else { pins },
            sel: 0,
            redir: [rte::MASKED; MAX_PINS],
            lines: 0,
            forwarded: 0,
            ended: 0,
            written: 0,
        }
    }

    /// Back to the reset state, keeping the ID given at creation, the pins and the
    /// forwarded pins.
    pub fn reset(&mut self, id: u8) {
        let forwarded = self.forwarded;
        *self = Self::new(id, self.pins);
        self.forwarded = forwarded;
    }

    /// Makes `pin` a forwarded pin (see the module docs); one it does not have is
    /// ignored.
    pub fn forward(&mut self, pin: u32) {
        if let Some(bit) = self.bit(pin) {
            self.forwarded |= bit;
        }
    }

    /// The forwarded pins an EOI ended and those whose redirection entry the guest
    /// wrote, since the last call (bit n: pin n).
    pub fn take_changes(&mut self) -> (u64, u64) {
        let c = (self.ended, self.written);
        self.ended = 0;
        self.written = 0;
        c
    }

    /// The number of pins.
    pub const fn pins(&self) -> usize {
        self.pins
    }

    /// Redirection entry `pin`, if the pin exists.
    pub fn entry(&self, pin: usize) -> Option<u64> {
        self.redir.get(pin).copied().filter(|_| pin < self.pins)
    }

    /// A load of `width` at window offset `off`.
    pub fn read(&mut self, off: u64, width: Width) -> Result<u64, MmioError> {
        WINDOW.read(self, off, width)
    }

    /// A store of `value` at window offset `off`; what it makes the pins send goes
    /// to `out`.
    pub fn write(
        &mut self,
        off: u64,
        width: Width,
        value: u64,
        out: &mut impl FnMut(Msg),
    ) -> Result<(), MmioError> {
        if let Some(vector) = WINDOW.write(self, off, width, value)? {
            self.clear_remote_irr(vector);
        }
        self.service(out);
        Ok(())
    }

    /// Drives the input of `pin` (a pin it does not have is ignored).
    pub fn set_line(&mut self, pin: u32, high: bool, out: &mut impl FnMut(Msg)) {
        let Some(bit) = self.bit(pin) else { return };
        let was = self.asserted(pin as usize);
        self.lines = if high {
            self.lines | bit
        } else {
            self.lines & !bit
        };
        let now = self.asserted(pin as usize);
        let e = self.redir.get(pin as usize).copied().unwrap_or(rte::MASKED);
        if e & rte::LEVEL == 0 && now && !was && e & rte::MASKED == 0 {
            out(Self::msg(pin as usize, e));
        }
        self.service(out);
    }

    /// Raises `pin` and lowers it again (an edge).
    pub fn pulse(&mut self, pin: u32, out: &mut impl FnMut(Msg)) {
        let high = self.bit(pin).is_some_and(|b| self.lines & b != 0);
        self.set_line(pin, !high, out);
        self.set_line(pin, high, out);
    }

    /// An EOI for `vector`: the level entries with it may send again.
    pub fn eoi(&mut self, vector: u8, out: &mut impl FnMut(Msg)) {
        self.clear_remote_irr(vector);
        self.service(out);
    }

    fn clear_remote_irr(&mut self, vector: u8) {
        for (pin, e) in self.redir.iter_mut().enumerate().take(self.pins) {
            if *e & rte::LEVEL != 0 && *e as u8 == vector {
                let bit = 1u64 << pin;
                if *e & rte::REMOTE_IRR != 0 && self.forwarded & bit != 0 {
                    self.lines &= !bit;
                    self.ended |= bit;
                }
                *e &= !rte::REMOTE_IRR;
            }
        }
    }

    fn bit(&self, pin: u32) -> Option<u64> {
        ((pin as usize) < self.pins).then(|| 1u64 << pin)
    }

    /// Whether `pin`'s input is asserted under its polarity.
    fn asserted(&self, pin: usize) -> bool {
        let high = self.lines & (1u64 << (pin % MAX_PINS)) != 0;
        if self.forwarded & (1u64 << (pin % MAX_PINS)) != 0 {
            return high;
        }
        let low_active = self
            .redir
            .get(pin)
            .is_some_and(|e| e & rte::ACTIVE_LOW != 0);
        high != low_active
    }

    /// Sends from every level entry that is asserted, unmasked and not waiting for
    /// its EOI, and sets its remote IRR.
    fn service(&mut self, out: &mut impl FnMut(Msg)) {
        for pin in 0..self.pins {
            let asserted = self.asserted(pin);
            let Some(e) = self.redir.get_mut(pin) else {
                break;
            };
            let idle = rte::LEVEL | rte::MASKED | rte::REMOTE_IRR;
            if asserted && *e & idle == rte::LEVEL {
                *e |= rte::REMOTE_IRR;
                out(Self::msg(pin, *e));
            }
        }
    }

    fn msg(pin: usize, e: u64) -> Msg {
        Msg {
            pin: pin as u8,
            vector: e as u8,
            mode: ((e >> 8) & 7) as u8,
            logical: e & rte::LOGICAL != 0,
            dest: (e >> 56) as u8,
            level: e & rte::LEVEL != 0,
        }
    }
}

fn rd_id(a: &mut IoApic, _: usize) -> u64 {
    u64::from(a.id)
}
fn wr_id(a: &mut IoApic, w: Write) {
    a.id = (w.value as u32) & 0x0f00_0000;
}
fn rd_version(a: &mut IoApic, _: usize) -> u64 {
    u64::from(((a.pins as u32).saturating_sub(1) << 16) | VERSION)
}
/// Redirection register `n`: entry `n / 2`, the high half when `n` is odd; past the
/// pins, nothing.
fn rd_redir(a: &mut IoApic, n: usize) -> u64 {
    match a.redir.get(n / 2).filter(|_| n / 2 < a.pins) {
        Some(e) if n % 2 == 1 => e >> 32,
        Some(e) => e & 0xffff_ffff,
        None => 0,
    }
}
fn wr_redir(a: &mut IoApic, w: Write) {
    let (pin, high) = (w.index / 2, w.index % 2 == 1);
    if pin >= a.pins {
        return;
    }
    let Some(e) = a.redir.get_mut(pin) else {
        return;
    };
    a.written |= a.forwarded & (1u64 << pin);
    let (keep, new) = if high {
        (0xffff_ffff, (w.value & 0xffff_ffff) << 32)
    } else {
        (0xffff_ffff_0000_0000, w.value & 0xffff_ffff)
    };
    let mut v = (*e & (keep | rte::REMOTE_IRR)) | (new & rte::WRITABLE);
    if v & rte::LEVEL == 0 {
        // An edge entry has no remote IRR.
        v &= !rte::REMOTE_IRR;
    }
    *e = v;
}

/// The indirect registers, at offset index * 4.
const INDIRECT: RegTable<IoApic, ()> = RegTable::new(&[
    RegDesc::reg32(
        reg::ID as u64 * 4,
        "ID",
        Widths::WORD,
        Access::Rw(rd_id, wr_id),
    ),
    RegDesc::reg32(
        reg::VERSION as u64 * 4,
        "VERSION",
        Widths::WORD,
        Access::Ro(rd_version),
    ),
    RegDesc::reg32(reg::ARB as u64 * 4, "ARB", Widths::WORD, Access::Ro(rd_id)),
    RegDesc::bank32(
        reg::REDIR0 as u64 * 4,
        2 * MAX_PINS as u16,
        "REDIR",
        Widths::WORD,
        Access::Rw(rd_redir, wr_redir),
    ),
]);

fn rd_sel(a: &mut IoApic, _: usize) -> u64 {
    u64::from(a.sel)
}
fn wr_sel(a: &mut IoApic, w: Write) -> Option<u8> {
    a.sel = (w.value & 0xff) as u32;
    None
}
/// IOWIN reaches the indirect register IOREGSEL selects; one with no register reads
/// zero and ignores writes.
fn rd_win(a: &mut IoApic, _: usize) -> u64 {
    INDIRECT
        .read(a, u64::from(a.sel) * 4, Width::Word)
        .unwrap_or(0)
}
fn wr_win(a: &mut IoApic, w: Write) -> Option<u8> {
    let _ = INDIRECT.write(a, u64::from(a.sel) * 4, Width::Word, w.value & 0xffff_ffff);
    None
}
fn wr_eoi(_: &mut IoApic, w: Write) -> Option<u8> {
    Some(w.value as u8)
}

/// The window; a write's result is the vector of an EOI register write.
const WINDOW: RegTable<IoApic, Option<u8>> = RegTable::new(&[
    RegDesc::reg32(
        off::IOREGSEL,
        "IOREGSEL",
        Widths::WORD,
        Access::Rw(rd_sel, wr_sel),
    ),
    RegDesc::reg32(
        off::IOWIN,
        "IOWIN",
        Widths::WORD,
        Access::Rw(rd_win, wr_win),
    ),
    RegDesc::reg32(off::EOI, "EOI", Widths::WORD, Access::Wo(wr_eoi)),
]);

/// The window's and the indirect registers' tables, for diagnostics.
pub const fn registers() -> (RegTable<IoApic, Option<u8>>, RegTable<IoApic, ()>) {
    (WINDOW, INDIRECT)
}

#[cfg(test)]
mod tests;
