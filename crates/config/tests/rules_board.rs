//! T0: one test per board rule, through `check_board`, asserting message, hint and
//! location; and the committed QEMU virt board against QEMU's own device tree facts.

mod support;

use rtvisor_config::check_board;
use support::{repo, Flat, Tree};

/// A two-CPU board; line numbers are given on the right.
const TINY: &str = r#"name = "tiny"
[[cpu]]
mpidr = 0
[[cpu]]
mpidr = 1
[[ram]]
base = 0x4000_0000
size = "1GiB"
[gic]
version = 3
distributor = { base = 0x0800_0000, size = 0x1_0000 }
redistributors = { base = 0x080a_0000, size = 0x4_0000, stride = 0x2_0000 }
[timer]
secure-physical-intid = 29
physical-intid = 30
virtual-intid = 27
hyp-intid = 26
[[uart]]
name = "uart0"
compatible = "arm,pl011"
base = 0x0900_0000
size = 0x1000
irq = 33
[[device]]
name = "dev0"
compatible = ["x,y", "x"]
base = 0x0a00_0000
size = 0x1000
irqs = [48]
dma = false
"#;

fn board_errors(text: &str) -> Vec<Flat> {
    let t = Tree::new("board");
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

#[track_caller]
fn one(text: &str, line: usize, col: usize, message: &str, hint: &str) {
    assert_eq!(
        board_errors(text),
        vec![("board.toml".into(), line, col, message.into(), hint.into())]
    );
}

fn edit(from: &str, to: &str) -> String {
    assert!(TINY.contains(from), "{from}");
    TINY.replacen(from, to, 1)
}

#[test]
fn the_tiny_board_and_the_committed_board_are_valid() {
    assert_eq!(board_errors(TINY), vec![]);
    let b = check_board(&repo().join("boards/qemu-virt-aarch64.toml")).unwrap();
    // Facts from `qemu-system-aarch64 -M virt,gic-version=3,dumpdtb=... -smp 4 -m 2G`.
    assert_eq!(
        b.cpu
            .iter()
            .map(|c| *c.mpidr.as_ref().unwrap().get_ref())
            .collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(
        (*b.ram[0].base.get_ref(), b.ram[0].size.get_ref().0),
        (0x4000_0000, 0x8000_0000)
    );
    let (gic, timer) = (b.gic.as_ref().unwrap(), b.timer.as_ref().unwrap());
    assert_eq!(*gic.distributor.base.get_ref(), 0x0800_0000);
    assert_eq!(*gic.redistributors.base.get_ref(), 0x080a_0000);
    assert_eq!(*timer.virtual_intid.get_ref(), 27);
    assert_eq!(
        (
            *b.uart[0].base.as_ref().unwrap().get_ref(),
            *b.uart[0].irq.get_ref()
        ),
        (0x0900_0000, 33)
    );
    assert_eq!(b.device.len(), 32);
    for (n, d) in b.device.iter().enumerate() {
        let base = 0x0a00_0000 + 0x200 * n as u64;
        assert_eq!(d.name.get_ref(), &format!("virtio-mmio@{base:08x}"));
        assert_eq!((*d.base.get_ref(), d.size.get_ref().0), (base, 0x200));
        assert_eq!(
            d.irqs.iter().map(|i| *i.get_ref()).collect::<Vec<_>>(),
            [48 + n as u32]
        );
        assert!(d.dma);
    }
}

#[test]
fn board_needs_cpus() {
    let text = TINY.replace("[[cpu]]\nmpidr = 0\n[[cpu]]\nmpidr = 1\n", "");
    let all = board_errors(&text);
    assert_eq!(
        all[0],
        (
            "board.toml".into(),
            1,
            8,
            "board `tiny` declares no CPU".into(),
            "add one [[cpu]] table with `mpidr = ...` per CPU".into()
        )
    );
}

#[test]
fn mpidr_is_unique() {
    one(
        &edit("mpidr = 1", "mpidr = 0"),
        5,
        9,
        "MPIDR 0x0 is declared twice",
        "each [[cpu]] needs its own MPIDR",
    );
}

#[test]
fn board_needs_ram() {
    let text = edit("[[ram]]\nbase = 0x4000_0000\nsize = \"1GiB\"\n", "");
    one(
        &text,
        1,
        8,
        "board `tiny` declares no RAM",
        "add [[ram]] with `base` and `size` per RAM bank",
    );
}

#[test]
fn ram_bank_size_is_not_zero() {
    one(
        &edit("size = \"1GiB\"", "size = 0"),
        8,
        8,
        "RAM bank at 0x4000_0000 has size zero",
        "give the bank's size, e.g. size = \"2GiB\"",
    );
}

#[test]
fn ram_banks_do_not_overlap() {
    let text = edit(
        "[gic]",
        "[[ram]]\nbase = 0x7000_0000\nsize = \"1GiB\"\n[gic]",
    );
    let msg = "RAM bank 0x7000_0000..0xb000_0000 overlaps RAM bank 0x4000_0000..0x8000_0000";
    one(&text, 10, 8, msg, "list each RAM bank once");
}

#[test]
fn gic_version_is_3() {
    one(
        &edit("version = 3", "version = 2"),
        10,
        11,
        "GIC version 2 is not supported",
        "rtvisor drives GICv3 (version = 3)",
    );
}

#[test]
fn redistributors_cover_every_cpu() {
    let text = edit("size = 0x4_0000, stride", "size = 0x2_0000, stride");
    let msg =
        "the redistributor region (128 KiB) holds 1 frame of 128 KiB, but the board has 2 CPUs";
    one(&text, 12, 47, msg, "one frame per CPU: size = 0x0004_0000");
    let text = edit("stride = 0x2_0000", "stride = 0x3_0000");
    one(
        &text,
        12,
        66,
        "redistributor stride 0x0003_0000 is not a power of two",
        "GICv3 redistributors are 0x2_0000 (128 KiB) apart",
    );
}

#[test]
fn timer_interrupts_are_ppis() {
    let msg = "virtual timer INTID 40 is not a PPI (16 to 31)";
    one(
        &edit("virtual-intid = 27", "virtual-intid = 40"),
        16,
        17,
        msg,
        "INTID = 16 + PPI number; QEMU virt uses 29, 30, 27 and 26",
    );
}

#[test]
fn device_interrupts_are_spis() {
    let msg = "INTID 20 of `dev0` is not an SPI (32 to 1019)";
    one(
        &edit("irqs = [48]", "irqs = [20]"),
        29,
        9,
        msg,
        "device interrupts are SPIs: INTID = 32 + SPI number",
    );
}

#[test]
fn device_names_are_unique() {
    let msg = "`uart0` is declared twice on board `tiny`";
    one(
        &edit("name = \"dev0\"", "name = \"uart0\""),
        25,
        8,
        msg,
        "UART and device names must be unique; the first is at line 19",
    );
}

#[test]
fn device_size_is_not_zero() {
    let text = edit("size = 0x1000\nirqs", "size = 0\nirqs");
    one(
        &text,
        28,
        8,
        "`dev0` has size zero",
        "give the size of its register window, e.g. size = 0x1000",
    );
}

#[test]
fn mmio_windows_do_not_overlap() {
    let msg = "`dev0` (0x0900_0800..0x0900_1800) overlaps `uart0` (0x0900_0000..0x0900_1000)";
    one(
        &edit("base = 0x0a00_0000", "base = 0x0900_0800"),
        25,
        8,
        msg,
        "fix the base or size of one of them",
    );
    let msg = "`dev0` (0x4000_0000..0x4000_1000) overlaps RAM";
    one(
        &edit("base = 0x0a00_0000", "base = 0x4000_0000"),
        25,
        8,
        msg,
        "RAM bank: 0x4000_0000..0x8000_0000",
    );
}

#[test]
fn unknown_board_key_names_the_closest() {
    let msg = "unknown key `dma-coherant` in [[device]]";
    let hint = "did you mean `dma-coherent`? (keys here: name, compatible, base, size, irqs, irq-trigger, dma, dma-coherent)";
    one(
        &edit("dma = false", "dma = false\ndma-coherant = true"),
        31,
        1,
        msg,
        hint,
    );
}

// The machine contract on the board: what the hypervisor itself needs of the hardware.
// Each of these boards passed `check` and then failed at boot.

#[test]
fn a_ram_bank_over_the_gic_is_refused() {
    let text = edit(
        "[gic]",
        "[[ram]]\nbase = 0x0800_0000\nsize = 0x1_0000\n[gic]",
    );
    let msg = "the GIC distributor (0x0800_0000..0x0801_0000) overlaps RAM";
    one(&text, 14, 24, msg, "RAM bank: 0x0800_0000..0x0801_0000");
}

#[test]
fn a_device_over_the_gic_is_refused() {
    let msg = "`dev0` (0x080a_0000..0x080a_1000) overlaps the GIC redistributor region \
               (0x080a_0000..0x080e_0000)";
    one(
        &edit("base = 0x0a00_0000", "base = 0x080a_0000"),
        25,
        8,
        msg,
        "fix the base or size of one of them",
    );
}

#[test]
fn a_device_on_the_console_uarts_interrupt_is_refused() {
    let msg = "INTID 33 of `dev0` is also the interrupt of `uart0`";
    let hint = "`uart0` can be the hypervisor's console, whose interrupt is the shell's input; \
                give `dev0` the INTID its device tree node has";
    one(&edit("irqs = [48]", "irqs = [33]"), 29, 9, msg, hint);
}

#[test]
fn two_devices_on_one_interrupt_are_refused() {
    let text = format!(
        "{TINY}[[device]]\nname = \"dev1\"\ncompatible = \"x\"\nbase = 0x0a00_1000\n\
         size = 0x1000\nirqs = [48]\ndma = false\n"
    );
    let msg = "INTID 48 of `dev1` is also the interrupt of `dev0`";
    let hint = "rtvisor routes an INTID to one owner (a device's to the VM that has it); fix the \
                irqs of one of them";
    one(&text, 36, 9, msg, hint);
}

#[test]
fn the_timers_the_hypervisor_drives_are_at_their_bsa_intids() {
    let msg = "virtual timer INTID 28 is not INTID 27, the one the hypervisor drives";
    let hint = "rtvisor uses INTID 27 (PPI 11) for the virtual timer, as the Arm BSA assigns it: \
                write `virtual-intid = 27` if the board's device tree agrees; otherwise this \
                build cannot drive the board (the INTID is set in \
                crates/config/src/contract/aarch64.rs)";
    one(
        &edit("virtual-intid = 27", "virtual-intid = 28"),
        16,
        17,
        msg,
        hint,
    );
    one(
        &edit("physical-intid = 30", "physical-intid = 29"),
        15,
        18,
        "physical timer INTID 29 is also the secure physical timer's",
        "each timer has its own PPI; QEMU virt uses 29, 30, 27 and 26",
    );
}

#[test]
fn the_physical_timer_is_at_its_bsa_intid() {
    let msg = "physical timer INTID 31 is not INTID 30, the one the hypervisor drives";
    let hint = "rtvisor uses INTID 30 (PPI 14) for the physical timer, as the Arm BSA assigns \
                it: write `physical-intid = 30` if the board's device tree agrees; otherwise \
                this build cannot drive the board (the INTID is set in \
                crates/config/src/contract/aarch64.rs)";
    one(
        &edit("physical-intid = 30", "physical-intid = 31"),
        15,
        18,
        msg,
        hint,
    );
}

#[test]
fn the_first_ram_bank_is_2mib_aligned() {
    let msg = "the first RAM bank starts at 0x4010_0000, which is not 2 MiB aligned";
    let hint = "the hypervisor is loaded 2 MiB above the 2 MiB aligned start of the first bank \
                (arm64 Image booting) and linked there; list first a bank that starts on a 2 \
                MiB boundary";
    one(
        &edit("base = 0x4000_0000", "base = 0x4010_0000"),
        7,
        8,
        msg,
        hint,
    );
}

#[test]
fn more_ram_banks_than_the_hypervisor_reads_are_refused() {
    let banks: String = (0..9)
        .map(|i| {
            format!(
                "[[ram]]\nbase = {:#x}\nsize = \"1GiB\"\n",
                0x4000_0000u64 << i
            )
        })
        .collect();
    let text = edit("[[ram]]\nbase = 0x4000_0000\nsize = \"1GiB\"\n", &banks);
    let msg = "board `tiny` has 9 RAM banks; rtvisor reads at most 8";
    let hint = "a machine with more memory ranges does not boot this build; merge adjacent \
                banks, or raise MAX_RAM_BANKS in crates/config/src/contract/mod.rs";
    one(&text, 31, 8, msg, hint);
}
