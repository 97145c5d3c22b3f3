//! Emulated 16550A UART, the PC's COM1 (eight I/O ports from 0x3F8 on x86_64), enough
//! for Linux's `8250` driver and its earlycon, and for bare-metal programs written for
//! a PC serial port.
//!
//! Model (it follows QEMU's `hw/char/serial.c` where the data sheet leaves room):
//! - Eight byte-wide registers; offsets 0 and 1 are the divisor latch (DLL, DLM) while
//!   `LCR.DLAB` is set, RBR/THR and IER otherwise; offset 2 is IIR on read and FCR on
//!   write. Other widths fail with [`MmioError::BadWidth`] and offsets past 7 with
//!   [`MmioError::NoRegister`]; the caller chooses the policy (a port access of 2 or 4
//!   bytes is split into bytes by [`Uart16550::read_wide`] and
//!   [`Uart16550::write_wide`], as the bus of a PC does). LSR and MSR take writes
//!   without effect (factory test registers on the real part).
//! - Transmit is instantaneous: a write to THR hands the byte to the caller at once, so
//!   `LSR.THRE` and `LSR.TEMT` always read 1. With `MCR.LOOP` the byte goes to the
//!   receiver instead.
//! - Receive: a 16-byte FIFO with `FCR.FIFOE`, else a 1-byte holding register. A byte
//!   that does not fit is dropped and sets `LSR.OE` (cleared by reading LSR).
//! - Interrupts, by priority as IIR reports them: receiver line status (an overrun,
//!   with `IER.ELSI`), received data at or above the FIFO trigger level (`IER.ERBFI`),
//!   character timeout (data below the trigger level, which here times out at once),
//!   transmitter holding register empty (`IER.ETBEI`: set by a THR write and when
//!   ETBEI is turned on; cleared by reading IIR while it is the one reported, or by
//!   clearing ETBEI), modem status (`IER.EDSSI`, a delta bit of MSR; cleared by reading
//!   MSR). The line is the level of "an interrupt is pending"; `MCR.OUT2` does not
//!   gate it (as in QEMU).
//! - Modem lines: CTS, DSR and DCD read 1 (a connected null-modem cable), RI 0; in
//!   loopback they follow RTS, DTR, OUT2 and OUT1 of MCR, and every change sets its
//!   delta bit.

use crate::fifo::ByteFifo;
use crate::regs::RegTable;
use crate::{MmioError, Width};
use regmap::REGS;

mod regmap;

/// Register offsets from the base port.
pub mod reg {
    /// Receive buffer (read) / transmit holding (write); divisor latch low with DLAB.
    pub const RBR_THR: u64 = 0;
    /// Interrupt enable; divisor latch high with DLAB.
    pub const IER: u64 = 1;
    /// Interrupt identification (read) / FIFO control (write).
    pub const IIR_FCR: u64 = 2;
    /// Line control.
    pub const LCR: u64 = 3;
    /// Modem control.
    pub const MCR: u64 = 4;
    /// Line status.
    pub const LSR: u64 = 5;
    /// Modem status.
    pub const MSR: u64 = 6;
    /// Scratch.
    pub const SCR: u64 = 7;
    /// Number of ports the UART decodes.
    pub const PORTS: u64 = 8;
}

/// `IER` bits.
pub mod ier {
    /// Received data available (and character timeout).
    pub const ERBFI: u8 = 1 << 0;
    /// Transmitter holding register empty.
    pub const ETBEI: u8 = 1 << 1;
    /// Receiver line status.
    pub const ELSI: u8 = 1 << 2;
    /// Modem status.
    pub const EDSSI: u8 = 1 << 3;
    /// Implemented bits.
    pub const MASK: u8 = 0x0f;
}

/// `IIR` values (bits 3:0) and the FIFO-enabled flag (bits 7:6).
pub mod iir {
    /// No interrupt pending.
    pub const NONE: u8 = 0x01;
    /// Modem status.
    pub const MODEM: u8 = 0x00;
    /// Transmitter holding register empty.
    pub const THRE: u8 = 0x02;
    /// Received data available.
    pub const RX: u8 = 0x04;
    /// Receiver line status.
    pub const LINE: u8 = 0x06;
    /// Character timeout.
    pub const TIMEOUT: u8 = 0x0c;
    /// FIFOs enabled (both bits).
    pub const FIFO: u8 = 0xc0;
}

