//! T0 tests of the emulated PL011.

extern crate std;
use std::vec::Vec;

use super::*;
use crate::rng::Rng;

fn rd(u: &mut Pl011, off: u64) -> u32 {
    u.read(off, Width::Word).unwrap()
}

/// Writes a word, returning what was transmitted.
fn wr(u: &mut Pl011, off: u64, v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    u.write(off, Width::Word, v, &mut |b| out.push(b)).unwrap();
    out
}

#[test]
fn reset_values() {
    let mut u = Pl011::new();
    assert_eq!(rd(&mut u, reg::CR), 0x300);
    assert_eq!(rd(&mut u, reg::IFLS), 0x12);
    assert_eq!(
        rd(&mut u, reg::FR),
        fr::TXFE | fr::RXFE | fr::CTS | fr::DSR | fr::DCD
    );
    for off in [
        reg::DR,
        reg::RSR_ECR,
        reg::ILPR,
        reg::IBRD,
        reg::FBRD,
        reg::LCR_H,
        reg::IMSC,
    ] {
        assert_eq!(rd(&mut u, off), 0, "{off:#x}");
    }
    for off in [reg::RIS, reg::MIS, reg::ICR, reg::DMACR] {
        assert_eq!(rd(&mut u, off), 0, "{off:#x}");
    }
    assert!(!u.irq_level());
    wr(&mut u, reg::IBRD, 13);
    u.receive(b'x');
    u.reset();
    assert_eq!(u, Pl011::new());
    assert_eq!(Pl011::default(), Pl011::new());
}

#[test]
fn id_registers() {
    let mut u = Pl011::new();
    let periph: Vec<u32> = (0..4)
        .map(|i| rd(&mut u, reg::PERIPH_ID0 + 4 * i))
        .collect();
    let pcell: Vec<u32> = (0..4).map(|i| rd(&mut u, reg::PCELL_ID0 + 4 * i)).collect();
    assert_eq!(periph, [0x11, 0x10, 0x14, 0x00]);
    assert_eq!(pcell, [0x0d, 0xf0, 0x05, 0xb1]);
    // Linux's AMBA bus assembles the IDs from the low byte of each word.
    let id = periph
        .iter()
        .enumerate()
        .fold(0, |a, (i, b)| a | (b & 0xff) << (8 * i));
    assert_eq!(id, 0x0014_1011);
    assert_eq!(u.read(reg::PCELL_ID0 + 0xc, Width::Byte), Ok(0xb1));
    assert_eq!(
        u.write(reg::PERIPH_ID0, Width::Word, 0, &mut |_| {}),
        Err(MmioError::ReadOnly)
    );
}

#[test]
fn transmit_goes_to_callback() {
    let mut u = Pl011::new();
    // Earlycon writes without enabling the UART; the byte still goes out.
    assert_eq!(wr(&mut u, reg::DR, 0x141), b"A");
    let mut out = Vec::new();
    u.write(reg::DR, Width::Byte, u32::from(b'b'), &mut |b| out.push(b))
        .unwrap();
    u.write(reg::DR, Width::Half, 0x0a, &mut |b| out.push(b))
        .unwrap();
    assert_eq!(out, b"b\n");
    // Writing only the upper lanes of UARTDR transmits nothing.
    u.write(reg::DR + 1, Width::Byte, 0x41, &mut |b| out.push(b))
        .unwrap();
    assert_eq!(out, b"b\n");
    assert_eq!(
        rd(&mut u, reg::FR) & (fr::TXFF | fr::BUSY | fr::TXFE),
        fr::TXFE
    );
}

#[test]
fn loopback_feeds_receiver() {
    let mut u = Pl011::new();
    wr(&mut u, reg::CR, cr::UARTEN | cr::TXE | cr::RXE | cr::LBE);
    assert!(wr(&mut u, reg::DR, u32::from(b'z')).is_empty());
    assert_eq!(rd(&mut u, reg::DR), u32::from(b'z'));
}

