//! T0: one test per rule on passed-through devices and on image placement, each
//! asserting the exact message, hint and location. Line map as in rules_vms.rs; the
//! `devices` line of a VM is its 7th (line 10 for the first VM, 17 for the second).

mod support;

use support::{assert_one, errors, fake_elf as elf, fake_linux_image, rules_tree, scenario, vm};

const ID16: &str = "{ size = \"16MiB\", identity = true }";
const DEV0: &str = "virtio-mmio@0a000000";

fn with_devices(name: &str, cpus: &str, memory: &str, devices: &[&str]) -> String {
    let list: Vec<String> = devices.iter().map(|d| format!("\"{d}\"")).collect();
    vm(
        name,
        "general",
        cpus,
        memory,
        &format!("devices = [{}]\n", list.join(", ")),
    )
}

#[test]
fn device_must_be_on_the_board() {
    let t = rules_tree();
    let s = scenario(&[with_devices("a", "[1]", ID16, &["virtio-mmio@0a00000"])]);
    let msg = "device `virtio-mmio@0a00000` is not on board `qemu-virt-aarch64`";
    assert_one(&t, &s, 10, 12, msg, "did you mean `virtio-mmio@0a000000`?");
}

#[test]
fn a_uart_is_not_a_passthrough_device() {
    let t = rules_tree();
    let s = scenario(&[with_devices("a", "[1]", ID16, &["uart0"])]);
    let hint = "`uart0` is a UART: the hypervisor owns UARTs and gives each VM an emulated PL011";
    assert_one(
        &t,
        &s,
        10,
        12,
        "device `uart0` is not on board `qemu-virt-aarch64`",
        hint,
    );
}

#[test]
fn device_listed_twice_in_one_vm() {
    let t = rules_tree();
    let s = scenario(&[with_devices("a", "[1]", ID16, &[DEV0, DEV0])]);
    assert_one(
        &t,
        &s,
        10,
        36,
        "device `virtio-mmio@0a000000` is listed twice in VM `a`",
        "remove one of them",
    );
}

#[test]
fn device_given_to_two_vms() {
    let t = rules_tree();
    let a = with_devices("a", "[1]", ID16, &[DEV0]);
    let b = with_devices("b", "[2]", ID16, &[DEV0]);
    let msg = "device `virtio-mmio@0a000000` is given to both VM `a` and VM `b`";
    assert_one(
        &t,
        &scenario(&[a, b]),
        17,
        12,
        msg,
        "a device belongs to one VM; remove it from one of them",
    );
}

#[test]
fn dma_device_needs_an_identity_mapped_vm() {
    let t = rules_tree();
    let s = scenario(&[with_devices("a", "[1]", "{ size = \"16MiB\" }", &[DEV0])]);
    let msg = "device `virtio-mmio@0a000000` can do DMA but VM `a` is not identity-mapped";
    let hint = "without an IOMMU the device uses host addresses; set memory = { ..., identity = true } in VM `a`";
    assert_one(&t, &s, 10, 12, msg, hint);
}

#[test]
fn devices_of_two_vms_must_not_share_a_page() {
    let t = rules_tree();
    let a = with_devices("a", "[1]", ID16, &[DEV0]);
    let b = with_devices("b", "[2]", ID16, &["virtio-mmio@0a000200"]);
    let msg = "device `virtio-mmio@0a000200` of VM `b` shares the 4 KiB page 0x0a00_0000 \
               with device `virtio-mmio@0a000000` of VM `a`";
    let hint = "stage-2 maps whole pages, so each VM could reach both devices; \
                give them to the same VM or use devices in other pages";
    assert_one(&t, &scenario(&[a, b]), 17, 12, msg, hint);
    let b = with_devices("b", "[2]", ID16, &["virtio-mmio@0a001000"]);
    let a = with_devices("a", "[1]", ID16, &[DEV0, "virtio-mmio@0a000200"]);
    assert_eq!(
        errors(&t, &scenario(&[a, b])),
        vec![],
        "same VM, or another page, is fine"
    );
}

