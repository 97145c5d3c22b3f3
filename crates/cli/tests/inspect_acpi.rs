//! End-to-end tests of `rtvisor board inspect --acpi DIR --memmap DIR` on fixtures
//! made here: ACPI tables from rtvisor's own generator (as a q35 guest's firmware
//! gives them: its APIC IDs, I/O APIC and COM1) and a memory map laid out the way
//! Linux's /sys/firmware/memmap shows SeaBIOS' E820 map for `-m 2G`.

mod support;

use rtvisor_config::acpi::read::check;
use rtvisor_config::acpi::tables::{self, madt_entry};
use rtvisor_config::acpi::{boot_data, BootInfo, Pci};
use rtvisor_config::contract::x86_64::BOOT_DATA_GPA;
use std::path::{Path, PathBuf};
use support::{normalize, root, rtvisor, scratch, text};

/// SeaBIOS' E820 map of `qemu-system-x86_64 -M q35 -m 2G`, as (start, end inclusive,
/// type) the way /sys/firmware/memmap names them.
const Q35_E820: [(u64, u64, &str); 9] = [
    (0x0, 0x9_fbff, "System RAM"),
    (0x9_fc00, 0x9_ffff, "Reserved"),
    (0xf_0000, 0xf_ffff, "Reserved"),
    (0x10_0000, 0x7ffd_ffff, "System RAM"),
    (0x7ffe_0000, 0x7fff_ffff, "Reserved"),
    (0xb000_0000, 0xbfff_ffff, "Reserved"),
    (0xfed1_c000, 0xfed1_ffff, "Reserved"),
    (0xfeff_c000, 0xfeff_ffff, "Reserved"),
    (0xfffc_0000, 0xffff_ffff, "Reserved"),
];

/// Writes `tables` (signature, bytes) into `dir/acpi` and `map` into `dir/memmap`.
fn fixture(dir: &Path, tables: &[(&str, Vec<u8>)], map: &[(u64, u64, &str)]) -> [PathBuf; 2] {
    let (acpi, memmap) = (dir.join("acpi"), dir.join("memmap"));
    std::fs::create_dir_all(&acpi).unwrap();
    for (sig, bytes) in tables {
        std::fs::write(acpi.join(sig), bytes).unwrap();
    }
    for (i, (start, end, kind)) in map.iter().enumerate() {
        let e = memmap.join(i.to_string());
        std::fs::create_dir_all(&e).unwrap();
        std::fs::write(e.join("start"), format!("{start:#x}\n")).unwrap();
        std::fs::write(e.join("end"), format!("{end:#x}\n")).unwrap();
        std::fs::write(e.join("type"), format!("{kind}\n")).unwrap();
    }
    [acpi, memmap]
}

/// The generator's FACP, APIC and DSDT for a machine with `apic_ids`.
fn generated(apic_ids: &[u32]) -> Vec<(&'static str, Vec<u8>)> {
    generated_with(apic_ids, None)
}

/// The same, and with `pci` the MCFG.
fn generated_with(apic_ids: &[u32], pci: Option<Pci>) -> Vec<(&'static str, Vec<u8>)> {
    let info = BootInfo {
        apic_ids: apic_ids.to_vec(),
        ram_size: 64 << 20,
        cmdline: None,
        initrd: None,
        devices: Vec::new(),
        shared: Vec::new(),
        pci,
    };
    let d = check(&boot_data(&info), BOOT_DATA_GPA).unwrap();
    ["FACP", "APIC", "DSDT", "MCFG"]
        .into_iter()
        .filter_map(|sig| Some((sig, d.table(sig)?.bytes.clone())))
        .collect()
}

fn inspect(acpi: &Path, memmap: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "board",
        "inspect",
        "--acpi",
        acpi.to_str().unwrap(),
        "--memmap",
        memmap.to_str().unwrap(),
    ];
    args.extend(extra);
    rtvisor(&args)
}