/// `FCR` bits.
pub mod fcr {
    /// Enable the FIFOs.
    pub const FIFOE: u8 = 1 << 0;
    /// Clear the receive FIFO.
    pub const RXCLR: u8 = 1 << 1;
    /// Clear the transmit FIFO.
    pub const TXCLR: u8 = 1 << 2;
    /// Receive trigger level (1, 4, 8 or 14 bytes).
    pub const TRIGGER: u8 = 0xc0;
}

/// `LCR.DLAB`: offsets 0 and 1 are the divisor latch.
pub const LCR_DLAB: u8 = 1 << 7;

/// `MCR` bits.
pub mod mcr {
    /// Data terminal ready.
    pub const DTR: u8 = 1 << 0;
    /// Request to send.
    pub const RTS: u8 = 1 << 1;
    /// Output 1.
    pub const OUT1: u8 = 1 << 2;
    /// Output 2 (the PC's interrupt enable).
    pub const OUT2: u8 = 1 << 3;
    /// Loopback.
    pub const LOOP: u8 = 1 << 4;
    /// Implemented bits.
    pub const MASK: u8 = 0x1f;
}

/// `LSR` bits.
pub mod lsr {
    /// Data ready.
    pub const DR: u8 = 1 << 0;
    /// Overrun error.
    pub const OE: u8 = 1 << 1;
    /// Transmitter holding register empty.
    pub const THRE: u8 = 1 << 5;
    /// Transmitter empty.
    pub const TEMT: u8 = 1 << 6;
}

/// `MSR` bits.
pub mod msr {
    /// Delta bits (3:0): CTS, DSR, trailing edge of RI, DCD changed.
    pub const DELTAS: u8 = 0x0f;
    /// Clear to send.
    pub const CTS: u8 = 1 << 4;
    /// Data set ready.
    pub const DSR: u8 = 1 << 5;
    /// Ring indicator.
    pub const RI: u8 = 1 << 6;
    /// Data carrier detect.
    pub const DCD: u8 = 1 << 7;
}

/// Receive FIFO depth with `FCR.FIFOE`.
pub const FIFO_DEPTH: usize = 16;

/// Emulated 16550A state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uart16550 {
    rx: ByteFifo<FIFO_DEPTH>,
    dll: u8,
    dlm: u8,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    /// The modem lines (MSR bits 7:4) and their deltas (3:0).
    msr: u8,
    overrun: bool,
    thr_pending: bool,
}

impl Default for Uart16550 {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart16550 {
    /// A UART in its reset state: no interrupt enabled, FIFOs off, divisor 0, the
    /// modem lines of a connected cable.
    pub const fn new() -> Self {
        Self {
            rx: ByteFifo::new(),
            dll: 0,
            dlm: 0,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            msr: msr::CTS | msr::DSR | msr::DCD,
            overrun: false,
            thr_pending: false,
        }
    }

    /// Returns to the reset state (drops pending input).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Guest read of `width` at `offset` from the base port.
    pub fn read(&mut self, offset: u64, width: Width) -> Result<u8, MmioError> {
        let v = REGS.read(self, offset, width)?;
        Ok(u8::try_from(v).unwrap_or(0))
    }

    /// Guest write of `width` at `offset`. A transmitted byte goes to `tx`.
    pub fn write(
        &mut self,
        offset: u64,
        width: Width,
        value: u8,
        tx: &mut dyn FnMut(u8),
    ) -> Result<(), MmioError> {
        if let Some(byte) = REGS.write(self, offset, width, u64::from(value))? {
            tx(byte);
        }
        Ok(())
    }

    /// A port read of `width` bytes at `offset`, one byte register after the other
    /// (the low byte from `offset`); bytes past the last port fail the whole access.
    pub fn read_wide(&mut self, offset: u64, width: Width) -> Result<u64, MmioError> {
        Self::lanes(offset, width)?;
        let mut v = 0u64;
        for i in 0..width.bytes() {
            let b = self.read(offset.saturating_add(i), Width::Byte)?;
            v |= u64::from(b) << (8 * i);
        }
        Ok(v)
    }

    /// A port write of `width` bytes at `offset`, low byte first.
    pub fn write_wide(
        &mut self,
        offset: u64,
        width: Width,
        value: u64,
        tx: &mut dyn FnMut(u8),
    ) -> Result<(), MmioError> {
        Self::lanes(offset, width)?;
        for i in 0..width.bytes() {
            let b = (value >> (8 * i)) as u8;
            self.write(offset.saturating_add(i), Width::Byte, b, tx)?;
        }
        Ok(())
    }

