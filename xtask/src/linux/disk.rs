//! The guest's test disk: a small ext4 filesystem made with `mke2fs -d`.
//!
//! It holds one file, `hello.txt`, whose only line is [`HELLO`]; a guest that can
//! `cat /mnt/hello.txt` has a working virtio-blk path and ext4.

use super::tools::ensure_tool;
use crate::util::run;
use anyhow::{Context, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The one line of `hello.txt`.
pub const HELLO: &str = "rtvisor virtio-blk ok";
/// Size of the filesystem (mke2fs size syntax).
const SIZE: &str = "8M";

/// Writes `image` (replacing it), using `staging` as the directory mke2fs copies in.
pub fn build(image: &Path, staging: &Path) -> Result<()> {
    build_with(image, staging, &[], SIZE)
}

/// Like [`build`], with `files` (name on the disk, file to copy) beside `hello.txt`,
/// on a filesystem large enough for them: a boot disk (U-Boot loads the kernel and
/// initramfs from it).
pub fn build_boot(image: &Path, staging: &Path, files: &[(&str, &Path)]) -> Result<()> {
    let mut bytes = 0;
    for (_, f) in files {
        bytes += fs::metadata(f)
            .with_context(|| format!("reading {}", f.display()))?
            .len();
    }
    // Room for ext4's own structures (journal, inode tables) besides the files.
    let mib = bytes.div_ceil(1 << 20) + 16;
    build_with(image, staging, files, &format!("{mib}M"))
}

fn build_with(image: &Path, staging: &Path, files: &[(&str, &Path)], size: &str) -> Result<()> {
    let mke2fs = ensure_tool(crate::setup::MKE2FS)?;
    if staging.exists() {
        fs::remove_dir_all(staging)?;
    }
    fs::create_dir_all(staging)?;
    fs::write(staging.join("hello.txt"), format!("{HELLO}\n"))?;
    for (name, from) in files {
        fs::copy(from, staging.join(name))
            .with_context(|| format!("copying {} to the disk", from.display()))?;
    }
    if image.exists() {
        fs::remove_file(image).with_context(|| format!("removing {}", image.display()))?;
    }
    let mut c = Command::new(mke2fs);
    c.args(["-q", "-t", "ext4", "-F", "-L", "rtvisor", "-d"])
        .arg(staging)
        .arg(image)
        .arg(size);
    run(&mut c)
}
