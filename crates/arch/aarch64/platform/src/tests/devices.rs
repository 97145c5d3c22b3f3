//! Console UART choice, interrupt routing, PSCI, timer and `ranges` translation.

extern crate std;
use std::boxed::Box;
use std::vec;

use super::board::{Board, Hook, GIC_PHANDLE, OTHER_INTC};
use super::range;
use crate::*;

#[test]
fn console_uart_choice() {
    let two = || vec![(0x900_0000, 1, "okay"), (0x904_0000, 8, "okay")];
    let aliased = Board {
        uarts: two(),
        stdout: Some("serial1:115200n8"),
        aliases: vec![("serial1", "/pl011@9040000")],
        ..Board::default()
    };
    let p = aliased.parse().unwrap();
    assert_eq!(
        (p.uart, p.uart_irq),
        (Some(range(0x904_0000, 0x1000)), Some(40))
    );
    let direct = Board {
        uarts: two(),
        stdout: Some("/pl011@9040000:9600"),
        ..Board::default()
    };
    assert_eq!(
        direct.parse().unwrap().uart,
        Some(range(0x904_0000, 0x1000))
    );
    let none = Board {
        uarts: two(),
        stdout: None,
        ..Board::default()
    };
    assert_eq!(none.parse().unwrap().uart, Some(range(0x900_0000, 0x1000)));
    let dangling = Board {
        uarts: two(),
        stdout: Some("serial7"),
        ..Board::default()
    };
    assert_eq!(
        dangling.parse().unwrap().uart,
        Some(range(0x900_0000, 0x1000))
    );
    let first_off = Board {
        uarts: vec![(0x900_0000, 1, "disabled"), (0x904_0000, 8, "okay")],
        ..Board::default()
    };
    assert_eq!(
        first_off.parse().unwrap().uart,
        Some(range(0x904_0000, 0x1000))
    );
    let p = Board {
        uarts: vec![],
        ..Board::default()
    }
    .parse()
    .unwrap();
    assert_eq!((p.uart, p.uart_irq), (None, None));
}

#[test]
fn uart_interrupt_routing() {
    let with = |hook: Hook| {
        Board {
            uart_irq_override: Some(hook),
            ..Board::default()
        }
        .parse()
    };
    let elsewhere = with(Box::new(|w| {
        w.property_u32("interrupt-parent", OTHER_INTC).unwrap();
        w.property_array_u32("interrupts", &[0, 1, 4]).unwrap();
    }));
    let p = elsewhere.unwrap();
    assert_eq!((p.uart.is_some(), p.uart_irq), (true, None));
    let extended = with(Box::new(|w| {
        w.property_array_u32("interrupts-extended", &[GIC_PHANDLE, 0, 5, 4])
            .unwrap()
    }));
    assert_eq!(extended.unwrap().uart_irq, Some(37));
    let none = with(Box::new(|_| {}));
    assert_eq!(none.unwrap().uart_irq, None);
    let short = with(Box::new(|w| {
        w.property_array_u32("interrupts", &[0, 1]).unwrap()
    }));
    assert_eq!(short, Err(PlatformError::BadInterrupts("uart")));
    let huge = with(Box::new(|w| {
        w.property_array_u32("interrupts", &[0, 5000, 4]).unwrap()
    }));
    assert_eq!(huge, Err(PlatformError::BadInterrupts("uart")));
}

#[test]
fn psci_and_timer() {
    assert_eq!(
        Board {
            psci: Some("smc"),
            ..Board::default()
        }
        .parse()
        .unwrap()
        .psci,
        Some(Conduit::Smc)
    );
    assert_eq!(
        Board {
            psci: None,
            ..Board::default()
        }
        .parse()
        .unwrap()
        .psci,
        None
    );
    let bad = Board {
        psci: Some("spin-table"),
        ..Board::default()
    };
    assert_eq!(bad.parse(), Err(PlatformError::BadProperty("psci method")));
    assert_eq!(
        Board {
            timer: None,
            ..Board::default()
        }
        .parse()
        .unwrap()
        .timer_ppis,
        None
    );
    let five = vec![1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8, 1, 12, 8];
    assert_eq!(
        Board {
            timer: Some(five),
            ..Board::default()
        }
        .parse()
        .unwrap()
        .timer_ppis,
        Some([29, 30, 27, 26])
    );
    let three = Board {
        timer: Some(vec![1, 13, 4, 1, 14, 4, 1, 11, 4]),
        ..Board::default()
    };
    assert_eq!(three.parse(), Err(PlatformError::BadInterrupts("timer")));
    let spi = Board {
        timer: Some(vec![0, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]),
        ..Board::default()
    };
    assert_eq!(spi.parse(), Err(PlatformError::BadInterrupts("timer")));
}

/// A `soc` bus with one-cell child addresses mapped by `ranges`, holding a PL011.
pub(super) fn soc(ranges: Option<&'static [u32]>) -> Hook {
    Box::new(move |w| {
        let n = w.begin_node("soc").unwrap();
        w.property_u32("#address-cells", 1).unwrap();
        w.property_u32("#size-cells", 1).unwrap();
        if let Some(r) = ranges {
            w.property_array_u32("ranges", r).unwrap();
        }
        let bridge = w.begin_node("bridge@100000").unwrap();
        w.property_u32("#address-cells", 1).unwrap();
        w.property_u32("#size-cells", 1).unwrap();
        w.property_array_u32("ranges", &[0, 0x10_0000, 0x1_0000])
            .unwrap();
        let u = w.begin_node("serial@9000").unwrap();
        w.property_string("compatible", "arm,pl011").unwrap();
        w.property_array_u32("reg", &[0x9000, 0x1000]).unwrap();
        w.property_array_u32("interrupts", &[0, 3, 4]).unwrap();
        w.end_node(u).unwrap();
        w.end_node(bridge).unwrap();
        w.end_node(n).unwrap();
    })
}

#[test]
fn reg_translated_through_ranges() {
    let board = |ranges| Board {
        uarts: vec![],
        stdout: Some("/soc/bridge/serial@9000"),
        extra: Some(soc(ranges)),
        ..Board::default()
    };
    // soc child 0x0.. maps to CPU 0x1_2000_0000; bridge child 0x0.. to soc 0x10_0000.
    let p = board(Some(&[0, 1, 0x2000_0000, 0x100_0000]))
        .parse()
        .unwrap();
    assert_eq!(
        (p.uart, p.uart_irq),
        (Some(range(0x1_2010_9000, 0x1000)), Some(35))
    );
    let p = board(Some(&[])).parse().unwrap();
    assert_eq!(
        p.uart,
        Some(range(0x10_9000, 0x1000)),
        "empty ranges is identity"
    );
    assert_eq!(
        board(None).parse(),
        Err(PlatformError::BadReg("uart")),
        "no ranges: not CPU-addressable"
    );
    let too_small = board(Some(&[0, 0, 0, 0x1000]));
    assert_eq!(too_small.parse(), Err(PlatformError::BadReg("uart")));
}
