//! Emulated ARM PrimeCell UART (PL011), enough for Linux's `amba-pl011` driver,
//! its earlycon, and bare-metal programs written for QEMU `virt`.
//!
//! Model (it follows QEMU's `hw/char/pl011.c` where the TRM leaves room):
//! - Transmit is instantaneous: a write to `UARTDR` hands the byte to the caller at
//!   once, so the TX FIFO is always empty (`FR.TXFE = 1`, `FR.TXFF = 0`,
//!   `FR.BUSY = 0`). Bytes are transmitted whether or not `CR.UARTEN`/`CR.TXE` are
//!   set, as QEMU does: earlycon and bare-metal code often write `UARTDR` without
//!   enabling the UART. With `CR.LBE` (loopback) set the byte goes to the RX FIFO
//!   instead.
//! - `RIS.TXIS` is set after every write to `UARTDR` and when the transmitter
//!   becomes enabled (`CR.UARTEN` and `CR.TXE` both set); only `UARTICR` clears it.
//!   (Linux never clears TXIS itself; it masks `TXIM` once it has nothing to send.)
//! - Receive: a 32-entry RX FIFO, or a 1-byte holding register when `LCR_H.FEN` is
//!   clear. Changing `LCR_H.FEN` empties the FIFO. Bytes are accepted whether or not
//!   the receiver is enabled. The trigger level is one byte (as in QEMU; `UARTIFLS`
//!   is stored but does not change it): `RXIS` and `RTIS` (receive timeout, which
//!   here expires at once) are set when a byte arrives and cleared when the FIFO
//!   becomes empty or by `UARTICR`. No receive errors are ever produced: error bits
//!   in `UARTDR` and `UARTRSR` read 0.
//! - Modem lines: `FR.CTS`, `FR.DSR` and `FR.DCD` read 1 (a connected null-modem
//!   cable), `FR.RI` 0; they never change, so modem interrupts never fire.
//! - Every register accepts 8-, 16- and 32-bit accesses; 64-bit accesses fail with
//!   [`MmioError::BadWidth`]. Offsets outside the register map fail with
//!   [`MmioError::NoRegister`]; writes to read-only registers with
//!   [`MmioError::ReadOnly`]; the caller chooses the policy.

use crate::fifo::ByteFifo;
use crate::regs::RegTable;
use crate::{MmioError, Width};
use regmap::REGS;

mod regmap;

/// Register offsets.
pub mod reg {
    /// Data register.
    pub const DR: u64 = 0x000;
    /// Receive status (read) / error clear (write).
    pub const RSR_ECR: u64 = 0x004;
    /// Flag register.
    pub const FR: u64 = 0x018;
    /// IrDA low-power counter.
    pub const ILPR: u64 = 0x020;
    /// Integer baud rate divisor.
    pub const IBRD: u64 = 0x024;
    /// Fractional baud rate divisor.
    pub const FBRD: u64 = 0x028;
    /// Line control.
    pub const LCR_H: u64 = 0x02c;
    /// Control.
    pub const CR: u64 = 0x030;
    /// Interrupt FIFO level select.
    pub const IFLS: u64 = 0x034;
    /// Interrupt mask set/clear.
    pub const IMSC: u64 = 0x038;
    /// Raw interrupt status.
    pub const RIS: u64 = 0x03c;
    /// Masked interrupt status.
    pub const MIS: u64 = 0x040;
    /// Interrupt clear.
    pub const ICR: u64 = 0x044;
    /// DMA control.
    pub const DMACR: u64 = 0x048;
    /// Peripheral ID 0..3.
    pub const PERIPH_ID0: u64 = 0xfe0;
    /// PrimeCell ID 0..3.
    pub const PCELL_ID0: u64 = 0xff0;
}

/// `UARTFR` bits.
pub mod fr {
    /// Clear to send.
    pub const CTS: u32 = 1 << 0;
    /// Data set ready.
    pub const DSR: u32 = 1 << 1;
    /// Data carrier detect.
    pub const DCD: u32 = 1 << 2;
    /// UART busy transmitting.
    pub const BUSY: u32 = 1 << 3;
    /// Receive FIFO empty.
    pub const RXFE: u32 = 1 << 4;
    /// Transmit FIFO full.
    pub const TXFF: u32 = 1 << 5;
    /// Receive FIFO full.
    pub const RXFF: u32 = 1 << 6;
    /// Transmit FIFO empty.
    pub const TXFE: u32 = 1 << 7;
}

/// Interrupt bits, shared by `UARTIMSC`, `UARTRIS`, `UARTMIS` and `UARTICR`.
pub mod int {
    /// Receive.
    pub const RX: u32 = 1 << 4;
    /// Transmit.
    pub const TX: u32 = 1 << 5;
    /// Receive timeout.
    pub const RT: u32 = 1 << 6;
    /// All eleven interrupt bits.
    pub const ALL: u32 = 0x7ff;
}

