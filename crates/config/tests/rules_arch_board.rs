//! T0: the board rules of each architecture (`arch`): keys one architecture has are
//! refused on the other's boards at the key, a board without its architecture's
//! tables is told which, and the x86_64 board rules; the committed x86 boards.

mod support;

use rtvisor_config::check_board;
use support::{repo, Flat, Tree};

/// The committed q35 board, as rule tests edit it.
fn q35() -> String {
    std::fs::read_to_string(repo().join("boards/qemu-q35-x86_64.toml")).unwrap()
}

/// The committed QEMU virt board.
fn virt() -> String {
    std::fs::read_to_string(repo().join("boards/qemu-virt-aarch64.toml")).unwrap()
}

fn board_errors(text: &str) -> Vec<Flat> {
    let t = Tree::new("arch-board");
    let path = t.write("board.toml", text);
    match check_board(&path) {
        Ok(_) => Vec::new(),
        Err(d) => {
            d.0.into_iter()
                .map(|d| ("board.toml".into(), d.line, d.column, d.message, d.hint))
                .collect()
        }
    }
}

/// Line and column (1-based) of the `n`th (from 0) `needle` in `text`.
fn nth(text: &str, needle: &str, n: usize) -> (usize, usize) {
    let off = text
        .match_indices(needle)
        .nth(n)
        .unwrap_or_else(|| panic!("{needle} not in text"))
        .0;
    let line = text[..off].matches('\n').count() + 1;
    let col = off - text[..off].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, col)
}

/// `text` with `from` replaced once by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

/// Asserts the single error is at the first `needle`, with `message` and `hint`.
#[track_caller]
fn one(text: &str, needle: &str, message: &str, hint: &str) {
    let (line, col) = nth(text, needle, 0);
    assert_eq!(
        board_errors(text),
        vec![("board.toml".into(), line, col, message.into(), hint.into())]
    );
}

fn messages(text: &str) -> Vec<String> {
    board_errors(text).into_iter().map(|e| e.3).collect()
}

#[test]
fn the_committed_x86_boards_are_valid() {
    let b = check_board(&repo().join("boards/qemu-q35-x86_64.toml")).unwrap();
    // Facts of `qemu-system-x86_64 -M q35 -smp 4 -m 2G` with SeaBIOS.
    assert_eq!(b.arch(), rtvisor_config::contract::Arch::X86_64);
    let ids: Vec<u32> = b
        .cpu
        .iter()
        .map(|c| *c.apic_id.as_ref().unwrap().get_ref())
        .collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    let ram = (*b.ram[0].base.get_ref(), b.ram[0].size.get_ref().0);
    assert_eq!(ram, (0x10_0000, 0x7fee_0000));
    assert_eq!(*b.local_apic.as_ref().unwrap().base.get_ref(), 0xfee0_0000);
    assert_eq!(*b.io_apic[0].base.get_ref(), 0xfec0_0000);
    assert_eq!(*b.uart[0].port.as_ref().unwrap().get_ref(), 0x3f8);
    assert_eq!(*b.uart[0].irq.get_ref(), 4);
    let bochs = check_board(&repo().join("boards/bochs-x86_64.toml")).unwrap();
    assert_eq!(bochs.cpu.len(), 2);
    assert_eq!(*bochs.io_apic[0].id.get_ref(), 2);
    assert_eq!(board_errors(&q35()), vec![]);
}

#[test]
fn aarch64_tables_on_an_x86_board() {
    let b = q35();
    let text = edit(
        &b,
        "[local-apic]",
        "[gic]\nversion = 3\ndistributor = { base = 0x0800_0000, size = 0x1_0000 }\n\
         redistributors = { base = 0x080a_0000, size = 0x8_0000, stride = 0x2_0000 }\n\n\
         [local-apic]",
    );
    one(
        &text,
        "gic]",
        "board `qemu-q35-x86_64` is x86_64 but has a [gic] (an Arm GIC)",
        "an x86_64 board describes its interrupt controllers in [local-apic] and \
         [[io-apic]]; remove [gic], or set arch = \"aarch64\"",
    );
    let text = edit(
        &b,
        "[local-apic]",
        "[timer]\nsecure-physical-intid = 29\nphysical-intid = 30\nvirtual-intid = 27\n\
         hyp-intid = 26\n\n[local-apic]",
    );
    one(
        &text,
        "timer]",
        "board `qemu-q35-x86_64` is x86_64 but has a [timer] (the Arm generic timer's INTIDs)",
        "x86_64 VMs keep time with the local APIC timer and the TSC; remove [timer]",
    );
    let text = edit(&b, "apic-id = 1\n", "apic-id = 1\nmpidr = 1\n");
    one(
        &text,
        "mpidr",
        "`mpidr` is an Arm CPU's affinity, but board `qemu-q35-x86_64` is x86_64",
        "give each x86_64 CPU its local APIC ID instead: apic-id = N (as the MADT lists it)",
    );
    let text = edit(
        &b,
        "port = 0x3f8\n",
        "port = 0x3f8\nbase = 0x0900_0000\nsize = 0x1000\n",
    );
    let all = board_errors(&text);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(
        (all[0].1, all[0].3.as_str()),
        (
            nth(&text, "base = 0x0900", 0).0,
            "a memory-mapped UART `base`, but board `qemu-q35-x86_64` is x86_64"
        )
    );
    assert_eq!(
        all[1].4,
        "a 16550 has 8 I/O ports from its `port`; remove size"
    );
    let text = edit(&b, "[qemu]\n", "[qemu]\nsemihosting = true\n");
    one(
        &text,
        "semihosting = true",
        "semihosting is Arm's, but board `qemu-q35-x86_64` is x86_64",
        "remove it: on x86_64 a FATAL error of the hypervisor halts every CPU",
    );
    let off = edit(&b, "[qemu]\n", "[qemu]\nsemihosting = false\n");
    assert_eq!(board_errors(&off), vec![]);
}

