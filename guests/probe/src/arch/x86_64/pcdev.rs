//! `pc-devices`: the VM's own PC devices (the 8254 PIT at 0x40-0x43 with port B at
//! 0x61, the MC146818 RTC at 0x70-0x71; under rtvisor the VM's emulated ones,
//! docs/x86.md "PC devices") hammered with pseudo-random accesses of every width,
//! string I/O among them (some from a non-canonical buffer). Contained when every
//! access came back (any value, or a fault; a fault for each string access through
//! the non-canonical buffer, as the CPU gives #GP) and both devices still work after it:
//! PIT channel 2, programmed afresh, counts down, and the RTC, set back to 24-hour
//! BCD, reads a valid date and keeps what its CMOS RAM is given.

use guest_common::guard;
use guest_common::timer;

use crate::report::{contained, leak, Outcome};

/// The ports hammered.
const PORTS: [u16; 7] = [0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71];

/// A buffer address no 64-bit CPU accepts (non-canonical): a string access through
/// it faults before it reaches memory, on any machine.
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;

/// xorshift64, fixed seed: the same accesses on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One port access of `width` bytes (1, 2 or 4); `Err` when it faulted.
fn port(port: u16, width: u64, write: Option<u32>) -> Result<u32, guest_common::exception::Fault> {
    guard::catch(|| {
        let mut v = write.unwrap_or(0);
        // SAFETY: port I/O to the PIT, port B and the RTC, the VM's own devices (bare:
        // the machine's, which hold no memory); no memory effects.
        unsafe {
            match (width, write.is_some()) {
                (1, false) => guest_common::guarded!("in al, dx", in("dx") port, inout("eax") v,),
                (2, false) => guest_common::guarded!("in ax, dx", in("dx") port, inout("eax") v,),
                (_, false) => guest_common::guarded!("in eax, dx", in("dx") port, inout("eax") v,),
                (1, true) => guest_common::guarded!("out dx, al", in("dx") port, in("eax") v,),
                (2, true) => guest_common::guarded!("out dx, ax", in("dx") port, in("eax") v,),
                (_, true) => guest_common::guarded!("out dx, eax", in("dx") port, in("eax") v,),
            }
        }
        v
    })
}

/// `rep insb` (`write` false) or `rep outsb` of `count` bytes at `buf`.
fn string(
    port: u16,
    write: bool,
    buf: u64,
    count: u64,
) -> Result<(), guest_common::exception::Fault> {
    guard::catch(|| {
        // SAFETY: `buf` is either this function's caller's buffer of at least `count`
        // bytes or non-canonical (the access faults first); the ports are the PC
        // devices of `port` above.
        unsafe {
            if write {
                guest_common::guarded!("rep outsb", in("dx") port, inout("rsi") buf => _, inout("rcx") count => _,)
            } else {
                guest_common::guarded!("rep insb", in("dx") port, inout("rdi") buf => _, inout("rcx") count => _,)
            }
        }
    })
}

fn outb(p: u16, v: u8) {
    let _ = port(p, 1, Some(u32::from(v)));
}

fn inb(p: u16) -> u8 {
    port(p, 1, None).unwrap_or(0xff) as u8
}

/// PIT channel 2's count, latched.
fn pit2_count() -> u16 {
    outb(0x43, 0x80);
    let lo = inb(0x42);
    let hi = inb(0x42);
    u16::from_le_bytes([lo, hi])
}

/// PIT channel 2 from scratch (gate on, speaker off, mode 0, count 0xFFFF): two
/// latched counts 200 us apart; `Err` with both unless the second is lower.
fn pit_counts() -> Result<(), (u16, u16)> {
    outb(0x61, (inb(0x61) & !0x02) | 0x01);
    outb(0x43, 0xb0);
    outb(0x42, 0xff);
    outb(0x42, 0xff);
    let first = pit2_count();
    timer::delay_us(200);
    let second = pit2_count();
    if second < first {
        Ok(())
    } else {
        Err((first, second))
    }
}

fn cmos(index: u8) -> u8 {
    outb(0x70, index);
    inb(0x71)
}

fn set_cmos(index: u8, v: u8) {
    outb(0x70, index);
    outb(0x71, v);
}

