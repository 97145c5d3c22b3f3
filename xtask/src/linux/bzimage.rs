//! The vmlinux inside an x86 bzImage (Debian's `vmlinuz`), for the PVH entry.
//!
//! A bzImage is the real-mode setup code, then the protected-mode part: a small
//! decompressor and the compressed vmlinux. The setup header (Linux's
//! Documentation/arch/x86/boot.rst) says where: `setup_sects` at 0x1f1 (0 means 4),
//! the magic `HdrS` at 0x202, `payload_offset` and `payload_length` at 0x248 and
//! 0x24c, counted from the start of the protected-mode part, `(setup_sects + 1) * 512`.
//! The payload's own magic names its compression: gzip is unpacked here (flate2), xz
//! (Debian's choice: CONFIG_KERNEL_XZ) by the `xz` tool, reading one stream (the
//! kernel build appends the uncompressed size after it).

use super::tools::ensure_tool;
use anyhow::{bail, ensure, Context, Result};
use flate2::read::GzDecoder;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// Other compressions a kernel may use, named in the error.
const OTHER_MAGICS: &[(&[u8], &str)] = &[
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
    (&[0x02, 0x21, 0x4c, 0x18], "lz4"),
    (b"BZh", "bzip2"),
    (&[0x5d, 0x00, 0x00], "lzma"),
    (&[0x89, b'L', b'Z', b'O'], "lzo"),
];

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The compressed payload of a bzImage.
pub fn payload(bz: &[u8]) -> Result<&[u8]> {
    ensure!(
        bz.get(0x202..0x206) == Some(b"HdrS".as_slice()),
        "not an x86 bzImage (no HdrS setup header at 0x202)"
    );
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let (Some(offset), Some(length)) = (u32_at(bz, 0x248), u32_at(bz, 0x24c)) else {
        bail!("the bzImage's setup header is too short for payload_offset/payload_length");
    };
    let start = (setup_sects + 1) * 512 + offset as usize;
    let end = start + length as usize;
    bz.get(start..end).with_context(|| {
        format!(
            "the bzImage's payload ({start:#x}..{end:#x}) lies beyond its {} bytes",
            bz.len()
        )
    })
}

/// Decompresses a bzImage's payload to the vmlinux ELF. Returns it and the name of
/// the compression.
pub fn vmlinux(bz: &[u8]) -> Result<(Vec<u8>, &'static str)> {
    let p = payload(bz)?;
    let (elf, how) = if p.starts_with(GZIP_MAGIC) {
        let mut out = Vec::new();
        GzDecoder::new(p)
            .read_to_end(&mut out)
            .context("gunzipping the bzImage's payload")?;
        (out, "gzip")
    } else if p.starts_with(XZ_MAGIC) {
        (unxz(p)?, "xz")
    } else if let Some((_, name)) = OTHER_MAGICS.iter().find(|(m, _)| p.starts_with(m)) {
        bail!("the bzImage's payload is {name}-compressed; only gzip and xz are unpacked");
    } else {
        bail!(
            "the bzImage's payload has an unknown compression (starts {:02x?})",
            &p[..p.len().min(8)]
        );
    };
    ensure!(
        elf.starts_with(b"\x7fELF") && elf.get(4) == Some(&2),
        "the bzImage's payload ({how}) is not an ELF64 vmlinux"
    );
    Ok((elf, how))
}

/// The PVH entry of a vmlinux: its XEN_ELFNOTE_PHYS32_ENTRY note (CONFIG_PVH).
pub fn pvh_entry(vmlinux: &[u8]) -> Result<u64> {
    match rtvisor_config::image_x86::pvh_entry(vmlinux) {
        Ok(Some(e)) => Ok(e),
        Ok(None) => bail!(
            "the vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note: the kernel was built \
             without CONFIG_PVH and cannot be booted by the PVH entry"
        ),
        Err(e) => bail!("the vmlinux has a malformed note: {e}"),
    }
}

/// `xz --decompress --single-stream` on `data`.
fn unxz(data: &[u8]) -> Result<Vec<u8>> {
    let xz = ensure_tool(crate::setup::XZ)?;
    let mut child = Command::new(&xz)
        .args(["--decompress", "--stdout", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {}", xz.display()))?;
    let mut stdin = child.stdin.take().context("xz's stdin")?;
    let input = data.to_vec();
    // Feed it from a thread: xz writes while it reads, and both pipes are bounded.
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the thread feeding xz panicked"))?
        .context("writing to xz")?;
    ensure!(
        out.status.success(),
        "xz failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};

    /// A bzImage-shaped file: 2 setup sectors, then the protected-mode part whose
    /// payload (at `offset` into it) is `payload`.
    fn fake_bzimage(payload: &[u8], offset: u32) -> Vec<u8> {
        let pm = 3 * 512;
        let mut b = vec![0u8; pm + offset as usize];
        b[0x1f1] = 2;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x248..0x24c].copy_from_slice(&offset.to_le_bytes());
        b[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(payload);
        b.extend_from_slice(&[0xaa; 16]);
        b
    }

    #[test]
    fn finds_the_payload_from_the_setup_header() {
        let b = fake_bzimage(b"compressed", 0x40);
        assert_eq!(payload(&b).unwrap(), b"compressed");
        let mut short = b.clone();
        short.truncate(3 * 512 + 0x40 + 4);
        assert!(payload(&short).is_err());
        assert!(payload(&[0u8; 0x300]).is_err());
    }

    #[test]
    fn unpacks_a_gzip_payload_and_checks_for_elf64() {
        let elf = b"\x7fELF\x02rest of a vmlinux".to_vec();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&elf).unwrap();
        let b = fake_bzimage(&gz.finish().unwrap(), 0x10);
        assert_eq!(vmlinux(&b).unwrap(), (elf, "gzip"));
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"not an elf").unwrap();
        assert!(vmlinux(&fake_bzimage(&gz.finish().unwrap(), 0)).is_err());
    }

    #[test]
    fn names_a_compression_it_does_not_unpack() {
        let b = fake_bzimage(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3], 0);
        let e = vmlinux(&b).unwrap_err().to_string();
        assert!(e.contains("zstd"), "{e}");
    }
}
