//! T0 tests of the PL061 model.

extern crate std;
use super::*;
use std::vec::Vec;

fn rd(g: &mut Pl061, off: u64) -> u32 {
    g.read(off, Width::Word).unwrap()
}
fn wr(g: &mut Pl061, off: u64, v: u32) {
    g.write(off, Width::Word, v).unwrap();
}

#[test]
fn ids_identify_a_pl061_on_the_amba_bus() {
    let mut g = Pl061::new();
    let id: Vec<u32> = (0..4)
        .map(|i| rd(&mut g, reg::PERIPH_ID0 + 4 * i))
        .collect();
    assert_eq!(id, [0x61, 0x10, 0x04, 0x00]);
    let cell: Vec<u32> = (0..4).map(|i| rd(&mut g, reg::PCELL_ID0 + 4 * i)).collect();
    assert_eq!(cell, [0x0d, 0xf0, 0x05, 0xb1]);
    assert_eq!(g.read(0x800, Width::Word), Err(MmioError::NoRegister));
    assert_eq!(g.read(reg::DIR, Width::Double), Err(MmioError::BadWidth));
    assert_eq!(g.write(reg::RIS, Width::Word, 1), Err(MmioError::ReadOnly));
}

#[test]
fn data_reads_and_writes_are_masked_by_address_bits() {
    let mut g = Pl061::new();
    wr(&mut g, reg::DIR, 0x0f); // lines 0-3 outputs
    wr(&mut g, reg::DATA + (0xff << 2), 0xff);
    assert_eq!(
        rd(&mut g, reg::DATA + (0xff << 2)),
        0x0f,
        "inputs read their lines"
    );
    wr(&mut g, reg::DATA + (0x01 << 2), 0x00); // clears only pin 0
    assert_eq!(rd(&mut g, reg::DATA + (0xff << 2)), 0x0e);
    assert_eq!(rd(&mut g, reg::DATA + (0x06 << 2)), 0x06);
    g.set_input(5, true);
    assert_eq!(rd(&mut g, reg::DATA + (0xff << 2)), 0x2e);
    assert_eq!(
        rd(&mut g, reg::DATA + (0x0f << 2)),
        0x0e,
        "the mask hides line 5"
    );
}

#[test]
fn both_edges_latch_until_cleared() {
    let mut g = Pl061::new();
    wr(&mut g, reg::IBE, 1 << 2);
    wr(&mut g, reg::IE, 1 << 2);
    assert!(!g.irq_level());
    g.toggle_input(2);
    assert_eq!(rd(&mut g, reg::MIS), 1 << 2);
    assert!(g.irq_level());
    wr(&mut g, reg::IC, 1 << 2);
    assert!(!g.irq_level());
    g.toggle_input(2); // falling edge counts too
    assert!(g.irq_level());
    wr(&mut g, reg::IC, 0xff);
    // Masked: raw status only.
    wr(&mut g, reg::IE, 0);
    g.toggle_input(2);
    assert_eq!(rd(&mut g, reg::RIS), 1 << 2);
    assert!(!g.irq_level());
}

#[test]
fn single_edges_follow_iev() {
    let mut g = Pl061::new();
    wr(&mut g, reg::IE, 0b11);
    wr(&mut g, reg::IEV, 0b01); // line 0 rising, line 1 falling
    g.set_input(0, true);
    g.set_input(1, true);
    assert_eq!(rd(&mut g, reg::RIS), 0b01);
    g.set_input(0, false);
    g.set_input(1, false);
    assert_eq!(rd(&mut g, reg::RIS), 0b11);
}

#[test]
fn level_interrupts_follow_the_line_and_ignore_clear() {
    let mut g = Pl061::new();
    wr(&mut g, reg::IS, 1 << 3);
    wr(&mut g, reg::IEV, 1 << 3); // high level
    wr(&mut g, reg::IE, 1 << 3);
    assert!(!g.irq_level());
    g.set_input(3, true);
    assert!(g.irq_level());
    wr(&mut g, reg::IC, 1 << 3);
    assert!(
        g.irq_level(),
        "a level interrupt stays while the line is high"
    );
    g.set_input(3, false);
    assert!(!g.irq_level());
}

#[test]
fn out_of_range_lines_and_reset() {
    let mut g = Pl061::new();
    g.set_input(8, true);
    g.set_input(u32::MAX, true);
    g.toggle_input(40);
    assert_eq!(g.pins(), 0);
    wr(&mut g, reg::IBE, 0xff);
    wr(&mut g, reg::IE, 0xff);
    g.toggle_input(7);
    assert!(g.irq_level());
    g.reset();
    assert!(!g.irq_level());
    assert_eq!(
        g.pins(),
        0x80,
        "the input line keeps its level across a reset"
    );
    assert_eq!(rd(&mut g, reg::IE), 0);
}

/// Doorbell toggles recorded without the lock ([`Rings`]) and applied later leave the
/// model exactly as toggling it at once would have, whatever its configuration; a
/// line whose interrupt is unmasked is never recorded. At random: rings, guest
/// writes of every configuration register, reads of the status.
#[test]
fn recorded_rings_apply_as_the_toggles_themselves() {
    let mut r = crate::rng::Rng(0x9e37_79b9_7f4a_7c15);
    let rings = Rings::new();
    let mut held = Pl061::new();
    let mut direct = Pl061::new();
    let mut recorded = 0u32;
    for step in 0..40_000u32 {
        match r.below(6) {
            0..=2 => {
                let line = r.below(9) as u32;
                if rings.ring(line) {
                    recorded += u32::from(line < LINES);
                    assert!(line >= LINES || held.ie() & (1 << line) == 0, "step {step}");
                } else {
                    rings.take().apply(&mut held);
                    held.toggle_input(line);
                    rings.publish(held.ie()).apply(&mut held);
                }
                direct.toggle_input(line);
            }
            _ => {
                // A guest access: the holder takes what was recorded first.
                rings.take().apply(&mut held);
                assert_eq!(held, direct, "step {step}");
                let regs = [reg::DIR, reg::IS, reg::IBE, reg::IEV, reg::IE, reg::IC];
                let off = regs[r.below(regs.len() as u64) as usize];
                let v = r.below(256) as u32;
                held.write(off, Width::Word, v).unwrap();
                direct.write(off, Width::Word, v).unwrap();
                assert_eq!(
                    held.read(reg::RIS, Width::Word),
                    direct.read(reg::RIS, Width::Word)
                );
                rings.publish(held.ie()).apply(&mut held);
            }
        }
    }
    rings.take().apply(&mut held);
    assert_eq!(held, direct);
    assert!(recorded > 5_000, "{recorded} rings recorded");
}
