//! Debian's U-Boot for QEMU virt as a guest, cached under `target/u-boot/`.
//!
//! - `u-boot.bin`: `usr/lib/u-boot/qemu_arm64/u-boot.bin` of the `u-boot-qemu` package,
//!   fetched with the private apt state of `cargo xtask linux` (`target/linux/apt/`;
//!   the machine's apt is untouched, nothing is installed).
//! - `disk.img`: an ext4 boot disk holding Debian's kernel `Image` and the
//!   `initramfs.cpio.gz` of `cargo xtask linux` (and its `hello.txt`), which U-Boot
//!   loads with `load virtio 0 ...` and starts with `booti`.
//!
//! Caching: `fetch.stamp` names the .deb that was unpacked; while it and `u-boot.bin`
//! exist nothing touches the network. `disk.stamp` records the Linux build the disk was
//! made from; the disk is rebuilt when that changes.

use crate::linux;
use crate::util::{out_dir, rel, say};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Debian's package of U-Boot builds for QEMU machines.
pub const PACKAGE: &str = "u-boot-qemu";
/// The build for QEMU `virt` on aarch64, inside the package.
const BINARY: &str = "usr/lib/u-boot/qemu_arm64/u-boot.bin";
/// Bump when the disk's layout changes, to force a rebuild.
const DISK_VERSION: u32 = 1;

/// The files a U-Boot VM boots from.
#[derive(Debug, Clone)]
pub struct UBoot {
    /// `target/u-boot/u-boot.bin`.
    pub binary: PathBuf,
    /// `target/u-boot/disk.img`: ext4 with `Image`, `initramfs.cpio.gz`, `hello.txt`.
    pub disk: PathBuf,
}

/// Whether the scenario at `scenario` boots this guest (names a file under
/// `target/u-boot/`): then its files must exist before the image is built.
pub fn needed_by(scenario: &Path) -> bool {
    fs::read_to_string(scenario).is_ok_and(|s| s.contains("target/u-boot/"))
}

/// Where `u-boot.bin` is (made by [`ensure`]).
pub fn binary_path() -> Result<PathBuf> {
    Ok(out_dir("u-boot")?.join("u-boot.bin"))
}

/// Fetches and unpacks the package unless `fetch.stamp` says that was done; returns
/// the path of `u-boot.bin`.
fn fetch(dir: &Path, refresh: bool) -> Result<PathBuf> {
    let (stamp, binary) = (dir.join("fetch.stamp"), dir.join("u-boot.bin"));
    if !refresh && stamp.is_file() && binary.is_file() {
        return Ok(binary);
    }
    if stamp.exists() {
        fs::remove_file(&stamp)?;
    }
    let apt_dir = out_dir("linux")?.join("apt");
    let deb = linux::apt::fetch_one(&apt_dir, PACKAGE)?;
    let unpacked = dir.join("pkg");
    say(format!("unpacking {}", rel(&deb)));
    linux::apt::extract(&deb, &unpacked)?;
    let found = unpacked.join(BINARY);
    fs::copy(&found, &binary).with_context(|| format!("{} has no {BINARY}", rel(&deb)))?;
    fs::remove_dir_all(&unpacked)?;
    let name = deb.file_name().unwrap_or_default().to_string_lossy();
    fs::write(&stamp, format!("deb {name}\n"))?;
    Ok(binary)
}

/// Makes sure `u-boot.bin` and the boot disk exist (the Linux files first, with
/// `cargo xtask linux`'s cache).
pub fn ensure(refresh: bool) -> Result<UBoot> {
    let dir = out_dir("u-boot")?;
    let binary = fetch(&dir, refresh)?;
    let l = linux::ensure(false)?;
    let disk = dir.join("disk.img");
    let stamp = dir.join("disk.stamp");
    let key = format!(
        "disk-version {DISK_VERSION}\n{}",
        fs::read_to_string(out_dir("linux")?.join("build.stamp")).unwrap_or_default()
    );
    if disk.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == key) {
        return Ok(UBoot { binary, disk });
    }
    if stamp.exists() {
        fs::remove_file(&stamp)?;
    }
    linux::disk::build_boot(
        &disk,
        &dir.join("disk-root"),
        &[("Image", &l.image), ("initramfs.cpio.gz", &l.initramfs)],
    )?;
    fs::remove_dir_all(dir.join("disk-root"))?;
    fs::write(&stamp, key)?;
    say(format!("built {} (Image, initramfs.cpio.gz)", rel(&disk)));
    Ok(UBoot { binary, disk })
}

/// `cargo xtask u-boot`: ensure the files and print them.
pub fn command(refresh: bool) -> Result<()> {
    let u = ensure(refresh)?;
    say(format!("  u-boot {}", u.binary.display()));
    say(format!("  disk   {}", u.disk.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scenarios_naming_its_files_need_it() {
        let dir = std::env::temp_dir().join(format!("xtask-uboot-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (yes, no) = (dir.join("yes.toml"), dir.join("no.toml"));
        fs::write(
            &yes,
            "kernel = { path = \"../../target/u-boot/u-boot.bin\" }\n",
        )
        .unwrap();
        fs::write(&no, "kernel = { path = \"../../target/linux/Image\" }\n").unwrap();
        assert!(needed_by(&yes));
        assert!(!needed_by(&no));
        assert!(!needed_by(&dir.join("missing.toml")));
        fs::remove_dir_all(&dir).unwrap();
    }
}
