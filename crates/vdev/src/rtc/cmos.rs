//! The CMOS register map behind the data port, indexed by the register number the
//! index port selects: one handler pair per clock register, the alarm bytes and the
//! RAM as plain storage. The table covers every index, 0x00-0x7F.

use super::{DateTime, Rtc, B_SET, CENTURY, D_VRT, RAM, REG_A, REG_B, REG_C, REG_D};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

/// `count` one-byte registers from CMOS index `index`.
const fn reg(
    index: u8,
    count: u16,
    name: &'static str,
    access: Access<Rtc, ()>,
) -> RegDesc<Rtc, ()> {
    RegDesc {
        offset: index as u64,
        size: 1,
        count,
        widths: Widths::BYTE,
        name,
        access,
    }
}

/// Plain storage: `count` bytes of CMOS RAM from index `BASE`.
const fn ram<const BASE: usize>(count: u16, name: &'static str) -> RegDesc<Rtc, ()> {
    reg(
        BASE as u8,
        count,
        name,
        Access::Rw(rd_ram::<BASE>, wr_ram::<BASE>),
    )
}

pub(super) static CMOS: RegTable<Rtc, ()> = RegTable::new(&[
    reg(0x00, 1, "SECONDS", Access::Rw(rd_seconds, wr_seconds)),
    ram::<0x01>(1, "SECONDS_ALARM"),
    reg(0x02, 1, "MINUTES", Access::Rw(rd_minutes, wr_minutes)),
    ram::<0x03>(1, "MINUTES_ALARM"),
    reg(0x04, 1, "HOURS", Access::Rw(rd_hours, wr_hours)),
    ram::<0x05>(1, "HOURS_ALARM"),
    reg(0x06, 1, "WEEKDAY", Access::Ro(rd_weekday)),
    reg(0x07, 1, "DAY", Access::Rw(rd_day, wr_day)),
    reg(0x08, 1, "MONTH", Access::Rw(rd_month, wr_month)),
    reg(0x09, 1, "YEAR", Access::Rw(rd_year, wr_year)),
    reg(REG_A, 1, "A", Access::Rw(rd_a, wr_a)),
    reg(REG_B, 1, "B", Access::Rw(rd_b, wr_b)),
    reg(REG_C, 1, "C", Access::Ro(rd_c)),
    reg(REG_D, 1, "D", Access::Ro(rd_d)),
    ram::<0x0e>(CENTURY as u16 - 0x0e, "RAM"),
    reg(CENTURY, 1, "CENTURY", Access::Rw(rd_century, wr_century)),
    ram::<0x33>(RAM as u16 - 0x33, "RAM"),
]);

/// The written byte (the table's registers are one byte wide).
fn byte(w: Write) -> u8 {
    w.value as u8
}

/// Sets the date through `f`: the held date while SET holds the clock, else the clock.
fn set_date(r: &mut Rtc, f: impl FnOnce(&mut DateTime)) {
    let mut t = r.time();
    f(&mut t);
    if r.held.is_some() {
        r.held = Some(t);
    } else {
        r.set_time(t);
    }
}

fn rd_seconds(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode(r.time().second))
}
fn wr_seconds(r: &mut Rtc, w: Write) {
    let v = r.decode(byte(w)).min(59);
    set_date(r, |t| t.second = v);
}
fn rd_minutes(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode(r.time().minute))
}
fn wr_minutes(r: &mut Rtc, w: Write) {
    let v = r.decode(byte(w)).min(59);
    set_date(r, |t| t.minute = v);
}
fn rd_hours(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.hour_out(r.time().hour))
}
fn wr_hours(r: &mut Rtc, w: Write) {
    let v = r.hour_in(byte(w));
    set_date(r, |t| t.hour = v);
}
fn rd_weekday(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode(r.time().weekday()))
}
fn rd_day(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode(r.time().day))
}
fn wr_day(r: &mut Rtc, w: Write) {
    let v = r.decode(byte(w)).clamp(1, 31);
    set_date(r, |t| t.day = v);
}
fn rd_month(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode(r.time().month))
}
fn wr_month(r: &mut Rtc, w: Write) {
    let v = r.decode(byte(w)).clamp(1, 12);
    set_date(r, |t| t.month = v);
}
fn rd_year(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode((r.time().year % 100) as u8))
}
fn wr_year(r: &mut Rtc, w: Write) {
    let v = u32::from(r.decode(byte(w)).min(99));
    set_date(r, |t| t.year = t.year / 100 * 100 + v);
}
fn rd_century(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.encode((r.time().year / 100).min(99) as u8))
}
fn wr_century(r: &mut Rtc, w: Write) {
    let v = u32::from(r.decode(byte(w)).min(99));
    set_date(r, |t| t.year = v * 100 + t.year % 100);
}

fn rd_a(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.a & 0x7f)
}
fn wr_a(r: &mut Rtc, w: Write) {
    r.a = byte(w) & 0x7f;
}
fn rd_b(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.b)
}
/// SET going on holds the date as it is; going off starts the clock from the held
/// date (with what was written meanwhile).
fn wr_b(r: &mut Rtc, w: Write) {
    let v = byte(w);
    let t = r.time();
    let was_held = r.b & B_SET != 0;
    r.b = v;
    match (was_held, v & B_SET != 0) {
        (false, true) => r.held = Some(t),
        (true, false) => {
            if let Some(h) = r.held.take() {
                r.set_time(h);
            }
        }
        _ => {}
    }
}
fn rd_c(_: &mut Rtc, _: usize) -> u64 {
    0
}
fn rd_d(_: &mut Rtc, _: usize) -> u64 {
    u64::from(D_VRT)
}

fn rd_ram<const BASE: usize>(r: &mut Rtc, i: usize) -> u64 {
    let at = BASE.saturating_add(i);
    r.ram.get(at).copied().map_or(0, u64::from)
}
fn wr_ram<const BASE: usize>(r: &mut Rtc, w: Write) {
    let at = BASE.saturating_add(w.index);
    if let Some(b) = r.ram.get_mut(at) {
        *b = byte(w);
    }
}
