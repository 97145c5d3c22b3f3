//! T0: what a VM's machine looks like beyond its memory map: where each kind of image
//! and its device tree go (QEMU's `-kernel` rules, the content deciding), the warning
//! for a declared format that the content contradicts, and the virtual counter's
//! offset.

mod support;

use rtvisor_config::tables::CounterOffset;
use support::{errors, fake_elf, fake_linux_image, rules_tree, scenario, vm, warnings, Tree};

fn plan(t: &Tree, s: &str) -> rtvisor_config::Plan {
    let path = t.write("s.toml", s);
    match rtvisor_config::check(&path) {
        Ok(p) => p,
        Err(d) => panic!("unexpected errors: {:#?}", d.0),
    }
}

#[test]
fn the_virtual_counter_offset_is_zero_unless_asked() {
    let t = rules_tree();
    let mem = "{ size = \"16MiB\" }";
    let s = scenario(&[
        vm("a", "general", "[1]", mem, ""),
        vm(
            "b",
            "general",
            "[2]",
            mem,
            "counter-offset = \"vm-start\"\n",
        ),
    ]);
    let p = plan(&t, &s);
    assert_eq!(p.vms[0].counter_offset, CounterOffset::Zero);
    assert_eq!(p.vms[1].counter_offset, CounterOffset::VmStart);
    let map = p.map();
    assert_eq!(
        map.matches("counter  virtual = physical - the count at each VM start")
            .count(),
        1,
        "{map}"
    );
}

/// A VM of 16 MiB on CPU `cpu` booting `file` with no `format`.
fn auto(name: &str, cpu: u32, file: &str, extra: &str) -> String {
    vm(
        name,
        "general",
        &format!("[{cpu}]"),
        "{ size = \"16MiB\" }",
        extra,
    )
    .replace(
        "kernel = { path = \"k.bin\", format = \"raw\" }",
        &format!("kernel = {{ path = \"{file}\" }}"),
    )
}

#[test]
fn the_content_decides_where_each_kind_goes() {
    let t = rules_tree();
    t.write("Image", fake_linux_image(0, 0x10_0000, 4096));
    t.write("g.elf", fake_elf(0x4010_0000, 0x4010_0000));
    let s = scenario(&[
        auto("img", 1, "Image", ""),
        auto("elf", 2, "g.elf", ""),
        auto("bin", 3, "k.bin", ""),
    ]);
    let p = plan(&t, &s);
    let got: Vec<(u64, u64, u64)> = p
        .vms
        .iter()
        .map(|v| (v.kernel.load.raw(), v.entry.raw(), v.dtb_ipa.raw()))
        .collect();
    assert_eq!(
        got,
        [
            // Image: RAM + 2 MiB + text_offset, device tree at RAM + 8 MiB (half of RAM).
            (0x4020_0000, 0x4020_0000, 0x4080_0000),
            // ELF at its address, device tree at the start of RAM.
            (0x4010_0000, 0x4010_0000, 0x4000_0000),
            // Headerless at RAM + 0x8_0000, device tree like an Image's.
            (0x4008_0000, 0x4008_0000, 0x4080_0000),
        ]
    );
    assert_eq!(warnings(&t, &s), vec![]);
    assert!(
        p.map().contains("entry 0x4020_0000, arm64 Image, from"),
        "{}",
        p.map()
    );
}

#[test]
fn a_declared_format_the_content_contradicts_is_warned_about() {
    let t = rules_tree();
    t.write("Image", fake_linux_image(0, 0x10_0000, 4096));
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")])
        .replace("\"k.bin\"", "\"Image\"");
    let msg = "kernel image `Image` of VM `a` carries the arm64 Image header, but format = \
               \"raw\" loads it at RAM + 0x8_0000 as a headerless binary; QEMU -kernel would \
               place it per its header";
    let hint = "drop `format` (or say \"auto\" or \"linux-image\") to place it as QEMU does";
    assert_eq!(
        warnings(&t, &s),
        vec![("s.toml".into(), 9, 37, msg.into(), hint.into())]
    );
    // Followed as declared.
    assert_eq!(plan(&t, &s).vms[0].kernel.load.raw(), 0x4008_0000);
}

#[test]
fn dtb_ipa_overrides_and_is_checked() {
    let t = rules_tree();
    let at = |ipa: &str| scenario(&[auto("a", 1, "k.bin", &format!("dtb-ipa = {ipa}\n"))]);
    assert_eq!(
        plan(&t, &at("0x4000_0000")).vms[0].dtb_ipa.raw(),
        0x4000_0000
    );
    let bad = |ipa: &str| {
        let e = errors(&t, &at(ipa));
        assert_eq!(e.len(), 1, "{e:#?}");
        (e[0].1, e[0].3.clone())
    };
    assert_eq!(
        bad("0x4008_0010"),
        (
            10,
            "dtb-ipa 0x4008_0010 of VM `a` is inside the kernel image or initrd \
             (0x4008_0000..0x4008_0bb8)"
                .into()
        )
    );
    assert_eq!(
        bad("0x5000_0000"),
        (
            10,
            "dtb-ipa 0x5000_0000 of VM `a` is outside the VM's RAM (0x4000_0000..0x4100_0000)"
                .into()
        )
    );
    // A device tree larger than the room before the image.
    let e = errors(&t, &at("0x4007_ff00"));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].3.contains("is larger than its 256 bytes slot"),
        "{e:#?}"
    );
}

#[test]
fn flash_banks_start_from_files_and_show_in_the_device_tree() {
    let t = rules_tree();
    t.write("env.bin", b"bootcmd=boot\0\0".as_slice());
    let s = scenario(&[auto("a", 1, "k.bin", "flash = { bank1 = \"env.bin\" }\n")]);
    let p = plan(&t, &s);
    let bank1 = p.vms[0].flash[1].as_ref().expect("bank 1 has an image");
    assert_eq!((bank1.load.raw(), bank1.bytes.len()), (0x0400_0000, 14));
    assert!(p.vms[0].flash[0].is_none());
    assert!(
        p.map()
            .contains("  flash    bank 1 IPA 0x0400_0000..0x0400_000e (14 bytes), from"),
        "{}",
        p.map()
    );
    let dtb = &p.vms[0].dtb;
    let fdt_has = |needle: &[u8]| dtb.windows(needle.len()).any(|w| w == needle);
    assert!(fdt_has(b"flash@0\0"), "a flash node");
    assert!(fdt_has(b"cfi-flash\0"));
    // Missing, and larger than a bank.
    let s = scenario(&[auto("a", 1, "k.bin", "flash = { bank0 = \"nope.bin\" }\n")]);
    let e = errors(&t, &s);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        (e[0].1, e[0].3.as_str()),
        (
            10,
            "flash bank0 image `nope.bin` of VM `a` cannot be read: it is not a file"
        )
    );
    let big = std::fs::File::create(t.path("big.bin")).unwrap();
    big.set_len((64 << 20) + 1).unwrap();
    let s = scenario(&[auto("a", 1, "k.bin", "flash = { bank0 = \"big.bin\" }\n")]);
    let e = errors(&t, &s);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].3.contains("is larger than the bank (64 MiB)"),
        "{e:#?}"
    );
    let s = scenario(&[auto("a", 1, "k.bin", "flash = { bank2 = \"env.bin\" }\n")]);
    assert!(errors(&t, &s)[0].3.contains("unknown key `bank2`"));
}
