//! T0: a scenario on an x86_64 board: the keys only aarch64 has (or values only it
//! takes) are refused at the key, LAPIC pass-through is accepted with a warning, and
//! the x86 limits (RAM below the hole, the command line, device GSIs, the 32-bit map)
//! and image rules (a PVH ELF at or above 1 MiB) hold.

mod support;

use rtvisor_config::image_x86::{place, pvh_entry};
use rtvisor_config::schema::FormatSpec;
use support::{errors, fake_elf, fake_pvh_elf, repo, warnings, Flat, Tree};

/// The q35 board as `board.toml` (with `extra` appended) and a PVH guest `k.elf`.
fn tree(extra: &str) -> Tree {
    let t = Tree::new("arch-scenario");
    let board = std::fs::read_to_string(repo().join("boards/qemu-q35-x86_64.toml")).unwrap();
    t.write("board.toml", board + extra);
    t.write("k.elf", fake_pvh_elf(0x10_0000, 4096, 0x10_0010, 4));
    t
}

/// A scenario of one VM `a` on CPU 1 with `extra` lines in its table.
fn one_vm(memory: &str, kernel: &str, extra: &str) -> String {
    format!(
        "board = \"board.toml\"\n[hypervisor]\nconsole = \"com1\"\n[[vm]]\nname = \"a\"\n\
         kind = \"rt\"\ncpus = [1]\nmemory = {memory}\nkernel = {kernel}\n{extra}"
    )
}

const ELF: &str = "{ path = \"k.elf\", format = \"elf\" }";

/// Line and column (1-based) of the first `needle` in `text`.
fn at(text: &str, needle: &str) -> (usize, usize) {
    let off = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    let line = text[..off].matches('\n').count() + 1;
    (line, off - text[..off].rfind('\n').map_or(0, |n| n + 1) + 1)
}

#[track_caller]
fn only_at(t: &Tree, s: &str, needle: &str, message: &str, hint: &str) {
    let (line, col) = at(s, needle);
    let want: Flat = ("s.toml".into(), line, col, message.into(), hint.into());
    assert_eq!(errors(t, s), vec![want]);
}

#[test]
fn a_plain_x86_vm_checks() {
    let t = tree("");
    let s = one_vm("{ size = \"16MiB\" }", ELF, "");
    assert_eq!(errors(&t, &s), vec![]);
    assert_eq!(warnings(&t, &s), vec![]);
    let plan = rtvisor_config::check(&t.path("s.toml")).unwrap();
    let vm = &plan.vms[0];
    assert_eq!((vm.ram.ipa.raw(), vm.entry.raw()), (0, 0x10_0010));
    assert_eq!(vm.dtb_ipa.raw(), 0xe_0000);
    assert_eq!(vm.uart.raw(), 0x3f8);
}

/// An x86_64 VM may run on the boot CPU, as on aarch64; a CPU past the board's is
/// still refused at the CPU.
#[test]
fn an_x86_vm_may_run_on_the_boot_cpu() {
    let t = tree("");
    let s = one_vm("{ size = \"16MiB\" }", ELF, "").replace("cpus = [1]", "cpus = [2, 0]");
    assert_eq!(errors(&t, &s), vec![]);
    let plan = rtvisor_config::check(&t.path("s.toml")).unwrap();
    assert_eq!(plan.vms[0].cpus, [2, 0]);
    let s = one_vm("{ size = \"16MiB\" }", ELF, "").replace("cpus = [1]", "cpus = [0, 4]");
    only_at(
        &t,
        &s,
        "4]",
        "CPU 4 of VM `a` is not on board `qemu-q35-x86_64`",
        "board `qemu-q35-x86_64` has CPUs 0 to 3 (positions in its [[cpu]] list)",
    );
}

