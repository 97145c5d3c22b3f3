extern crate std;

use super::*;
use crate::rng::Rng;
use std::vec::Vec;

fn get(a: &mut IoApic, index: u32) -> u32 {
    a.write(off::IOREGSEL, Width::Word, u64::from(index), &mut |_| {})
        .unwrap();
    a.read(off::IOWIN, Width::Word).unwrap() as u32
}

fn put(a: &mut IoApic, index: u32, v: u32) -> Vec<Msg> {
    let mut sent = Vec::new();
    a.write(off::IOREGSEL, Width::Word, u64::from(index), &mut |m| {
        sent.push(m)
    })
    .unwrap();
    a.write(off::IOWIN, Width::Word, u64::from(v), &mut |m| sent.push(m))
        .unwrap();
    sent
}

/// Programs entry `pin` with `low` and destination `dest`.
fn program(a: &mut IoApic, pin: u32, low: u32, dest: u8) -> Vec<Msg> {
    let mut sent = put(a, reg::REDIR0 + 2 * pin + 1, u32::from(dest) << 24);
    sent.extend(put(a, reg::REDIR0 + 2 * pin, low));
    sent
}

fn line(a: &mut IoApic, pin: u32, high: bool) -> Vec<Msg> {
    let mut sent = Vec::new();
    a.set_line(pin, high, &mut |m| sent.push(m));
    sent
}

fn eoi(a: &mut IoApic, v: u8) -> Vec<Msg> {
    let mut sent = Vec::new();
    a.eoi(v, &mut |m| sent.push(m));
    sent
}

const LEVEL: u32 = rte::LEVEL as u32;
const MASKED: u32 = rte::MASKED as u32;

#[test]
fn reset_identity_and_version() {
    for pins in [24, 48] {
        let mut a = IoApic::new(2, pins);
        assert_eq!(get(&mut a, reg::ID), 2 << 24);
        assert_eq!(get(&mut a, reg::ARB), 2 << 24);
        assert_eq!(get(&mut a, reg::VERSION), ((pins as u32 - 1) << 16) | 0x20);
        for pin in 0..pins as u32 {
            assert_eq!(get(&mut a, reg::REDIR0 + 2 * pin), MASKED);
            assert_eq!(get(&mut a, reg::REDIR0 + 2 * pin + 1), 0);
        }
        // Past the last entry and between the registers: nothing.
        assert_eq!(get(&mut a, reg::REDIR0 + 2 * pins as u32), 0);
        assert_eq!(get(&mut a, 0x03), 0);
        put(&mut a, reg::REDIR0 + 2 * pins as u32, 0x1234);
        assert_eq!(a, {
            let mut b = IoApic::new(2, pins);
            b.sel = reg::REDIR0 + 2 * pins as u32;
            b
        });
        put(&mut a, reg::ID, 0xffff_ffff);
        assert_eq!(get(&mut a, reg::ID), 0x0f00_0000);
        put(&mut a, reg::VERSION, 0);
        assert_eq!(get(&mut a, reg::VERSION), ((pins as u32 - 1) << 16) | 0x20);
        a.reset(2);
        assert_eq!(a, IoApic::new(2, pins));
    }
    assert_eq!(IoApic::new(0, 200).pins(), MAX_PINS);
}

#[test]
fn window_takes_whole_words_only() {
    let mut a = IoApic::new(0, 24);
    assert_eq!(a.read(off::IOWIN, Width::Byte), Err(MmioError::BadWidth));
    assert_eq!(
        a.write(off::IOREGSEL, Width::Double, 1, &mut |_| {}),
        Err(MmioError::BadWidth)
    );
    assert_eq!(a.read(0x20, Width::Word), Err(MmioError::NoRegister));
    assert_eq!(a.read(off::EOI, Width::Word), Ok(0));
    // IOREGSEL keeps its low byte.
    a.write(off::IOREGSEL, Width::Word, 0x1ff, &mut |_| {})
        .unwrap();
    assert_eq!(a.read(off::IOREGSEL, Width::Word), Ok(0xff));
}

#[test]
fn entries_keep_their_writable_bits() {
    let mut a = IoApic::new(0, 24);
    // Delivery status, remote IRR and the reserved bits do not stick.
    put(&mut a, reg::REDIR0 + 6, 0xffff_ffff);
    assert_eq!(get(&mut a, reg::REDIR0 + 6), 0x0001_afff);
    put(&mut a, reg::REDIR0 + 7, 0xffff_ffff);
    assert_eq!(get(&mut a, reg::REDIR0 + 7), 0xff00_0000);
    assert_eq!(a.entry(3), Some(0xff00_0000_0001_afff));
    assert_eq!(a.entry(24), None);
}

