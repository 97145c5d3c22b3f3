//! `cargo xtask setup`: make sure the host tools exist before anything needs them.
//!
//! - `qemu-system-aarch64`: installed with apt-get (package `qemu-system-arm`) when
//!   running as root; otherwise xtask stops and prints the exact command.
//! - the x86 tools (`x86_tools`): QEMU for x86_64, Bochs with its BIOS and VGA BIOS,
//!   GRUB for BIOS with `grub-mkrescue`, `xorriso` and `mtools`, the same way.
//! - the bare-metal Rust targets (the ones xtask builds for, plus every target listed
//!   in rust-toolchain.toml): added with rustup when missing (RUSTUP_AUTO_INSTALL may
//!   be off, so nothing installs them implicitly).
//!
//! [`TOOLS`] is every Debian package xtask ever installs, always without the
//! packages they only recommend: a fresh machine has exactly these. `setup --fresh`
//! (what CI runs, see `fresh`) removes the packages QEMU recommends that are not
//! among them, so the tests never lean on one the project did not install.

mod fresh;

use crate::util::{root, run, say};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

pub use fresh::{extra_packages, fresh};

/// A host program and the Debian package that provides it.
#[derive(Debug)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

/// Every program xtask installs when missing, with its package: the only packages
/// the project installs itself.
pub const TOOLS: &[Tool] = &[
    Tool {
        program: rtvisor::qemu::QEMU,
        package: "qemu-system-arm",
    },
    Tool {
        program: "mke2fs",
        package: "e2fsprogs",
    },
    Tool {
        program: "dpkg-deb",
        package: "dpkg",
    },
    Tool {
        program: "apt-get",
        package: "apt",
    },
    Tool {
        program: "apt-cache",
        package: "apt",
    },
    // The x86_64 image and its emulators (`x86_tools`, installed by `ensure_x86`); a
    // program named by an absolute path is a file the package provides.
    Tool {
        program: crate::x86::machine::QEMU_X86,
        package: "qemu-system-x86",
    },
    Tool {
        program: crate::x86::machine::BOCHS,
        package: "bochs",
    },
    Tool {
        program: crate::x86::machine::BOCHS_BIOS,
        package: "bochsbios",
    },
    Tool {
        program: crate::x86::machine::BOCHS_VGABIOS,
        package: "vgabios",
    },
    Tool {
        program: "grub-mkrescue",
        package: "grub-common",
    },
    Tool {
        program: "/usr/lib/grub/i386-pc/multiboot2.mod",
        package: "grub-pc-bin",
    },
    Tool {
        program: "xorriso",
        package: "xorriso",
    },
    Tool {
        program: "mformat",
        package: "mtools",
    },
    // Debian's amd64 kernel is an xz-compressed bzImage payload (`linux::bzimage`).
    Tool {
        program: "xz",
        package: "xz-utils",
    },
];
/// Where the x86 tools start in [`TOOLS`].
const X86_FIRST: usize = 5;
pub const QEMU_TOOL: &Tool = &TOOLS[0];
pub const MKE2FS: &Tool = &TOOLS[1];
pub const DPKG_DEB: &Tool = &TOOLS[2];
pub const APT_GET: &Tool = &TOOLS[3];
pub const APT_CACHE: &Tool = &TOOLS[4];
pub const XZ: &Tool = &TOOLS[13];

pub const QEMU: &str = QEMU_TOOL.program;
pub const QEMU_APT_PACKAGE: &str = QEMU_TOOL.package;

/// The tools of the x86_64 image: its emulators and the ISO tools.
pub fn x86_tools() -> &'static [Tool] {
    &TOOLS[X86_FIRST..]
}

fn present(t: &Tool) -> bool {
    if t.program.starts_with('/') {
        std::path::Path::new(t.program).exists()
    } else {
        crate::linux::tools::find_tool(t.program).is_some()
    }
}

/// Installs the x86 tools that are missing, in one apt-get call (root), or says how.
pub fn ensure_x86() -> Result<()> {
    let mut missing: Vec<&str> = x86_tools()
        .iter()
        .filter(|t| !present(t))
        .map(|t| t.package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        bail!(
            "the x86 tools are not installed and xtask is not running as root.\n\
             Install them with:\n\n    sudo sh -c 'apt-get update && apt-get install -y \
             --no-install-recommends {list}'\n\nthen run this command again."
        );
    }
    say(format!(
        "installing {list} (apt-get update, apt-get install) ..."
    ));
    apt_install(&list)?;
    if let Some(t) = x86_tools().iter().find(|t| !present(t)) {
        bail!("installed {} but {} is still missing", t.package, t.program);
    }
    Ok(())
}

