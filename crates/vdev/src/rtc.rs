//! Emulated MC146818 real-time clock and CMOS RAM (the PC's RTC at ports 0x70/0x71),
//! enough for Linux's `mach_get_cmos_time`/`rtc_cmos` and bare-metal programs that
//! read the date.
//!
//! Model:
//! - Port 0x70 (offset 0) selects a register (bits 0-6; bit 7, the NMI mask, is
//!   kept but has no effect); port 0x71 (offset 1) reads or writes it.
//! - The time is the caller's: every access passes `now`, seconds since 1970-01-01
//!   00:00:00 UTC; the clock reads `now` plus an offset that a guest's writes of the
//!   time registers set (so a VM that sets its clock moves only its own).
//! - Registers 0, 2, 4, 6, 7, 8, 9 (seconds to year) and 0x32 (century) read the
//!   date in BCD or binary and in 24- or 12-hour form as register B says; an update is
//!   never in progress (register A's UIP reads 0: a read computes the time, nothing
//!   counts between reads). The alarm registers (1, 3, 5) are plain storage.
//! - Register A keeps its divider and rate bits; B its bits but SET (7) only holds
//!   the written fields until it is cleared; C reads 0 (no interrupt is ever flagged:
//!   IRQ 8 is not wired, as a VM has no 8259 and the periodic, alarm and update
//!   interrupts are not emulated); D reads 0x80 (valid RAM and time).
//! - Registers 0x0E-0x7F other than 0x32 are 114 bytes of CMOS RAM, zero at reset.

use crate::regs::{Access, RegDesc, RegTable, Widths, Write};
use crate::{MmioError, Width};
use cmos::CMOS;

mod cmos;

/// Offset of the index port (0x70).
pub const INDEX: u64 = 0;
/// Offset of the data port (0x71).
pub const DATA: u64 = 1;

const REG_A: u8 = 0x0a;
const REG_B: u8 = 0x0b;
const REG_C: u8 = 0x0c;
const REG_D: u8 = 0x0d;
const CENTURY: u8 = 0x32;
/// Register B: SET (hold the clock), DM (binary), 24-hour.
const B_SET: u8 = 0x80;
const B_DM: u8 = 0x04;
const B_24H: u8 = 0x02;
/// Register D: valid RAM and time.
const D_VRT: u8 = 0x80;
const RAM: usize = 0x80;

/// A date and time of day (UTC, proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: u32,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Days from 1970-01-01 to `year`-`month`-`day` (the civil calendar; years from 1970).
pub fn days_from_civil(year: u32, month: u8, day: u8) -> u64 {
    // Years counted from March, so that February's leap day ends a year.
    let (m, y) = (u64::from(month.clamp(1, 12)), u64::from(year.max(1970)));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y % 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + u64::from(day.clamp(1, 31)) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719,468 days from 0000-03-01 to 1970-01-01.
    (era * 146_097 + doe).saturating_sub(719_468)
}

impl DateTime {
    /// The date and time `secs` seconds after 1970-01-01 00:00:00.
    pub fn from_unix(secs: u64) -> Self {
        let days = secs / 86_400 + 719_468;
        let rem = secs % 86_400;
        let era = days / 146_097;
        let doe = days % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (era * 400 + yoe + u64::from(month <= 2)) as u32;
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// Seconds since 1970-01-01 00:00:00 (dates before it count as it).
    pub fn to_unix(&self) -> u64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + u64::from(self.hour.min(23)) * 3600
            + u64::from(self.minute.min(59)) * 60
            + u64::from(self.second.min(59))
    }

    /// The date a real MC146818 holds: `regs` are its seconds, minutes, hours, day of
    /// the month, month, year and century registers (0, 2, 4, 7, 8, 9, 0x32) as read,
    /// `b` its register B (BCD or binary, 12 or 24 hours). `None` for a date out of
    /// range (a clock that was never set, or not there: all ones).
    pub fn from_registers(regs: [u8; 7], b: u8) -> Option<Self> {
        let dec = |v: u8| {
            if b & B_DM != 0 {
                Some(v)
            } else {
                (v >> 4 < 10 && v & 0xf < 10).then(|| from_bcd(v))
            }
        };
        let [s, m, h, d, mo, y, c] = regs;
        let hour = if b & B_24H != 0 {
            dec(h)?
        } else {
            dec(h & 0x7f)? % 12 + if h & 0x80 != 0 { 12 } else { 0 }
        };
        let t = DateTime {
            year: u32::from(dec(c)?) * 100 + u32::from(dec(y)?),
            month: dec(mo)?,
            day: dec(d)?,
            hour,
            minute: dec(m)?,
            second: dec(s)?,
        };
        let ok = (1970..=2199).contains(&t.year)
            && (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 60;
        ok.then_some(t)
    }

    /// Day of the week, 1 (Sunday) to 7.
    fn weekday(&self) -> u8 {
        // 1970-01-01 was a Thursday (5).
        ((days_from_civil(self.year, self.month, self.day) + 4) % 7) as u8 + 1
    }
}

/// The RTC and its CMOS RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtc {
    index: u8,
    nmi_masked: bool,
    a: u8,
    b: u8,
    /// Seconds added to the caller's time (a guest's own setting of its clock).
    offset: i64,
    /// The time registers as written while SET holds the clock.
    held: Option<DateTime>,
    ram: [u8; RAM],
    now: u64,
}

