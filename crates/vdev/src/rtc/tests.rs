use super::*;
use crate::rng::Rng;

const B: Width = Width::Byte;
/// 2026-12-03 13:50:07 UTC, a Thursday.
const NOW: u64 = 1_796_305_807;

fn get(r: &mut Rtc, reg: u8, now: u64) -> u8 {
    r.write(INDEX, B, u64::from(reg), now).unwrap();
    r.read(DATA, B, now).unwrap() as u8
}
fn set(r: &mut Rtc, reg: u8, v: u8, now: u64) {
    r.write(INDEX, B, u64::from(reg), now).unwrap();
    r.write(DATA, B, u64::from(v), now).unwrap();
}

#[test]
fn dates_convert_both_ways() {
    let cases = [
        (0, (1970, 1, 1, 0, 0, 0)),
        (946_684_800, (2000, 1, 1, 0, 0, 0)),
        (1_709_251_199, (2024, 2, 29, 23, 59, 59)),
        (NOW, (2026, 12, 3, 13, 50, 7)),
        (4_107_542_400, (2100, 3, 1, 0, 0, 0)),
    ];
    for (secs, (year, month, day, hour, minute, second)) in cases {
        let t = DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        assert_eq!(DateTime::from_unix(secs), t, "{secs}");
        assert_eq!(t.to_unix(), secs, "{t:?}");
    }
    let mut rng = Rng(7);
    for _ in 0..10_000 {
        let s = rng.below(1 << 36);
        assert_eq!(DateTime::from_unix(s).to_unix(), s);
    }
}

#[test]
fn reads_the_date_in_bcd_and_24_hours_after_reset() {
    let mut r = Rtc::new();
    let regs = [0, 2, 4, 6, 7, 8, 9, 0x32].map(|i| get(&mut r, i, NOW));
    assert_eq!(regs, [0x07, 0x50, 0x13, 0x05, 0x03, 0x12, 0x26, 0x20]);
    // No update ever in progress; valid time; no interrupt flagged.
    assert_eq!(get(&mut r, 0x0a, NOW) & 0x80, 0);
    assert_eq!(get(&mut r, 0x0d, NOW), 0x80);
    assert_eq!(get(&mut r, 0x0c, NOW), 0);
    // The clock follows the caller's time.
    assert_eq!(get(&mut r, 0, NOW + 10), 0x17);
}

#[test]
fn binary_and_12_hour_modes() {
    let mut r = Rtc::new();
    set(&mut r, 0x0b, 0x04, NOW); // binary, 12-hour
    assert_eq!(get(&mut r, 4, NOW), 0x80 | 1); // 1 PM
    assert_eq!(get(&mut r, 2, NOW), 50);
    assert_eq!(get(&mut r, 4, NOW - 13 * 3600 - 50 * 60), 12); // 00:00 is 12 AM
    set(&mut r, 0x0b, 0x00, NOW); // BCD, 12-hour
    assert_eq!(get(&mut r, 4, NOW - 3 * 3600), 0x10); // 10 AM
}

#[test]
fn a_guest_sets_its_clock_under_set_and_it_runs_on() {
    let mut r = Rtc::new();
    set(&mut r, 0x0b, 0x82, NOW); // SET, 24-hour, BCD
    set(&mut r, 9, 0x99, NOW);
    set(&mut r, 0x32, 0x19, NOW);
    set(&mut r, 8, 0x12, NOW);
    set(&mut r, 7, 0x31, NOW);
    set(&mut r, 4, 0x23, NOW);
    set(&mut r, 2, 0x59, NOW);
    set(&mut r, 0, 0x58, NOW);
    // Held while SET: time does not move.
    assert_eq!(get(&mut r, 0, NOW + 5), 0x58);
    set(&mut r, 0x0b, 0x02, NOW + 5);
    assert_eq!(get(&mut r, 0, NOW + 6), 0x59);
    assert_eq!(get(&mut r, 0, NOW + 7), 0x00);
    assert_eq!(get(&mut r, 9, NOW + 7), 0x00);
    assert_eq!(get(&mut r, 0x32, NOW + 7), 0x20);
    assert_eq!(get(&mut r, 6, NOW + 7), 0x07); // 2000-01-01 was a Saturday
                                               // One field at a time without SET moves the clock at once.
    set(&mut r, 2, 0x30, NOW + 7);
    assert_eq!(get(&mut r, 2, NOW + 8), 0x30);
}

