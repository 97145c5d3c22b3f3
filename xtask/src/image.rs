//! The build pipeline: bare-metal guests, then one hypervisor image per scenario.
//!
//! ```text
//! cargo build -p rtbench -p probe         -> target/guests/<name>.{elf,bin}
//! RTVISOR_SCENARIO=<abs path> \
//! cargo build -p rtvisor-hypervisor       -> target/images/<scenario-stem>.{elf,bin}
//! ```
//!
//! The hypervisor's build.rs reads `RTVISOR_SCENARIO` and embeds the scenario's tables
//! and guest images, so the crate is rebuilt per scenario. Builds therefore take an
//! exclusive lock (`target/images/.build.lock`) from the cargo invocation until the
//! copy of the result, so two xtask processes never hand out each other's image.

use crate::elf::{self, RawImage};
use crate::util::{cargo, cargo_target_dir, out_dir, rel, run, say};
use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The Rust target of the guests.
pub const GUEST_TARGET: &str = "aarch64-unknown-none";
/// The Rust target of the hypervisor: soft-float, so hypervisor code never touches the
/// FP/SIMD registers that hold guest state (docs/architecture.md, "Running a vCPU").
pub const HV_TARGET: &str = "aarch64-unknown-none-softfloat";
/// The bare-metal guests and the file names of their binaries.
pub const GUESTS: &[&str] = &["rtbench", "probe"];
pub const HV_PACKAGE: &str = "rtvisor-hypervisor";
pub const HV_BIN: &str = "rtvisor-hv";
/// The environment variable the hypervisor's build.rs reads.
pub const SCENARIO_ENV: &str = "RTVISOR_SCENARIO";
/// QEMU `virt` RAM base; a raw guest is loaded at RAM base + 0x8_0000.
pub const RAM_BASE: u64 = 0x4000_0000;
pub const RAW_GUEST_LOAD: u64 = RAM_BASE + 0x8_0000;

/// The two forms of a hypervisor image.
#[derive(Debug, Clone)]
pub struct Image {
    pub elf: PathBuf,
    pub bin: PathBuf,
}

impl Image {
    /// Where `build_image` puts the image for `scenario` (whether or not it exists yet).
    pub fn for_scenario(scenario: &Path) -> Result<Image> {
        let stem = scenario
            .file_stem()
            .with_context(|| format!("{}: not a file name", scenario.display()))?
            .to_string_lossy()
            .into_owned();
        let dir = out_dir("images")?;
        Ok(Image {
            elf: dir.join(format!("{stem}.elf")),
            bin: dir.join(format!("{stem}.bin")),
        })
    }

    pub fn pick(&self, use_elf: bool) -> &Path {
        if use_elf {
            &self.elf
        } else {
            &self.bin
        }
    }
}

/// Holds the build lock until dropped.
struct BuildLock(File);