static REGS: RegTable<Rtc, ()> = RegTable::new(&[
    RegDesc {
        offset: INDEX,
        size: 1,
        count: 1,
        widths: Widths::BYTE,
        name: "INDEX",
        access: Access::Rw(rd_index, wr_index),
    },
    RegDesc {
        offset: DATA,
        size: 1,
        count: 1,
        widths: Widths::BYTE,
        name: "DATA",
        access: Access::Rw(rd_data, wr_data),
    },
]);

fn rd_index(r: &mut Rtc, _: usize) -> u64 {
    u64::from(r.index | u8::from(r.nmi_masked) << 7)
}
fn wr_index(r: &mut Rtc, w: Write) {
    r.index = w.value as u8 & 0x7f;
    r.nmi_masked = w.value & 0x80 != 0;
}
// The selected CMOS register, through the CMOS table (it covers every index); writes
// to its read-only registers (weekday, C, D) are dropped, as the chip ignores them.
fn rd_data(r: &mut Rtc, _: usize) -> u64 {
    CMOS.read(r, u64::from(r.index), Width::Byte).unwrap_or(0)
}
fn wr_data(r: &mut Rtc, w: Write) {
    CMOS.write(r, u64::from(r.index), Width::Byte, w.value)
        .unwrap_or(());
}

fn to_bcd(v: u8) -> u8 {
    ((v / 10) << 4) | (v % 10)
}
fn from_bcd(v: u8) -> u8 {
    (v >> 4).min(9) * 10 + (v & 0xf).min(9)
}

impl Rtc {
    /// An RTC after reset: 24-hour BCD mode (what a PC BIOS leaves), the CMOS RAM
    /// zero, the clock at the caller's time.
    pub const fn new() -> Self {
        Rtc {
            index: 0,
            nmi_masked: false,
            a: 0x26,
            b: B_24H,
            offset: 0,
            held: None,
            ram: [0; RAM],
            now: 0,
        }
    }

    /// The clock's date and time.
    pub fn time(&self) -> DateTime {
        if let Some(h) = self.held {
            return h;
        }
        DateTime::from_unix(self.now.saturating_add_signed(self.offset))
    }

    fn encode(&self, v: u8) -> u8 {
        if self.b & B_DM != 0 {
            v
        } else {
            to_bcd(v)
        }
    }

    fn decode(&self, v: u8) -> u8 {
        if self.b & B_DM != 0 {
            v
        } else {
            from_bcd(v)
        }
    }

    fn hour_out(&self, h: u8) -> u8 {
        if self.b & B_24H != 0 {
            return self.encode(h);
        }
        let pm = u8::from(h >= 12) << 7;
        let h12 = match h % 12 {
            0 => 12,
            x => x,
        };
        self.encode(h12) | pm
    }

    fn hour_in(&self, v: u8) -> u8 {
        if self.b & B_24H != 0 {
            return self.decode(v).min(23);
        }
        let h12 = self.decode(v & 0x7f).clamp(1, 12) % 12;
        h12 + if v & 0x80 != 0 { 12 } else { 0 }
    }

    /// Makes the clock read `t` at the current time.
    fn set_time(&mut self, t: DateTime) {
        let want = t.to_unix().min(i64::MAX as u64) as i64;
        self.offset = want.saturating_sub(self.now.min(i64::MAX as u64) as i64);
    }

    /// Reads port `off` ([`INDEX`] or [`DATA`]) at `now` (seconds since the epoch).
    pub fn read(&mut self, off: u64, w: Width, now: u64) -> Result<u64, MmioError> {
        self.now = now;
        REGS.read(self, off, w)
    }

    /// Writes port `off` at `now`.
    pub fn write(&mut self, off: u64, w: Width, value: u64, now: u64) -> Result<(), MmioError> {
        self.now = now;
        REGS.write(self, off, w, value)
    }
}

impl Default for Rtc {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