#[test]
fn rx_fifo_fill_drain_overflow() {
    let mut u = Pl011::new();
    wr(&mut u, reg::LCR_H, LCR_H_FEN | 0x60);
    assert_eq!(u.rx_space(), FIFO_DEPTH);
    for i in 0..FIFO_DEPTH {
        assert_eq!(rd(&mut u, reg::FR) & fr::RXFF, 0);
        assert!(u.receive(i as u8), "byte {i}");
        assert_eq!(rd(&mut u, reg::FR) & fr::RXFE, 0);
    }
    assert_eq!(rd(&mut u, reg::FR) & fr::RXFF, fr::RXFF);
    assert!(!u.receive(0xee), "33rd byte is dropped");
    assert_eq!(u.rx_space(), 0);
    for i in 0..FIFO_DEPTH {
        assert_eq!(rd(&mut u, reg::DR), i as u32);
        assert_eq!(rd(&mut u, reg::FR) & fr::RXFF, 0);
    }
    assert_eq!(rd(&mut u, reg::FR) & fr::RXFE, fr::RXFE);
    assert_eq!(rd(&mut u, reg::DR), 0, "empty FIFO reads 0");
    assert_eq!(rd(&mut u, reg::RSR_ECR), 0);
    // The ring wraps around.
    for round in 0..3u8 {
        for i in 0..20u8 {
            assert!(u.receive(round.wrapping_mul(20).wrapping_add(i)));
        }
        for i in 0..20u8 {
            assert_eq!(u.read(reg::DR, Width::Byte), Ok(u32::from(round * 20 + i)));
        }
    }
}

#[test]
fn fifo_disabled_depth_one() {
    let mut u = Pl011::new();
    assert_eq!(u.rx_space(), 1);
    assert!(u.receive(b'1'));
    assert!(!u.receive(b'2'));
    assert_eq!(rd(&mut u, reg::FR) & (fr::RXFF | fr::RXFE), fr::RXFF);
    assert_eq!(rd(&mut u, reg::DR), u32::from(b'1'));
    assert_eq!(rd(&mut u, reg::FR) & (fr::RXFF | fr::RXFE), fr::RXFE);
    // Toggling FEN empties the FIFO.
    wr(&mut u, reg::LCR_H, LCR_H_FEN);
    assert!(u.receive(b'a') && u.receive(b'b'));
    wr(&mut u, reg::LCR_H, 0);
    assert_eq!(rd(&mut u, reg::FR) & fr::RXFE, fr::RXFE);
    assert_eq!(rd(&mut u, reg::RIS) & (int::RX | int::RT), 0);
    // Rewriting the same FEN value keeps the data.
    assert!(u.receive(b'c'));
    wr(&mut u, reg::LCR_H, 0x70);
    wr(&mut u, reg::LCR_H, 0x70 | LCR_H_FEN);
    assert!(u.receive(b'd'));
    wr(&mut u, reg::LCR_H, 0x60 | LCR_H_FEN);
    assert_eq!(rd(&mut u, reg::DR), u32::from(b'd'));
}

#[test]
fn interrupts_mask_status_clear() {
    let mut u = Pl011::new();
    assert_eq!(rd(&mut u, reg::RIS), 0);
    // Enabling the transmitter raises TXIS; it stays raw until unmasked.
    wr(&mut u, reg::CR, cr::UARTEN | cr::TXE | cr::RXE);
    assert_eq!(rd(&mut u, reg::RIS), int::TX);
    assert_eq!(rd(&mut u, reg::MIS), 0);
    assert!(!u.irq_level());
    wr(&mut u, reg::IMSC, int::TX | int::RX | int::RT);
    assert_eq!(rd(&mut u, reg::MIS), int::TX);
    assert!(u.irq_level());
    wr(&mut u, reg::ICR, int::TX);
    assert!(!u.irq_level());
    // Re-writing CR while already enabled does not raise it again.
    wr(&mut u, reg::CR, cr::UARTEN | cr::TXE | cr::RXE);
    assert_eq!(rd(&mut u, reg::RIS), 0);
    // A transmitted byte raises it again.
    wr(&mut u, reg::DR, 0x41);
    assert_eq!(rd(&mut u, reg::MIS), int::TX);
    wr(&mut u, reg::ICR, int::ALL);
    // Received data raises RX and RT until the FIFO is drained.
    wr(&mut u, reg::LCR_H, LCR_H_FEN);
    assert!(u.receive(b'x') && u.receive(b'y'));
    assert_eq!(rd(&mut u, reg::RIS), int::RX | int::RT);
    rd(&mut u, reg::DR);
    assert_eq!(rd(&mut u, reg::RIS), int::RX | int::RT);
    rd(&mut u, reg::DR);
    assert_eq!(rd(&mut u, reg::RIS), 0);
    // ICR clears RX/RT even with data left; masking hides without clearing.
    u.receive(b'z');
    wr(&mut u, reg::IMSC, int::TX);
    assert_eq!(
        (rd(&mut u, reg::RIS), rd(&mut u, reg::MIS)),
        (int::RX | int::RT, 0)
    );
    wr(&mut u, reg::ICR, int::RX | int::RT);
    assert_eq!(rd(&mut u, reg::RIS), 0);
    assert_eq!(rd(&mut u, reg::DR), u32::from(b'z'));
    // Only the eleven implemented bits stick.
    wr(&mut u, reg::IMSC, u32::MAX);
    assert_eq!(rd(&mut u, reg::IMSC), int::ALL);
}

