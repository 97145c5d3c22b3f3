//! T0: scenarios that passed `check` and then failed at boot or at build, or that got
//! a misleading message: each is now refused (or warned about) at the key to fix,
//! with a message that says what is wrong.
//!
//! Line map of the helpers: 1-3 header (board, [hypervisor], console); the first
//! `[[vm]]` block is lines 4-9 (name 5, kind 6, cpus 7, memory 8, kernel 9, then the
//! extra lines from 10); the second starts at line 10 + the first's extra lines.

mod support;

use support::{assert_one, errors, rules_tree, scenario, vm, Flat};

fn has(all: &[Flat], file: &str, line: usize, col: usize, message: &str, hint: &str) -> bool {
    all.iter().any(|e| e == &(file.into(), line, col, message.into(), hint.into()))
}

fn board_with(t: &support::Tree, from: &str, to: &str) {
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap();
    assert!(board.contains(from), "{from}");
    t.write("board.toml", board.replacen(from, to, 1));
}

#[test]
fn a_vm_placed_over_the_gic_is_refused_at_its_base() {
    let t = rules_tree();
    board_with(
        &t,
        "[gic]",
        "[[ram]]\nbase = 0x0800_0000\nsize = \"2MiB\"\n\n[gic]",
    );
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"2MiB\", base = 0x0800_0000 }",
        "",
    )]);
    let all = errors(&t, &s);
    let msg = "memory of VM `a` (0x0800_0000..0x0820_0000) overlaps the GIC distributor \
               (0x0800_0000..0x0801_0000) of board `qemu-virt-aarch64`";
    let hint = "RAM and device registers never share an address; pick a `base` in a RAM bank \
                clear of the board's MMIO windows";
    assert!(has(&all, "s.toml", 8, 34, msg, hint), "{all:#?}");
    let board = "the GIC distributor (0x0800_0000..0x0801_0000) overlaps RAM";
    assert!(all.iter().any(|e| e.0 == "board.toml" && e.3 == board), "{all:#?}");
}

#[test]
fn a_zero_size_ram_bank_is_reported_once_without_a_cascade() {
    let t = rules_tree();
    board_with(&t, "size = \"2GiB\"", "size = 0");
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")]);
    assert_eq!(
        errors(&t, &s),
        vec![(
            "board.toml".into(),
            24,
            8,
            "RAM bank at 0x4000_0000 has size zero".into(),
            "give the bank's size, e.g. size = \"2GiB\"".into()
        )]
    );
}

#[test]
fn a_device_on_a_direct_peers_physical_doorbell_is_refused() {
    let t = rules_tree();
    board_with(
        &t,
        "irqs = [48]",
        "irqs = [127]", // virtio-mmio@0a000000 now raises region 0's doorbell INTID
    );
    let rt = vm(
        "rt",
        "rt",
        "[1]",
        "{ size = \"16MiB\" }",
        "interrupt-mode = \"direct\"\n",
    );
    let gp = vm(
        "gp",
        "general",
        "[2]",
        "{ size = \"16MiB\", identity = true }",
        "devices = [\"virtio-mmio@0a000000\"]\n",
    );
    let shm = "[[shared-memory]]\nname = \"bell\"\nsize = \"4KiB\"\n\
               peers = [{ vm = \"rt\", access = \"rw\" }]\n";
    let s = scenario(&[rt, gp, shm.to_owned()]);
    let msg = "device `virtio-mmio@0a000000` of VM `gp` raises INTID 127, the doorbell of shared \
               memory `bell`, a physical SPI of direct-mode VM `rt`";
    let hint = "region k rings INTID 127 - k, physically for a direct-mode peer; move `bell` in \
                the [[shared-memory]] list or use another device";
    assert_one(&t, &s, 17, 12, msg, hint);
}
