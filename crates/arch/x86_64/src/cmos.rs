//! The host's own MC146818 real-time clock (ports 0x70/0x71), read once at boot so that
//! the VMs' emulated RTCs start at the machine's date (`rtvisor_vdev::rtc`).

use crate::cpu::{inb, outb};
use rtvisor_vdev::rtc::DateTime;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
/// Register A's update-in-progress bit.
const UIP: u8 = 0x80;

/// Register `r`, with NMIs left unmasked.
fn read(r: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the PC's RTC index and data ports; selecting a
    // register and reading it has no effect beyond the RTC (the BSP alone runs this,
    // at boot, before any guest).
    unsafe {
        outb(INDEX, r);
        inb(DATA)
    }
}

/// The host clock's date, when it answers with one (`None` without an RTC, or for a
/// clock that reads out of range). Waits for an update in progress to end (at most
/// about 100,000 reads, a few milliseconds), then reads the time twice until two
/// reads agree.
pub fn host_time() -> Option<DateTime> {
    let regs = || {
        let mut n = 0;
        while read(0x0a) & UIP != 0 && n < 100_000 {
            n += 1;
        }
        [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(read)
    };
    let b = read(0x0b);
    let mut last = regs();
    for _ in 0..4 {
        let now = regs();
        if now == last {
            return DateTime::from_registers(now, b);
        }
        last = now;
    }
    None
}