#[test]
fn cmos_ram_keeps_its_bytes_and_the_index_its_nmi_bit() {
    let mut r = Rtc::new();
    set(&mut r, 0x40, 0xa5, NOW);
    set(&mut r, 0x7f, 0x5a, NOW);
    assert_eq!(get(&mut r, 0x40, NOW), 0xa5);
    assert_eq!(get(&mut r, 0x7f, NOW), 0x5a);
    assert_eq!(get(&mut r, 0x0e, NOW), 0);
    // Bit 7 of the index is the NMI mask: it selects the same register.
    r.write(INDEX, B, 0x80 | 0x40, NOW).unwrap();
    assert_eq!(r.read(INDEX, B, NOW), Ok(0xc0));
    assert_eq!(r.read(DATA, B, NOW), Ok(0xa5));
    assert_eq!(r.read(DATA, Width::Half, NOW), Err(MmioError::BadWidth));
    assert_eq!(r.read(2, B, NOW), Err(MmioError::NoRegister));
}

#[test]
fn random_walk_never_panics() {
    let mut rng = Rng(0x1234_5678);
    for _ in 0..200 {
        let mut r = Rtc::new();
        for _ in 0..500 {
            let now = match rng.below(8) {
                0 => u64::MAX - rng.below(4),
                1 => 0,
                _ => rng.below(1 << 40),
            };
            let off = rng.below(3);
            if rng.below(2) == 0 {
                let _ = r.read(off, B, now);
            } else {
                let _ = r.write(off, B, rng.below(256), now);
            }
        }
    }
}

#[test]
fn a_real_clock_s_registers_decode_or_are_refused() {
    let t = DateTime::from_registers([0x07, 0x50, 0x13, 0x03, 0x12, 0x26, 0x20], 0x02).unwrap();
    assert_eq!(t.to_unix(), NOW);
    // Binary, 12-hour: 1 PM.
    let t = DateTime::from_registers([7, 50, 0x81, 3, 12, 26, 20], 0x04).unwrap();
    assert_eq!(t.to_unix(), NOW);
    // Nothing there (all ones), a bad BCD digit, a month 13.
    assert_eq!(DateTime::from_registers([0xff; 7], 0xff), None);
    assert_eq!(
        DateTime::from_registers([0x0a, 0, 0, 1, 1, 0, 0x20], 0x02),
        None
    );
    assert_eq!(
        DateTime::from_registers([0, 0, 0, 1, 0x13, 0, 0x20], 0x02),
        None
    );
}

#[test]
fn the_cmos_table_covers_every_index() {
    let mut next = 0;
    for r in cmos::CMOS.regs() {
        assert_eq!(r.offset, next, "{r:?}");
        next = r.end();
    }
    assert_eq!(next, 0x80);
}

#[test]
fn writes_to_the_read_only_registers_are_dropped() {
    let mut r = Rtc::new();
    let before: [u8; 0x80] = core::array::from_fn(|i| get(&mut r, i as u8, NOW));
    for i in [6, 0x0c, 0x0d] {
        set(&mut r, i, 0x55, NOW);
    }
    let after: [u8; 0x80] = core::array::from_fn(|i| get(&mut r, i as u8, NOW));
    assert_eq!(before, after);
    assert_eq!(after[6], 5, "a Thursday");
    assert_eq!((after[0x0c], after[0x0d]), (0, 0x80));
}
