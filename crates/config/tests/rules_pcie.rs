//! T0: the rules on PCIe host bridges (`[[pcie]]` on the board, named in a VM's
//! `devices`), each asserting the exact message, hint and location, and what a bridge
//! given to a VM becomes (its windows mapped, the left-out 64-bit window, its QEMU
//! devices). Line map: the header is lines 1-3, the VM lines 4-9, its `devices` line
//! is 10.

mod support;

use rtvisor_config::{check, qemu_run};
use support::{assert_one, dtdump, errors, rules_tree, scenario, vm, Tree};

const BRIDGE: &str = "pcie@10000000";
const IDENTITY: &str = "{ size = \"16MiB\", identity = true }";

/// One VM with `memory` and the bridge, plus `extra` lines after its `devices`.
fn with_bridge(memory: &str, extra: &str) -> String {
    let devices = format!("devices = [\"{BRIDGE}\"]\n{extra}");
    scenario(&[vm("a", "general", "[1]", memory, &devices)])
}

/// One identity-mapped VM whose `devices` is the one name `device`.
fn identity_vm_with(device: &str) -> String {
    let devices = format!("devices = [\"{device}\"]\n");
    scenario(&[vm("a", "general", "[1]", IDENTITY, &devices)])
}

/// The test board with `from` replaced by `to` in its `[[pcie]]` table; the line of
/// the change.
fn edit_board(t: &Tree, from: &str, to: &str) -> usize {
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap();
    assert!(board.contains(from), "{from}");
    let board = board.replacen(from, to, 1);
    let line = board.lines().position(|l| l.contains(to)).unwrap() + 1;
    t.write("board.toml", &board);
    line
}

#[test]
fn a_bridge_goes_to_an_identity_mapped_vm() {
    let t = rules_tree();
    assert_eq!(errors(&t, &with_bridge(IDENTITY, "")), vec![]);
    let s = with_bridge("{ size = \"16MiB\" }", "");
    let msg = "PCIe host bridge `pcie@10000000` needs an identity-mapped VM; VM `a` is not";
    let hint = "the guest gives its devices' BARs host-physical addresses and the devices DMA \
                to host-physical addresses, with no SMMU in between; set memory = { ..., \
                identity = true } in VM `a`";
    assert_one(&t, &s, 10, 12, msg, hint);
}

#[test]
fn a_bridge_belongs_to_one_vm() {
    let t = rules_tree();
    let devices = format!("devices = [\"{BRIDGE}\"]\n");
    let a = vm("a", "general", "[1]", IDENTITY, &devices);
    let b = vm("b", "general", "[2]", IDENTITY, &devices);
    let msg = "device `pcie@10000000` is given to both VM `a` and VM `b`";
    let hint = "a device belongs to one VM; remove it from one of them";
    assert_one(&t, &scenario(&[a, b]), 17, 12, msg, hint);
}

#[test]
fn an_aarch64_vm_gets_a_whole_bridge_not_a_function() {
    let t = rules_tree();
    let s = identity_vm_with("pcie@10000000/00:01.0");
    let msg = "VM `a` names a function of host bridge `pcie@10000000`; on aarch64 a VM gets a \
               whole bridge";
    let hint = "functions are given one by one on x86_64 boards only; list `pcie@10000000` to \
                give VM `a` the whole bridge";
    assert_one(&t, &s, 10, 12, msg, hint);
}

#[test]
fn an_unknown_name_suggests_the_bridge() {
    let t = rules_tree();
    let s = identity_vm_with("pcie@1000000");
    let msg = "device `pcie@1000000` is not on board `qemu-virt-aarch64`";
    assert_one(&t, &s, 10, 12, msg, "did you mean `pcie@10000000`?");
}

