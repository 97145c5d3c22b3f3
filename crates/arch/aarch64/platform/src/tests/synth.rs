//! Edge cases of memory, CPUs, GIC and cell handling on `vm-fdt` trees.

extern crate std;
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use super::board::Board;
use super::range;
use crate::*;

#[test]
fn baseline_board() {
    let p = Board::default().parse().unwrap();
    assert_eq!(
        p.memory_banks().collect::<Vec<_>>(),
        [range(0x4000_0000, 0x4000_0000)]
    );
    assert_eq!(p.cpus(), [0, 1]);
    assert_eq!(p.gic.version, 3);
    assert_eq!(p.gic.maintenance_irq, Some(25));
    assert_eq!(p.uart, Some(range(0x900_0000, 0x1000)));
    assert_eq!(p.uart_irq, Some(33));
    assert_eq!(p.psci, Some(Conduit::Hvc));
    assert_eq!(p.timer_ppis, Some([29, 30, 27, 26]));
}

#[test]
fn memory_banks() {
    let b = Board {
        memory: vec![
            vec![(0x4000_0000, 0x1000_0000)],
            vec![
                (0x8000_0000, 0x1000_0000),
                (0x9000_0000, 0),
                (0x1_0000_0000, 0x2000_0000),
            ],
        ],
        ..Board::default()
    };
    let p = b.parse().unwrap();
    let banks: Vec<_> = p.memory_banks().collect();
    assert_eq!(
        banks,
        [
            range(0x4000_0000, 0x1000_0000),
            range(0x8000_0000, 0x1000_0000),
            range(0x1_0000_0000, 0x2000_0000)
        ]
    );
    assert!(p.ram_contains(range(0x1_1000_0000, 0x1000)));
    assert!(
        !p.ram_contains(range(0x4fff_f000, 0x2000)),
        "crosses a bank's end"
    );
    let nine = Board {
        memory: (0..9).map(|i| vec![(i << 32, 0x1000)]).collect(),
        ..Board::default()
    };
    assert_eq!(nine.parse(), Err(PlatformError::TooManyMemoryBanks));
    assert_eq!(
        Board {
            memory: vec![],
            ..Board::default()
        }
        .parse(),
        Err(PlatformError::NoMemory)
    );
    let wrap = Board {
        memory: vec![vec![(u64::MAX - 0xfff, 0x2000)]],
        ..Board::default()
    };
    assert_eq!(wrap.parse(), Err(PlatformError::BadReg("memory")));
}

#[test]
fn memory_reg_of_wrong_length() {
    let b = Board {
        memory: vec![],
        extra: Some(Box::new(|w| {
            let n = w.begin_node("memory@0").unwrap();
            w.property_string("device_type", "memory").unwrap();
            w.property_array_u32("reg", &[0, 0x4000_0000, 0]).unwrap();
            w.end_node(n).unwrap();
        })),
        ..Board::default()
    };
    assert_eq!(b.parse(), Err(PlatformError::BadReg("memory")));
}

#[test]
fn gic_variants() {
    assert_eq!(
        Board {
            gic: None,
            ..Board::default()
        }
        .parse(),
        Err(PlatformError::NoGic)
    );
    let v2 = Board {
        gic: Some((
            "arm,gic-400",
            vec![
                (0x800_0000, 0x1000),
                (0x801_0000, 0x2000),
                (0x803_0000, 0x2000),
            ],
        )),
        ..Board::default()
    };
    let p = v2.parse().unwrap();
    assert_eq!(
        (p.gic.version, p.gic.dist, p.gic.redist),
        (2, range(0x800_0000, 0x1000), range(0x801_0000, 0x2000))
    );
    let one_reg = Board {
        gic: Some(("arm,gic-v3", vec![(0x800_0000, 0x1_0000)])),
        ..Board::default()
    };
    assert_eq!(one_reg.parse(), Err(PlatformError::BadReg("gic")));
    let unknown = Board {
        gic: Some(("vendor,irqchip", vec![(0, 1), (2, 3)])),
        ..Board::default()
    };
    assert_eq!(unknown.parse(), Err(PlatformError::NoGic));
}

#[test]
fn one_cell_addresses() {
    let b = Board {
        cells: (1, 1),
        memory: vec![vec![(0x4000_0000, 0x2000_0000), (0x8000_0000, 0x1000)]],
        ..Board::default()
    };
    let p = b.parse().unwrap();
    assert_eq!(
        p.memory_banks().collect::<Vec<_>>(),
        [range(0x4000_0000, 0x2000_0000), range(0x8000_0000, 0x1000)]
    );
    assert_eq!(p.gic.redist, range(0x80a_0000, 0xf6_0000));
    assert_eq!(p.uart, Some(range(0x900_0000, 0x1000)));
}

#[test]
fn cpu_counts_and_ids() {
    let eight = Board {
        cpus: (0..8).collect(),
        ..Board::default()
    };
    assert_eq!(eight.parse().unwrap().cpu_count, 8);
    let nine = Board {
        cpus: (0..9).collect(),
        ..Board::default()
    };
    assert_eq!(nine.parse(), Err(PlatformError::TooManyCpus));
    assert_eq!(
        Board {
            cpus: vec![],
            ..Board::default()
        }
        .parse(),
        Err(PlatformError::NoCpus)
    );
    assert_eq!(
        Board {
            cpus: vec![1, 1],
            ..Board::default()
        }
        .parse(),
        Err(PlatformError::BadReg("cpu"))
    );
    let two_cell = Board {
        cpu_cells: 2,
        cpus: vec![0x100, 0x1_0000_0100],
        ..Board::default()
    };
    let p = two_cell.parse().unwrap();
    assert_eq!(p.cpus(), [0x100, 0x1_0000_0100]);
    assert_eq!(p.cpu_index(0x8000_0100), Some(0));
    assert_eq!(p.cpu_index(0x1_8000_0100), Some(1));
    let bad_cells = Board {
        cpu_cells: 3,
        ..Board::default()
    };
    assert_eq!(bad_cells.parse(), Err(PlatformError::BadCells("cpus")));
}

#[test]
fn malformed_cells_and_nesting() {
    let wide = Board {
        extra: Some(Box::new(|w| {
            let n = w.begin_node("bus").unwrap();
            w.property_u64("#address-cells", 1).unwrap();
            w.end_node(n).unwrap();
        })),
        ..Board::default()
    };
    assert_eq!(wide.parse(), Err(PlatformError::BadCells("#address-cells")));
    let deep = Board {
        extra: Some(Box::new(|w| {
            let nodes: Vec<_> = (0..20).map(|_| w.begin_node("n").unwrap()).collect();
            for n in nodes.into_iter().rev() {
                w.end_node(n).unwrap();
            }
        })),
        ..Board::default()
    };
    assert_eq!(deep.parse(), Err(PlatformError::TooDeep));
}