    fn lanes(offset: u64, width: Width) -> Result<(), MmioError> {
        match offset.checked_add(width.bytes()) {
            _ if width == Width::Double => Err(MmioError::BadWidth),
            Some(end) if end <= reg::PORTS => Ok(()),
            _ => Err(MmioError::NoRegister),
        }
    }

    /// Offers one received byte. Returns `false` (drops it and flags an overrun) when
    /// the FIFO (or the holding register, with FIFOs off) is full.
    pub fn receive(&mut self, byte: u8) -> bool {
        let fits = self.rx.push(byte, self.rx_depth());
        self.overrun |= !fits;
        fits
    }

    /// Free space in the receive FIFO, in bytes.
    pub fn rx_space(&self) -> usize {
        self.rx_depth().saturating_sub(self.rx.len())
    }

    /// The divisor latch (the baud rate is 115200 / divisor).
    pub const fn divisor(&self) -> u16 {
        u16::from_le_bytes([self.dll, self.dlm])
    }

    /// What IIR reads now (bits 3:0 the highest-priority interrupt, 7:6 set with the
    /// FIFOs on), without the side effect of a guest read.
    pub fn iir(&self) -> u8 {
        let id = if self.ier & ier::ELSI != 0 && self.overrun {
            iir::LINE
        } else if self.ier & ier::ERBFI != 0 && self.rx.len() >= self.trigger() {
            iir::RX
        } else if self.ier & ier::ERBFI != 0 && !self.rx.is_empty() {
            iir::TIMEOUT
        } else if self.ier & ier::ETBEI != 0 && self.thr_pending {
            iir::THRE
        } else if self.ier & ier::EDSSI != 0 && self.msr & msr::DELTAS != 0 {
            iir::MODEM
        } else {
            iir::NONE
        };
        if self.fcr & fcr::FIFOE != 0 {
            id | iir::FIFO
        } else {
            id
        }
    }

    /// Level of the UART's interrupt line: an interrupt is pending.
    pub fn irq_level(&self) -> bool {
        self.iir() & iir::NONE == 0
    }

    /// What LSR reads now, without clearing the overrun flag.
    pub const fn lsr(&self) -> u8 {
        let mut v = lsr::THRE | lsr::TEMT;
        if !self.rx.is_empty() {
            v |= lsr::DR;
        }
        if self.overrun {
            v |= lsr::OE;
        }
        v
    }

    const fn rx_depth(&self) -> usize {
        if self.fcr & fcr::FIFOE != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    /// Bytes at which received data interrupts (1 with the FIFOs off).
    const fn trigger(&self) -> usize {
        if self.fcr & fcr::FIFOE == 0 {
            return 1;
        }
        match self.fcr >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    fn rx_pop(&mut self) -> Option<u8> {
        self.rx.pop()
    }

    fn rx_flush(&mut self) {
        self.rx.clear();
    }

    /// The modem input lines (MSR bits 7:4) the current MCR gives.
    const fn lines(&self) -> u8 {
        if self.mcr & mcr::LOOP == 0 {
            return msr::CTS | msr::DSR | msr::DCD;
        }
        let mut v = 0;
        if self.mcr & mcr::RTS != 0 {
            v |= msr::CTS;
        }
        if self.mcr & mcr::DTR != 0 {
            v |= msr::DSR;
        }
        if self.mcr & mcr::OUT1 != 0 {
            v |= msr::RI;
        }
        if self.mcr & mcr::OUT2 != 0 {
            v |= msr::DCD;
        }
        v
    }

    /// Sets the modem lines after an MCR change, with their delta bits (RI's only on
    /// its trailing edge).
    fn update_lines(&mut self) {
        let old = self.msr & 0xf0;
        let new = self.lines();
        let changed = old ^ new;
        let mut delta = (changed >> 4) & 0x0b;
        if changed & msr::RI != 0 && new & msr::RI == 0 {
            delta |= 0x04;
        }
        self.msr = new | ((self.msr | delta) & msr::DELTAS);
    }
}

/// The register table, for diagnostics (register names, offsets).
pub const fn registers() -> RegTable<Uart16550, Option<u8>> {
    REGS
}

#[cfg(test)]
mod tests;
