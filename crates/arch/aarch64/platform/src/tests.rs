//! T0 tests of host device-tree parsing on a real QEMU tree. Edge cases on trees
//! built with `vm-fdt` are in `tests/synth.rs` and `tests/devices.rs`; corrupted and
//! random input in `tests/robust.rs`.

extern crate std;

use rtvisor_addr::{HostRange, Hpa};

use super::*;

mod board;
mod devices;
mod robust;
mod synth;

/// `qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -smp 4 -m 2G
/// -cpu cortex-a72 -machine dumpdtb=...` (QEMU 7.2), packed: see tests/data/README.md.
pub(super) const QEMU_VIRT: &[u8] = include_bytes!("../../tests/data/qemu-virt-gicv3-smp4.dtb");

pub(super) fn range(base: u64, size: u64) -> HostRange {
    HostRange::new(Hpa::new(base), size).unwrap()
}

#[test]
fn qemu_virt_gicv3_smp4() {
    let p = parse(QEMU_VIRT).unwrap();
    let mut memory = [None; MAX_MEM_BANKS];
    memory[0] = Some(range(0x4000_0000, 0x8000_0000));
    let expected = Platform {
        memory,
        cpus: [0, 1, 2, 3, 0, 0, 0, 0],
        cpu_count: 4,
        gic: GicInfo {
            version: 3,
            dist: range(0x0800_0000, 0x1_0000),
            redist: range(0x080a_0000, 0xf6_0000),
            maintenance_irq: Some(25),
        },
        uart: Some(range(0x0900_0000, 0x1000)),
        uart_irq: Some(33),
        psci: Some(Conduit::Smc),
        timer_ppis: Some([29, 30, 27, 26]),
    };
    assert_eq!(p, expected);
    assert_eq!(p.cpus(), [0, 1, 2, 3]);
    assert_eq!(p.memory_banks().count(), 1);
}

#[test]
fn cpu_index_compares_affinity_only() {
    let p = parse(QEMU_VIRT).unwrap();
    assert_eq!(p.cpu_index(0), Some(0));
    // MPIDR_EL1 as read on the CPU: RES1 bit 31 and the MT/U bits do not matter.
    assert_eq!(p.cpu_index(0x8000_0003), Some(3));
    assert_eq!(p.cpu_index(0xc100_0002), Some(2));
    assert_eq!(p.cpu_index(4), None);
    assert_eq!(p.cpu_index(0x100), None, "Aff1 differs");
    assert_eq!(p.cpu_index(0x1_0000_0001), None, "Aff3 differs");
}

#[test]
fn ram_contains() {
    let p = parse(QEMU_VIRT).unwrap();
    assert!(p.ram_contains(range(0x4000_0000, 0x8000_0000)));
    assert!(p.ram_contains(range(0x4020_0000, 0x1000)));
    assert!(p.ram_contains(range(0xbfff_f000, 0x1000)));
    assert!(
        !p.ram_contains(range(0xbfff_f000, 0x2000)),
        "runs past the end"
    );
    assert!(!p.ram_contains(range(0x3fff_f000, 0x2000)), "starts below");
    assert!(!p.ram_contains(range(0x0900_0000, 0x1000)));
    assert!(!p.ram_contains(range(0x4000_0000, 0)), "empty range");
}

#[test]
fn truncated_or_resized_trees_are_refused() {
    for len in 0..QEMU_VIRT.len() {
        assert_eq!(
            parse(&QEMU_VIRT[..len]),
            Err(PlatformError::BadHeader),
            "len {len}"
        );
    }
    // Padding after totalsize is fine (QEMU's own dump is padded to 1 MiB).
    let mut padded = QEMU_VIRT.to_vec();
    padded.resize(1 << 20, 0);
    assert!(parse(&padded).is_ok());
    // A header claiming less than the blocks need.
    let mut short = QEMU_VIRT.to_vec();
    short[4..8].copy_from_slice(&0x1000u32.to_be_bytes());
    assert_eq!(parse(&short), Err(PlatformError::BadHeader));
    let mut old = QEMU_VIRT.to_vec();
    old[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(parse(&old), Err(PlatformError::BadHeader), "v16 header");
}
