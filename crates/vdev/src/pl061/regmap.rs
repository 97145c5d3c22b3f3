//! The PL061 register map: one small handler per register.

use super::{reg, Pl061, PCELL_ID, PERIPH_ID};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

/// The low 8 bits of a write, if it covers them.
fn byte(w: Write) -> Option<u8> {
    w.covers_low_byte().then_some((w.value & 0xff) as u8)
}

fn rd_data(g: &mut Pl061, i: usize) -> u64 {
    // Address bits [9:2] (the word index) select the pins a read returns.
    u64::from(g.pins() & (i & 0xff) as u8)
}
fn wr_data(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        let mask = (w.index & 0xff) as u8 & g.dir;
        let before = g.pins();
        g.out = (g.out & !mask) | (v & mask);
        g.latch_edges(before);
    }
}
fn rd_dir(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.dir)
}
fn wr_dir(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        let before = g.pins();
        g.dir = v;
        g.latch_edges(before);
    }
}
fn rd_is(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.is)
}
fn wr_is(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        g.is = v;
    }
}
fn rd_ibe(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.ibe)
}
fn wr_ibe(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        g.ibe = v;
    }
}
fn rd_iev(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.iev)
}
fn wr_iev(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        g.iev = v;
    }
}
fn rd_ie(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.ie)
}
fn wr_ie(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        g.ie = v;
    }
}
fn rd_ris(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.ris())
}
fn rd_mis(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.mis())
}
fn wr_ic(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        g.edges &= !v;
    }
}
fn rd_afsel(g: &mut Pl061, _: usize) -> u64 {
    u64::from(g.afsel)
}
fn wr_afsel(g: &mut Pl061, w: Write) {
    if let Some(v) = byte(w) {
        g.afsel = v;
    }
}
fn rd_periph_id(_: &mut Pl061, i: usize) -> u64 {
    PERIPH_ID.get(i).copied().map_or(0, u64::from)
}
fn rd_pcell_id(_: &mut Pl061, i: usize) -> u64 {
    PCELL_ID.get(i).copied().map_or(0, u64::from)
}

const W: Widths = Widths::UP_TO_WORD;

/// The PL061 register map.
pub(super) const REGS: RegTable<Pl061, ()> = RegTable::new(&[
    RegDesc::bank32(reg::DATA, 256, "GPIODATA", W, Access::Rw(rd_data, wr_data)),
    RegDesc::reg32(reg::DIR, "GPIODIR", W, Access::Rw(rd_dir, wr_dir)),
    RegDesc::reg32(reg::IS, "GPIOIS", W, Access::Rw(rd_is, wr_is)),
    RegDesc::reg32(reg::IBE, "GPIOIBE", W, Access::Rw(rd_ibe, wr_ibe)),
    RegDesc::reg32(reg::IEV, "GPIOIEV", W, Access::Rw(rd_iev, wr_iev)),
    RegDesc::reg32(reg::IE, "GPIOIE", W, Access::Rw(rd_ie, wr_ie)),
    RegDesc::reg32(reg::RIS, "GPIORIS", W, Access::Ro(rd_ris)),
    RegDesc::reg32(reg::MIS, "GPIOMIS", W, Access::Ro(rd_mis)),
    RegDesc::reg32(reg::IC, "GPIOIC", W, Access::Wo(wr_ic)),
    RegDesc::reg32(reg::AFSEL, "GPIOAFSEL", W, Access::Rw(rd_afsel, wr_afsel)),
    RegDesc::bank32(
        reg::PERIPH_ID0,
        4,
        "GPIOPeriphID",
        W,
        Access::Ro(rd_periph_id),
    ),
    RegDesc::bank32(reg::PCELL_ID0, 4, "GPIOPCellID", W, Access::Ro(rd_pcell_id)),
]);
