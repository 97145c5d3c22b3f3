//! Host tools the Linux artifacts need (apt, dpkg-deb, mke2fs, QEMU).
//!
//! Like `cargo xtask setup` does for QEMU: a missing tool is installed with the
//! machine's own apt-get when xtask runs as root; otherwise xtask stops and prints
//! the command to run.

use crate::setup::Tool;
use crate::util::say;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Where to look besides `$PATH` (sbin is often missing from a user's PATH).
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// The full path of `prog`, if it is an executable file on the PATH or in sbin.
pub fn find_tool(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Makes sure `tool` exists, installing the apt package that holds it when running
/// as root. Returns the tool's path.
pub fn ensure_tool(tool: &Tool) -> Result<PathBuf> {
    let (prog, package) = (tool.program, tool.package);
    if let Some(p) = find_tool(prog) {
        return Ok(p);
    }
    let cmd = format!("apt-get update && apt-get install -y --no-install-recommends {package}");
    if !crate::setup::is_root() || find_tool("apt-get").is_none() {
        bail!(
            "{prog} is not installed. Install it (package {package}) with:\n\n    \
             sudo sh -c '{cmd}'\n\nthen run this command again."
        );
    }
    say(format!("installing {package} for {prog} (apt-get) ..."));
    crate::setup::apt_install(package)?;
    match find_tool(prog) {
        Some(p) => Ok(p),
        None => bail!("installed {package} but {prog} is still not found"),
    }
}
