//! End-to-end tests of the `rtvisor` binary: board inspect round trip against the
//! committed board, `check` on every example scenario, and a broken scenario.

use rtvisor_config::schema::BoardFile;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rtvisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtvisor"))
        .args(args)
        .output()
        .expect("running rtvisor")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const DTB: &str = "crates/arch/aarch64/tests/data/qemu-virt-gicv3-smp4.dtb";

/// Everything a board file says, without spans, in a comparable form.
fn normalize(b: &BoardFile) -> Vec<String> {
    let mut v = vec![format!("name {}", b.name.get_ref())];
    v.extend(
        b.cpu
            .iter()
            .map(|c| format!("cpu {:#x}", c.mpidr.get_ref())),
    );
    v.extend(
        b.ram
            .iter()
            .map(|r| format!("ram {:#x} {:#x}", r.base.get_ref(), r.size.get_ref().0)),
    );
    let g = &b.gic;
    v.push(format!(
        "gic v{} dist {:#x}+{:#x} redist {:#x}+{:#x}/{:#x}",
        g.version.get_ref(),
        g.distributor.base.get_ref(),
        g.distributor.size.get_ref().0,
        g.redistributors.base.get_ref(),
        g.redistributors.size.get_ref().0,
        g.redistributors.stride.get_ref().0
    ));
    let t = &b.timer;
    v.push(format!(
        "timer {} {} {} {}",
        t.secure_physical_intid.get_ref(),
        t.physical_intid.get_ref(),
        t.virtual_intid.get_ref(),
        t.hyp_intid.get_ref()
    ));
    v.extend(b.uart.iter().map(|u| {
        format!(
            "uart {} {:?} {:#x}+{:#x} irq {}",
            u.name.get_ref(),
            u.compatible.0,
            u.base.get_ref(),
            u.size.get_ref().0,
            u.irq.get_ref()
        )
    }));
    v.extend(b.device.iter().map(|d| {
        let irqs: Vec<u32> = d.irqs.iter().map(|i| *i.get_ref()).collect();
        format!(
            "device {} {:?} {:#x}+{:#x} irqs {irqs:?} {:?} dma {} coherent {}",
            d.name.get_ref(),
            d.compatible.0,
            d.base.get_ref(),
            d.size.get_ref().0,
            d.irq_trigger,
            d.dma,
            d.dma_coherent
        )
    }));
    v
}

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
        let vms = v
            .get("vm")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for vm in vms {
            let kernel = vm.get("kernel");
            let path = kernel.and_then(|k| k.get("path")).and_then(|p| p.as_str());
            let linux = kernel
                .and_then(|k| k.get("format"))
                .and_then(|f| f.as_str())
                == Some("linux-image");
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
    text_b += "\n[[device]]\nname = \"flash@4000000\"\ncompatible = \"cfi-flash\"\n\
               base = 0x0400_0000\nsize = 0x0400_0000\ndma = false\n";
    std::fs::write(&board, text_b).unwrap();
    std::fs::write(dir.join("scenarios/k.bin"), vec![0u8; 4096]).unwrap();
    let s = dir.join("scenarios/flash.toml");
    std::fs::write(
        &s,
        "board = \"../boards/qemu-virt-aarch64.toml\"\n[hypervisor]\nconsole = \"uart0\"\n\
         [[vm]]\nname = \"a\"\nkind = \"general\"\ncpus = [1]\nmemory = { size = \"16MiB\" }\n\
         kernel = { path = \"k.bin\", format = \"raw\" }\ndevices = [\"flash@4000000\"]\n",
    )
    .unwrap();
    let o = rtvisor(&["check", s.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains(
            "interrupts vm 0 `a`: timers 27 (virtual), 30 (physical); console 33 (emulated); \
             devices: flash@4000000 (no interrupt)\n"
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