/// Ensures every tool the build and the tests need.
pub fn ensure_all() -> Result<()> {
    ensure_qemu()?;
    ensure_x86()?;
    let mut targets = vec![
        crate::image::GUEST_TARGET.to_string(),
        crate::image::X86_GUEST_TARGET.to_string(),
        crate::image::HV_TARGET.to_string(),
        crate::x86::X86_TARGET.to_string(),
    ];
    targets.extend(toolchain_targets(
        &std::fs::read_to_string(root().join("rust-toolchain.toml")).unwrap_or_default(),
    ));
    targets.sort();
    targets.dedup();
    ensure_targets(&targets)?;
    ensure_rustfmt()
}

/// `cargo fmt` for the `fmt` test phase: the component rust-toolchain.toml lists,
/// added with rustup when the toolchain lacks it.
fn ensure_rustfmt() -> Result<()> {
    let has = Command::new("cargo")
        .args(["fmt", "--version"])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        return Ok(());
    }
    say("adding the rustfmt component (rustup component add rustfmt) ...");
    let mut c = Command::new("rustup");
    c.args(["component", "add", "rustfmt"]).current_dir(root());
    run(&mut c)
}

/// The `targets = [...]` list of a rust-toolchain.toml (a one-line array).
fn toolchain_targets(text: &str) -> Vec<String> {
    let Some(line) = text.lines().find(|l| l.trim_start().starts_with("targets")) else {
        return Vec::new();
    };
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// True when `prog --version` runs and succeeds.
fn runs(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn is_root() -> bool {
    // The real uid is the first field of the `Uid:` line.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            return line.split_whitespace().nth(1) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ensure_qemu() -> Result<()> {
    if runs(QEMU) {
        return Ok(());
    }
    let cmd =
        format!("apt-get update && apt-get install -y --no-install-recommends {QEMU_APT_PACKAGE}");
    if !is_root() {
        bail!(
            "{QEMU} is not installed and xtask is not running as root.\n\
             Install it with:\n\n    sudo sh -c '{cmd}'\n\nthen run this command again."
        );
    }
    if !runs("apt-get") {
        bail!("{QEMU} is not installed and apt-get is not available; install QEMU (aarch64 system emulation) by hand");
    }
    say(format!(
        "installing {QEMU_APT_PACKAGE} (apt-get update, apt-get install) ..."
    ));
    apt_install(QEMU_APT_PACKAGE)?;
    if !runs(QEMU) {
        bail!("installed {QEMU_APT_PACKAGE} but `{QEMU} --version` still fails");
    }
    say(format!("{QEMU_APT_PACKAGE} installed"));
    Ok(())
}

/// `apt-get update` then `apt-get install -y --no-install-recommends package` (one
/// package, or several separated by spaces),
/// non-interactive (the caller checked it runs as root).
pub fn apt_install(package: &str) -> Result<()> {
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
        run(&mut c)
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(package.split_whitespace());
    apt(&args)
}

fn ensure_targets(targets: &[String]) -> Result<()> {
    // Run in the workspace root so rustup picks the toolchain pinned by rust-toolchain.toml.
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output();
    match listed {
        Ok(out) if out.status.success() => {
            let installed = String::from_utf8_lossy(&out.stdout);
            let missing: Vec<&String> = targets
                .iter()
                .filter(|t| !installed.lines().any(|l| l.trim() == t.as_str()))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let names: Vec<&str> = missing.iter().map(|t| t.as_str()).collect();
            say(format!(
                "adding Rust targets {} (rustup target add) ...",
                names.join(", ")
            ));
            let mut c = Command::new("rustup");
            c.args(["target", "add"]).args(&names).current_dir(root());
            run(&mut c)
        }
        Ok(out) => bail!("`rustup target list --installed` failed ({})", out.status),
        Err(_) => {
            // No rustup: accept a toolchain whose sysroot already has the targets.
            let out = Command::new("rustc")
                .args(["--print", "sysroot"])
                .current_dir(root())
                .output()
                .context("neither rustup nor rustc found")?;
            let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
            for t in targets {
                if !std::path::Path::new(&sysroot)
                    .join("lib/rustlib")
                    .join(t)
                    .is_dir()
                {
                    bail!("Rust target {t} is missing and rustup is not installed; install rustup, then run `rustup target add {t}`");
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_toolchain_targets() {
        let text =
            "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"aarch64-unknown-none\", \"x-y\"]\n";
        assert_eq!(
            super::toolchain_targets(text),
            ["aarch64-unknown-none", "x-y"]
        );
        assert!(super::toolchain_targets("[toolchain]\n").is_empty());
    }

    #[test]
    fn the_x86_tools_are_the_emulators_the_iso_tools_and_xz() {
        let packages: Vec<&str> = super::x86_tools().iter().map(|t| t.package).collect();
        assert_eq!(
            packages,
            [
                "qemu-system-x86",
                "bochs",
                "bochsbios",
                "vgabios",
                "grub-common",
                "grub-pc-bin",
                "xorriso",
                "mtools",
                "xz-utils"
            ]
        );
        assert_eq!(super::TOOLS[super::X86_FIRST - 1].program, "apt-cache");
    }
}
