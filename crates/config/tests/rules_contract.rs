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
    all.iter()
        .any(|e| e == &(file.into(), line, col, message.into(), hint.into()))
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
    assert!(
        all.iter().any(|e| e.0 == "board.toml" && e.3 == board),
        "{all:#?}"
    );
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

#[test]
fn two_direct_peers_of_one_region_are_refused_on_aarch64() {
    let t = rules_tree();
    let direct = |name: &str, cpu: &str| {
        vm(
            name,
            "rt",
            cpu,
            "{ size = \"16MiB\" }",
            "interrupt-mode = \"direct\"\n",
        )
    };
    let shm = "[[shared-memory]]\nname = \"bell\"\nsize = \"4KiB\"\n\
               peers = [{ vm = \"a\", access = \"rw\" }, { vm = \"b\", access = \"rw\" }]\n";
    let s = scenario(&[direct("a", "[1]"), direct("b", "[2]"), shm.to_owned()]);
    let msg = "shared memory `bell` has two direct-mode peers, `a` and `b`: its doorbell (INTID \
               127) is one physical SPI, which only one VM can own";
    let hint = "give `b` (or `a`) interrupt-mode = \"virtual\", where the doorbell is the VM's \
                own virtual SPI";
    let line = s.lines().position(|l| l.starts_with("peers = ")).unwrap() + 1;
    let col = s.lines().nth(line - 1).unwrap().rfind("vm = ").unwrap() + 6;
    assert_one(&t, &s, line, col, msg, hint);
    // One of them in virtual mode: accepted.
    let virt = vm("b", "rt", "[2]", "{ size = \"16MiB\" }", "");
    let ok = scenario(&[direct("a", "[1]"), virt, shm.to_owned()]);
    assert_eq!(errors(&t, &ok), Vec::<Flat>::new());
}

#[test]
fn a_nul_in_bootargs_is_reported_at_bootargs_not_as_a_size_problem() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\" }",
        "bootargs = \"console=ttyAMA0\\u0000quiet\"\n",
    )]);
    let msg = "bootargs of VM `a` contain a NUL character (at byte 15)";
    let hint = "the device tree stores the command line as one NUL-terminated string; remove the \
                \\u0000 (separate arguments with spaces)";
    assert_one(&t, &s, 10, 12, msg, hint);
}

#[test]
fn the_tsc_khz_placeholder_is_refused_on_aarch64() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\" }",
        "bootargs = \"console=ttyAMA0 tsc_early_khz={tsc-khz}\"\n",
    )]);
    let msg = "bootargs of VM `a` contain `{tsc-khz}`, but board `qemu-virt-aarch64` is \
               aarch64: the placeholder is filled (with the measured TSC rate) on x86_64 only";
    let hint = "remove `{tsc-khz}`: an aarch64 guest reads its counter's rate from CNTFRQ_EL0; \
                on an x86_64 board write e.g. tsc_early_khz={tsc-khz}";
    assert_one(&t, &s, 10, 12, msg, hint);
    // Without it: no error.
    let s = s.replace(" tsc_early_khz={tsc-khz}", "");
    assert_eq!(errors(&t, &s), vec![]);
}

#[test]
fn a_hypervisor_memory_too_small_for_the_embedded_guests_is_refused() {
    let t = rules_tree();
    t.write("big.bin", vec![7u8; 6 << 20]);
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")])
        .replace("k.bin", "big.bin")
        .replace(
            "console = \"uart0\"\n",
            "console = \"uart0\"\nmemory = { size = \"4MiB\" }\n",
        );
    let msg = "the hypervisor's memory (4 MiB) cannot hold its image: about 8.8 MiB (the VMs' \
               kernels, initrds, device trees and flash images it embeds: 6.0 MiB; its code, \
               stacks, page tables and flash pools: 2.8 MiB)";
    let hint = "set memory = { size = \"10MiB\" } in [hypervisor] (a multiple of 2 MiB)";
    assert_one(&t, &s, 4, 19, msg, hint);
    // Without a `memory` key (32 MiB), the error points at the [hypervisor] table.
    t.write("huge.bin", vec![7u8; 31 << 20]);
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"64MiB\" }", "")])
        .replace("k.bin", "huge.bin");
    let all = errors(&t, &s);
    assert_eq!((all.len(), all[0].1, all[0].2), (1, 2, 1), "{all:#?}");
    assert!(all[0].4.contains("size = \"34MiB\""), "{all:#?}");
}