#[test]
fn x86_tables_on_an_aarch64_board() {
    let v = virt();
    let text = edit(
        &v,
        "[timer]",
        "[local-apic]\nbase = 0xfee0_0000\n\n[[io-apic]]\nid = 0\nbase = 0xfec0_0000\n\
         gsi-base = 0\n\n[timer]",
    );
    let all = board_errors(&text);
    let msgs: Vec<&str> = all.iter().map(|e| e.3.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "board `qemu-virt-aarch64` is aarch64 but has a [local-apic]",
            "board `qemu-virt-aarch64` is aarch64 but has an [[io-apic]]"
        ]
    );
    assert_eq!((all[0].1, all[0].2), nth(&text, "local-apic]", 0));
    let text = edit(&v, "mpidr = 0x2\n", "mpidr = 0x2\napic-id = 2\n");
    one(
        &text,
        "apic-id",
        "`apic-id` is an x86 CPU's, but board `qemu-virt-aarch64` is aarch64",
        "give each aarch64 CPU its MPIDR: mpidr = 0x..., or write arch = \"x86_64\"",
    );
    let text = edit(&v, "irq = 33\n", "irq = 33\nport = 0x3f8\n");
    one(
        &text,
        "port",
        "`port` is an x86 I/O port, but board `qemu-virt-aarch64` is aarch64",
        "an aarch64 UART is memory-mapped: base = 0x0900_0000, size = 0x1000",
    );
    // `arch = "aarch64"` says what the default says.
    let explicit = edit(
        &v,
        "name = \"qemu-virt-aarch64\"\n",
        "name = \"qemu-virt-aarch64\"\narch = \"aarch64\"\n",
    );
    assert_eq!(board_errors(&explicit), vec![]);
}

#[test]
fn each_architecture_needs_its_tables() {
    let v = virt();
    let start = v.find("[gic]").unwrap();
    let end = v.find("# The board is QEMU itself").unwrap();
    let text = format!("{}{}", &v[..start], &v[end..]);
    let (line, col) = nth(&text, "\"qemu-virt-aarch64\"", 0);
    assert_eq!(
        board_errors(&text),
        [
            (
                "board.toml".into(),
                line,
                col,
                "board `qemu-virt-aarch64` (aarch64) has no `gic`".into(),
                "an aarch64 board describes its GICv3: [gic] with version, distributor and \
                 redistributors (docs/scenario.md); for a PC board write arch = \"x86_64\""
                    .into()
            ),
            (
                "board.toml".into(),
                line,
                col,
                "board `qemu-virt-aarch64` (aarch64) has no `timer`".into(),
                "an aarch64 board lists its generic timer's INTIDs in [timer] \
                 (docs/scenario.md); for a PC board write arch = \"x86_64\""
                    .into()
            )
        ]
    );
    let text = edit(&v, "[[cpu]]\nmpidr = 0x1\n", "[[cpu]]\n");
    let (line, col) = nth(&text, "[[cpu]]", 1);
    assert_eq!(
        board_errors(&text),
        [(
            "board.toml".into(),
            line,
            col,
            "[[cpu]] number 2 of board `qemu-virt-aarch64` has no `mpidr`".into(),
            "add its MPIDR_EL1 affinity: mpidr = 0x...".into()
        )]
    );

    let b = q35();
    let text = edit(&b, "[local-apic]\nbase = 0xfee0_0000\n", "");
    let text = edit(
        &text,
        "[[io-apic]]\nid = 0\nbase = 0xfec0_0000\ngsi-base = 0\n",
        "",
    );
    assert_eq!(
        messages(&text),
        [
            "board `qemu-q35-x86_64` (x86_64) has no `local-apic`",
            "board `qemu-q35-x86_64` (x86_64) has no `io-apic`"
        ]
    );
    let text = edit(&b, "apic-id = 3\n", "");
    let (line, col) = nth(&text, "[[cpu]]", 3);
    assert_eq!(
        board_errors(&text),
        [(
            "board.toml".into(),
            line,
            col,
            "[[cpu]] number 4 of board `qemu-q35-x86_64` has no `apic-id`".into(),
            "add its local APIC ID: apic-id = N (as the MADT lists it)".into()
        )]
    );
    one(
        &edit(&b, "port = 0x3f8\n", ""),
        "[[uart]]",
        "[[uart]] number 1 of board `qemu-q35-x86_64` has no `port`",
        "an x86_64 UART is at an I/O port: add port = 0x3f8 (COM1)",
    );
}