#[test]
fn the_ecam_must_lie_in_the_guest_physical_space() {
    let t = rules_tree();
    edit_board(&t, "base = 0x0040_1000_0000", "base = 0x0100_1000_0000");
    let msg = "the ECAM window of `pcie@10000000` (0x100_1000_0000..0x100_2000_0000) is \
               beyond the guest-physical address space of VM `a`";
    let hint = "host bridges are mapped at their host addresses and stage-2 translates 39 bits \
                (below 0x80_0000_0000); this bridge cannot be passed through";
    assert_one(&t, &with_bridge(IDENTITY, ""), 10, 12, msg, hint);
}

#[test]
fn intx_lines_must_reach_the_emulated_gic_in_virtual_mode() {
    let t = rules_tree();
    edit_board(&t, "intx = [35, 36, 37, 38]", "intx = [135, 136, 137, 138]");
    let msg = "INTx INTID 135, 136, 137, 138 of `pcie@10000000` is beyond what the emulated GIC \
               of VM `a` models (INTIDs below 128)";
    let hint = "the guest would never see these interrupts; use interrupt-mode = \"direct\", or \
                raise VGIC_INTIDS in crates/config/src/contract/aarch64.rs";
    assert_one(&t, &with_bridge(IDENTITY, ""), 10, 12, msg, hint);
}

#[test]
fn the_board_gives_four_intx_spis() {
    let t = rules_tree();
    let line = edit_board(&t, "intx = [35, 36, 37, 38]", "intx = [35, 36]");
    let msg = "PCIe host bridge `pcie@10000000` lists 2 INTx interrupts; it has 4";
    let hint = "give the INTIDs of INTA, INTB, INTC and INTD of device 0";
    assert_eq!(
        errors(&t, &with_bridge(IDENTITY, "")),
        vec![("board.toml".into(), line, 8, msg.into(), hint.into())]
    );
    let t = rules_tree();
    let line = edit_board(&t, "intx = [35, 36, 37, 38]", "intx = [27, 36, 37, 38]");
    let msg = "INTx interrupt 27 of `pcie@10000000` is not an SPI";
    let hint = "INTx lines are SPIs: INTIDs 32 to 1019 (SPI n is INTID 32 + n)";
    assert_eq!(
        errors(&t, &with_bridge(IDENTITY, "")),
        vec![("board.toml".into(), line, 9, msg.into(), hint.into())]
    );
}

#[test]
fn the_ecam_window_holds_whole_buses() {
    let t = rules_tree();
    let line = edit_board(&t, "size = \"256MiB\" }", "size = 0x1_8000 }");
    let msg = "the ECAM window of `pcie@10000000` (0x40_1000_0000..0x40_1001_8000) is not \
               whole buses";
    let hint = "ECAM gives each bus 1 MiB: base and size must be multiples of 1 MiB";
    assert_eq!(
        errors(&t, &with_bridge(IDENTITY, "")),
        vec![("board.toml".into(), line, 42, msg.into(), hint.into())]
    );
    let t = rules_tree();
    let line = edit_board(&t, "size = \"256MiB\" }", "size = \"16MiB\" }");
    let msg = "bus-range 0-255 of `pcie@10000000` does not fit its ECAM window of 16 buses";
    let hint = "give a bus-range [first, last] with last - first below the number of 1 MiB \
                buses in `ecam`";
    assert_eq!(
        errors(&t, &with_bridge(IDENTITY, "")),
        vec![("board.toml".into(), line + 1, 13, msg.into(), hint.into())]
    );
}

#[test]
fn shared_memory_stays_out_of_the_windows() {
    let t = rules_tree();
    let shm = "[[shared-memory]]\nname = \"s\"\nsize = \"4KiB\"\n\
               peers = [{ vm = \"a\", access = \"rw\", ipa = 0x1000_0000 }]\n";
    let s = with_bridge(IDENTITY, "") + shm;
    let msg = "shared memory `s` in VM `a` (IPA 0x1000_0000..0x1000_1000) overlaps device \
               `pcie@10000000 32-bit memory window` at 0x1000_0000";
    let hint = "pick another `ipa`, or leave it out to use the free space in \
                0x1000_0000..0x4000_0000";
    assert_one(&t, &s, 14, 43, msg, hint);
}