/// `UARTCR` bits.
pub mod cr {
    /// UART enable.
    pub const UARTEN: u32 = 1 << 0;
    /// Loopback enable.
    pub const LBE: u32 = 1 << 7;
    /// Transmit enable.
    pub const TXE: u32 = 1 << 8;
    /// Receive enable.
    pub const RXE: u32 = 1 << 9;
    /// Reset value: TXE and RXE set, UART disabled.
    pub const RESET: u32 = TXE | RXE;
    /// Implemented bits (3..=6 are reserved).
    pub(crate) const MASK: u32 = 0xff87;
}

/// `UARTLCR_H.FEN`: FIFOs enabled.
pub const LCR_H_FEN: u32 = 1 << 4;
/// RX FIFO depth with `LCR_H.FEN` set.
pub const FIFO_DEPTH: usize = 32;

/// `UARTPeriphID0..3` as QEMU's model reports them (part 0x011, designer ARM, rev 1).
pub const PERIPH_ID: [u8; 4] = [0x11, 0x10, 0x14, 0x00];
/// `UARTPCellID0..3`: the PrimeCell preamble.
pub const PCELL_ID: [u8; 4] = [0x0d, 0xf0, 0x05, 0xb1];

/// Reset value of `UARTIFLS` (both FIFOs at half).
const IFLS_RESET: u32 = 0x12;

/// Emulated PL011 state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pl011 {
    rx: ByteFifo<FIFO_DEPTH>,
    rsr: u32,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    ris: u32,
    dmacr: u32,
}

impl Default for Pl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl011 {
    /// A UART in its reset state.
    pub const fn new() -> Self {
        Self {
            rx: ByteFifo::new(),
            rsr: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: cr::RESET,
            ifls: IFLS_RESET,
            imsc: 0,
            ris: 0,
            dmacr: 0,
        }
    }

    /// Returns to the reset state (drops pending input).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// A PL011 whose VM was never loaded: all zero, so that a static table of them
    /// costs no image bytes (`.bss`). [`Pl011::reset`] gives it the reset values
    /// before its guest runs.
    pub const fn unloaded() -> Self {
        Self {
            cr: 0,
            ifls: 0,
            ..Self::new()
        }
    }

    /// Guest read of `width` at `offset` from the device base.
    pub fn read(&mut self, offset: u64, width: Width) -> Result<u32, MmioError> {
        let v = REGS.read(self, offset, width)?;
        Ok(u32::try_from(v).unwrap_or(0))
    }

    /// Guest write of `width` at `offset`. A transmitted byte goes to `tx`.
    pub fn write(
        &mut self,
        offset: u64,
        width: Width,
        value: u32,
        tx: &mut dyn FnMut(u8),
    ) -> Result<(), MmioError> {
        if let Some(byte) = REGS.write(self, offset, width, u64::from(value))? {
            tx(byte);
        }
        Ok(())
    }

    /// Offers one received byte. Returns `false` (and drops it) when the RX FIFO
    /// (or the holding register, with FIFOs disabled) is full.
    pub fn receive(&mut self, byte: u8) -> bool {
        if !self.rx.push(byte, self.rx_depth()) {
            return false;
        }
        self.ris |= int::RX | int::RT;
        true
    }

    /// Free space in the RX FIFO, in bytes.
    pub fn rx_space(&self) -> usize {
        self.rx_depth().saturating_sub(self.rx.len())
    }

    /// Masked interrupt status (`UARTMIS`).
    pub const fn mis(&self) -> u32 {
        self.ris & self.imsc
    }

    /// Level of the UART's interrupt line: any unmasked interrupt pending.
    pub const fn irq_level(&self) -> bool {
        self.mis() != 0
    }

    const fn rx_depth(&self) -> usize {
        if self.lcr_h & LCR_H_FEN != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    fn rx_pop(&mut self) -> Option<u8> {
        let byte = self.rx.pop()?;
        if self.rx.is_empty() {
            self.ris &= !(int::RX | int::RT);
        }
        Some(byte)
    }

    fn rx_flush(&mut self) {
        self.rx.clear();
        self.ris &= !(int::RX | int::RT);
    }

    const fn tx_enabled(&self) -> bool {
        self.cr & (cr::UARTEN | cr::TXE) == cr::UARTEN | cr::TXE
    }

    fn flags(&self) -> u32 {
        let mut f = fr::CTS | fr::DSR | fr::DCD | fr::TXFE;
        if self.rx.is_empty() {
            f |= fr::RXFE;
        }
        if self.rx.len() >= self.rx_depth() {
            f |= fr::RXFF;
        }
        f
    }
}

/// The register table, for diagnostics (register names, offsets).
pub const fn registers() -> RegTable<Pl011, Option<u8>> {
    REGS
}

#[cfg(test)]
mod tests;
