//! T1: a scenario that uses every feature (ELF and Linux images, initrd, fixed base,
//! identity mapping, passthrough devices, direct mode, restart policies, log level,
//! shared memory with automatic and fixed host and guest addresses):
//! goldens of its device trees, map and tables, and the fixture that `compiled.rs`
//! builds to prove the generated tables compile against `tables`.

mod support;

use rtvisor_config::fingerprint::{fnv1a64_extend, FNV1A64_INIT};
use rtvisor_config::{check, codegen, Plan};
use std::path::Path;
use support::{dtdump, fake_image, fake_linux_image, golden, repo, Tree};

const SCENARIO: &str = r#"board = "../boards/qemu-virt-aarch64.toml"

[hypervisor]
console = "uart0"
log-level = "debug"
memory = { size = "16MiB" }

[[vm]]
name = "rt"
kind = "rt"
cpus = [3]
memory = { size = "8MiB", base = 0x6000_0000 }
kernel = { path = "guests/rt.elf", format = "elf" }
interrupt-mode = "direct"
restart = "on-crash"

[[vm]]
name = "linux"
kind = "general"
cpus = [1, 2]
memory = { size = "256MiB", identity = true }
kernel = { path = "guests/Image", format = "linux-image" }
initrd = "guests/initrd.cpio"
bootargs = "console=ttyAMA0 earlycon"
console = "uart0"
devices = ["virtio-mmio@0a003e00", "virtio-mmio@0a003c00"]
restart = "always"

[[shared-memory]]
name = "stats"
size = "64KiB"
peers = [{ vm = "rt", access = "rw" }, { vm = "linux", access = "ro" }]

[[shared-memory]]
name = "bulk"
size = "2MiB"
base = 0x7000_0000
peers = [
    { vm = "linux", access = "rw", ipa = 0x2000_0000 },
    { vm = "rt", access = "ro" },
]
"#;