#[test]
fn a_bridge_is_mapped_without_its_64_bit_window() {
    let t = rules_tree();
    let s = with_bridge(IDENTITY, "");
    let plan = check(&t.write("s.toml", &s)).unwrap();
    let vm = &plan.vms[0];
    let mapped: Vec<(&str, u64, u64, &[u32])> = vm
        .devices
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.page_base.raw(),
                d.page_size,
                d.irqs.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        mapped,
        [
            (
                "pcie@10000000 ECAM",
                0x40_1000_0000,
                0x1000_0000,
                &[35, 36, 37, 38][..]
            ),
            ("pcie@10000000 I/O window", 0x3eff_0000, 0x1_0000, &[][..]),
            (
                "pcie@10000000 32-bit memory window",
                0x1000_0000,
                0x2eff_0000,
                &[][..]
            ),
        ]
    );
    let map = plan.map();
    assert!(
        map.contains(
            "  pcie     pcie@10000000 64-bit memory window 0x80_0000_0000..0x100_0000_0000 \
             left out: beyond the 39-bit guest-physical space\n"
        ),
        "{map}"
    );
}

#[test]
fn the_guest_tree_has_the_bridge_on_its_own_gic_and_no_msi() {
    let t = rules_tree();
    let plan = check(&t.write("s.toml", with_bridge(IDENTITY, ""))).unwrap();
    let dts = dtdump::dump(&plan.vms[0].dtb);
    let node = dts
        .split("\tpcie@10000000 {\n")
        .nth(1)
        .and_then(|rest| rest.split("\t};").next())
        .unwrap_or_else(|| panic!("no bridge node:\n{dts}"));
    // The ECAM and the two windows the VM has (I/O at PCI 0, 32-bit 1:1), no 64-bit one.
    for line in [
        "reg = <0x40 0x10000000 0x0 0x10000000>;",
        "ranges = <0x1000000 0x0 0x0 0x0 0x3eff0000 0x0 0x10000 \
         0x2000000 0x0 0x10000000 0x0 0x10000000 0x0 0x2eff0000>;",
        "interrupt-map-mask = <0x1800 0x0 0x0 0x7>;",
        "device_type = \"pci\";",
    ] {
        assert!(node.contains(line), "{line} in\n{node}");
    }
    // Device 1, INTA -> the VM's GIC (phandle 1, no address cells), SPI 4 (INTID 36).
    assert!(
        node.contains(" 0x800 0x0 0x0 0x1 0x1 0x0 0x4 0x4 "),
        "{node}"
    );
    let gic = dts.split("intc@8000000 {").nth(1).unwrap();
    assert!(gic.contains("phandle = <0x1>;") && gic.contains("#address-cells = <0x0>;"));
    assert!(
        !dts.contains("msi"),
        "no MSI controller, no msi-map:\n{dts}"
    );
    assert!(!dts.contains("its@"), "{dts}");
}

#[test]
fn qemu_devices_go_on_the_bridge() {
    let t = rules_tree();
    let disk = "[[qemu-device]]\ntransport = \"pcie@10000000\"\nkind = \"virtio-blk\"\n\
                file = \"disk.img\"\n";
    let nic = "[[qemu-device]]\ntransport = \"pcie@10000000\"\nkind = \"virtio-net\"\n";
    let s = with_bridge(IDENTITY, "") + disk + nic;
    assert_eq!(errors(&t, &s), vec![], "a bridge takes several devices");
    let run = qemu_run(&t.path("s.toml")).unwrap();
    let on: Vec<(bool, u64)> = run.devices.iter().map(|d| (d.pcie, d.base)).collect();
    assert_eq!(on, [(true, 0x40_1000_0000), (true, 0x40_1000_0000)]);
    let s = scenario(&[vm("a", "general", "[1]", IDENTITY, "")]) + disk;
    let msg = "transport `pcie@10000000` is not passed to any VM";
    let hint = "add \"pcie@10000000\" to the `devices` of the VM that uses it";
    assert_one(&t, &s, 11, 13, msg, hint);
}
