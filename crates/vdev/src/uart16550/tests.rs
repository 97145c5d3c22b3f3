use super::*;
use crate::rng::Rng;
use std::collections::VecDeque;
use std::vec::Vec;

extern crate std;

fn rd(u: &mut Uart16550, off: u64) -> u8 {
    u.read(off, Width::Byte).unwrap()
}

fn wr(u: &mut Uart16550, off: u64, v: u8) -> Vec<u8> {
    let mut out = Vec::new();
    u.write(off, Width::Byte, v, &mut |b| out.push(b)).unwrap();
    out
}

#[test]
fn reset_values() {
    let mut u = Uart16550::new();
    assert_eq!(rd(&mut u, reg::IER), 0);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::NONE);
    assert_eq!(rd(&mut u, reg::LCR), 0);
    assert_eq!(rd(&mut u, reg::MCR), 0);
    assert_eq!(rd(&mut u, reg::LSR), lsr::THRE | lsr::TEMT);
    assert_eq!(rd(&mut u, reg::MSR), msr::CTS | msr::DSR | msr::DCD);
    assert_eq!(rd(&mut u, reg::SCR), 0);
    assert_eq!(rd(&mut u, reg::RBR_THR), 0, "an empty receiver reads 0");
    assert!(!u.irq_level());
}

#[test]
fn divisor_latch_behind_dlab() {
    let mut u = Uart16550::new();
    wr(&mut u, reg::IER, ier::ERBFI);
    wr(&mut u, reg::LCR, LCR_DLAB | 0x03);
    assert!(wr(&mut u, reg::RBR_THR, 0x01).is_empty(), "DLL, not THR");
    wr(&mut u, reg::IER, 0x02);
    assert_eq!(u.divisor(), 0x0201);
    assert_eq!(rd(&mut u, reg::RBR_THR), 0x01);
    assert_eq!(rd(&mut u, reg::IER), 0x02);
    wr(&mut u, reg::LCR, 0x03);
    assert_eq!(
        rd(&mut u, reg::IER),
        ier::ERBFI,
        "IER kept behind the latch"
    );
    assert_eq!(rd(&mut u, reg::LCR), 0x03);
    assert_eq!(wr(&mut u, reg::RBR_THR, b'x'), b"x");
}

#[test]
fn transmit_and_loopback() {
    let mut u = Uart16550::new();
    assert_eq!(wr(&mut u, reg::RBR_THR, b'h'), b"h");
    wr(&mut u, reg::MCR, mcr::LOOP);
    assert!(wr(&mut u, reg::RBR_THR, b'l').is_empty());
    assert_eq!(rd(&mut u, reg::LSR) & lsr::DR, lsr::DR);
    assert_eq!(rd(&mut u, reg::RBR_THR), b'l');
    assert_eq!(rd(&mut u, reg::LSR) & lsr::DR, 0);
}

#[test]
fn holding_register_and_fifo() {
    let mut u = Uart16550::new();
    assert!(u.receive(1));
    assert!(!u.receive(2), "one byte without FIFOs");
    assert_eq!(
        rd(&mut u, reg::LSR),
        lsr::DR | lsr::OE | lsr::THRE | lsr::TEMT
    );
    assert_eq!(rd(&mut u, reg::LSR) & lsr::OE, 0, "OE cleared by the read");
    assert_eq!(rd(&mut u, reg::RBR_THR), 1);

    wr(&mut u, reg::IIR_FCR, fcr::FIFOE);
    assert_eq!(rd(&mut u, reg::IIR_FCR) & iir::FIFO, iir::FIFO);
    for b in 0..FIFO_DEPTH as u8 {
        assert!(u.receive(b));
    }
    assert_eq!(u.rx_space(), 0);
    assert!(!u.receive(0xff));
    for b in 0..FIFO_DEPTH as u8 {
        assert_eq!(rd(&mut u, reg::RBR_THR), b);
    }
    assert_eq!(rd(&mut u, reg::LSR) & lsr::DR, 0);

    u.receive(7);
    wr(&mut u, reg::IIR_FCR, fcr::FIFOE | fcr::RXCLR);
    assert_eq!(rd(&mut u, reg::LSR) & lsr::DR, 0, "RXCLR empties it");
    u.receive(7);
    wr(&mut u, reg::IIR_FCR, 0);
    assert_eq!(
        rd(&mut u, reg::LSR) & lsr::DR,
        0,
        "turning FIFOs off empties it"
    );
}

