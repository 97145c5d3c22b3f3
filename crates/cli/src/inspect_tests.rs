//! Tests of [`super`] on QEMU's tree and corrupted copies of it.
use super::*;

fn qemu_dtb() -> Vec<u8> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../arch/aarch64/tests/data/qemu-virt-gicv3-smp4.dtb"
    );
    std::fs::read(p).unwrap()
}

#[test]
fn reads_qemu_virt() {
    let b = inspect(&qemu_dtb(), &Options::default()).unwrap();
    assert_eq!(b.name, "linux-dummy-virt");
    assert_eq!(b.cpus, [0, 1, 2, 3]);
    assert_eq!(b.ram, [(0x4000_0000, 0x8000_0000)]);
    assert_eq!(b.redistributors, (0x080a_0000, 0x8_0000, 0x2_0000));
    assert_eq!(b.timer, [29, 30, 27, 26]);
    assert_eq!(b.uarts.len(), 1);
    assert_eq!(b.devices.len(), 32);
    assert_eq!(
        b.pcie,
        [Pcie {
            name: "pcie@10000000".into(),
            compatible: vec!["pci-host-ecam-generic".into()],
            ecam: (0x40_1000_0000, 0x1000_0000),
            buses: (0, 255),
            windows: vec![
                (1, 0x3eff_0000, 0, 0x1_0000),
                (2, 0x1000_0000, 0x1000_0000, 0x2eff_0000),
                (3, 0x80_0000_0000, 0x80_0000_0000, 0x80_0000_0000),
            ],
            intx: [35, 36, 37, 38],
            dma_coherent: true,
        }],
        "the PCIe host bridge, its windows and its swizzled INTx lines"
    );
}

#[test]
fn a_bridge_whose_interrupt_map_is_not_the_swizzle_is_skipped() {
    let mut blob = qemu_dtb();
    let at = {
        let fdt = Fdt::new(&blob).unwrap();
        let node = fdt.find_node("/pcie@10000000").unwrap();
        let v = node.property("interrupt-map").unwrap().value;
        v.as_ptr() as usize - blob.as_ptr() as usize
    };
    // Row 0 (device 0, INTA; 10 cells: address 3, pin, GIC phandle, GIC address 2,
    // specifier 3): its SPI number 3 becomes 9.
    assert_eq!(blob[at + 4 * 8 + 3], 3);
    blob[at + 4 * 8 + 3] = 9;
    let b = inspect(&blob, &Options::default()).unwrap();
    assert_eq!(b.pcie, []);
}

#[test]
fn all_devices_keeps_every_register_window() {
    let opts = Options {
        all_devices: true,
        ..Options::default()
    };
    let b = inspect(&qemu_dtb(), &opts).unwrap();
    let flash: Vec<(&str, u64, u64)> = b
        .devices
        .iter()
        .filter(|d| d.compatible.iter().any(|c| c == "cfi-flash"))
        .map(|d| (d.name.as_str(), d.base, d.size))
        .collect();
    assert_eq!(
        flash,
        [
            ("flash@00000000", 0, 0x400_0000),
            ("flash@04000000", 0x400_0000, 0x400_0000)
        ],
        "both banks of QEMU's flash"
    );
}

/// Every word of the structure block, overwritten with a few bad values: the
/// check either refuses the tree or `fdt` walks it without panicking (this calls
/// the walk directly, outside `catch_unwind`, so a panic fails the test).
#[test]
fn corrupted_trees_never_panic() {
    let good = qemu_dtb();
    let soff = u32::from_be_bytes(good[8..12].try_into().unwrap()) as usize;
    let ssize = u32::from_be_bytes(good[36..40].try_into().unwrap()) as usize;
    let mut walked = 0;
    for at in (soff..soff + ssize).step_by(4) {
        for v in [0u32, 1, 2, 3, 9, 0x7fff_ffff, 0x100] {
            let mut b = good.clone();
            b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            if crate::dtcheck::check(&b).is_ok() {
                let _ = inspect_inner(&b, &Options::default());
                walked += 1;
            }
        }
    }
    assert!(walked > 0);
}

#[test]
fn slugs() {
    assert_eq!(slug("linux,dummy-virt"), "linux-dummy-virt");
    assert_eq!(slug("Raspberry Pi 4 Model B"), "raspberry-pi-4-model-b");
    assert_eq!(slug(",,"), "board");
}

/// A tree whose CPU names an L2 (1 MiB, 1024 sets of 64-byte lines: 16 ways) through
/// an L1 node without a geometry, as Linux's arm64 device trees do.
fn cached_dtb(line_prop: &str) -> Vec<u8> {
    let mut w = vm_fdt::FdtWriter::new().unwrap();
    let root = w.begin_node("").unwrap();
    let cpus = w.begin_node("cpus").unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    w.property_u32("#size-cells", 0).unwrap();
    let cpu = w.begin_node("cpu@0").unwrap();
    w.property_string("device_type", "cpu").unwrap();
    w.property_u32("reg", 0).unwrap();
    w.property_u32("next-level-cache", 1).unwrap();
    w.end_node(cpu).unwrap();
    let l1 = w.begin_node("l1-cache").unwrap();
    w.property_u32("phandle", 1).unwrap();
    w.property_u32("next-level-cache", 2).unwrap();
    w.end_node(l1).unwrap();
    let l2 = w.begin_node("l2-cache").unwrap();
    w.property_string("compatible", "cache").unwrap();
    w.property_u32("phandle", 2).unwrap();
    w.property_u32("cache-level", 2).unwrap();
    w.property_u32("cache-size", 0x10_0000).unwrap();
    w.property_u32("cache-sets", 1024).unwrap();
    w.property_u32(line_prop, 64).unwrap();
    w.end_node(l2).unwrap();
    w.end_node(cpus).unwrap();
    w.end_node(root).unwrap();
    w.finish().unwrap()
}

#[test]
fn the_llc_comes_from_the_cache_nodes() {
    for line_prop in ["cache-line-size", "cache-block-size"] {
        let blob = cached_dtb(line_prop);
        let llc = read_llc(&Fdt::new(&blob).unwrap());
        let want = Llc {
            level: 2,
            size: 0x10_0000,
            ways: 16,
            line: 64,
        };
        assert_eq!(llc, Some(want), "{line_prop}");
    }
    // QEMU's tree has no cache nodes: the board's [llc] comes from the CPU's registers.
    assert_eq!(inspect(&qemu_dtb(), &Options::default()).unwrap().llc, None);
}
