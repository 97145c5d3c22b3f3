//! End-to-end tests of the `rtvisor` binary: board inspect round trip against the
//! committed board, `check` on every example scenario, and a broken scenario.

mod support;

use std::path::PathBuf;
use support::{normalize, root, rtvisor, scratch, text, DTB};

#[test]
fn board_inspect_of_qemu_virt_matches_the_committed_board() {
    let dir = scratch("inspect");
    let out = dir.join("board.toml");
    let dtb = root().join(DTB);
    let o = rtvisor(&[
        "board",
        "inspect",
        "--dtb",
        dtb.to_str().unwrap(),
        "--name",
        "qemu-virt-aarch64",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "inspect failed: {}", text(&o.stderr));
    let ours =
        rtvisor_config::check_board(&out).unwrap_or_else(|d| panic!("generated board:\n{d}"));
    let committed = rtvisor_config::check_board(&root().join("boards/qemu-virt-aarch64.toml"))
        .unwrap_or_else(|d| panic!("committed board:\n{d}"));
    let (a, b) = (normalize(&ours), normalize(&committed));
    assert_eq!(a.len(), b.len(), "generated:\n{a:#?}\ncommitted:\n{b:#?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

#[test]
fn board_inspect_names_the_board_after_the_model_and_writes_stdout() {
    let dtb = root().join(DTB);
    let o = rtvisor(&["board", "inspect", "--dtb", dtb.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let board = text(&o.stdout);
    assert!(board.contains("name = \"linux-dummy-virt\""), "{board}");
    assert!(board.contains("[gic]\nversion = 3\n"), "{board}");
}

#[test]
fn board_inspect_refuses_bad_blobs_without_panicking() {
    let dir = scratch("bad-dtb");
    let good = std::fs::read(root().join(DTB)).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("text".into(), b"/dts-v1/; / { };".to_vec()),
        ("empty".into(), Vec::new()),
        ("truncated".into(), good[..good.len() / 2].to_vec()),
    ];
    // Corrupt words of the structure block, keeping the header intact.
    let off = u32::from_be_bytes(good[8..12].try_into().unwrap()) as usize;
    for (i, at) in [off, off + 4, off + 40, off + 200, off + 1000, off + 3000]
        .iter()
        .enumerate()
    {
        let mut b = good.clone();
        b[*at..*at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
        cases.push((format!("corrupt{i}"), b));
    }
    for (name, bytes) in cases {
        let path = dir.join(format!("{name}.dtb"));
        std::fs::write(&path, bytes).unwrap();
        let o = rtvisor(&["board", "inspect", "--dtb", path.to_str().unwrap()]);
        let err = text(&o.stderr);
        assert!(!err.contains("panicked"), "{name}: {err}");
        if !o.status.success() {
            assert_eq!(o.status.code(), Some(1), "{name}: {err}");
            assert!(err.starts_with("error: "), "{name}: {err}");
        }
    }
}

#[test]
fn board_inspect_calls_a_short_blob_with_the_magic_truncated() {
    let dir = scratch("short-dtb");
    let good = std::fs::read(root().join(DTB)).unwrap();
    let path = dir.join("short.dtb");
    std::fs::write(&path, &good[..20]).unwrap();
    let o = rtvisor(&["board", "inspect", "--dtb", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr).trim_end(),
        format!(
            "error: {}: the device tree is truncated: the file has 20 bytes, fewer than its \
             40-byte header",
            path.display()
        )
    );
}

/// A copy of `scenarios/` and `boards/` in a scratch directory, with every image a
/// scenario names present: the built guest if `target/` has it, else a dummy.
fn scenario_tree(name: &str) -> (PathBuf, Vec<PathBuf>) {
    let dir = scratch(name);
    for sub in ["scenarios", "boards"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(root().join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(&p, dir.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(dir.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    scenarios.sort();
    for s in &scenarios {
        let v: toml::Value = toml::from_str(&std::fs::read_to_string(s).unwrap()).unwrap();
        let board = v.get("board").and_then(|b| b.as_str()).unwrap();
        let board: toml::Value =
            toml::from_str(&std::fs::read_to_string(s.parent().unwrap().join(board)).unwrap())
                .unwrap();
        let x86 = board.get("arch").and_then(|a| a.as_str()) == Some("x86_64");
        let vms = v
            .get("vm")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for vm in vms {
            let kernel = vm.get("kernel");
            let path = kernel.and_then(|k| k.get("path")).and_then(|p| p.as_str());
            let format = kernel
                .and_then(|k| k.get("format"))
                .and_then(|f| f.as_str());
            let linux = format == Some("linux-image");
            let pvh = x86 && format == Some("elf");
            let initrd = vm.get("initrd").and_then(|p| p.as_str());
            // Stand-ins, never the real files: the test must not depend on what was
            // built or fetched before it (CI runs it first).
            for (rel, is_kernel) in path
                .map(|p| (p, true))
                .into_iter()
                .chain(initrd.map(|p| (p, false)))
            {
                let copy = dir.join("scenarios").join(rel);
                std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
                if copy.exists() {
                    continue;
                }
                let bytes = if is_kernel && linux {
                    fake_linux_image()
                } else if is_kernel && pvh {
                    fake_pvh_elf()
                } else {
                    // A raw guest (or initrd) of a few instructions' worth.
                    vec![0u8; 4096]
                };
                std::fs::write(&copy, bytes).unwrap();
            }
        }
    }
    (dir, scenarios)
}

/// An arm64 Linux Image header (text_offset 0, image_size 2 MiB) and nothing else.
fn fake_linux_image() -> Vec<u8> {
    let mut f = vec![0u8; 4096];
    f[16..24].copy_from_slice(&(2u64 << 20).to_le_bytes());
    f[56..60].copy_from_slice(b"ARM\x64");
    f
}

/// An x86-64 ELF with one 4 KiB PT_LOAD at 1 MiB and a PT_NOTE naming 1 MiB as its
/// PVH entry (the Xen note of type 18, XEN_ELFNOTE_PHYS32_ENTRY).
fn fake_pvh_elf() -> Vec<u8> {
    let mut f = vec![0u8; 0x2000];
    let mut put = |at: usize, v: &[u8]| f[at..at + v.len()].copy_from_slice(v);
    put(0, b"\x7fELF\x02\x01\x01");
    put(0x12, &62u16.to_le_bytes());
    put(0x20, &64u64.to_le_bytes());
    put(0x36, &[56, 0, 2, 0]);
    let load = [1u64, 0x1000, 0x10_0000, 0x10_0000, 0x1000, 0x1000];
    let note = [4u64, 0x200, 0, 0, 20, 20];
    for (ph, fields) in [(64, load), (120, note)] {
        put(ph, &fields[0].to_le_bytes());
        for (k, v) in fields[1..].iter().enumerate() {
            put(ph + 8 + 8 * k, &v.to_le_bytes());
        }
    }
    put(0x200, &[4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0]);
    put(0x20c, b"Xen\0\0\0\x10\0");
    f
}

#[test]
fn check_accepts_every_example_scenario() {
    let (_dir, scenarios) = scenario_tree("scenarios");
    assert!(!scenarios.is_empty(), "no scenarios/*.toml");
    for s in &scenarios {
        let o = rtvisor(&["check", s.to_str().unwrap()]);
        let out = text(&o.stdout);
        assert!(o.status.success(), "{}:\n{}", s.display(), text(&o.stderr));
        assert!(out.contains("vm 0 `"), "{out}");
        assert!(out.contains("hypervisor  RAM"), "{out}");
        assert!(out.contains(" -> HPA "), "{out}");
        assert!(out.contains("interrupts "), "{out}");
    }
}

/// The demo trusts its direct-mode VM with the physical CPU interface: `check` accepts
/// it but says so on stderr, at the key, with the risk; an untrusted VM gets no warning.
#[test]
fn check_warns_about_a_trusted_direct_vm() {
    let (dir, _) = scenario_tree("trusted");
    let demo = dir.join("scenarios/demo.toml");
    let o = rtvisor(&["check", demo.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: VM `rt` is trusted with its cores' physical GIC CPU interface"),
        "{err}"
    );
    assert!(err.contains("direct-trust = \"trusted\""), "{err}");
    assert!(err.contains("ICC_AP1R0_EL1"), "{err}");
    let src = std::fs::read_to_string(&demo).unwrap();
    assert!(src.contains("direct-trust = \"trusted\""));
    std::fs::write(
        &demo,
        src.replace("direct-trust = \"trusted\"", "direct-trust = \"untrusted\""),
    )
    .unwrap();
    let o = rtvisor(&["check", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("is trusted"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn check_reports_a_broken_scenario_and_exits_1() {
    let (dir, _) = scenario_tree("broken");
    let demo = dir.join("scenarios/demo.toml");
    let src = std::fs::read_to_string(&demo).unwrap();
    assert!(
        src.contains("cpus = [3]\n"),
        "demo.toml changed shape; update this test"
    );
    let broken = src.replacen("cpus = [3]\n", "cpus = [3]\nmemroy = 1\n", 1);
    let line = broken
        .lines()
        .position(|l| l.starts_with("memroy"))
        .unwrap()
        + 1;
    let bad = dir.join("scenarios/broken.toml");
    std::fs::write(&bad, broken).unwrap();
    let o = rtvisor(&["check", bad.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error: unknown key `memroy`"), "{err}");
    assert!(err.contains(&format!("broken.toml:{line}:1")), "{err}");
    assert!(err.contains("did you mean `memory`?"), "{err}");
    assert!(o.stdout.is_empty(), "no map on error: {}", text(&o.stdout));
}

#[test]
fn check_says_when_a_device_has_no_interrupt() {
    let (dir, _) = scenario_tree("no-irq");
    let board = dir.join("boards/qemu-virt-aarch64.toml");
    let mut text_b = std::fs::read_to_string(&board).unwrap();
    // QEMU virt's flash is emulated in every VM: a device of the platform bus instead.
    text_b += "\n[[device]]\nname = \"sram@c000000\"\ncompatible = \"mmio-sram\"\n\
               base = 0x0c00_0000\nsize = 0x1000\ndma = false\n";
    std::fs::write(&board, text_b).unwrap();
    std::fs::write(dir.join("scenarios/k.bin"), vec![0u8; 4096]).unwrap();
    let s = dir.join("scenarios/flash.toml");
    std::fs::write(
        &s,
        "board = \"../boards/qemu-virt-aarch64.toml\"\n[hypervisor]\nconsole = \"uart0\"\n\
         [[vm]]\nname = \"a\"\nkind = \"general\"\ncpus = [1]\nmemory = { size = \"16MiB\" }\n\
         kernel = { path = \"k.bin\", format = \"raw\" }\ndevices = [\"sram@c000000\"]\n",
    )
    .unwrap();
    let o = rtvisor(&["check", s.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains(
            "interrupts vm 0 `a`: timers 27 (virtual), 30 (physical); console 33 (emulated); \
             devices: sram@c000000 (no interrupt)\n"
        ),
        "{out}"
    );
}

#[test]
fn check_of_a_missing_file_exits_1() {
    let o = rtvisor(&["check", "/nonexistent/scenario.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot read scenario"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn an_x86_scenario_checks_with_its_map() {
    let (dir, _) = scenario_tree("x86");
    let s = dir.join("scenarios/x86-two-vms.toml");
    let o = rtvisor(&["check", s.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for want in [
        "console com1 at port 0x3f8 (GSI 4)",
        "  boot     GPA 0x000e_0000..",
        "  uart     COM1 port 0x3f8 (emulated 16550, GSI 4)",
        "interrupts vm 1 `gp`: timer: the local APIC's; console GSI 4 (emulated COM1); \
         doorbells: none; devices: none",
    ] {
        assert!(out.contains(want), "{want} not in\n{out}");
    }
    // `rtvisor build` of it makes the x86_64 image: T2 `x86-two-vms-amd` and
    // `x86-two-vms-intel` build and boot it.
}

#[test]
fn run_refuses_an_x86_scenario_before_its_guests_exist() {
    // A copy of the example scenarios and boards, none of the guests they name: the
    // board's arch is read first, so even a scenario that does not check yet is
    // sent to the command that boots it.
    let dir = scratch("run-x86");
    for sub in ["scenarios", "boards"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (sub, f) in [
        ("scenarios", "x86-two-vms.toml"),
        ("boards", "qemu-q35-x86_64.toml"),
    ] {
        std::fs::copy(root().join(sub).join(f), dir.join(sub).join(f)).unwrap();
    }
    let s = dir.join("scenarios/x86-two-vms.toml");
    assert_eq!(
        rtvisor::scenario_arch(&s),
        Some(rtvisor_config::contract::Arch::X86_64)
    );
    let out = rtvisor(&["run", s.to_str().unwrap(), "--duration", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("its board is an x86_64 machine"), "{err}");
    assert!(err.contains("cargo xtask run"), "{err}");
}