#[test]
fn stored_registers_mask_and_merge() {
    let mut u = Pl011::new();
    wr(&mut u, reg::IBRD, 0xffff_ffff);
    wr(&mut u, reg::FBRD, 0xffff_ffff);
    wr(&mut u, reg::ILPR, 0xffff_ffff);
    wr(&mut u, reg::IFLS, 0xffff_ffff);
    wr(&mut u, reg::DMACR, 0xffff_ffff);
    wr(&mut u, reg::CR, 0xffff_ffff);
    let got: Vec<u32> = [
        reg::IBRD,
        reg::FBRD,
        reg::ILPR,
        reg::IFLS,
        reg::DMACR,
        reg::CR,
    ]
    .iter()
    .map(|&o| rd(&mut u, o))
    .collect();
    assert_eq!(got, [0xffff, 0x3f, 0xff, 0x3f, 0x7, 0xff87]);
    // A byte write to CR's upper byte leaves the low byte alone.
    u.write(reg::CR + 1, Width::Byte, 0x03, &mut |_| {})
        .unwrap();
    assert_eq!(rd(&mut u, reg::CR), 0x0387);
    assert_eq!(u.read(reg::CR + 1, Width::Byte), Ok(0x03));
    assert_eq!(u.read(reg::CR, Width::Half), Ok(0x0387));
}

#[test]
fn widths_and_unknown_offsets() {
    let mut u = Pl011::new();
    let mut sink = |_: u8| {};
    for off in [reg::DR, reg::FR, reg::CR, reg::ICR, reg::PERIPH_ID0] {
        assert_eq!(u.read(off, Width::Double), Err(MmioError::BadWidth));
        assert_eq!(
            u.write(off, Width::Double, 0, &mut sink),
            Err(MmioError::BadWidth)
        );
    }
    assert_eq!(u.read(reg::CR + 1, Width::Half), Err(MmioError::BadWidth));
    assert_eq!(u.read(reg::CR + 2, Width::Word), Err(MmioError::BadWidth));
    for off in [0x8, 0x14, 0x1c, 0x4c, 0x80, 0xfdc, 0x1000, u64::MAX] {
        assert_eq!(
            u.read(off, Width::Word),
            Err(MmioError::NoRegister),
            "{off:#x}"
        );
        assert_eq!(
            u.write(off, Width::Word, 1, &mut sink),
            Err(MmioError::NoRegister)
        );
    }
    for off in [reg::FR, reg::RIS, reg::MIS] {
        assert_eq!(
            u.write(off, Width::Word, 0, &mut sink),
            Err(MmioError::ReadOnly)
        );
    }
    assert_eq!(u, Pl011::new(), "failed accesses change nothing");
}

#[test]
fn register_table_names() {
    let names: Vec<&str> = registers().regs().iter().map(|r| r.name).collect();
    assert_eq!(names.len(), 16);
    assert_eq!(
        registers().find(reg::ICR).map(|(r, _, _)| r.name),
        Some("UARTICR")
    );
}

#[test]
fn random_accesses_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut u = Pl011::new();
    let widths = [Width::Byte, Width::Half, Width::Word, Width::Double];
    let mut sent = 0usize;
    for _ in 0..200_000 {
        let r = rng.next();
        // Mostly inside the 4 KiB page, sometimes anywhere.
        let off = if r & 0xf == 0 {
            rng.next()
        } else {
            rng.next() & 0xfff
        };
        let width = widths[(r >> 8) as usize % 4];
        let value = rng.next() as u32;
        match (r >> 16) % 8 {
            0..=3 => {
                let _ = u.read(off, width);
            }
            4..=6 => {
                let _ = u.write(off, width, value, &mut |_| sent += 1);
            }
            _ => {
                let _ = u.receive(value as u8);
            }
        }
        // Invariants that must hold whatever the guest did.
        let flags = u.read(reg::FR, Width::Word).unwrap();
        assert_eq!(flags & (fr::TXFF | fr::BUSY), 0);
        assert!(flags & fr::RXFE == 0 || flags & fr::RXFF == 0 || u.rx_space() == 0);
        assert_eq!(u.read(reg::MIS, Width::Word), Ok(u.mis()));
        assert!(u.rx_space() <= FIFO_DEPTH);
    }
    assert!(sent > 0);
}

/// The zeroed PL011 of a VM table that was never loaded is a reset one once reset
/// (what a VM's load does).
#[test]
fn unloaded_then_reset_is_a_reset_pl011() {
    let mut u = Pl011::unloaded();
    assert_ne!(
        u,
        Pl011::new(),
        "the unloaded PL011 differs before its reset"
    );
    u.reset();
    assert_eq!(u, Pl011::new());
}