/// An ELF linked for guest RAM: code at 0x4008_0000, data + .bss at 0x4009_0000.
fn rt_elf() -> Vec<u8> {
    let code = fake_image(b"code", 256);
    let data = fake_image(b"data", 64);
    let mut f = vec![0u8; 64 + 2 * 56];
    f[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    f[0x12..0x14].copy_from_slice(&183u16.to_le_bytes());
    f[0x18..0x20].copy_from_slice(&0x4008_0000u64.to_le_bytes());
    f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
    let segs = [
        (176u64, 0x4008_0000u64, 256u64, 256u64),
        (432, 0x4009_0000, 64, 0x100),
    ];
    for (i, (off, addr, filesz, memsz)) in segs.iter().enumerate() {
        let ph = 64 + 56 * i;
        f[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        for (k, v) in [off, addr, addr, filesz, memsz].iter().enumerate() {
            f[ph + 8 + 8 * k..ph + 16 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
    }
    f.extend_from_slice(&code);
    f.extend_from_slice(&data);
    f
}

fn plan() -> (Tree, Plan) {
    let t = Tree::new("full");
    t.write(
        "boards/qemu-virt-aarch64.toml",
        std::fs::read(repo().join("boards/qemu-virt-aarch64.toml")).unwrap(),
    );
    t.write("full/guests/rt.elf", rt_elf());
    t.write("full/guests/Image", fake_linux_image(0, 0x20_0000, 8192));
    t.write("full/guests/initrd.cpio", fake_image(b"070701", 5000));
    let path = t.write("full/scenario.toml", SCENARIO);
    let plan = check(&path).unwrap_or_else(|d| panic!("{d}"));
    (t, plan)
}

#[test]
fn full_scenario_layout() {
    let (_t, plan) = plan();
    let rt = &plan.vms[0];
    assert_eq!(
        (rt.ram.ipa.raw(), rt.ram.hpa.raw()),
        (0x4000_0000, 0x6000_0000)
    );
    assert_eq!(
        (rt.kernel.load.raw(), rt.entry.raw()),
        (0x4008_0000, 0x4008_0000)
    );
    assert_eq!(
        rt.kernel.bytes.len(),
        0x1_0100,
        "code, gap, data and .bss flattened"
    );
    assert_eq!(
        rt.dtb_ipa.raw(),
        0x4000_0000,
        "the ELF leaves the start of RAM free"
    );
    let linux = &plan.vms[1];
    assert_eq!(
        (linux.ram.ipa.raw(), linux.ram.hpa.raw()),
        (0x4120_0000, 0x4120_0000),
        "identity, first fit"
    );
    assert_eq!(
        linux.entry.raw(),
        0x4140_0000,
        "text_offset 0: 2 MiB up, as QEMU does"
    );
    assert_eq!(
        linux.initrd.as_ref().unwrap().load.raw(),
        0x4920_0000,
        "at RAM + 128 MiB, as QEMU does"
    );
    assert_eq!(
        linux.dtb_ipa.raw(),
        0x4940_0000,
        "the next 2 MiB boundary after the initrd"
    );
    assert_eq!(linux.devices[0].page_base.raw(), 0x0a00_3000);
    assert_eq!(linux.devices[0].page_size, 0x1000);
}

#[test]
fn full_scenario_shared_memory() {
    let (_t, plan) = plan();
    let regions: Vec<(&str, u64, u64)> = plan
        .shared
        .iter()
        .map(|r| (r.name.as_str(), r.hpa.raw(), r.size))
        .collect();
    assert_eq!(
        regions,
        [
            ("stats", 0x5120_0000, 0x1_0000),
            ("bulk", 0x7000_0000, 0x20_0000)
        ],
        "`stats` first fit after the VMs, 4 KiB aligned; `bulk` at its base"
    );
    let view = |vm: usize| -> Vec<(String, u64, u64, bool)> {
        plan.vms[vm]
            .shared
            .iter()
            .map(|m| (m.name.clone(), m.ipa.raw(), m.hpa.raw(), m.writable))
            .collect()
    };
    assert_eq!(
        view(0),
        [
            ("stats".into(), 0x1000_0000, 0x5120_0000, true),
            ("bulk".into(), 0x1020_0000, 0x7000_0000, false),
        ],
        "window first fit in declaration order; a 2 MiB region is 2 MiB aligned"
    );
    assert_eq!(
        view(1),
        [
            ("stats".into(), 0x1000_0000, 0x5120_0000, false),
            ("bulk".into(), 0x2000_0000, 0x7000_0000, true),
        ],
        "a fixed `ipa` is kept"
    );
}

#[test]
fn fingerprint_is_fnv1a_of_scenario_board_and_blobs() {
    let (t, plan) = plan();
    let mut h = fnv1a64_extend(FNV1A64_INIT, SCENARIO.as_bytes());
    h = fnv1a64_extend(
        h,
        &std::fs::read(t.path("boards/qemu-virt-aarch64.toml")).unwrap(),
    );
    h = fnv1a64_extend(h, &plan.vms[0].kernel.bytes);
    h = fnv1a64_extend(h, &plan.vms[1].kernel.bytes);
    h = fnv1a64_extend(
        h,
        &std::fs::read(t.path("full/guests/initrd.cpio")).unwrap(),
    );
    assert_eq!(plan.fingerprint, h);
}

#[test]
fn full_scenario_goldens() {
    let (t, plan) = plan();
    let root = t.0.to_str().unwrap().to_owned();
    for vm in &plan.vms {
        golden(&format!("full.{}.dts", vm.name), &dtdump::dump(&vm.dtb));
    }
    golden("full.map.txt", &plan.map().replace(&root, "$REPO"));
    let tables = codegen::render(&plan, Path::new("$OUT_DIR"))
        .unwrap()
        .replace(&root, "$REPO");
    golden("full.config.rs", &tables);
}

/// The fixture `compiled.rs` includes: tables whose blobs sit next to them.
#[test]
fn compiled_fixture_is_current() {
    let (t, plan) = plan();
    let root = t.0.to_str().unwrap().to_owned();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/compiled");
    let mut files = vec![(
        "config.rs".to_owned(),
        codegen::render(&plan, Path::new(""))
            .unwrap()
            .replace(&root, "$REPO")
            .into_bytes(),
    )];
    for vm in &plan.vms {
        files.push((format!("vm-{}.kernel", vm.name), vm.kernel.bytes.clone()));
        files.push((format!("vm-{}.dtb", vm.name), vm.dtb.clone()));
        if let Some(i) = &vm.initrd {
            files.push((format!("vm-{}.initrd", vm.name), i.bytes.clone()));
        }
    }
    for (name, bytes) in files {
        if support::bless() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&name), &bytes).unwrap();
        } else {
            let old = std::fs::read(dir.join(&name)).unwrap_or_default();
            assert!(
                old == bytes,
                "tests/golden/compiled/{name} is stale; rerun with RTVISOR_BLESS=1"
            );
        }
    }
}