#[test]
fn aarch64_only_keys_are_refused_at_the_key() {
    let t = tree("");
    let s = one_vm(
        "{ size = \"16MiB\" }",
        ELF,
        "interrupt-mode = \"direct\"\ndirect-trust = \"trusted\"\n",
    );
    let (line, col) = at(&s, "direct-trust");
    let all = errors(&t, &s);
    assert_eq!(
        all,
        [(
            "s.toml".into(),
            line,
            col,
            "`direct-trust` is trust in a guest with the physical GIC CPU interface, but \
             board `qemu-q35-x86_64` is x86_64"
                .into(),
            "on x86_64, interrupt-mode = \"direct\" is LAPIC pass-through, whose trust rules \
             are not defined yet; remove direct-trust"
                .into()
        )]
    );
    // Refused, it is not also warned about as trust in a GIC CPU interface.
    let gic: Vec<Flat> = warnings(&t, &s)
        .into_iter()
        .filter(|w| w.3.contains("GIC") || w.4.contains("ICC_"))
        .collect();
    assert_eq!(gic, vec![]);
    let t2 = tree("");
    t2.write("Image", support::fake_linux_image(0, 1 << 20, 4096));
    let s = one_vm(
        "{ size = \"16MiB\" }",
        "{ path = \"Image\", format = \"linux-image\" }",
        "",
    );
    only_at(
        &t2,
        &s,
        "format",
        "format = \"linux-image\" (the arm64 Linux Image) of VM `a`, but board \
         `qemu-q35-x86_64` is x86_64",
        "x86_64 takes format = \"elf\": a PVH ELF (Linux's vmlinux, or a guest with the \
         XEN_ELFNOTE_PHYS32_ENTRY note; bzImage comes later), or \"raw\", loaded and entered \
         at 0x10_0000",
    );
    // The device tree's place and QEMU virt's flash are aarch64's.
    let s = one_vm("{ size = \"16MiB\" }", ELF, "dtb-ipa = 0x7\n");
    only_at(
        &t,
        &s,
        "dtb-ipa",
        "`dtb-ipa` places VM `a`'s device tree, but board `qemu-q35-x86_64` is x86_64: an \
         x86_64 VM gets ACPI tables and a PVH start info at fixed addresses instead",
        "remove dtb-ipa (docs/scenario.md, \"The generated ACPI tables and PVH start info\")",
    );
    t.write("bank0.img", vec![0u8; 4096]);
    let s = one_vm(
        "{ size = \"16MiB\" }",
        ELF,
        "flash = { bank0 = \"bank0.img\" }\n",
    );
    only_at(
        &t,
        &s,
        "flash",
        "`flash` gives VM `a` QEMU virt's CFI flash banks, but board `qemu-q35-x86_64` is \
         x86_64, whose VMs have no flash",
        "remove flash; an x86_64 VM boots its kernel (format = \"elf\") directly",
    );
    // identity = false says the default.
    let s = one_vm("{ size = \"16MiB\", identity = false }", ELF, "");
    assert_eq!(errors(&t, &s), vec![]);
    let s = one_vm(
        "{ size = \"16MiB\" }",
        ELF,
        "devices = [\"virtio-mmio@0a003e00\"]\n",
    );
    only_at(
        &t,
        &s,
        "\"virtio-mmio",
        "device `virtio-mmio@0a003e00` is not on board `qemu-q35-x86_64`",
        "virtio-mmio transports are devices of an aarch64 board (QEMU `virt`); this board is \
         x86_64, whose VMs are given PCI functions instead: devices = [\"BRIDGE/BB:DD.F\"] \
         (docs/x86.md, \"PCI pass-through\")",
    );
    let s = one_vm("{ size = \"16MiB\" }", ELF, "")
        + "[[qemu-device]]\ntransport = \"virtio-mmio@0a003e00\"\nkind = \"virtio-net\"\n";
    only_at(
        &t,
        &s,
        "\"virtio-mmio@0a003e00\"\nkind",
        "`virtio-mmio@0a003e00` is not a function of a PCIe host bridge of board \
         `qemu-q35-x86_64`",
        "on x86_64 QEMU devices are functions of the board's host bridge, named as `devices` \
         names them (for example `pcie@b0000000/00:03.0`)",
    );
}