#[test]
fn receive_interrupt_and_trigger_level() {
    let mut u = Uart16550::new();
    u.receive(b'a');
    assert!(!u.irq_level(), "ERBFI off");
    wr(&mut u, reg::IER, ier::ERBFI);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::RX);
    assert!(u.irq_level());
    rd(&mut u, reg::RBR_THR);
    assert!(!u.irq_level());

    // Trigger level 4: below it, a character timeout; at it, data available.
    wr(&mut u, reg::IIR_FCR, fcr::FIFOE | 0x40);
    for b in 0..3 {
        u.receive(b);
    }
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::FIFO | iir::TIMEOUT);
    u.receive(3);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::FIFO | iir::RX);
    for (lvl, n) in [(0x80, 8), (0xc0, 14)] {
        wr(&mut u, reg::IIR_FCR, fcr::FIFOE | fcr::RXCLR | lvl);
        for b in 0..n - 1 {
            u.receive(b);
        }
        assert_eq!(rd(&mut u, reg::IIR_FCR) & 0x0f, iir::TIMEOUT);
        u.receive(0);
        assert_eq!(rd(&mut u, reg::IIR_FCR) & 0x0f, iir::RX);
    }
}

#[test]
fn thre_interrupt_set_on_enable_and_write_cleared_by_iir_read() {
    let mut u = Uart16550::new();
    wr(&mut u, reg::IER, ier::ETBEI);
    assert!(u.irq_level(), "ETBEI on with an empty THR interrupts");
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::THRE);
    assert!(!u.irq_level(), "reading IIR acknowledged it");
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::NONE);
    wr(&mut u, reg::RBR_THR, b'x');
    assert!(u.irq_level(), "the byte went: empty again");
    wr(&mut u, reg::IER, 0);
    assert!(!u.irq_level());
    wr(&mut u, reg::RBR_THR, b'x');
    wr(&mut u, reg::IER, ier::ETBEI);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::THRE);
}

#[test]
fn priorities() {
    let mut u = Uart16550::new();
    wr(&mut u, reg::IER, ier::MASK);
    wr(&mut u, reg::MCR, mcr::LOOP | mcr::RTS); // modem deltas
    u.receive(1);
    u.receive(2); // overrun
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::LINE);
    rd(&mut u, reg::LSR);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::RX);
    rd(&mut u, reg::RBR_THR);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::THRE);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::MODEM);
    rd(&mut u, reg::MSR);
    assert_eq!(rd(&mut u, reg::IIR_FCR), iir::NONE);
}

#[test]
fn modem_lines_in_loopback() {
    let mut u = Uart16550::new();
    wr(&mut u, reg::MCR, mcr::DTR | mcr::RTS | mcr::OUT2);
    assert_eq!(
        rd(&mut u, reg::MSR),
        msr::CTS | msr::DSR | msr::DCD,
        "not looped"
    );
    wr(&mut u, reg::MCR, mcr::LOOP);
    // CTS, DSR and DCD dropped: their deltas.
    assert_eq!(rd(&mut u, reg::MSR), 0x0b);
    assert_eq!(rd(&mut u, reg::MSR), 0, "deltas cleared by the read");
    wr(&mut u, reg::MCR, mcr::LOOP | mcr::OUT1);
    assert_eq!(rd(&mut u, reg::MSR), msr::RI, "RI rising: no delta");
    wr(&mut u, reg::MCR, mcr::LOOP);
    assert_eq!(rd(&mut u, reg::MSR), 0x04, "RI trailing edge");
    wr(
        &mut u,
        reg::MCR,
        mcr::LOOP | mcr::RTS | mcr::DTR | mcr::OUT2,
    );
    assert_eq!(rd(&mut u, reg::MSR), msr::CTS | msr::DSR | msr::DCD | 0x0b);
    assert_eq!(
        rd(&mut u, reg::MCR),
        mcr::LOOP | mcr::RTS | mcr::DTR | mcr::OUT2
    );
    wr(&mut u, reg::MCR, 0xff);
    assert_eq!(rd(&mut u, reg::MCR), mcr::MASK);
}

#[test]
fn scratch_and_ignored_writes() {
    let mut u = Uart16550::new();
    wr(&mut u, reg::SCR, 0x5a);
    assert_eq!(rd(&mut u, reg::SCR), 0x5a);
    wr(&mut u, reg::LSR, 0);
    wr(&mut u, reg::MSR, 0);
    assert_eq!(rd(&mut u, reg::LSR), lsr::THRE | lsr::TEMT);
    assert_eq!(rd(&mut u, reg::MSR), msr::CTS | msr::DSR | msr::DCD);
    wr(&mut u, reg::IER, 0xff);
    assert_eq!(rd(&mut u, reg::IER), ier::MASK);
}

