//! T0: the `[[qemu-device]]` rules and the board's `[qemu]` table, and what
//! `qemu_run` resolves. Line map: the header is lines 1-3, the VM lines 4-10 (its
//! `devices` line is 10), the first `[[qemu-device]]` starts at line 11.

mod support;

use rtvisor_config::qemu::{QemuDevice, QemuDeviceKind};
use rtvisor_config::qemu_run;
use support::{assert_one, errors, rules_tree, scenario, vm};

const DISK: &str = "virtio-mmio@0a003e00";
const NIC: &str = "virtio-mmio@0a003c00";

/// One identity-mapped VM owning the transports `owned`, then `qemu` (TOML lines).
fn with_qemu(owned: &[&str], qemu: &str) -> String {
    let list: Vec<String> = owned.iter().map(|d| format!("\"{d}\"")).collect();
    let devices = format!("devices = [{}]\n", list.join(", "));
    let mem = "{ size = \"16MiB\", identity = true }";
    scenario(&[vm("a", "general", "[1]", mem, &devices)]) + qemu
}

fn device(transport: &str, body: &str) -> String {
    format!("[[qemu-device]]\ntransport = \"{transport}\"\n{body}")
}

const BLK: &str = "kind = \"virtio-blk\"\nfile = \"disk.img\"\nread-only = true\n";
const NET: &str = "kind = \"virtio-net\"\n";

#[test]
fn a_disk_and_a_nic_resolve() {
    let t = rules_tree();
    let s = with_qemu(&[DISK, NIC], &(device(DISK, BLK) + &device(NIC, NET)));
    assert_eq!(errors(&t, &s), Vec::new());
    let run = qemu_run(&t.path("s.toml")).unwrap();
    assert_eq!((run.cpus, run.ram_bytes, run.gic_version), (4, 2 << 30, 3));
    assert!(run.semihosting, "the QEMU virt board offers semihosting");
    assert_eq!(
        run.devices,
        [
            QemuDevice {
                transport: DISK.into(),
                base: 0x0a00_3e00,
                pcie: false,
                function: None,
                kind: QemuDeviceKind::VirtioBlk {
                    file: t.path("disk.img"),
                    read_only: true
                },
            },
            QemuDevice {
                transport: NIC.into(),
                base: 0x0a00_3c00,
                pcie: false,
                function: None,
                kind: QemuDeviceKind::VirtioNet,
            },
        ]
    );
}

#[test]
fn the_transport_must_be_a_virtio_mmio_device_of_the_board() {
    let t = rules_tree();
    let s = with_qemu(&[DISK], &device("virtio-mmio@0a003e0", BLK));
    let msg = "`virtio-mmio@0a003e0` is not a virtio-mmio transport or PCIe host bridge of \
               board `qemu-virt-aarch64`";
    assert_one(&t, &s, 12, 13, msg, "did you mean `virtio-mmio@0a003e00`?");
    let s = with_qemu(&[DISK], &device("uart0", NET));
    let msg = "`uart0` is not a virtio-mmio transport or PCIe host bridge of board \
               `qemu-virt-aarch64`";
    let hint = "QEMU devices plug into the board's virtio-mmio transports and PCIe host bridges";
    assert_one(&t, &s, 12, 13, msg, hint);
}

#[test]
fn the_transport_must_belong_to_a_vm() {
    let t = rules_tree();
    let s = with_qemu(&[DISK], &device(NIC, NET));
    let msg = "transport `virtio-mmio@0a003c00` is not passed to any VM";
    let hint = "add \"virtio-mmio@0a003c00\" to the `devices` of the VM that uses it";
    assert_one(&t, &s, 12, 13, msg, hint);
}

#[test]
fn one_device_per_transport() {
    let t = rules_tree();
    let s = with_qemu(&[DISK], &(device(DISK, BLK) + &device(DISK, NET)));
    let msg = "transport `virtio-mmio@0a003e00` gets two QEMU devices";
    assert_one(&t, &s, 17, 13, msg, "a transport holds one device");
}

#[test]
fn each_kind_takes_its_own_keys() {
    let t = rules_tree();
    let s = with_qemu(&[DISK], &device(DISK, "kind = \"virtio-blk\"\n"));
    let msg = "a `virtio-blk` device needs its disk image";
    let hint = "add file = \"path/to/disk.img\" (relative to this file)";
    assert_one(&t, &s, 13, 8, msg, hint);
    let s = with_qemu(
        &[NIC],
        &device(NIC, "kind = \"virtio-net\"\nread-only = true\n"),
    );
    assert_one(
        &t,
        &s,
        14,
        13,
        "a `virtio-net` device takes no `read-only`",
        "remove `read-only`",
    );
}

#[test]
fn unknown_keys_and_kinds_are_reported() {
    let t = rules_tree();
    let s = with_qemu(&[DISK], &device(DISK, "kind = \"virtio-gpu\"\n"));
    let e = errors(&t, &s);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].3.starts_with("unknown variant `virtio-gpu`"), "{e:#?}");
    let s = with_qemu(&[DISK], &device(DISK, &format!("{BLK}readonly = true\n")));
    let e = errors(&t, &s);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].1, 16, "{e:#?}");
    assert!(e[0].4.starts_with("did you mean `read-only`?"), "{e:#?}");
}

#[test]
fn a_board_without_qemu_table_has_no_semihosting() {
    let t = rules_tree();
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap();
    let start = board
        .find("[qemu]")
        .expect("the QEMU board has a [qemu] table");
    let end = start + board[start..].find("\n\n").unwrap_or(board.len() - start);
    t.write(
        "board.toml",
        format!("{}{}", &board[..start], &board[end..]),
    );
    let run = qemu_run(&t.write("s.toml", with_qemu(&[], ""))).unwrap();
    assert!(!run.semihosting);
}
