//! Emulated 8254 programmable interval timer (the PC's PIT at ports 0x40-0x43) and the
//! PIT side of system control port B (port 0x61): what bare-metal programs and
//! Linux's early TSC calibration (`quick_pit_calibrate`) use to time the CPU: channel 2
//! gated by port B bit 0, its output read back in port B bit 5, its count read
//! through port 0x42.
//!
//! Model:
//! - Time is the caller's: every access passes `now`, a count of PIT input clocks
//!   (1,193,182 Hz, [`PIT_HZ`]) from any fixed origin; the hypervisor derives it from
//!   the TSC. Nothing runs between accesses: a count is computed from the time its
//!   counting started.
//! - Each channel keeps its mode (0-5), access mode (latch, LSB, MSB, LSB then MSB),
//!   reload value (0 stands for 65,536) and the LSB/MSB toggles of reads and writes.
//!   Counting is binary (the BCD bit is kept in the status, not honoured).
//! - Modes 0, 1, 4 and 5 count down from the reload value and wrap through 65,535 after
//!   the terminal count; OUT rises at the terminal count in modes 0 and 1 (and stays
//!   high in 4 and 5). Modes 2 and 3 reload at the terminal count; mode 3's OUT is
//!   high for the first half of each period. Modes 0, 2, 3 and 4 count while their gate
//!   is high (a low gate holds mode 0 and 4 counts; modes 2 and 3 restart when it rises
//!   again); modes 1 and 5 start on the gate's rising edge.
//! - Gates: channels 0 and 1 always high, channel 2 from port B bit 0.
//! - The counter latch command, and read-back (count and status latches) of several
//!   channels at once. A latched status is read before a latched count.
//! - No interrupt: channel 0's OUT is not wired to IRQ 0 (a VM has no 8259, and its
//!   ACPI tables describe a hardware-reduced machine whose timers are the local
//!   APIC's), and the speaker is silent.
//! - Port B: bits 0-3 read back as written; bit 4 toggles every 18 input clocks (the
//!   refresh request, which old delay loops watch); bit 5 is channel 2's OUT; bits
//!   6-7 read 0 (no NMI source).

use crate::regs::{Access, RegDesc, RegTable, Widths, Write};
use crate::{MmioError, Width};

/// The PIT's input clock, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// Offset of the control word register (port 0x43).
pub const CONTROL: u64 = 3;
/// The offset at which this model decodes system control port B (port 0x61).
pub const PORT_B: u64 = 4;

/// One counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Channel {
    /// Operating mode, 0-5.
    mode: u8,
    /// Read/write access: 1 LSB, 2 MSB, 3 LSB then MSB.
    rw: u8,
    bcd: bool,
    /// The reload value as written (0 means 65,536).
    reload: u16,
    /// The next data write is the MSB (of an LSB-then-MSB pair).
    write_msb: bool,
    /// The LSB of a pair being written.
    write_lsb: u8,
    /// The next read is the MSB (of an LSB-then-MSB pair).
    read_msb: bool,
    /// A count was written since the last control word: it counts.
    loaded: bool,
    /// When counting started (input clocks), while it counts.
    start: Option<u64>,
    /// Clocks counted before a low gate held the count (modes 0 and 4).
    held: u64,
    /// A latched count and how many of its bytes are still to be read.
    latch: Option<(u16, u8)>,
    /// A latched status byte.
    status: Option<u8>,
}

impl Channel {
    fn period(&self) -> u64 {
        if self.reload == 0 {
            0x1_0000
        } else {
            u64::from(self.reload)
        }
    }

    /// Clocks counted by `now`.
    fn elapsed(&self, now: u64) -> u64 {
        match self.start {
            Some(s) => self.held.saturating_add(now.saturating_sub(s)),
            None => self.held,
        }
    }

    /// The counting element's value at `now`.
    fn count(&self, now: u64) -> u16 {
        if !self.loaded {
            return self.reload;
        }
        let e = self.elapsed(now);
        let n = self.period();
        let v = match self.mode {
            2 => n - e % n,
            3 => {
                // Decrements by two, twice per period.
                let half = n.div_ceil(2);
                n - 2 * ((e % n) % half)
            }
            _ => n.wrapping_sub(e),
        };
        (v & 0xffff) as u16
    }

    /// The OUT pin at `now`.
    fn out(&self, now: u64) -> bool {
        if !self.loaded || self.start.is_none() && self.held == 0 {
            return self.mode != 0;
        }
        let e = self.elapsed(now);
        let n = self.period();
        match self.mode {
            0 | 1 => e >= n,
            3 => e % n < n.div_ceil(2),
            _ => true,
        }
    }

    fn status_byte(&self, now: u64) -> u8 {
        u8::from(self.out(now)) << 7
            | u8::from(!self.loaded) << 6
            | self.rw << 4
            | self.mode << 1
            | u8::from(self.bcd)
    }

    /// A control word for this channel (`cw`: its RW, mode and BCD bits).
    fn program(&mut self, cw: u8, now: u64) {
        let rw = (cw >> 4) & 3;
        if rw == 0 {
            // Counter latch command.
            if self.latch.is_none() {
                self.latch = Some((self.count(now), if self.rw == 3 { 2 } else { 1 }));
            }
            return;
        }
        let mode = (cw >> 1) & 7;
        *self = Channel {
            // Modes 6 and 7 are 2 and 3.
            mode: if mode > 5 { mode - 4 } else { mode },
            rw,
            bcd: cw & 1 != 0,
            reload: self.reload,
            ..Channel::default()
        };
    }

