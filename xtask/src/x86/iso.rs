//! The bootable ISO: GRUB (BIOS, `grub-pc-bin`) made by `grub-mkrescue` (with
//! `xorriso`; `mtools` for the EFI image it makes when EFI GRUB is installed), loading
//! the image with `multiboot2`, the way ACRN is booted.

use crate::util::{rel, run, say};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the image sits inside the ISO.
pub const IMAGE_IN_ISO: &str = "/boot/rtvisor.elf";
/// The only GRUB modules the ISO carries (a small ISO boots faster under Bochs).
pub const GRUB_MODULES: &str = "multiboot2 normal iso9660 biosdisk part_msdos";

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

/// The `grub-mkrescue` command that turns `tree` into `iso`.
pub fn mkrescue(tree: &Path, iso: &Path) -> Command {
    let mut c = Command::new("grub-mkrescue");
    c.arg("-o")
        .arg(iso)
        .arg(format!("--install-modules={GRUB_MODULES}"))
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
    let mut c = mkrescue(&tree, &iso);
    // grub-mkrescue talks a lot on stderr (xorriso's progress); keep it quiet.
    c.stderr(std::process::Stdio::null());
    run(&mut c).context("grub-mkrescue failed")?;
    say(format!("ISO {} (command line {cmdline:?})", rel(&iso)));
    Ok(iso)
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
    fn the_iso_carries_only_the_modules_it_needs() {
        let c = mkrescue(Path::new("tree"), Path::new("out.iso"));
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(args[..2], ["-o", "out.iso"]);
        assert!(args.contains(&format!("--install-modules={GRUB_MODULES}")));
        assert_eq!(args.last().unwrap(), "tree");
    }
}
