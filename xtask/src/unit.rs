//! T0/T1 host test phases and the arch-boundary check.
//!
//! The arch-neutral crates (core, vdev, addr, config) must build and test on the host
//! (the cargo test phases prove that) and must not contain architecture code: no
//! `target_arch`, no inline assembly, no `core::arch`, no dependency on an arch crate,
//! and `#![forbid(unsafe_code)]` at the crate root (DESIGN.md sections 3 and 5).
//!
//! The hypervisor crate is generic but for its backend selection: `target_arch` (and
//! inline assembly) appears only in `src/backend.rs`, and only it and the backend
//! directories it selects (`src/aarch64/`, ...) name an arch crate.

use crate::util::{cargo, root, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One host phase of `cargo xtask test`; each counts as one test in the summary.
pub struct Phase {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn() -> Result<()>,
}

/// The packages whose host unit and golden tests run in the `unit` phase.
pub const HOST_PACKAGES: &[&str] = &[
    "rtvisor-addr",
    "rtvisor-config",
    "rtvisor-core",
    "rtvisor-shell",
    "rtvisor-vdev",
    "rtvisor-arch-aarch64",
    "rtvisor-arch-aarch64-platform",
    "rtvisor-arch-x86_64",
    "rtvisor",
    "xtask",
];
/// Crates that must stay free of architecture code.
pub const ARCH_NEUTRAL: &[&str] = &[
    "crates/core",
    "crates/shell",
    "crates/vdev",
    "crates/addr",
    "crates/config",
];
/// The hypervisor crate, generic but for its backend selection.
pub const HYPERVISOR: &str = "crates/hypervisor";
/// The one hypervisor file that may select a backend by `target_arch`.
const BACKEND_SELECTION: &str = "src/backend.rs";
/// The hypervisor's backend directories (one per architecture), which may name their
/// arch crate.
const BACKEND_DIRS: &[&str] = &["src/aarch64", "src/x86_64", "src/riscv64"];

pub const PHASES: &[Phase] = &[
    Phase {
        name: "unit",
        about: "T0/T1: cargo test of the host-testable crates",
        run: unit,
    },
    Phase {
        name: "config-std",
        about: "T0/T1: cargo test -p rtvisor-config --features std",
        run: config_std,
    },
    Phase {
        name: "arch-boundary",
        about: "no architecture code in core, vdev, addr, config, nor in the hypervisor outside its backend selection",
        run: arch_boundary,
    },
    Phase {
        name: "fmt",
        about: "every crate of the workspace is formatted (cargo fmt --all --check)",
        run: fmt,
    },
];

fn fmt() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))
}

fn unit() -> Result<()> {
    let mut c = cargo();
    // --no-fail-fast: one crate's failure must not hide the others' results.
    c.args(["test", "--no-fail-fast"]);
    for p in HOST_PACKAGES {
        c.args(["-p", p]);
    }
    run(&mut c)
}

fn config_std() -> Result<()> {
    run(cargo().args([
        "test",
        "--no-fail-fast",
        "-p",
        "rtvisor-config",
        "--features",
        "std",
    ]))
}

/// Source tokens that mean architecture-specific code.
const FORBIDDEN_CODE: &[&str] = &[
    "target_arch",
    "asm!",
    "core::arch",
    "std::arch",
    "aarch64_cpu",
    "rtvisor_arch",
];
/// Cargo.toml text that means a dependency on architecture code.
const FORBIDDEN_MANIFEST: &[&str] = &["rtvisor-arch", "aarch64-cpu", "target_arch", "[target."];

fn arch_boundary() -> Result<()> {
    let mut offenders = boundary_offenders(&root(), ARCH_NEUTRAL)?;
    offenders.extend(hypervisor_offenders(&root(), HYPERVISOR)?);
    if offenders.is_empty() {
        println!(
            "[xtask] arch boundary: {} has no architecture code; {HYPERVISOR} names one only in {BACKEND_SELECTION} and {}",
            ARCH_NEUTRAL.join(", "),
            BACKEND_DIRS.join(", ")
        );
        return Ok(());
    }
    bail!(
        "architecture code in arch-neutral crates:\n  {}",
        offenders.join("\n  ")
    )
}

