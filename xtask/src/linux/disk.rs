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
    let mke2fs = ensure_tool(crate::setup::MKE2FS)?;
    if staging.exists() {
        fs::remove_dir_all(staging)?;
    }
    fs::create_dir_all(staging)?;
    fs::write(staging.join("hello.txt"), format!("{HELLO}\n"))?;
    if image.exists() {
        fs::remove_file(image).with_context(|| format!("removing {}", image.display()))?;
    }
    let mut c = Command::new(mke2fs);
    c.args(["-q", "-t", "ext4", "-F", "-L", "rtvisor", "-d"])
        .arg(staging)
        .arg(image)
        .arg(SIZE);
    run(&mut c)
}