#[test]
fn board_inspect_of_q35_tables_matches_the_committed_board() {
    let dir = scratch("acpi-q35");
    // q35's MCFG: 256 buses from 0xb000_0000.
    let q35_pci = Pci {
        ecam: 0xb000_0000,
        last_bus: 255,
        prt: Vec::new(),
    };
    let [acpi, memmap] = fixture(
        &dir,
        &generated_with(&[0, 1, 2, 3], Some(q35_pci)),
        &Q35_E820,
    );
    let out = dir.join("board.toml");
    let o = inspect(
        &acpi,
        &memmap,
        &["--name", "qemu-q35-x86_64", "-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "inspect failed: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("4 CPUs, 1 RAM banks, 1 I/O APICs, 1 UARTs"));
    let ours =
        rtvisor_config::check_board(&out).unwrap_or_else(|d| panic!("generated board:\n{d}"));
    let committed = rtvisor_config::check_board(&root().join("boards/qemu-q35-x86_64.toml"))
        .unwrap_or_else(|d| panic!("committed board:\n{d}"));
    assert_eq!(normalize(&ours), normalize(&committed));
}

#[test]
fn inspect_reads_every_madt_entry_kind_and_merges_ram() {
    let dir = scratch("acpi-kinds");
    // A MADT as firmware writes it: a disabled CPU, an x2APIC CPU, NMI entries, an
    // override, an address override; two I/O APICs.
    let mut body = Vec::new();
    body.extend(0xfee0_0000u32.to_le_bytes());
    body.extend(1u32.to_le_bytes()); // PC-AT 8259s
    let lapic = |uid: u8, id: u8, flags: u32| {
        let mut e = vec![madt_entry::LOCAL_APIC, 8, uid, id];
        e.extend(flags.to_le_bytes());
        e
    };
    body.extend(lapic(0, 0, 1));
    body.extend(lapic(1, 1, 0)); // disabled, not online-capable: not a CPU
    body.extend(lapic(2, 4, 2)); // online-capable
    body.extend([madt_entry::LOCAL_X2APIC, 16, 0, 0]);
    body.extend(0x100u32.to_le_bytes());
    body.extend(1u32.to_le_bytes());
    body.extend(3u32.to_le_bytes());
    body.extend([madt_entry::LOCAL_APIC_NMI, 6, 0xff, 0, 0, 1]);
    for (id, base, gsi) in [(8u8, 0xfec0_0000u32, 0u32), (9, 0xfec0_1000, 24)] {
        body.extend([madt_entry::IO_APIC, 12, id, 0]);
        body.extend(base.to_le_bytes());
        body.extend(gsi.to_le_bytes());
    }
    body.extend([madt_entry::SOURCE_OVERRIDE, 10, 0, 0, 2, 0, 0, 0, 0, 0]);
    body.extend([madt_entry::LOCAL_APIC_OVERRIDE, 12, 0, 0]);
    body.extend(0xfee0_0000u64.to_le_bytes());
    body.extend([0x7f, 4, 0, 0]); // an entry type this reader does not know
    let apic = tables::sdt(b"APIC", 5, &body);
    // No UART in this DSDT: COM1 is assumed, with a note.
    let dsdt = tables::sdt(b"DSDT", 2, &[]);
    let map = [
        (0x0, 0x9_fbff, "System RAM"),
        (0x10_0000, 0x3fff_ffff, "System RAM"),
        (0x4000_0000, 0x7fff_ffff, "System RAM"),
        (0x8000_0000, 0x8fff_ffff, "ACPI Tables"),
        (0x1_0000_0000, 0x1_3fff_ffff, "System RAM"),
    ];
    let [acpi, memmap] = fixture(&dir, &[("APIC", apic), ("DSDT", dsdt)], &map);
    let o = inspect(&acpi, &memmap, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let board = text(&o.stdout);
    assert!(
        text(&o.stderr).contains("note: no 16550 with a static _CRS"),
        "{}",
        text(&o.stderr)
    );
    let path = dir.join("board.toml");
    std::fs::write(&path, &board).unwrap();
    let b = rtvisor_config::check_board(&path).unwrap_or_else(|d| panic!("{d}\n{board}"));
    assert_eq!(
        normalize(&b),
        [
            "name rtvsor-rtvisor arch x86_64",
            "cpu - apic 0x0",
            "cpu - apic 0x4",
            "cpu - apic 0x100",
            "ram 0x100000 0x7ff00000",
            "ram 0x100000000 0x40000000",
            "local-apic 0xfee00000",
            "io-apic 8 0xfec00000 gsi 0",
            "io-apic 9 0xfec01000 gsi 24",
            "uart com1 [\"ns16550a\"] -+- port 0x3f8 irq 4",
        ]
    );
    assert!(
        board.contains("# note: no 16550 with a static _CRS"),
        "{board}"
    );
}

#[test]
fn inspect_refuses_damaged_tables_and_missing_files() {
    let dir = scratch("acpi-bad");
    let mut t = generated(&[0, 1]);
    t[1].1[40] ^= 1; // a byte of the MADT
    let [acpi, memmap] = fixture(&dir, &t, &Q35_E820);
    let o = inspect(&acpi, &memmap, &[]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("APIC: its checksum does not sum to zero"),
        "{err}"
    );
    let good = scratch("acpi-good");
    let [acpi, _] = fixture(&good, &generated(&[0, 1]), &Q35_E820);
    let o = inspect(&acpi, &dir.join("nowhere"), &[]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("nowhere"), "{}", text(&o.stderr));
    // --acpi needs --memmap, and neither goes with --dtb.
    let o = rtvisor(&["board", "inspect", "--acpi", acpi.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--memmap"), "{}", text(&o.stderr));
}