/// The code part of a line: nothing when it is a comment, up to a trailing `//` else.
fn code_part(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") {
        return "";
    }
    match t.find("//") {
        // Keep `//` inside string literals ("http://...") by only cutting after code.
        Some(i) if !t[..i].contains('"') => &t[..i],
        _ => t,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `file:line: text` for every violation in `crates` (paths relative to `root`).
pub fn boundary_offenders(root: &Path, crates: &[&str]) -> Result<Vec<String>> {
    let mut bad = Vec::new();
    for krate in crates {
        let dir = root.join(krate);
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        for (n, line) in text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or("");
            if FORBIDDEN_MANIFEST.iter().any(|f| code.contains(f)) {
                bad.push(format!(
                    "{}:{}: {}",
                    rel_to(root, &manifest),
                    n + 1,
                    line.trim()
                ));
            }
        }
        let mut files = Vec::new();
        for sub in ["src", "tests", "benches", "examples"] {
            if dir.join(sub).is_dir() {
                rust_files(&dir.join(sub), &mut files)?;
            }
        }
        if dir.join("build.rs").is_file() {
            files.push(dir.join("build.rs"));
        }
        files.sort();
        for file in &files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            for (n, line) in text.lines().enumerate() {
                if let Some(f) = FORBIDDEN_CODE.iter().find(|f| code_part(line).contains(*f)) {
                    bad.push(format!(
                        "{}:{}: `{f}` in: {}",
                        rel_to(root, file),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
        let lib = dir.join("src/lib.rs");
        let lib_text = std::fs::read_to_string(&lib).unwrap_or_default();
        if !lib_text
            .lines()
            .any(|l| l.trim().replace(' ', "") == "#![forbid(unsafe_code)]")
        {
            bad.push(format!(
                "{}: missing #![forbid(unsafe_code)] at the crate root",
                rel_to(root, &lib)
            ));
        }
    }
    Ok(bad)
}

/// Tokens that select or write architecture code: only the backend selection may.
const SELECTION_ONLY: &[&str] = &["target_arch", "asm!", "core::arch", "std::arch"];
/// Tokens that name an arch crate: only the backend selection and directories may.
const BACKEND_ONLY: &[&str] = &["rtvisor_arch", "aarch64_cpu"];

/// `file:line: text` for every violation in the hypervisor crate at `krate` (relative
/// to `root`): [`SELECTION_ONLY`] tokens outside [`BACKEND_SELECTION`],
/// [`BACKEND_ONLY`] tokens outside it and [`BACKEND_DIRS`].
pub fn hypervisor_offenders(root: &Path, krate: &str) -> Result<Vec<String>> {
    let dir = root.join(krate);
    let mut files = Vec::new();
    rust_files(&dir.join("src"), &mut files)?;
    if dir.join("build.rs").is_file() {
        files.push(dir.join("build.rs"));
    }
    files.sort();
    let mut bad = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&dir).unwrap_or(file);
        let selection = rel == Path::new(BACKEND_SELECTION);
        let backend = selection || BACKEND_DIRS.iter().any(|d| rel.starts_with(d));
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            let code = code_part(line);
            let forbidden = SELECTION_ONLY
                .iter()
                .filter(|_| !selection)
                .chain(BACKEND_ONLY.iter().filter(|_| !backend))
                .find(|f| code.contains(*f));
            if let Some(f) = forbidden {
                bad.push(format!(
                    "{}:{}: `{f}` outside the backend selection in: {}",
                    rel_to(root, file),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    Ok(bad)
}

fn rel_to(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn boundary_check_finds_arch_code_but_not_comments() {
        let root = std::env::temp_dir().join(format!("xtask-boundary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        write(
            &root,
            "clean/Cargo.toml",
            "[dependencies]\nrtvisor-addr.workspace = true # not rtvisor-arch\n",
        );
        write(
            &root,
            "clean/src/lib.rs",
            "//! No target_arch here, no asm!.\n#![no_std]\n#![forbid(unsafe_code)]\nconst U: &str = \"http://x\"; // ok\n",
        );
        write(
            &root,
            "dirty/Cargo.toml",
            "[dependencies]\nrtvisor-arch-aarch64.workspace = true\n",
        );
        write(
            &root,
            "dirty/src/lib.rs",
            "#![no_std]\n#[cfg(target_arch = \"aarch64\")]\nmod a;\n",
        );
        write(
            &root,
            "dirty/src/a/deep.rs",
            "fn f() { unsafe { core::arch::asm!(\"wfi\") } } // x\n",
        );
        assert_eq!(
            boundary_offenders(&root, &["clean"]).unwrap(),
            Vec::<String>::new()
        );
        let bad = boundary_offenders(&root, &["dirty"]).unwrap();
        assert_eq!(bad.len(), 4, "{bad:#?}");
        assert!(bad[0].starts_with("dirty/Cargo.toml:2:"));
        assert!(bad[1].starts_with("dirty/src/a/deep.rs:1: `asm!`"));
        assert!(bad[2].starts_with("dirty/src/lib.rs:2: `target_arch`"));
        assert!(bad[3].contains("missing #![forbid(unsafe_code)]"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_hypervisor_names_its_architecture_only_in_the_backend_selection() {
        let root = std::env::temp_dir().join(format!("xtask-hv-boundary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        write(
            &root,
            "hv/src/backend.rs",
            "#[cfg(target_arch = \"aarch64\")]\n#[path = \"aarch64/mod.rs\"]\nmod arch;\n",
        );
        write(
            &root,
            "hv/src/aarch64/mod.rs",
            "use rtvisor_arch_aarch64::gic; // the backend names its crate\n",
        );
        write(
            &root,
            "hv/src/run.rs",
            "//! Calls rtvisor_arch only in a comment.\nfn f() {}\n",
        );
        assert_eq!(
            hypervisor_offenders(&root, "hv").unwrap(),
            Vec::<String>::new()
        );
        write(&root, "hv/src/run.rs", "use rtvisor_arch_aarch64::cpu;\n");
        write(
            &root,
            "hv/src/aarch64/irq.rs",
            "#[cfg(target_arch = \"aarch64\")]\nfn f() { unsafe { core::arch::asm!(\"wfi\") } }\n",
        );
        write(
            &root,
            "hv/build.rs",
            "fn main() { let _ = cfg!(target_arch = \"x\"); }\n",
        );
        let bad = hypervisor_offenders(&root, "hv").unwrap();
        assert_eq!(bad.len(), 4, "{bad:#?}");
        assert!(
            bad[0].starts_with("hv/build.rs:1: `target_arch`"),
            "{bad:#?}"
        );
        assert!(
            bad[1].starts_with("hv/src/aarch64/irq.rs:1: `target_arch`"),
            "{bad:#?}"
        );
        assert!(
            bad[2].starts_with("hv/src/aarch64/irq.rs:2: `asm!`"),
            "{bad:#?}"
        );
        assert!(
            bad[3].starts_with("hv/src/run.rs:1: `rtvisor_arch`"),
            "{bad:#?}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
