use super::*;
use crate::rng::Rng;

const B: Width = Width::Byte;

fn rd(p: &mut Pit, off: u64, now: u64) -> u8 {
    p.read(off, B, now).unwrap() as u8
}
fn wr(p: &mut Pit, off: u64, v: u8, now: u64) {
    p.write(off, B, u64::from(v), now).unwrap();
}
/// Channel 2's count read LSB then MSB, as Linux reads it.
fn count2(p: &mut Pit, now: u64) -> u16 {
    let lo = rd(p, 2, now);
    let hi = rd(p, 2, now);
    u16::from(lo) | u16::from(hi) << 8
}

/// What Linux's `quick_pit_calibrate` does: gate high, speaker off, channel 2 in mode
/// 0 from 0xffff; then it watches the MSB fall by one every 256 input clocks.
fn linux_setup(p: &mut Pit, now: u64) {
    let b = rd(p, PORT_B, now);
    wr(p, PORT_B, (b & !2) | 1, now);
    wr(p, CONTROL, 0xb0, now);
    wr(p, 2, 0xff, now);
    wr(p, 2, 0xff, now);
}

#[test]
fn channel_2_counts_down_as_linux_calibrates_against_it() {
    let mut p = Pit::new();
    let t0 = 1_000_000;
    linux_setup(&mut p, t0);
    assert_eq!(count2(&mut p, t0), 0xffff);
    assert_eq!(count2(&mut p, t0 + 1), 0xfffe);
    assert_eq!(count2(&mut p, t0 + 255) >> 8, 0xff);
    assert_eq!(count2(&mut p, t0 + 256) >> 8, 0xfe);
    assert_eq!(count2(&mut p, t0 + 256 * 10 + 3) >> 8, 0xf5);
    // OUT2 (port B bit 5) rises at the terminal count, then the count wraps.
    assert_eq!(rd(&mut p, PORT_B, t0 + 0xfffe) & 0x20, 0);
    assert_eq!(rd(&mut p, PORT_B, t0 + 0xffff) & 0x20, 0x20);
    assert_eq!(count2(&mut p, t0 + 0x1_0001), 0xfffe);
    // Port B keeps the bits written: gate on, speaker off.
    assert_eq!(rd(&mut p, PORT_B, t0) & 0xf, 1);
}

#[test]
fn a_low_gate_holds_mode_0_and_restarts_mode_2() {
    let mut p = Pit::new();
    wr(&mut p, CONTROL, 0xb0, 0);
    wr(&mut p, 2, 0x00, 0);
    wr(&mut p, 2, 0x10, 0);
    // Gate low since reset: nothing counts.
    assert_eq!(count2(&mut p, 500), 0x1000);
    wr(&mut p, PORT_B, 1, 1000);
    assert_eq!(count2(&mut p, 1100), 0x1000 - 100);
    wr(&mut p, PORT_B, 0, 1100);
    assert_eq!(count2(&mut p, 9000), 0x1000 - 100);
    wr(&mut p, PORT_B, 1, 9000);
    assert_eq!(count2(&mut p, 9050), 0x1000 - 150);
    // Mode 2, period 100: reloads, and a rising gate starts it over.
    wr(&mut p, CONTROL, 0xb4, 10_000);
    wr(&mut p, 2, 100, 10_000);
    wr(&mut p, 2, 0, 10_000);
    assert_eq!(count2(&mut p, 10_030), 70);
    assert_eq!(count2(&mut p, 10_130), 70);
    wr(&mut p, PORT_B, 0, 10_140);
    wr(&mut p, PORT_B, 1, 20_000);
    assert_eq!(count2(&mut p, 20_010), 90);
}

#[test]
fn mode_3_is_a_square_wave_on_channel_0() {
    let mut p = Pit::new();
    // Channel 0, LSB only, mode 3, period 10: OUT high 5 clocks, low 5.
    wr(&mut p, CONTROL, 0x16, 0);
    wr(&mut p, 0, 10, 0);
    for t in 0..20 {
        // Read-back of channel 0's status: OUT is bit 7.
        wr(&mut p, CONTROL, 0xe2, t);
        assert_eq!(rd(&mut p, 0, t) & 0x80 != 0, t % 10 < 5, "clock {t}");
    }
    assert_eq!(rd(&mut p, 0, 3), 4); // 10 - 2*3, LSB only
}

#[test]
fn latches_hold_the_count_until_read() {
    let mut p = Pit::new();
    wr(&mut p, CONTROL, 0x30, 0); // channel 0, LSB then MSB, mode 0
    wr(&mut p, 0, 0x34, 0);
    wr(&mut p, 0, 0x12, 0);
    wr(&mut p, CONTROL, 0x00, 0x10); // latch channel 0 at 0x1224
                                     // A second latch before the first is read changes nothing.
    wr(&mut p, CONTROL, 0x00, 0x20);
    assert_eq!(rd(&mut p, 0, 0x500), 0x24);
    assert_eq!(rd(&mut p, 0, 0x600), 0x12);
    // Then the live count again.
    assert_eq!(rd(&mut p, 0, 0x234), 0x00);
    assert_eq!(rd(&mut p, 0, 0x234), 0x10);
    // Read-back of status and count: status first (mode 0, RW 3, loaded, OUT low).
    wr(&mut p, CONTROL, 0xc2, 0x300);
    assert_eq!(rd(&mut p, 0, 0x900), 0x30);
    assert_eq!(rd(&mut p, 0, 0x900), 0x34);
    assert_eq!(rd(&mut p, 0, 0x900), 0x0f);
}

#[test]
fn a_new_control_word_waits_for_its_count() {
    let mut p = Pit::new();
    wr(&mut p, CONTROL, 0x30, 0);
    // Status: null count (bit 6) until a count is written; OUT low in mode 0.
    wr(&mut p, CONTROL, 0xe2, 5);
    assert_eq!(rd(&mut p, 0, 5), 0x70);
    wr(&mut p, 0, 5, 5);
    wr(&mut p, 0, 0, 5);
    wr(&mut p, CONTROL, 0xe2, 10);
    assert_eq!(rd(&mut p, 0, 10), 0xb0);
}

#[test]
fn only_bytes_at_its_ports() {
    let mut p = Pit::new();
    assert_eq!(p.read(0, Width::Half, 0), Err(MmioError::BadWidth));
    assert_eq!(p.write(2, Width::Word, 0, 0), Err(MmioError::BadWidth));
    assert_eq!(p.read(5, B, 0), Err(MmioError::NoRegister));
    assert_eq!(p.read(CONTROL, B, 0), Ok(0));
}

/// Any sequence of accesses at times that only go forward (and some that go back)
/// keeps every count in range and never panics; reads of a port are repeatable when
/// nothing changes between them but time stands still.
#[test]
fn random_walk_never_panics() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..200 {
        let mut p = Pit::new();
        let mut now: u64 = r.below(1 << 40);
        for _ in 0..400 {
            now = match r.below(10) {
                0 => now.saturating_sub(r.below(1000)),
                1 => u64::MAX - r.below(3),
                _ => now.saturating_add(r.below(70_000)),
            };
            let off = r.below(6);
            if r.below(2) == 0 {
                let _ = p.read(off, B, now);
            } else {
                let _ = p.write(off, B, r.below(256), now);
            }
        }
    }
}