#[test]
fn lapic_pass_through_is_accepted_with_a_warning() {
    let t = tree("");
    let s = one_vm("{ size = \"16MiB\" }", ELF, "interrupt-mode = \"direct\"\n");
    assert_eq!(errors(&t, &s), vec![]);
    let (line, col) = at(&s, "interrupt-mode");
    assert_eq!(
        warnings(&t, &s),
        [(
            "s.toml".into(),
            line,
            col,
            "on x86_64, interrupt-mode = \"direct\" is LAPIC pass-through: VM `a` uses its \
             cores' physical local APICs and TSC-deadline timers"
                .into(),
            "the hypervisor keeps the ICR (IPIs go to the VM's own cores only), \
             IA32_APIC_BASE, and the NMI and INIT that take a core back whatever the guest \
             masks; the VM's emulated devices (COM1, doorbells) interrupt its cores as \
             physical fixed IPIs, routed by its I/O APIC, CPU 0 watches its watchdog, and on \
             AMD-V each write to its xAPIC page is an exit"
                .into()
        )]
    );
    // The same scenario on aarch64 has no such warning (its own rules apply).
    let a = support::rules_tree();
    let s = support::scenario(&[support::vm(
        "a",
        "rt",
        "[1]",
        "{ size = \"16MiB\" }",
        "interrupt-mode = \"direct\"\n",
    )]);
    assert_eq!(warnings(&a, &s), vec![]);
}

#[test]
fn x86_limits() {
    let t = tree("");
    let s = one_vm("{ size = \"4GiB\" }", ELF, "");
    only_at(
        &t,
        &s,
        "\"4GiB\"",
        "VM `a` has 4 GiB of RAM; an x86_64 VM has at most 3 GiB",
        "its RAM runs from guest-physical 0 to below the 32-bit hole at 0xc000_0000 (shared \
         memory, the APICs); give it at most \"3GiB\"",
    );
    let long = "x".repeat(2048);
    let s = one_vm(
        "{ size = \"16MiB\" }",
        ELF,
        &format!("bootargs = \"{long}\"\n"),
    );
    only_at(
        &t,
        &s,
        "\"xxx",
        "bootargs of VM `a` are 2048 bytes long; at most 2047",
        "Linux on x86 reads at most 2047 bytes of command line; shorten it",
    );
    let devices = "\n[[device]]\nname = \"dev@fe000000\"\ncompatible = \"x,y\"\n\
                   base = 0xfe00_0000\nsize = 0x1000\nirqs = [40]\ndma = false\n\
                   \n[[device]]\nname = \"high@100000000\"\ncompatible = \"x,y\"\n\
                   base = 0x1_0000_0000\nsize = 0x1000\ndma = false\n";
    let t = tree(devices);
    let s = one_vm(
        "{ size = \"16MiB\" }",
        ELF,
        "devices = [\"dev@fe000000\", \"high@100000000\"]\n",
    );
    let all = errors(&t, &s);
    let msgs: Vec<&str> = all.iter().map(|e| e.3.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "GSI 40 of device `dev@fe000000` is beyond the device GSIs of VM `a`'s I/O APIC \
             (below 32)",
            "device `high@100000000` (0x1_0000_0000..0x1_0000_1000) is above the 4 GiB \
             guest map of VM `a`"
        ]
    );
    assert_eq!(
        all[0].4,
        "GSIs 32 and up are the shared-memory doorbells; the guest would never see this \
         interrupt (DEVICE_GSIS in crates/config/src/contract/x86_64.rs)"
    );
    // The hypervisor's memory starts at GRUB's load address, in the first bank.
    let t = tree("");
    let s = one_vm("{ size = \"16MiB\" }", ELF, "").replace(
        "console = \"com1\"\n",
        "console = \"com1\"\nmemory = { size = \"2GiB\" }\n",
    );
    let all = errors(&t, &s);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        all[0].3,
        "hypervisor memory (0x0020_0000..0x8020_0000) is not inside the first RAM bank"
    );
    assert_eq!(
        all[0].4,
        "it starts at 0x0020_0000, where GRUB loads it, in the first RAM bank \
         (0x0010_0000..0x7ffe_0000); make it smaller"
    );
}

