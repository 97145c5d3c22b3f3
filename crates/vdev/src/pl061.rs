//! Emulated ARM PrimeCell GPIO (PL061), 8 lines, enough for Linux's `gpio-pl061`
//! driver and `gpio-keys` on top of it. rtvisor uses it to bring shared-memory
//! doorbells to guests whose kernel has no driver for the doorbell interrupt itself:
//! a doorbell toggles an input line, and the line's interrupt reaches user space as
//! an input event (docs/architecture.md, "Doorbells").
//!
//! Model (the PL061 TRM):
//! - `GPIODATA` is 256 word registers at 0x000..0x3fc; address bits [9:2] of an access
//!   mask it: a read returns the pins selected by the mask, a write changes only the
//!   selected pins that are outputs (`GPIODIR` bit 1).
//! - A pin's level is its output latch when it is an output, else its input line
//!   ([`Pl061::set_input`], driven by the hypervisor).
//! - Interrupts: `GPIOIS` level (1) or edge (0); for edges `GPIOIBE` both edges, else
//!   `GPIOIEV` rising (1) or falling (0); for levels `GPIOIEV` high (1) or low (0).
//!   Edges latch into `GPIORIS` until `GPIOIC` clears them; level bits follow the pin.
//!   `GPIOMIS` = `GPIORIS` & `GPIOIE`; the interrupt line is `GPIOMIS != 0`.
//! - 8- to 32-bit accesses; 64-bit ones fail with [`MmioError::BadWidth`].

use crate::{MmioError, Width};
use regmap::REGS;

mod regmap;
mod rings;

pub use rings::{Pending, Rings};

/// Register offsets.
pub mod reg {
    /// `GPIODATA`, 256 masked aliases.
    pub const DATA: u64 = 0x000;
    /// Direction (1 = output).
    pub const DIR: u64 = 0x400;
    /// Interrupt sense (1 = level).
    pub const IS: u64 = 0x404;
    /// Interrupt on both edges.
    pub const IBE: u64 = 0x408;
    /// Interrupt event (1 = rising / high).
    pub const IEV: u64 = 0x40c;
    /// Interrupt mask (1 = enabled).
    pub const IE: u64 = 0x410;
    /// Raw interrupt status.
    pub const RIS: u64 = 0x414;
    /// Masked interrupt status.
    pub const MIS: u64 = 0x418;
    /// Interrupt clear (edges).
    pub const IC: u64 = 0x41c;
    /// Alternate function select (stored, no effect).
    pub const AFSEL: u64 = 0x420;
    /// Peripheral ID 0..3.
    pub const PERIPH_ID0: u64 = 0xfe0;
    /// PrimeCell ID 0..3.
    pub const PCELL_ID0: u64 = 0xff0;
}

/// `GPIOPeriphID0..3` (part 0x061, designer ARM, revision 0).
pub const PERIPH_ID: [u8; 4] = [0x61, 0x10, 0x04, 0x00];
/// `GPIOPCellID0..3`: the PrimeCell preamble.
pub const PCELL_ID: [u8; 4] = [0x0d, 0xf0, 0x05, 0xb1];
/// Number of lines.
pub const LINES: u32 = 8;

/// Emulated PL061 state (all registers 8 bits wide).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pl061 {
    out: u8,
    input: u8,
    dir: u8,
    is: u8,
    ibe: u8,
    iev: u8,
    ie: u8,
    /// Latched edge interrupts.
    edges: u8,
    afsel: u8,
}

impl Pl061 {
    /// A GPIO block in its reset state (all inputs, interrupts masked).
    pub const fn new() -> Self {
        Self {
            out: 0,
            input: 0,
            dir: 0,
            is: 0,
            ibe: 0,
            iev: 0,
            ie: 0,
            edges: 0,
            afsel: 0,
        }
    }

    /// Back to reset; the input lines keep their levels (they are outside the block).
    pub fn reset(&mut self) {
        *self = Self {
            input: self.input,
            ..Self::new()
        };
    }

    /// Guest read of `width` at `offset`. Inlined into its caller, the hypervisor's
    /// device dispatch, where the doorbell's receiver reaches it (its code must not
    /// change with what else that dispatch holds: docs/benchmark.md, "The hypervisor's
    /// size").
    #[inline(always)]
    pub fn read(&mut self, offset: u64, width: Width) -> Result<u32, MmioError> {
        let v = REGS.read(self, offset, width)?;
        Ok(u32::try_from(v).unwrap_or(0))
    }

    /// Guest write of `width` at `offset` (inlined as [`Pl061::read`] is).
    #[inline(always)]
    pub fn write(&mut self, offset: u64, width: Width, value: u32) -> Result<(), MmioError> {
        REGS.write(self, offset, width, u64::from(value))
    }

    /// The pins' levels: output latches for outputs, input lines for inputs.
    pub const fn pins(&self) -> u8 {
        (self.out & self.dir) | (self.input & !self.dir)
    }

    /// Drives input line `line` (0..8; others are ignored) to `high`, latching an
    /// edge interrupt if the line is configured for it.
    pub fn set_input(&mut self, line: u32, high: bool) {
        let Some(bit) = 1u8.checked_shl(line).filter(|_| line < LINES) else {
            return;
        };
        let before = self.pins();
        if high {
            self.input |= bit;
        } else {
            self.input &= !bit;
        }
        self.latch_edges(before);
    }

    /// Inverts input line `line` (a doorbell: every ring is one edge).
    pub fn toggle_input(&mut self, line: u32) {
        let high = line < LINES && self.input & (1 << line) == 0;
        self.set_input(line, high);
    }

    /// Latches edge interrupts for the pins that changed since `before`.
    fn latch_edges(&mut self, before: u8) {
        let now = self.pins();
        let changed = before ^ now;
        let edge = !self.is;
        let rising = changed & now;
        let falling = changed & !now;
        let hit = (changed & self.ibe) | (rising & self.iev) | (falling & !self.iev & !self.ibe);
        self.edges |= hit & edge;
    }

    /// `GPIORIS`: latched edges, and level-sensitive pins at their active level.
    pub const fn ris(&self) -> u8 {
        let pins = self.pins();
        let level_active = self.is & !(pins ^ self.iev);
        (self.edges & !self.is) | level_active
    }

    /// `GPIOMIS`.
    pub const fn mis(&self) -> u8 {
        self.ris() & self.ie
    }

    /// `GPIOIE`: the lines whose interrupt is unmasked.
    pub const fn ie(&self) -> u8 {
        self.ie
    }

    /// The interrupt line.
    pub const fn irq_level(&self) -> bool {
        self.mis() != 0
    }
}

#[cfg(test)]
mod tests;
