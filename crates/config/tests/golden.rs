//! T1: golden tests of the generated guest device trees and config tables of every
//! example scenario. Regenerate with `RTVISOR_BLESS=1 cargo test -p rtvisor-config`.

mod support;

use rtvisor_config::contract::Arch;
use rtvisor_config::{check, codegen, emit};
use std::path::Path;
use support::{dtdump, golden, Tree};

/// Every `*.toml` under scenarios/ and tests/scenarios/, relative to the repository.
fn examples() -> Vec<String> {
    let mut all = Vec::new();
    for dir in ["scenarios", "tests/scenarios"] {
        for e in std::fs::read_dir(support::repo().join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".toml") {
                all.push(format!("{dir}/{name}"));
            }
        }
    }
    all.sort();
    let mut stems: Vec<&str> = all.iter().map(|r| stem(r)).collect();
    stems.sort_unstable();
    stems.dedup();
    assert_eq!(
        stems.len(),
        all.len(),
        "example file names must be unique: {all:?}"
    );
    assert!(all.len() >= 6, "{all:?}");
    all
}

fn stem(rel: &str) -> &str {
    Path::new(rel).file_stem().unwrap().to_str().unwrap()
}

#[test]
fn every_example_checks() {
    let t = Tree::with_repo_files("examples");
    for rel in &examples() {
        if let Err(d) = check(&t.path(rel)) {
            panic!("{rel} does not check:\n{d}");
        }
    }
}

#[test]
fn example_device_trees() {
    let t = Tree::with_repo_files("dts");
    for rel in &examples() {
        let plan = check(&t.path(rel)).unwrap();
        if plan.arch != Arch::Aarch64 {
            continue; // boot data instead of device trees: tests/acpi.rs
        }
        for vm in &plan.vms {
            golden(
                &format!("{}.{}.dts", stem(rel), vm.name),
                &dtdump::dump(&vm.dtb),
            );
        }
    }
}

#[test]
fn example_tables() {
    let t = Tree::with_repo_files("tables");
    let root = t.0.to_str().unwrap().to_owned();
    for rel in &examples() {
        let plan = check(&t.path(rel)).unwrap();
        let text = codegen::render(&plan, Path::new("$OUT_DIR"))
            .unwrap()
            .replace(&root, "$REPO");
        golden(&format!("{}.config.rs", stem(rel)), &text);
        let map = plan.map().replace(&root, "$REPO");
        golden(&format!("{}.map.txt", stem(rel)), &map);
    }
}

#[test]
fn emit_writes_blobs_and_lists_inputs() {
    let t = Tree::with_repo_files("emit");
    let out = t.path("out");
    let plan = check(&t.path("scenarios/demo.toml")).unwrap();
    let inputs = emit(&plan, &out).unwrap();
    let names: Vec<String> = inputs
        .iter()
        .map(|p| p.strip_prefix(&t.0).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "scenarios/demo.toml",
            "boards/qemu-virt-aarch64.toml",
            "target/guests/rtbench.bin",
            "target/linux/Image",
            "target/linux/initramfs.cpio.gz"
        ]
    );
    for f in [
        "config.rs",
        "link.ld",
        "vm-rt.dtb",
        "vm-rt.kernel",
        "vm-linux.dtb",
        "vm-linux.kernel",
        "vm-linux.initrd",
    ] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
    let config = std::fs::read_to_string(out.join("config.rs")).unwrap();
    let kernel = out.join("vm-rt.kernel");
    assert!(config.contains(&format!("include_bytes!({:?})", kernel.to_str().unwrap())));
    assert_eq!(
        std::fs::read(kernel).unwrap(),
        std::fs::read(t.path("target/guests/rtbench.bin")).unwrap()
    );
}

#[test]
fn generation_reads_only_the_plan() {
    // Parse, validate and lay out once; generation needs nothing else: with the
    // scenario, its board and its images gone, the same files come out.
    let t = Tree::with_repo_files("emit-plan");
    let plan = check(&t.path("scenarios/demo.toml")).unwrap();
    emit(&plan, &t.path("first")).unwrap();
    for f in ["scenarios", "boards", "target"] {
        std::fs::remove_dir_all(t.path(f)).unwrap();
    }
    emit(&plan, &t.path("second")).unwrap();
    for f in ["vm-rt.dtb", "vm-linux.kernel", "vm-linux.initrd", "link.ld"] {
        let a = std::fs::read(t.path("first").join(f)).unwrap();
        assert_eq!(a, std::fs::read(t.path("second").join(f)).unwrap(), "{f}");
    }
    let script = std::fs::read_to_string(t.path("second/link.ld")).unwrap();
    assert!(script.contains(". = 0x40200000;"), "{script}");
}

#[test]
fn check_renders_errors() {
    let t = Tree::with_repo_files("emit-err");
    std::fs::remove_file(t.path("target/guests/rtbench.bin")).unwrap();
    let err = check(&t.path("scenarios/demo.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(
        "error: kernel image `../target/guests/rtbench.bin` of VM `rt` does not exist\n --> "
    ));
    assert!(
        err.ends_with("error: aborting due to 1 previous error"),
        "{err}"
    );
}