#[test]
fn x86_board_rules() {
    let b = q35();
    let text = edit(&b, "apic-id = 2", "apic-id = 1");
    let (line, col) = nth(&text, "apic-id = 1", 1);
    assert_eq!(
        board_errors(&text),
        [(
            "board.toml".into(),
            line,
            col + 10,
            "APIC ID 1 is declared twice".into(),
            "each [[cpu]] needs its own local APIC ID".into()
        )]
    );
    one(
        &edit(&b, "base = 0xfee0_0000", "base = 0xfee0_0800"),
        "0xfee0_0800",
        "the local APIC at 0xfee0_0800 is not 4 KiB aligned",
        "an APIC's registers are one 4 KiB page; check the address in the MADT",
    );
    one(
        &edit(&b, "\nid = 0\n", "\nid = 256\n"),
        "256",
        "I/O APIC ID 256 does not fit in 8 bits",
        "the MADT gives I/O APIC IDs from 0 to 255",
    );
    let two = edit(
        &b,
        "gsi-base = 0\n",
        "gsi-base = 0\n\n[[io-apic]]\nid = 0\nbase = 0xfec0_1000\ngsi-base = 0\n",
    );
    assert_eq!(
        messages(&two),
        [
            "I/O APIC ID 0 is declared twice",
            "two I/O APICs start at GSI 0"
        ]
    );
    let over = edit(&b, "base = 0xfec0_0000", "base = 0xfee0_0000");
    assert_eq!(
        messages(&over),
        ["I/O APIC 0 (0xfee0_0000..0xfee0_1000) overlaps the local APIC (0xfee0_0000..0xfee0_1000)"]
    );
    one(
        &edit(
            &b,
            "base = 0x0010_0000\nsize = 0x7fee_0000",
            "base = 0x0040_0000\nsize = 0x7fbe_0000",
        ),
        "0x0040_0000",
        "the first RAM bank (0x0040_0000..0x7ffe_0000) does not hold 0x0020_0000, where GRUB \
         loads the hypervisor",
        "list first the bank that holds 2 MiB (on a PC, the RAM from 1 MiB up; the memory \
         below 1 MiB is the firmware's and the hypervisor's)",
    );
    let com2 = edit(
        &b,
        "irq = 4\n",
        "irq = 4\n\n[[uart]]\nname = \"com2\"\ncompatible = \"ns16550a\"\nport = 0x3fc\nirq = 3\n",
    );
    one(
        &com2,
        "0x3fc",
        "UART `com2` (ports 0x3fc..0x404) overlaps UART `com1` (ports 0x3f8..0x400)",
        "each 16550 has 8 ports of its own: COM1 0x3f8, COM2 0x2f8, COM3 0x3e8, COM4 0x2e8",
    );
    one(
        &edit(&b, "port = 0x3f8", "port = 0xfffc"),
        "0xfffc",
        "UART `com1` at port 0xfffc runs past the last I/O port (0xffff)",
        "a 16550 has 8 ports from its `port`; COM1 is at 0x3f8",
    );
    let dev = edit(
        &b,
        "\n[qemu]\n",
        "\n[[device]]\nname = \"dev@fe000000\"\ncompatible = \"x,y\"\nbase = 0xfe00_0000\n\
         size = 0x1000\nirqs = [4]\ndma = false\n\n[qemu]\n",
    );
    one(
        &dev,
        "4]",
        "GSI 4 of `dev@fe000000` is also the interrupt of `com1`",
        "`com1` can be the hypervisor's console, whose interrupt is the shell's input; \
         give `dev@fe000000` the GSI its ACPI description has",
    );
}
