//! The build pipeline: bare-metal guests, then one hypervisor image per scenario.
//!
//! ```text
//! cargo build -p rtbench -p probe -p bootinfo  -> target/guests/<name>.{elf,bin}
//!   (--target x86_64-unknown-none, rtbench and probe) -> target/guests/<name>-x86.elf (PVH ELF)
//! RTVISOR_GENERATED=<images>/<stem>.gen \
//! cargo build -p rtvisor-hypervisor       -> target/images/<scenario-stem>.{elf,bin}
//! ```
//!
//! The hypervisor image is built by `rtvisor build` (the `rtvisor` crate, used as a
//! library): it checks the scenario once and generates its tables, guest images and
//! linker script from the plan; the hypervisor's build.rs takes that directory as is
//! (`RTVISOR_GENERATED`), so the crate is rebuilt per scenario under `rtvisor::build::BuildLock`,
//! which the guest build here takes too. ELF to raw conversion and the Image-header check
//! are `rtvisor_config::bootimage`.

use crate::util::{cargo, cargo_target_dir, out_dir, rel, run, say};
use anyhow::{anyhow, ensure, Context, Result};
use rtvisor_config::bootimage::{self, RawImage};
use std::path::{Path, PathBuf};

/// The Rust target of the guests.
pub const GUEST_TARGET: &str = "aarch64-unknown-none";
/// The Rust target of the x86_64 guests (booted the PVH way, as ELF files).
pub const X86_GUEST_TARGET: &str = "x86_64-unknown-none";
/// The Rust target of the hypervisor: soft-float, so hypervisor code never touches the
/// FP/SIMD registers that hold guest state (docs/architecture.md, "Running a vCPU").
pub use rtvisor::build::HV_TARGET;
/// The bare-metal guests and the file names of their binaries.
pub const GUESTS: &[&str] = &["rtbench", "probe", "bootinfo", "conform"];
/// Guests linked at 0 that run wherever they are loaded (an arm64 Image header first).
const ANYWHERE: &[&str] = &["bootinfo"];
/// The guests that also build for x86_64 (bootinfo is an arm64 Image in assembly).
pub const X86_GUESTS: &[&str] = &["rtbench", "probe"];
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

fn release_dir(target: &str) -> PathBuf {
    cargo_target_dir().join(target).join("release")
}

/// Reads `elf_path`, writes its raw form to `bin_path`, returns the layout.
fn convert(elf_path: &Path, bin_path: &Path) -> Result<RawImage> {
    let bytes =
        std::fs::read(elf_path).with_context(|| format!("reading {}", elf_path.display()))?;
    let raw = bootimage::to_raw(&bytes).map_err(|e| anyhow!("{}: {e}", elf_path.display()))?;
    std::fs::write(bin_path, &raw.bytes)
        .with_context(|| format!("writing {}", bin_path.display()))?;
    Ok(raw)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Where the x86_64 form of guest `name` goes.
pub fn x86_guest(name: &str) -> Result<PathBuf> {
    Ok(out_dir("guests")?.join(format!("{name}-x86.elf")))
}

/// Builds the guests and writes `target/guests/<name>.{elf,bin}`, and the x86_64
/// forms `target/guests/<name>-x86.elf`.
pub fn build_guests() -> Result<()> {
    let _lock = rtvisor::build::BuildLock::take(&out_dir("images")?)?;
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
            raw.load,
            raw.bytes.len(),
            raw.mem_end,
            rel(&bin_out)
        ));
        if raw.load != RAW_GUEST_LOAD && !ANYWHERE.contains(g) {
            say(format!(
                "warning: guest {g} is linked at {:#x}, but a raw image is loaded at {RAW_GUEST_LOAD:#x} \
                 (RAM base + 0x8_0000); it only runs if it is position-independent",
                raw.load
            ));
        }
    }
    build_x86_guests()
}

/// Builds only the x86_64 guests, under the build lock.
pub fn build_x86_guests_only() -> Result<()> {
    let _lock = rtvisor::build::BuildLock::take(&out_dir("images")?)?;
    say("building the x86_64 guests ...".to_string());
    build_x86_guests()
}

/// Builds the x86_64 guests (PVH ELF files) into `target/guests/<name>-x86.elf`,
/// checking each has its PVH entry note. The caller holds the build lock.
fn build_x86_guests() -> Result<()> {
    let mut c = cargo();
    c.args(["build", "--release", "--target", X86_GUEST_TARGET]);
    for g in X86_GUESTS {
        c.args(["-p", g]);
    }
    run(&mut c)?;
    for g in X86_GUESTS {
        let built = release_dir(X86_GUEST_TARGET).join(g);
        let out = x86_guest(g)?;
        copy(&built, &out)?;
        let entry = crate::x86::check_pvh(&out)?;
        say(format!(
            "guest {g} (x86_64): PVH entry {entry:#x} -> {}",
            rel(&out)
        ));
    }
    Ok(())
}

/// Builds the hypervisor for `scenario` (an absolute path) and writes both image forms,
/// through `rtvisor build` (the same code as the host command, under the same lock).
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
    say(format!("building the hypervisor for {} ...", rel(scenario)));
    let (_plan, raw) = rtvisor::build::build(scenario, &image.bin, Some(&image.elf))?;
    report(&image, &raw)
}

/// Copies a hypervisor ELF to `image.elf`, writes its raw form to `image.bin`, checks
/// the arm64 Image header and prints the layout (`cargo xtask image ELF`).
pub fn make_image(built: &Path, image: &Image) -> Result<()> {
    if built != image.elf {
        copy(built, &image.elf)?;
    }
    let raw = convert(built, &image.bin)?;
    report(image, &raw).map(|_| ())
}

/// Checks the arm64 Image header of a written image and prints its layout.
fn report(image: &Image, raw: &RawImage) -> Result<Image> {
    let hdr =
        bootimage::arm64_header(&raw.bytes).map_err(|e| anyhow!("{}: {e}", rel(&image.bin)))?;
    say(format!(
        "image {}: load {:#x}, entry {:#x}, file {:#x} bytes, image_size {:#x}, text_offset {:#x}",
        rel(&image.bin),
        raw.load,
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
    if qemu_load != raw.load {
        say(format!(
            "warning: QEMU loads the raw image at RAM base + text_offset = {qemu_load:#x}, \
             but it is linked at {:#x}; it only boots if it relocates itself",
            raw.load
        ));
    }
    Ok(image.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_follow_the_scenario_stem() {
        let img = Image::for_scenario(Path::new("/x/tests/scenarios/two-vms.toml")).unwrap();
        assert!(img.bin.ends_with("target/images/two-vms.bin"));
        assert!(img.pick(true).ends_with("target/images/two-vms.elf"));
    }
}
