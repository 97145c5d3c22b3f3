//! The 16550 register map and its handlers: one small function per port, each a pure
//! state transition on [`Uart16550`] that may return a byte to transmit. The ports
//! whose meaning depends on `LCR.DLAB` (0 and 1) or on the direction (2) branch inside
//! their handler; everything else is found through the table.

use super::{fcr, ier, iir, mcr, msr, Uart16550, LCR_DLAB};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

/// Side effect of a register write: a byte to transmit.
type Tx = Option<u8>;

const fn reg8(
    offset: u64,
    name: &'static str,
    access: Access<Uart16550, Tx>,
) -> RegDesc<Uart16550, Tx> {
    RegDesc {
        offset,
        size: 1,
        count: 1,
        widths: Widths::BYTE,
        name,
        access,
    }
}

fn byte(w: Write) -> u8 {
    (w.value & 0xff) as u8
}

const fn dlab(u: &Uart16550) -> bool {
    u.lcr & LCR_DLAB != 0
}

fn rd_rbr(u: &mut Uart16550, _: usize) -> u64 {
    if dlab(u) {
        return u64::from(u.dll);
    }
    u.rx_pop().map_or(0, u64::from)
}
fn wr_thr(u: &mut Uart16550, w: Write) -> Tx {
    if dlab(u) {
        u.dll = byte(w);
        return None;
    }
    // Transmission is instantaneous: the holding register is empty again at once.
    u.thr_pending = true;
    if u.mcr & mcr::LOOP != 0 {
        let _ = u.receive(byte(w));
        return None;
    }
    Some(byte(w))
}
fn rd_ier(u: &mut Uart16550, _: usize) -> u64 {
    u64::from(if dlab(u) { u.dlm } else { u.ier })
}
fn wr_ier(u: &mut Uart16550, w: Write) -> Tx {
    if dlab(u) {
        u.dlm = byte(w);
        return None;
    }
    let new = byte(w) & ier::MASK;
    if new & ier::ETBEI == 0 {
        u.thr_pending = false;
    } else if u.ier & ier::ETBEI == 0 {
        // Turning ETBEI on with the holding register empty interrupts at once.
        u.thr_pending = true;
    }
    u.ier = new;
    None
}
fn rd_iir(u: &mut Uart16550, _: usize) -> u64 {
    let v = u.iir();
    if v & 0x0f == iir::THRE {
        u.thr_pending = false;
    }
    u64::from(v)
}
fn wr_fcr(u: &mut Uart16550, w: Write) -> Tx {
    let v = byte(w);
    if (v ^ u.fcr) & fcr::FIFOE != 0 || v & fcr::RXCLR != 0 {
        u.rx_flush();
    }
    // The clear bits self-clear; TXCLR has nothing to clear (transmit is instantaneous).
    u.fcr = v & (fcr::FIFOE | fcr::TRIGGER);
    None
}
fn rd_lcr(u: &mut Uart16550, _: usize) -> u64 {
    u64::from(u.lcr)
}
fn wr_lcr(u: &mut Uart16550, w: Write) -> Tx {
    u.lcr = byte(w);
    None
}
fn rd_mcr(u: &mut Uart16550, _: usize) -> u64 {
    u64::from(u.mcr)
}
fn wr_mcr(u: &mut Uart16550, w: Write) -> Tx {
    u.mcr = byte(w) & mcr::MASK;
    u.update_lines();
    None
}
fn rd_lsr(u: &mut Uart16550, _: usize) -> u64 {
    let v = u.lsr();
    u.overrun = false;
    u64::from(v)
}
fn rd_msr(u: &mut Uart16550, _: usize) -> u64 {
    let v = u.msr;
    u.msr &= !msr::DELTAS;
    u64::from(v)
}
/// LSR and MSR: the factory-test writes of the real part have no effect here.
fn wr_ignored(_: &mut Uart16550, _: Write) -> Tx {
    None
}
fn rd_scr(u: &mut Uart16550, _: usize) -> u64 {
    u64::from(u.scr)
}
fn wr_scr(u: &mut Uart16550, w: Write) -> Tx {
    u.scr = byte(w);
    None
}

pub(super) const REGS: RegTable<Uart16550, Tx> = RegTable::new(&[
    reg8(0, "RBR/THR/DLL", Access::Rw(rd_rbr, wr_thr)),
    reg8(1, "IER/DLM", Access::Rw(rd_ier, wr_ier)),
    reg8(2, "IIR/FCR", Access::Rw(rd_iir, wr_fcr)),
    reg8(3, "LCR", Access::Rw(rd_lcr, wr_lcr)),
    reg8(4, "MCR", Access::Rw(rd_mcr, wr_mcr)),
    reg8(5, "LSR", Access::Rw(rd_lsr, wr_ignored)),
    reg8(6, "MSR", Access::Rw(rd_msr, wr_ignored)),
    reg8(7, "SCR", Access::Rw(rd_scr, wr_scr)),
]);