#[test]
fn an_interrupt_belongs_to_one_vm() {
    let t = rules_tree();
    let extra = "\n[[device]]\nname = \"extra\"\ncompatible = \"x,y\"\nbase = 0x0a10_0000\nsize = 0x1000\nirqs = [48]\ndma = false\n";
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap() + extra;
    t.write("board.toml", &board);
    let a = with_devices("a", "[1]", ID16, &[DEV0]);
    let b = with_devices("b", "[2]", "{ size = \"16MiB\" }", &["extra"]);
    // Two devices on one line cannot be given to two VMs: the board is refused.
    let msg = "INTID 48 of `extra` is also the interrupt of `virtio-mmio@0a000000`";
    let hint = "rtvisor routes an INTID to one owner (a device's to the VM that has it); fix the \
                irqs of one of them";
    let at = board.lines().count() - 1;
    assert_eq!(
        errors(&t, &scenario(&[a, b])),
        vec![("board.toml".into(), at, 9, msg.into(), hint.into())]
    );
}

#[test]
fn raw_image_must_fit_in_ram() {
    let t = rules_tree();
    t.write("big.bin", vec![1u8; 0x20_0000]);
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"2MiB\" }", "")])
        .replace("k.bin", "big.bin");
    let msg = "kernel image `big.bin` of VM `a` does not fit in the VM's RAM: it spans \
               0x4008_0000..0x4028_0000, past the end of RAM at 0x4020_0000";
    assert_one(&t, &s, 9, 19, msg, "give the VM at least 4 MiB of memory");
}

#[test]
fn elf_segments_must_lie_in_guest_ram() {
    let t = rules_tree();
    t.write("k.elf", elf(0x8_0000, 0x8_0000));
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")])
        .replace("\"k.bin\", format = \"raw\"", "\"k.elf\", format = \"elf\"");
    let msg = "kernel image `k.elf` of VM `a` has a segment at 0x0008_0000..0x0008_0010, \
               outside the VM's RAM (0x4000_0000..0x4100_0000)";
    let hint =
        "link the guest for its guest-physical RAM at 0x4000_0000 (or give the VM more memory)";
    assert_one(&t, &s, 9, 19, msg, hint);
    t.write("k.elf", elf(0x4010_0000, 0x4010_0004));
    assert_eq!(errors(&t, &s), vec![]);
}

#[test]
fn linux_image_needs_its_magic() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")])
        .replace("format = \"raw\"", "format = \"linux-image\"");
    let msg = "kernel image `k.bin` of VM `a` is not an arm64 Linux Image (no \"ARM\\x64\" magic at byte 56)";
    let hint =
        "use the uncompressed arch/arm64/boot/Image, or drop `format` to let the content decide";
    assert_one(&t, &s, 9, 19, msg, hint);
}

#[test]
fn linux_image_leaves_room_for_the_device_tree_after_it() {
    let t = rules_tree();
    t.write("Image", fake_linux_image(0, 0x10_0000, 4096));
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"4MiB\" }", "")]).replace(
        "\"k.bin\", format = \"raw\"",
        "\"Image\", format = \"linux-image\"",
    );
    let msg = "kernel image `Image` of VM `a` leaves no room for the device tree, which QEMU's \
               rules put at 0x4040_0000 (RAM ends at 0x4040_0000)";
    let hint = "give the VM at least 6 MiB of memory, or place it with `dtb-ipa`";
    assert_one(&t, &s, 9, 19, msg, hint);
    let s = s
        .replace("initrd", "x")
        .replace("kernel = {", "dtb-ipa = 0x4000_0000\nkernel = {");
    assert_eq!(errors(&t, &s), vec![], "dtb-ipa puts it below the Image");
}

#[test]
fn initrd_must_fit_after_the_kernel() {
    let t = rules_tree();
    t.write("initrd", vec![7u8; 0x40_0000]);
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"4MiB\" }",
        "initrd = \"initrd\"\n",
    )]);
    let msg = "initrd `initrd` of VM `a` (4 MiB) does not fit in its RAM at 0x4020_0000 \
               (free: 0x4020_0000..0x4040_0000)";
    assert_one(&t, &s, 10, 10, msg, "give the VM at least 6 MiB of memory");
}