/// Whether `v` is a BCD byte in `lo..=hi`.
fn bcd_in(v: u8, lo: u8, hi: u8) -> bool {
    let (tens, units) = (v >> 4, v & 0xf);
    tens <= 9 && units <= 9 && (lo..=hi).contains(&(tens * 10 + units))
}

/// The RTC in 24-hour BCD, running: its date fields, or the first that is not valid.
fn rtc_valid() -> Result<(), (&'static str, u8)> {
    set_cmos(0x0b, 0x02);
    const FIELDS: [(u8, &str, u8, u8); 6] = [
        (0x00, "seconds", 0, 59),
        (0x02, "minutes", 0, 59),
        (0x04, "hours", 0, 23),
        (0x07, "day", 1, 31),
        (0x08, "month", 1, 12),
        (0x09, "year", 0, 99),
    ];
    for (index, name, lo, hi) in FIELDS {
        let v = cmos(index);
        if !bcd_in(v, lo, hi) {
            return Err((name, v));
        }
    }
    Ok(())
}

/// CMOS RAM 0x40-0x4F keeps a pattern; the first index that does not, if any.
fn cmos_ram_keeps() -> Result<(), (u8, u8)> {
    let pattern = |i: u8| i.wrapping_mul(37).wrapping_add(5);
    (0x40..0x50).for_each(|i| set_cmos(i, pattern(i)));
    match (0x40..0x50).find(|&i| cmos(i) != pattern(i)) {
        Some(i) => Err((i, cmos(i))),
        None => Ok(()),
    }
}

/// `n` random accesses, then the two devices' checks.
pub fn pc_devices(n: u32) -> Outcome {
    const CASE: &str = "pc-devices";
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut buf = [0u8; 64];
    let (mut done, mut faults) = (0u32, 0u32);
    // String accesses through the non-canonical buffer, and those that completed.
    let (mut wild, mut wild_done) = (0u32, 0u32);
    for i in 0..n {
        let r = next(&mut s);
        let p = PORTS[(r % PORTS.len() as u64) as usize];
        let width = [1, 1, 1, 2, 4][((r >> 8) % 5) as usize];
        let write = (r >> 16) & 1 != 0;
        let value = (r >> 32) as u32;
        let faulted = if i % 50 == 49 {
            // String I/O: a buffer of this VM, or a non-canonical one.
            let count = 1 + (r >> 24) % buf.len() as u64;
            buf.iter_mut().for_each(|b| *b = next(&mut s) as u8);
            if (r >> 20) & 1 != 0 {
                string(p, write, buf.as_mut_ptr() as u64, count).is_err()
            } else {
                wild += 1;
                let faulted = string(p, write, NON_CANONICAL, count).is_err();
                wild_done += u32::from(!faulted);
                faulted
            }
        } else {
            port(p, width, write.then_some(value)).is_err()
        };
        done += 1;
        faults += u32::from(faulted);
    }
    if n == 0 {
        return leak(CASE, format_args!("pc-fuzz=0: nothing tried"));
    }
    if wild_done != 0 {
        return leak(
            CASE,
            format_args!(
                "{wild_done} of {wild} string accesses through a non-canonical buffer completed (the CPU gives #GP)"
            ),
        );
    }
    if let Err((a, b)) = pit_counts() {
        return leak(
            CASE,
            format_args!("PIT channel 2 does not count down after the fuzz ({a:#x}, then {b:#x})"),
        );
    }
    if let Err((field, v)) = rtc_valid() {
        return leak(
            CASE,
            format_args!("the RTC's {field} reads {v:#x} after the fuzz (not BCD in range)"),
        );
    }
    if let Err((i, v)) = cmos_ram_keeps() {
        return leak(
            CASE,
            format_args!("CMOS RAM index {i:#x} reads {v:#x}, not what was written"),
        );
    }
    // Within one console line (the hypervisor splits longer ones).
    contained(
        CASE,
        format_args!(
            "{done} accesses, {faults} refused ({wild} non-canonical string I/O); then PIT 2 counts down, RTC date valid, CMOS RAM kept"
        ),
    )
}