#[test]
fn a_shared_memory_name_too_long_for_a_node_name_is_refused() {
    let t = rules_tree();
    let name = "s".repeat(28);
    let shm = format!(
        "[[shared-memory]]\nname = \"{name}\"\nsize = \"4KiB\"\n\
         peers = [{{ vm = \"a\", access = \"rw\" }}]\n"
    );
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", ""), shm]);
    let msg = format!(
        "shared-memory name `{}...` is 28 bytes long; at most 27",
        "s".repeat(16)
    );
    let hint = "shorten it: each peer's device tree has the node `uio-<name>`, and a device-tree \
                node name has at most 31 characters";
    assert_one(&t, &s, 11, 8, &msg, hint);
}

#[test]
fn a_board_device_name_that_is_no_node_name_is_refused() {
    let t = rules_tree();
    board_with(
        &t,
        "name = \"virtio-mmio@0a000000\"",
        "name = \"My Disk@0a000000\"",
    );
    let all = errors(
        &t,
        &scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")]),
    );
    let msg = "device name `My Disk@0a000000` does not start with a device-tree node name \
               (`My Disk` before the `@`)";
    let hint = "a VM given this device sees it as node `<name>@<base>`: start the name with a \
                letter, then up to 30 letters, digits or `,._+-`, e.g. `virtio-mmio@0a000000`";
    // The first virtio-mmio transport's name, in the committed board file.
    let line = board_line(&t, "name = \"My Disk@0a000000\"");
    assert_eq!(
        all,
        vec![("board.toml".into(), line, 8, msg.into(), hint.into())]
    );
}

/// The 1-based line of the board file in `t` that holds `text`.
fn board_line(t: &support::Tree, text: &str) -> usize {
    let board = std::fs::read_to_string(t.path("board.toml")).expect("board file");
    1 + board
        .lines()
        .position(|l| l.contains(text))
        .expect("text in the board")
}

#[test]
fn a_raw_image_loaded_away_from_its_link_address_is_warned_about() {
    let t = rules_tree();
    // `cargo xtask build` leaves k.elf next to k.bin; it says where k.bin was linked.
    t.write("k.elf", support::fake_elf(0x4008_0000, 0x4008_0000));
    let identity = vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", identity = true }",
        "",
    );
    let s = scenario(&[identity]);
    assert_eq!(errors(&t, &s), vec![]);
    let msg = "raw image `k.bin` of VM `a` is loaded at IPA 0x4228_0000, but `k.elf` beside it \
               is linked at 0x4008_0000";
    let hint = "a raw binary runs only where it was linked, and this VM's RAM is \
                identity-mapped at 0x4220_0000..0x4320_0000; link the guest for 0x4228_0000";
    assert_eq!(
        support::warnings(&t, &s),
        vec![("s.toml".into(), 9, 19, msg.into(), hint.into())]
    );
    // At the usual guest RAM base the raw image is where it was linked: no warning.
    let plain = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")]);
    assert_eq!(support::warnings(&t, &plain), vec![]);
}

#[test]
fn an_elf_file_given_as_raw_is_refused() {
    let t = rules_tree();
    t.write("k.bin", support::fake_elf(0x4008_0000, 0x4008_0000));
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")]);
    let msg = "kernel image `k.bin` of VM `a` is an ELF file: as format = \"raw\" its ELF header \
               would be copied to RAM + 0x8_0000 and executed";
    let hint = "use format = \"elf\" (placed at its own addresses), or convert it to a raw binary";
    assert_one(&t, &s, 9, 19, msg, hint);
}
