//! The kernel inside the unpacked linux-image .deb: its release and its arm64 Image.
//!
//! Debian ships `boot/vmlinuz-<release>`. On arm64 that is a plain `Image` today, but
//! a gzip-compressed one (what `make Image.gz` gives) is unpacked too: a hypervisor
//! that places the kernel in guest memory needs the raw Image and its header.

use anyhow::{bail, ensure, Context, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The arm64 Image header magic `ARM\x64`, at byte 0x38.
const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";

/// The kernel files found in an unpacked linux-image .deb.
#[derive(Debug)]
pub struct Unpacked {
    pub release: String,
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>`.
    pub modules: PathBuf,
}

/// Finds `boot/vmlinuz-<release>` and `lib/modules/<release>` under `root`.
pub fn find(root: &Path) -> Result<Unpacked> {
    let boot = root.join("boot");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&boot).with_context(|| format!("reading {}", boot.display()))? {
        let path = e?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(rel) = name.strip_prefix("vmlinuz-") {
            found.push((rel.to_string(), path));
        }
    }
    let (release, vmlinuz) = match found.len() {
        1 => found.remove(0),
        0 => bail!("no boot/vmlinuz-* in {}", root.display()),
        _ => bail!("more than one boot/vmlinuz-* in {}", root.display()),
    };
    // Debian keeps modules under usr/lib on merged-/usr systems; accept both.
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| root.join(d).join(&release))
        .find(|d| d.is_dir())
        .with_context(|| format!("no lib/modules/{release} in {}", root.display()))?;
    Ok(Unpacked {
        release,
        vmlinuz,
        modules,
    })
}

/// The raw arm64 Image from a vmlinuz file's bytes (gunzipped when it is gzip).
pub fn image_bytes(vmlinuz: &[u8]) -> Result<Vec<u8>> {
    let image = if vmlinuz.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(vmlinuz)
            .read_to_end(&mut out)
            .context("gunzipping the kernel")?;
        out
    } else {
        vmlinuz.to_vec()
    };
    ensure!(
        image.get(0x38..0x3c) == Some(IMAGE_MAGIC),
        "the kernel is not an arm64 Image (no ARM\\x64 magic at 0x38)"
    );
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn fake_image() -> Vec<u8> {
        let mut img = vec![0u8; 0x100];
        img[0x38..0x3c].copy_from_slice(IMAGE_MAGIC);
        img
    }

    #[test]
    fn plain_and_gzip_images() {
        let img = fake_image();
        assert_eq!(image_bytes(&img).unwrap(), img);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&img).unwrap();
        assert_eq!(image_bytes(&gz.finish().unwrap()).unwrap(), img);
        assert!(image_bytes(&[0u8; 0x100]).is_err());
    }
}
