//! The bootable ISO: GRUB (BIOS, `grub-pc-bin`) made by `grub-mkrescue` (with
//! `xorriso`; `mtools` for the EFI image it makes when EFI GRUB is installed), loading
//! the image with `multiboot2`, the way ACRN is booted; and the same GRUB booting Linux
//! itself (a bzImage with the `linux` and `initrd` commands), the benchmark's reference.

use crate::util::{rel, run, say};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the image sits inside the ISO.
pub const IMAGE_IN_ISO: &str = "/boot/rtvisor.elf";
/// The only GRUB modules the ISO carries (a small ISO boots faster under Bochs).
pub const GRUB_MODULES: &str = "multiboot2 normal iso9660 biosdisk part_msdos";
/// Where a Linux ISO's bzImage and initramfs sit.
pub const LINUX_IN_ISO: &str = "/boot/vmlinuz";
pub const INITRD_IN_ISO: &str = "/boot/initrd.gz";
/// The modules of a Linux ISO: `linux` (the x86 boot protocol) in place of `multiboot2`.
pub const GRUB_LINUX_MODULES: &str = "linux normal iso9660 biosdisk part_msdos";

/// grub.cfg: boot the image at once with `cmdline`.
pub fn grub_cfg(cmdline: &str) -> String {
    let args = if cmdline.is_empty() {
        String::new()
    } else {
        format!(" {cmdline}")
    };
    format!(
        "set timeout=0\nset default=0\nmenuentry \"rtvisor\" {{\n    multiboot2 {IMAGE_IN_ISO}{args}\n    boot\n}}\n"
    )
}

/// grub.cfg of a Linux ISO: boot the bzImage at once with `cmdline` and the initramfs.
pub fn grub_cfg_linux(cmdline: &str) -> String {
    format!(
        "set timeout=0\nset default=0\nmenuentry \"linux\" {{\n    linux {LINUX_IN_ISO} {cmdline}\n    \
         initrd {INITRD_IN_ISO}\n    boot\n}}\n"
    )
}

/// The `grub-mkrescue` command that turns `tree` into `iso`.
pub fn mkrescue(tree: &Path, iso: &Path) -> Command {
    mkrescue_with(tree, iso, GRUB_MODULES)
}

/// The same with GRUB's `modules`.
fn mkrescue_with(tree: &Path, iso: &Path, modules: &str) -> Command {
    let mut c = Command::new("grub-mkrescue");
    c.arg("-o")
        .arg(iso)
        .arg(format!("--install-modules={modules}"))
        .args(["--locales=", "--fonts=", "--themes="])
        .arg(tree);
    c
}

/// Builds `<dir>/<name>.iso` holding `elf`, booted with `cmdline`.
pub fn build(elf: &Path, cmdline: &str, dir: &Path, name: &str) -> Result<PathBuf> {
    let tree = dir.join(format!("{name}.isodir"));
    let _ = std::fs::remove_dir_all(&tree);
    let grub = tree.join("boot/grub");
    std::fs::create_dir_all(&grub).with_context(|| format!("creating {}", grub.display()))?;
    let image = tree.join(IMAGE_IN_ISO.trim_start_matches('/'));
    std::fs::copy(elf, &image)
        .with_context(|| format!("copying {} to {}", elf.display(), image.display()))?;
    std::fs::write(grub.join("grub.cfg"), grub_cfg(cmdline))?;
    let iso = dir.join(format!("{name}.iso"));
    make(&mut mkrescue(&tree, &iso))?;
    say(format!("ISO {} (command line {cmdline:?})", rel(&iso)));
    Ok(iso)
}

/// Builds `<dir>/<name>.iso` booting Linux: the bzImage `vmlinuz` with `cmdline` and
/// the initramfs `initrd`, through GRUB's `linux` and `initrd`.
pub fn build_linux(
    vmlinuz: &Path,
    initrd: &Path,
    cmdline: &str,
    dir: &Path,
    name: &str,
) -> Result<PathBuf> {
    let tree = dir.join(format!("{name}.isodir"));
    let _ = std::fs::remove_dir_all(&tree);
    let grub = tree.join("boot/grub");
    std::fs::create_dir_all(&grub).with_context(|| format!("creating {}", grub.display()))?;
    for (from, to) in [(vmlinuz, LINUX_IN_ISO), (initrd, INITRD_IN_ISO)] {
        let to = tree.join(to.trim_start_matches('/'));
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    std::fs::write(grub.join("grub.cfg"), grub_cfg_linux(cmdline))?;
    let iso = dir.join(format!("{name}.iso"));
    make(&mut mkrescue_with(&tree, &iso, GRUB_LINUX_MODULES))?;
    say(format!(
        "ISO {} (Linux, command line {cmdline:?})",
        rel(&iso)
    ));
    Ok(iso)
}

/// Runs a `grub-mkrescue` command.
fn make(c: &mut Command) -> Result<()> {
    // grub-mkrescue talks a lot on stderr (xorriso's progress); keep it quiet.
    c.stderr(std::process::Stdio::null());
    run(c).context("grub-mkrescue failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_config_boots_the_image_at_once_with_its_command_line() {
        let cfg = grub_cfg("fault=wx");
        assert!(cfg.starts_with("set timeout=0\n"));
        assert!(cfg.contains("    multiboot2 /boot/rtvisor.elf fault=wx\n    boot\n"));
        assert!(grub_cfg("").contains("multiboot2 /boot/rtvisor.elf\n"));
    }

    #[test]
    fn a_linux_iso_boots_the_bzimage_and_initramfs_at_once() {
        let cfg = grub_cfg_linux("console=ttyS0 nr_cpus=1");
        assert!(cfg.starts_with("set timeout=0\n"));
        assert!(cfg.contains(
            "    linux /boot/vmlinuz console=ttyS0 nr_cpus=1\n    initrd /boot/initrd.gz\n    boot\n"
        ));
        let c = mkrescue_with(Path::new("t"), Path::new("o.iso"), GRUB_LINUX_MODULES);
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert!(args.contains(&"--install-modules=linux normal iso9660 biosdisk part_msdos".into()));
    }

    #[test]
    fn the_iso_carries_only_the_modules_it_needs() {
        let c = mkrescue(Path::new("tree"), Path::new("out.iso"));
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(args[..2], ["-o", "out.iso"]);
        assert!(args.contains(&format!("--install-modules={GRUB_MODULES}")));
        assert_eq!(args.last().unwrap(), "tree");
    }
}