    /// A data byte written.
    fn write(&mut self, b: u8, gate: bool, now: u64) {
        let value = match self.rw {
            1 => u16::from(b),
            2 => u16::from(b) << 8,
            _ if !self.write_msb => {
                self.write_lsb = b;
                self.write_msb = true;
                return;
            }
            _ => {
                self.write_msb = false;
                u16::from(self.write_lsb) | u16::from(b) << 8
            }
        };
        self.reload = value;
        self.loaded = true;
        self.held = 0;
        // Modes 1 and 5 wait for a rising gate; the others count while it is high.
        self.start = (gate && !matches!(self.mode, 1 | 5)).then_some(now);
    }

    /// A data byte read.
    fn read(&mut self, now: u64) -> u8 {
        if let Some(s) = self.status.take() {
            return s;
        }
        if let Some((v, left)) = self.latch {
            let b = if left == 2 || self.rw == 1 {
                v as u8
            } else {
                (v >> 8) as u8
            };
            self.latch = (left > 1).then_some((v, left - 1));
            return b;
        }
        let v = self.count(now);
        match self.rw {
            1 => v as u8,
            2 => (v >> 8) as u8,
            _ => {
                self.read_msb = !self.read_msb;
                if self.read_msb {
                    v as u8
                } else {
                    (v >> 8) as u8
                }
            }
        }
    }

    /// The gate changed to `high` at `now`.
    fn gate(&mut self, high: bool, now: u64) {
        if !self.loaded {
            return;
        }
        match (self.mode, high) {
            // Held while low, resumed when high.
            (0 | 4, false) => {
                self.held = self.elapsed(now);
                self.start = None;
            }
            (0 | 4, true) => self.start = Some(now),
            // Stopped while low (OUT high), started from the reload when it rises.
            (2 | 3, false) => {
                self.held = 0;
                self.start = None;
            }
            // A rising edge starts modes 1, 2, 3 and 5 from the reload value.
            (_, true) => {
                self.held = 0;
                self.start = Some(now);
            }
            (_, false) => {}
        }
    }
}

/// The PIT and port B.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pit {
    ch: [Channel; 3],
    /// Port B's writable bits (0-3).
    port_b: u8,
    /// The time of the access being decoded.
    now: u64,
}

const fn reg(
    offset: u64,
    count: u16,
    name: &'static str,
    access: Access<Pit, ()>,
) -> RegDesc<Pit, ()> {
    RegDesc {
        offset,
        size: 1,
        count,
        widths: Widths::BYTE,
        name,
        access,
    }
}

static REGS: RegTable<Pit, ()> = RegTable::new(&[
    reg(0, 3, "COUNTER", Access::Rw(rd_counter, wr_counter)),
    reg(CONTROL, 1, "CONTROL", Access::Wo(wr_control)),
    reg(PORT_B, 1, "PORT_B", Access::Rw(rd_port_b, wr_port_b)),
]);

fn rd_counter(p: &mut Pit, i: usize) -> u64 {
    let now = p.now;
    p.ch.get_mut(i).map_or(0, |c| u64::from(c.read(now)))
}
fn wr_counter(p: &mut Pit, w: Write) {
    let (now, gate) = (p.now, p.gate(w.index));
    if let Some(c) = p.ch.get_mut(w.index) {
        c.write(w.value as u8, gate, now);
    }
}
fn wr_control(p: &mut Pit, w: Write) {
    let cw = w.value as u8;
    let now = p.now;
    match usize::from(cw >> 6) {
        3 => {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches statuses, of
            // the channels bits 1-3 select.
            for i in 0..3 {
                if cw & (2 << i) == 0 {
                    continue;
                }
                let c = &mut p.ch[i];
                if cw & 0x10 == 0 && c.status.is_none() {
                    c.status = Some(c.status_byte(now));
                }
                if cw & 0x20 == 0 && c.latch.is_none() {
                    c.latch = Some((c.count(now), if c.rw == 3 { 2 } else { 1 }));
                }
            }
        }
        i => {
            if let Some(c) = p.ch.get_mut(i) {
                c.program(cw, now);
            }
        }
    }
}
fn rd_port_b(p: &mut Pit, _: usize) -> u64 {
    let refresh = (p.now / 18) & 1 != 0;
    let out2 = p.ch[2].out(p.now);
    u64::from(p.port_b | u8::from(refresh) << 4 | u8::from(out2) << 5)
}
fn wr_port_b(p: &mut Pit, w: Write) {
    let was = p.gate(2);
    p.port_b = w.value as u8 & 0xf;
    let now_high = p.gate(2);
    if was != now_high {
        let now = p.now;
        p.ch[2].gate(now_high, now);
    }
}

impl Pit {
    /// A PIT after reset: every channel unprogrammed, channel 2's gate low.
    pub const fn new() -> Self {
        const C: Channel = Channel {
            mode: 0,
            rw: 0,
            bcd: false,
            reload: 0,
            write_msb: false,
            write_lsb: 0,
            read_msb: false,
            loaded: false,
            start: None,
            held: 0,
            latch: None,
            status: None,
        };
        Pit {
            ch: [C; 3],
            port_b: 0,
            now: 0,
        }
    }

    /// Channel `i`'s gate.
    fn gate(&self, i: usize) -> bool {
        i != 2 || self.port_b & 1 != 0
    }

    /// Reads the byte at `off` (0-2 counters, [`CONTROL`], [`PORT_B`]) at time `now`.
    pub fn read(&mut self, off: u64, w: Width, now: u64) -> Result<u64, MmioError> {
        self.now = now;
        REGS.read(self, off, w)
    }

    /// Writes the byte at `off` at time `now`.
    pub fn write(&mut self, off: u64, w: Width, value: u64, now: u64) -> Result<(), MmioError> {
        self.now = now;
        REGS.write(self, off, w, value)
    }
}

#[cfg(test)]
mod tests;