#[test]
fn edge_pins_send_once_per_rising_edge() {
    let mut a = IoApic::new(0, 24);
    assert!(program(&mut a, 4, 0x31, 1).is_empty());
    let m = Msg {
        pin: 4,
        vector: 0x31,
        mode: 0,
        logical: false,
        dest: 1,
        level: false,
    };
    assert_eq!(line(&mut a, 4, true), [m]);
    assert!(
        line(&mut a, 4, true).is_empty(),
        "no edge while it stays high"
    );
    assert!(line(&mut a, 4, false).is_empty());
    assert_eq!(line(&mut a, 4, true), [m]);
    line(&mut a, 4, false);
    // Masked: the edge is lost, and unmasking does not bring it back.
    program(&mut a, 4, 0x31 | MASKED, 1);
    assert!(line(&mut a, 4, true).is_empty());
    assert!(program(&mut a, 4, 0x31, 1).is_empty());
    line(&mut a, 4, false);
    let mut sent = Vec::new();
    a.pulse(4, &mut |m| sent.push(m));
    assert_eq!(sent, [m]);
    assert_eq!(a.entry(4).unwrap() & rte::REMOTE_IRR, 0);
    // A pin it does not have.
    assert!(line(&mut a, 24, true).is_empty());
    assert!(line(&mut a, 99, true).is_empty());
}

#[test]
fn level_pins_wait_for_the_eoi_and_send_again_while_high() {
    let mut a = IoApic::new(0, 24);
    let low = 0x41 | LEVEL | (1 << 8) | (1 << 11);
    program(&mut a, 9, low, 0x0f);
    let sent = line(&mut a, 9, true);
    assert_eq!(sent.len(), 1);
    let m = sent[0];
    assert_eq!(
        (m.vector, m.mode, m.logical, m.dest, m.level),
        (0x41, 1, true, 0x0f, true)
    );
    assert_ne!(a.entry(9).unwrap() & rte::REMOTE_IRR, 0);
    assert!(line(&mut a, 9, true).is_empty());
    assert!(eoi(&mut a, 0x42).is_empty(), "another vector's EOI");
    assert_eq!(eoi(&mut a, 0x41), [m], "still high: sent again");
    line(&mut a, 9, false);
    assert!(eoi(&mut a, 0x41).is_empty());
    assert_eq!(a.entry(9).unwrap() & rte::REMOTE_IRR, 0);
    // The EOI register does what the broadcast does.
    assert_eq!(line(&mut a, 9, true), [m]);
    let mut sent = Vec::new();
    a.write(off::EOI, Width::Word, 0x41, &mut |x| sent.push(x))
        .unwrap();
    assert_eq!(sent, [m]);
    // Masked while high: nothing; unmasked: sent, once the EOI came.
    line(&mut a, 9, false);
    eoi(&mut a, 0x41);
    program(&mut a, 9, low | MASKED, 0x0f);
    assert!(line(&mut a, 9, true).is_empty());
    assert_eq!(program(&mut a, 9, low, 0x0f), [m]);
    // A guest write cannot clear remote IRR.
    assert!(program(&mut a, 9, low, 0x0f).is_empty());
    assert_ne!(a.entry(9).unwrap() & rte::REMOTE_IRR, 0);
}

#[test]
fn polarity_inverts_the_input() {
    let mut a = IoApic::new(0, 24);
    let low = 0x50 | LEVEL | rte::ACTIVE_LOW as u32;
    // Active low with the input low: asserted at once.
    assert_eq!(program(&mut a, 2, low, 0).len(), 1);
    line(&mut a, 2, true);
    assert!(eoi(&mut a, 0x50).is_empty());
    assert_eq!(line(&mut a, 2, false).len(), 1);
}

#[test]
fn a_forwarded_pin_is_lowered_by_its_eoi_and_reports_it() {
    let mut a = IoApic::new(0, 48);
    a.forward(23);
    // Active low, as a guest programs a PCI GSI: the input still asserts when high.
    let low = 0x61 | LEVEL | rte::ACTIVE_LOW as u32;
    assert!(program(&mut a, 23, low, 1).is_empty(), "idle while low");
    assert_eq!(
        a.take_changes(),
        (0, 1 << 23),
        "the guest's writes are reported"
    );
    let sent = line(&mut a, 23, true);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].pin, sent[0].vector, sent[0].level),
        (23, 0x61, true)
    );
    // Another vector's EOI leaves it; its own lowers the input, sends nothing, and
    // reports the pin ended (the host's pin is unmasked).
    assert!(eoi(&mut a, 0x62).is_empty());
    assert_eq!(a.take_changes(), (0, 0));
    assert!(eoi(&mut a, 0x61).is_empty());
    assert_eq!(a.take_changes(), (1 << 23, 0));
    assert_eq!(a.entry(23).unwrap() & rte::REMOTE_IRR, 0);
    // An EOI with nothing in service ends nothing.
    assert!(eoi(&mut a, 0x61).is_empty());
    assert_eq!(a.take_changes(), (0, 0));
    // The device asserts again: sent again; the EOI register ends it too.
    assert_eq!(line(&mut a, 23, true).len(), 1);
    a.write(off::EOI, Width::Word, 0x61, &mut |_| {}).unwrap();
    assert_eq!(a.take_changes(), (1 << 23, 0));
    // A reset keeps the pin forwarded, with its entry masked.
    line(&mut a, 23, true);
    a.reset(0);
    assert_eq!(a.entry(23), Some(rte::MASKED));
    assert!(
        program(&mut a, 23, low, 1).is_empty(),
        "reset lowered the input"
    );
    assert_eq!(a.take_changes(), (0, 1 << 23));
    // Other pins are not reported.
    program(&mut a, 9, 0x41 | LEVEL, 0);
    line(&mut a, 9, true);
    eoi(&mut a, 0x41);
    assert_eq!(a.take_changes(), (0, 0));
}