#[test]
fn widths_and_unknown_offsets() {
    let mut u = Uart16550::new();
    for w in [Width::Half, Width::Word, Width::Double] {
        assert_eq!(u.read(0, w), Err(MmioError::BadWidth));
        assert_eq!(u.write(0, w, 0, &mut |_| {}), Err(MmioError::BadWidth));
    }
    assert_eq!(u.read(8, Width::Byte), Err(MmioError::NoRegister));
    assert_eq!(u.read(u64::MAX, Width::Byte), Err(MmioError::NoRegister));
    // Wide port accesses: byte by byte, low byte first, inside the eight ports.
    wr(&mut u, reg::SCR, 0x11);
    assert_eq!(u.read_wide(6, Width::Half), Ok(0x11b0));
    let mut out = Vec::new();
    u.write_wide(0, Width::Word, 0x0003_0041, &mut |b| out.push(b))
        .unwrap();
    assert_eq!(out, b"A", "THR, IER 0, FCR 3 (FIFOs on), LCR 0");
    assert_eq!(rd(&mut u, reg::IIR_FCR) & iir::FIFO, iir::FIFO);
    assert_eq!(u.read_wide(6, Width::Word), Err(MmioError::NoRegister));
    assert_eq!(
        u.read_wide(u64::MAX, Width::Half),
        Err(MmioError::NoRegister)
    );
    assert_eq!(u.read_wide(0, Width::Double), Err(MmioError::BadWidth));
    assert_eq!(u.read_wide(7, Width::Byte), Ok(0x11));
}

#[test]
fn register_table_names() {
    let names: Vec<_> = registers().regs().iter().map(|r| r.name).collect();
    assert_eq!(names.len(), reg::PORTS as usize);
    assert_eq!(names[2], "IIR/FCR");
}

#[test]
fn reset_drops_everything() {
    let mut u = Uart16550::new();
    wr(&mut u, reg::IER, ier::MASK);
    wr(&mut u, reg::IIR_FCR, fcr::FIFOE);
    u.receive(1);
    u.reset();
    assert_eq!(u, Uart16550::new());
}

/// A random walk of guest accesses and received bytes against a shadow of the
/// receiver (what was received must come out of RBR in order, exactly once, and LSR
/// and IIR must agree with it), with the invariants checked after every step.
#[test]
fn random_walk_against_a_shadow_receiver() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut u = Uart16550::new();
    let mut shadow: VecDeque<u8> = VecDeque::new();
    let mut sent = 0usize;
    let mut popped = 0usize;
    let widths = [Width::Byte, Width::Byte, Width::Half, Width::Word];
    for _ in 0..200_000 {
        let r = rng.next();
        let off = if r & 0x1f == 0 {
            rng.next()
        } else {
            rng.next() % 9
        };
        let width = widths[(r >> 8) as usize % 4];
        let value = rng.next() as u8;
        let before = u.clone();
        let loop_on = u.mcr & mcr::LOOP != 0;
        let fifo_was = u.fcr & fcr::FIFOE != 0;
        match (r >> 16) % 8 {
            0..=2 => {
                let got = u.read(off, width);
                if width != Width::Byte || off >= reg::PORTS {
                    assert!(got.is_err());
                    assert_eq!(u, before, "a refused access changes nothing");
                } else if off == reg::RBR_THR && !dlab_of(&before) {
                    let want = shadow.pop_front();
                    assert_eq!(got, Ok(want.unwrap_or(0)));
                    popped += usize::from(want.is_some());
                }
            }
            3..=5 => {
                let got = u.write(off, width, value, &mut |_| sent += 1);
                if got.is_err() {
                    assert_eq!(u, before, "a refused access changes nothing");
                } else if off == reg::RBR_THR && !dlab_of(&before) && loop_on {
                    if shadow.len() < depth(fifo_was) {
                        shadow.push_back(value);
                    }
                } else if off == reg::IIR_FCR {
                    let fifo_now = value & fcr::FIFOE != 0;
                    if fifo_now != fifo_was || value & fcr::RXCLR != 0 {
                        shadow.clear();
                    }
                }
            }
            _ => {
                let fits = shadow.len() < depth(fifo_was);
                assert_eq!(u.receive(value), fits);
                if fits {
                    shadow.push_back(value);
                }
            }
        }
        // Invariants that hold whatever the guest did.
        let fifo = u.fcr & fcr::FIFOE != 0;
        assert!(shadow.len() <= depth(fifo));
        assert_eq!(u.rx_space(), depth(fifo) - shadow.len());
        assert_eq!(u.lsr() & lsr::DR != 0, !shadow.is_empty());
        assert_eq!(u.lsr() & (lsr::THRE | lsr::TEMT), lsr::THRE | lsr::TEMT);
        let id = u.iir();
        assert_eq!(u.irq_level(), id & 1 == 0);
        assert_eq!(id & iir::FIFO, if fifo { iir::FIFO } else { 0 });
        assert!(matches!(
            id & 0x0f,
            iir::NONE | iir::MODEM | iir::THRE | iir::RX | iir::LINE | iir::TIMEOUT
        ));
        if u.ier & ier::ERBFI != 0 && !shadow.is_empty() && !u.overrun {
            assert!(matches!(id & 0x0f, iir::RX | iir::TIMEOUT));
        }
        assert_eq!(u.msr & 0xf0, u.lines());
    }
    assert!(
        sent > 1000 && popped > 1000,
        "the walk moved data: {sent} {popped}"
    );
}

fn dlab_of(u: &Uart16550) -> bool {
    u.lcr & LCR_DLAB != 0
}

fn depth(fifo: bool) -> usize {
    if fifo {
        FIFO_DEPTH
    } else {
        1
    }
}