impl BuildLock {
    fn take() -> Result<BuildLock> {
        let path = out_dir("images")?.join(".build.lock");
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        if f.try_lock().is_err() {
            say("another xtask is building; waiting for target/images/.build.lock ...");
            f.lock().context("locking the build lock")?;
        }
        Ok(BuildLock(f))
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn release_dir(target: &str) -> PathBuf {
    cargo_target_dir().join(target).join("release")
}

/// Reads `elf_path`, writes its raw form to `bin_path`, returns the layout.
fn convert(elf_path: &Path, bin_path: &Path) -> Result<RawImage> {
    let bytes =
        std::fs::read(elf_path).with_context(|| format!("reading {}", elf_path.display()))?;
    let parsed = elf::parse(&bytes).with_context(|| elf_path.display().to_string())?;
    ensure!(
        parsed.machine == elf::EM_AARCH64,
        "{}: e_machine is {}, expected {} (aarch64)",
        elf_path.display(),
        parsed.machine,
        elf::EM_AARCH64
    );
    let raw = elf::to_raw(&bytes).with_context(|| elf_path.display().to_string())?;
    std::fs::write(bin_path, &raw.bytes)
        .with_context(|| format!("writing {}", bin_path.display()))?;
    Ok(raw)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Builds the guests and writes `target/guests/<name>.{elf,bin}`.
pub fn build_guests() -> Result<()> {
    let _lock = BuildLock::take()?;
    say(format!("building guests ({}) ...", GUESTS.join(", ")));
    let mut c = cargo();
    c.args(["build", "--release", "--target", GUEST_TARGET]);
    for g in GUESTS {
        c.args(["-p", g]);
    }
    run(&mut c)?;
    let dir = out_dir("guests")?;
    for g in GUESTS {
        let built = release_dir(GUEST_TARGET).join(g);
        let (elf_out, bin_out) = (dir.join(format!("{g}.elf")), dir.join(format!("{g}.bin")));
        copy(&built, &elf_out)?;
        let raw = convert(&built, &bin_out)?;
        say(format!(
            "guest {g}: load {:#x}, {} bytes (memory end {:#x}) -> {}",
            raw.load_addr,
            raw.bytes.len(),
            raw.mem_end,
            rel(&bin_out)
        ));
        if raw.load_addr != RAW_GUEST_LOAD {
            say(format!(
                "warning: guest {g} is linked at {:#x}, but a raw image is loaded at {RAW_GUEST_LOAD:#x} \
                 (RAM base + 0x8_0000); it only runs if it is position-independent",
                raw.load_addr
            ));
        }
    }
    Ok(())
}

/// Builds the hypervisor for `scenario` (an absolute path) and writes both image forms.
pub fn build_image(scenario: &Path) -> Result<Image> {
    ensure!(
        scenario.is_absolute(),
        "scenario path must be absolute: {}",
        scenario.display()
    );
    ensure!(
        scenario.is_file(),
        "scenario {} does not exist",
        scenario.display()
    );
    let image = Image::for_scenario(scenario)?;
    let _lock = BuildLock::take()?;
    say(format!("building the hypervisor for {} ...", rel(scenario)));
    let mut c = cargo();
    c.env(SCENARIO_ENV, scenario).args([
        "build",
        "--release",
        "--target",
        HV_TARGET,
        "-p",
        HV_PACKAGE,
    ]);
    run(&mut c)?;
    let built = release_dir(HV_TARGET).join(HV_BIN);
    make_image(&built, &image)?;
    Ok(image)
}

/// Copies a hypervisor ELF to `image.elf`, writes its raw form to `image.bin`, checks
/// the arm64 Image header and prints the layout.
pub fn make_image(built: &Path, image: &Image) -> Result<()> {
    if built != image.elf {
        copy(built, &image.elf)?;
    }
    let raw = convert(built, &image.bin)?;
    let hdr = check_image_header(&raw.bytes).with_context(|| rel(&image.bin))?;
    say(format!(
        "image {}: load {:#x}, entry {:#x}, file {:#x} bytes, image_size {:#x}, text_offset {:#x}",
        rel(&image.bin),
        raw.load_addr,
        raw.entry,
        raw.bytes.len(),
        hdr.image_size,
        hdr.text_offset
    ));
    say(format!(
        "image {}: ELF form of the same build",
        rel(&image.elf)
    ));
    let qemu_load = RAM_BASE + hdr.text_offset;
    if qemu_load != raw.load_addr {
        say(format!(
            "warning: QEMU loads the raw image at RAM base + text_offset = {qemu_load:#x}, \
             but it is linked at {:#x}; it only boots if it relocates itself",
            raw.load_addr
        ));
    }
    Ok(())
}

/// The fields of the Linux arm64 Image header that matter to a boot loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub text_offset: u64,
    pub image_size: u64,
    pub flags: u64,
}

/// Checks the Linux arm64 Image header at the start of a raw image
/// (Documentation/arch/arm64/booting.rst): magic "ARM\x64" at offset 56, a non-zero
/// `image_size` at offset 16 covering at least the file, little-endian kernel flag.
pub fn check_image_header(raw: &[u8]) -> Result<ImageHeader> {
    ensure!(
        raw.len() >= 64,
        "raw image is {} bytes, shorter than the 64-byte arm64 Image header",
        raw.len()
    );
    let u64_at = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().expect("8 bytes"));
    if raw[56..60] != *b"ARM\x64" {
        bail!(
            "no Linux arm64 Image header: expected magic \"ARM\\x64\" at offset 56, found {:02x?}; \
             the hypervisor's entry must start with the Image header so QEMU -kernel and U-Boot booti accept it",
            &raw[56..60]
        );
    }
    let hdr = ImageHeader {
        text_offset: u64_at(8),
        image_size: u64_at(16),
        flags: u64_at(24),
    };
    ensure!(
        hdr.image_size != 0,
        "arm64 Image header: image_size (offset 16) is 0"
    );
    ensure!(
        hdr.image_size >= raw.len() as u64,
        "arm64 Image header: image_size {:#x} is smaller than the file ({:#x} bytes)",
        hdr.image_size,
        raw.len()
    );
    ensure!(
        hdr.flags & 1 == 0,
        "arm64 Image header: flags bit 0 says big-endian"
    );
    Ok(hdr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::synth;

    fn header(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
        let mut h = vec![0u8; len];
        h[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes()); // b +64
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&0xau64.to_le_bytes());
        h[56..60].copy_from_slice(b"ARM\x64");
        h
    }

    #[test]
    fn accepts_a_good_header_from_an_elf() {
        // The header is produced the way the hypervisor will: as the first bytes of
        // its lowest PT_LOAD segment, followed by a bss-only segment.
        let elf = synth(
            0x4020_0000,
            &[(0x4020_0000, &header(0x20_0000, 0x3_0000, 0x100), 0x100)],
        );
        let raw = elf::to_raw(&elf).unwrap();
        let hdr = check_image_header(&raw.bytes).unwrap();
        assert_eq!(
            hdr,
            ImageHeader {
                text_offset: 0x20_0000,
                image_size: 0x3_0000,
                flags: 0xa
            }
        );
        assert_eq!(RAM_BASE + hdr.text_offset, raw.load_addr);
    }

    #[test]
    fn rejects_bad_headers() {
        let err = |b: &[u8]| check_image_header(b).unwrap_err().to_string();
        assert!(err(&[0u8; 32]).contains("shorter"));
        let mut no_magic = header(0, 0x1000, 64);
        no_magic[56] = b'X';
        assert!(err(&no_magic).contains("magic"));
        assert!(err(&header(0, 0, 64)).contains("image_size (offset 16) is 0"));
        assert!(err(&header(0, 0x40, 0x80)).contains("smaller than the file"));
        let mut be = header(0, 0x1000, 64);
        be[24] = 1;
        assert!(err(&be).contains("big-endian"));
    }

    #[test]
    fn image_paths_follow_the_scenario_stem() {
        let img = Image::for_scenario(Path::new("/x/tests/scenarios/two-vms.toml")).unwrap();
        assert!(img.bin.ends_with("target/images/two-vms.bin"));
        assert!(img.pick(true).ends_with("target/images/two-vms.elf"));
    }
}
