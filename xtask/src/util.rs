//! Paths and process helpers shared by the xtask commands.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Prints one progress line.
pub fn say(msg: impl std::fmt::Display) {
    println!("[xtask] {msg}");
}

/// The workspace root (the directory holding the workspace Cargo.toml).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A directory under `<root>/target/` for xtask's own outputs (guests, images, logs).
/// Scenario files refer to `target/guests/*.bin`, so this ignores CARGO_TARGET_DIR.
pub fn out_dir(sub: &str) -> Result<PathBuf> {
    let dir = root().join("target").join(sub);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Where cargo puts its build products.
pub fn cargo_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

/// A `cargo` command (the same cargo that runs xtask) in the workspace root.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    c.current_dir(root());
    c
}

/// `path` relative to the workspace root when it is inside it, for short messages.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Renders a command line the way a user would type it.
pub fn show(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            parts.push(format!(
                "{}={}",
                k.to_string_lossy(),
                rtvisor::qemu::quote(&v.to_string_lossy())
            ));
        }
    }
    parts.push(rtvisor::qemu::quote(&cmd.get_program().to_string_lossy()));
    parts.extend(
        cmd.get_args()
            .map(|a| rtvisor::qemu::quote(&a.to_string_lossy())),
    );
    parts.join(" ")
}

/// Runs `cmd` to completion with inherited stdio; fails naming the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = show(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Resolves a user-given path (relative to the current directory) to an absolute one.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{}: no such file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_quotes_only_what_needs_it() {
        let mut c = Command::new("qemu-system-aarch64");
        c.args(["-M", "virt,virtualization=on", "-append", "a b"])
            .env("X", "1");
        assert_eq!(
            show(&c),
            "X=1 qemu-system-aarch64 -M virt,virtualization=on -append 'a b'"
        );
    }
}