#[test]
fn shared_memory_lands_in_the_x86_window_with_gsi_doorbells() {
    let t = tree("");
    let s = format!(
        "{}[[vm]]\nname = \"b\"\nkind = \"general\"\ncpus = [2]\nmemory = {{ size = \"16MiB\" }}\n\
         kernel = {ELF}\n[[shared-memory]]\nname = \"s\"\nsize = \"8KiB\"\n\
         peers = [{{ vm = \"a\", access = \"rw\" }}, {{ vm = \"b\", access = \"ro\" }}]\n",
        one_vm("{ size = \"16MiB\" }", ELF, "")
    );
    t.write("s.toml", &s);
    let plan = rtvisor_config::check(&t.path("s.toml")).unwrap_or_else(|d| panic!("{d}"));
    for vm in &plan.vms {
        assert_eq!(vm.shared[0].ipa.raw(), 0xc000_0000, "{}", vm.name);
        assert_eq!(vm.shared[0].doorbell, 47);
    }
}

#[test]
fn x86_images() {
    let ram = 16 << 20;
    let elf = fake_pvh_elf(0x10_0000, 4096, 0x10_0200, 8);
    assert_eq!(pvh_entry(&elf), Ok(Some(0x10_0200)));
    let p = place(FormatSpec::Elf, elf, 0, ram).unwrap();
    assert_eq!((p.load, p.entry, p.end), (0x10_0000, 0x10_0200, 0x10_1000));
    let raw = place(FormatSpec::Raw, vec![0x90; 100], 0, ram).unwrap();
    assert_eq!((raw.load, raw.entry), (0x10_0000, 0x10_0000));

    let refused = |format, file: Vec<u8>| place(format, file, 0, ram).unwrap_err().message;
    // An aarch64 ELF (the generic test ELF) is for another machine.
    assert_eq!(
        refused(FormatSpec::Elf, fake_elf(0x10_0000, 0x10_0000)),
        "is an ELF file for machine 183, not x86-64 (62)"
    );
    // Below 1 MiB are the boot data and the ACPI tables.
    assert_eq!(
        refused(FormatSpec::Elf, fake_pvh_elf(0x8_0000, 4096, 0x8_0000, 4)),
        "has a segment at 0x0008_0000..0x0008_1000, outside the VM's RAM above 1 MiB \
         (0x0010_0000..0x0100_0000)"
    );
    // No PVH note: no entry point (a PT_NOTE of another kind is skipped).
    let mut no_note = fake_pvh_elf(0x10_0000, 4096, 0x10_0000, 4);
    let kind_at = 64 + 2 * 56 + 8;
    no_note[kind_at] = 17;
    assert_eq!(pvh_entry(&no_note), Ok(None));
    assert_eq!(
        refused(FormatSpec::Elf, no_note),
        "has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE segment)"
    );
    assert_eq!(
        refused(FormatSpec::Elf, fake_pvh_elf(0x10_0000, 4096, 0x20_0000, 4)),
        "has its PVH entry point 0x0020_0000 in no loadable segment"
    );
    let mut short = fake_pvh_elf(0x10_0000, 4096, 0x10_0000, 4);
    short[64 + 2 * 56 + 4] = 100; // the note's descriptor runs past its segment
    assert!(pvh_entry(&short).is_err());
    assert!(
        refused(FormatSpec::Raw, fake_pvh_elf(0x10_0000, 16, 0x10_0000, 4))
            .starts_with("is an ELF file")
    );
    assert!(
        refused(FormatSpec::Raw, vec![0; (16 << 20) - 0x10_0000 + 1])
            .starts_with("does not fit in the VM's RAM")
    );
}
