//! The PL011 register map and its handlers: one small function per register,
//! each a pure state transition on [`Pl011`] that may return a byte to transmit.

use super::{cr, int, reg, Pl011, LCR_H_FEN, PCELL_ID, PERIPH_ID};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

/// Side effect of a register write: a byte to transmit.
type Tx = Option<u8>;

/// `old` with the written lanes of `w` replaced, limited to `mask`.
fn merged(old: u32, w: Write, mask: u32) -> u32 {
    u32::try_from(w.merge(u64::from(old)) & u64::from(mask)).unwrap_or(0)
}

fn rd_dr(u: &mut Pl011, _: usize) -> u64 {
    // Error bits (11:8) are always 0: the model never produces receive errors.
    u.rsr = 0;
    u.rx_pop().map_or(0, u64::from)
}
fn wr_dr(u: &mut Pl011, w: Write) -> Tx {
    if !w.covers_low_byte() {
        return None;
    }
    let byte = (w.value & 0xff) as u8;
    u.ris |= int::TX;
    if u.cr & cr::LBE != 0 {
        let _ = u.receive(byte);
        return None;
    }
    Some(byte)
}
fn rd_rsr(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.rsr)
}
fn wr_ecr(u: &mut Pl011, _: Write) -> Tx {
    u.rsr = 0;
    None
}
fn rd_fr(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.flags())
}
fn rd_ilpr(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.ilpr)
}
fn wr_ilpr(u: &mut Pl011, w: Write) -> Tx {
    u.ilpr = merged(u.ilpr, w, 0xff);
    None
}
fn rd_ibrd(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.ibrd)
}
fn wr_ibrd(u: &mut Pl011, w: Write) -> Tx {
    u.ibrd = merged(u.ibrd, w, 0xffff);
    None
}
fn rd_fbrd(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.fbrd)
}
fn wr_fbrd(u: &mut Pl011, w: Write) -> Tx {
    u.fbrd = merged(u.fbrd, w, 0x3f);
    None
}
fn rd_lcr_h(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.lcr_h)
}
fn wr_lcr_h(u: &mut Pl011, w: Write) -> Tx {
    let new = merged(u.lcr_h, w, 0xff);
    if (new ^ u.lcr_h) & LCR_H_FEN != 0 {
        u.rx_flush();
    }
    u.lcr_h = new;
    None
}
fn rd_cr(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.cr)
}
fn wr_cr(u: &mut Pl011, w: Write) -> Tx {
    let was = u.tx_enabled();
    u.cr = merged(u.cr, w, cr::MASK);
    if !was && u.tx_enabled() {
        u.ris |= int::TX;
    }
    None
}
fn rd_ifls(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.ifls)
}
fn wr_ifls(u: &mut Pl011, w: Write) -> Tx {
    u.ifls = merged(u.ifls, w, 0x3f);
    None
}
fn rd_imsc(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.imsc)
}
fn wr_imsc(u: &mut Pl011, w: Write) -> Tx {
    u.imsc = merged(u.imsc, w, int::ALL);
    None
}
fn rd_ris(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.ris)
}
fn rd_mis(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.mis())
}
fn wr_icr(u: &mut Pl011, w: Write) -> Tx {
    let clear = u32::try_from(w.value & w.mask & u64::from(int::ALL)).unwrap_or(0);
    u.ris &= !clear;
    None
}
fn rd_dmacr(u: &mut Pl011, _: usize) -> u64 {
    u64::from(u.dmacr)
}
fn wr_dmacr(u: &mut Pl011, w: Write) -> Tx {
    u.dmacr = merged(u.dmacr, w, 0x7);
    None
}
fn rd_periph_id(_: &mut Pl011, i: usize) -> u64 {
    PERIPH_ID.get(i).copied().map_or(0, u64::from)
}
fn rd_pcell_id(_: &mut Pl011, i: usize) -> u64 {
    PCELL_ID.get(i).copied().map_or(0, u64::from)
}

const W: Widths = Widths::UP_TO_WORD;

/// The PL011 register map.
pub(super) const REGS: RegTable<Pl011, Tx> = RegTable::new(&[
    RegDesc::reg32(reg::DR, "UARTDR", W, Access::Rw(rd_dr, wr_dr)),
    RegDesc::reg32(reg::RSR_ECR, "UARTRSR/ECR", W, Access::Rw(rd_rsr, wr_ecr)),
    RegDesc::reg32(reg::FR, "UARTFR", W, Access::Ro(rd_fr)),
    RegDesc::reg32(reg::ILPR, "UARTILPR", W, Access::Rw(rd_ilpr, wr_ilpr)),
    RegDesc::reg32(reg::IBRD, "UARTIBRD", W, Access::Rw(rd_ibrd, wr_ibrd)),
    RegDesc::reg32(reg::FBRD, "UARTFBRD", W, Access::Rw(rd_fbrd, wr_fbrd)),
    RegDesc::reg32(reg::LCR_H, "UARTLCR_H", W, Access::Rw(rd_lcr_h, wr_lcr_h)),
    RegDesc::reg32(reg::CR, "UARTCR", W, Access::Rw(rd_cr, wr_cr)),
    RegDesc::reg32(reg::IFLS, "UARTIFLS", W, Access::Rw(rd_ifls, wr_ifls)),
    RegDesc::reg32(reg::IMSC, "UARTIMSC", W, Access::Rw(rd_imsc, wr_imsc)),
    RegDesc::reg32(reg::RIS, "UARTRIS", W, Access::Ro(rd_ris)),
    RegDesc::reg32(reg::MIS, "UARTMIS", W, Access::Ro(rd_mis)),
    RegDesc::reg32(reg::ICR, "UARTICR", W, Access::Wo(wr_icr)),
    RegDesc::reg32(reg::DMACR, "UARTDMACR", W, Access::Rw(rd_dmacr, wr_dmacr)),
    RegDesc::bank32(
        reg::PERIPH_ID0,
        4,
        "UARTPeriphID",
        W,
        Access::Ro(rd_periph_id),
    ),
    RegDesc::bank32(reg::PCELL_ID0, 4, "UARTPCellID", W, Access::Ro(rd_pcell_id)),
]);