/// A random walk of window accesses, line changes, pulses and EOIs against a
/// reference: every message comes from an existing, unmasked pin whose entry it
/// carries; an edge entry sends only when its assertion rises; a level entry sends
/// only when asserted and not waiting for an EOI, and after each step no level entry
/// is asserted, unmasked and idle (nothing is lost); remote IRR is set exactly on
/// the level entries sent and not EOI'd since.
#[test]
fn random_walk_against_a_reference() {
    let pins = 24usize;
    let mut rng = Rng(0x1f2e_3d4c_5b6a_7988);
    let mut a = IoApic::new(1, pins);
    let mut sent_total = 0;
    let mut level_sent = 0;
    for _ in 0..100_000 {
        let before = a.clone();
        let asserted_before: Vec<bool> = (0..pins).map(|p| before.asserted(p)).collect();
        let mut sent = Vec::new();
        let mut out = |m: Msg| sent.push(m);
        let pin = rng.below(pins as u64 + 2) as u32;
        let mut eoi_vector = None;
        let op = rng.below(6);
        match op {
            0 => {
                let idx = rng.pick(&[
                    reg::ID,
                    reg::VERSION,
                    reg::REDIR0 + 2 * pin,
                    0x11 + 2 * pin,
                    0x40,
                ]);
                a.write(off::IOREGSEL, Width::Word, u64::from(idx), &mut out)
                    .unwrap();
            }
            1 => {
                // Vectors from a small set, so EOIs meet them.
                let v = rng.next() as u32 & !0xff | rng.pick(&[0x30, 0x31, 0x32]);
                a.write(off::IOWIN, Width::Word, u64::from(v), &mut out)
                    .unwrap();
            }
            2 => a.set_line(pin, rng.below(2) == 1, &mut out),
            3 => a.pulse(pin, &mut out),
            4 => {
                let v = rng.pick(&[0x30, 0x31, 0x32]);
                eoi_vector = Some(v);
                if rng.below(2) == 0 {
                    a.eoi(v, &mut out);
                } else {
                    a.write(off::EOI, Width::Word, u64::from(v), &mut out)
                        .unwrap();
                }
            }
            _ => {
                let _ = a.read(off::IOWIN, Width::Word);
            }
        }
        for m in &sent {
            let p = usize::from(m.pin);
            assert!(p < pins);
            let e = a.entry(p).unwrap();
            assert_eq!(e & rte::MASKED, 0, "a masked pin sent");
            assert_eq!(m.vector, e as u8);
            assert_eq!(m.level, e & rte::LEVEL != 0);
            let pulsed = op == 3 && m.pin as u32 == pin;
            assert!(
                a.asserted(p) || !m.level || pulsed,
                "a level pin sent while deasserted"
            );
            if m.level {
                let was = before.entry(p).unwrap();
                // It was idle (or this step's EOI freed it, or the write made it level
                // or unmasked it).
                let freed = eoi_vector == Some(was as u8);
                assert!(
                    was & rte::REMOTE_IRR == 0 || freed,
                    "sent while waiting for an EOI"
                );
                level_sent += 1;
            } else {
                // Only the driven pin's rising edge (a pulse rises even from high).
                assert!(
                    matches!(op, 2 | 3) && m.pin as u32 == pin,
                    "an edge from nowhere"
                );
                assert!(
                    !asserted_before[p] || op == 3,
                    "an edge while it stayed asserted"
                );
                assert_eq!(sent.iter().filter(|x| x.pin == m.pin).count(), 1);
            }
        }
        sent_total += sent.len();
        for p in 0..pins {
            let e = a.entry(p).unwrap();
            let idle = e & (rte::MASKED | rte::REMOTE_IRR) == 0;
            if e & rte::LEVEL != 0 {
                assert!(!(a.asserted(p) && idle), "pin {p} asserted and not sent");
                let newly = sent.iter().any(|m| usize::from(m.pin) == p && m.level);
                let was = before.entry(p).unwrap();
                let kept = was & rte::REMOTE_IRR != 0
                    && was & rte::LEVEL != 0
                    && eoi_vector != Some(e as u8);
                if e & rte::REMOTE_IRR != 0 {
                    assert!(newly || kept, "pin {p}: remote IRR without a message");
                }
            } else {
                assert_eq!(e & rte::REMOTE_IRR, 0);
            }
        }
    }
    assert!(
        sent_total > 1000 && level_sent > 100,
        "{sent_total} {level_sent}"
    );
}
