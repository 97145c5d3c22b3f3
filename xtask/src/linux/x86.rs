//! Debian's stock amd64 Linux as an x86 guest, cached under `target/linux-x86/`.
//!
//! The same private apt state as arm64 (`apt`, under `target/linux-x86/apt/`) fetches
//! `linux-image-<abi>-amd64` and `busybox-static:amd64`. Debian ships a bzImage, whose
//! boot code the PVH entry does not use: `bzimage` takes out the compressed vmlinux and
//! decompresses it to `target/linux-x86/vmlinux`, an ELF that must carry the
//! XEN_ELFNOTE_PHYS32_ENTRY note (the config crate loads it at that entry). The
//! initramfs is the arm64 one's layout and `/init`, with the x86_64 `/bin/vclock`
//! (`vclock_x86`: the TSC at `/init`'s start and at its ready line) and the modules of
//! [`WANTED_MODULES`] with what they depend on: Debian builds the 8250 UART into its
//! kernel, but virtio, virtio-pci, virtio-blk, virtio-net and ext4 as modules. The
//! test disk (`disk`, the arm64 guest's: ext4 holding `hello.txt`) is
//! `target/linux-x86/disk.img`, which scenarios/x86-linux.toml plugs into q35 as a
//! virtio-blk-pci function; `/init` mounts it on /mnt when Linux has it.

use super::{apt, bzimage, disk, initramfs, kernel, modules, vclock_x86};
use crate::util::{out_dir, rel, say};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Bump when the way the outputs are built changes, to force a rebuild from the cache.
const BUILD_VERSION: u32 = 3;

/// The modules `/init` loads (their dependencies are added): the drivers of a
/// virtio-blk-pci disk holding ext4 and of a virtio-net-pci NIC.
pub const WANTED_MODULES: &[&str] = &["virtio_blk", "virtio_net", "virtio_pci", "ext4"];

/// The x86 guest's files.
#[derive(Debug, Clone)]
pub struct LinuxX86 {
    /// `target/linux-x86/vmlinux`: the ELF with the PVH entry note.
    pub vmlinux: PathBuf,
    /// Debian's bzImage itself (`kernel/boot/vmlinuz-<release>`): what a Linux loader
    /// such as GRUB's `linux` boots, decompressing its own payload.
    pub vmlinuz: PathBuf,
    /// `target/linux-x86/initramfs.cpio.gz`.
    pub initramfs: PathBuf,
    /// `target/linux-x86/disk.img`: ext4 with `hello.txt` ([`disk::HELLO`]).
    pub disk: PathBuf,
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    pub release: String,
}

/// Whether the scenario at `scenario` boots this guest (names a file under
/// `target/linux-x86/`).
pub fn needed_by(scenario: &Path) -> bool {
    fs::read_to_string(scenario).is_ok_and(|s| s.contains("target/linux-x86/"))
}

/// Makes sure `vmlinux`, the initramfs and the disk exist under `target/linux-x86/`,
/// fetching with apt only when the cache is empty or `refresh` is set.
pub fn ensure(refresh: bool) -> Result<LinuxX86> {
    let dir = out_dir("linux-x86")?;
    let (kernel_root, busybox_root) = (dir.join("kernel"), dir.join("busybox"));
    let fetched = super::fetch(
        &dir,
        apt::DebArch::Amd64,
        &kernel_root,
        &busybox_root,
        refresh,
    )?;
    let unpacked = kernel::find(&kernel_root)?;
    let l = LinuxX86 {
        vmlinux: dir.join("vmlinux"),
        vmlinuz: unpacked.vmlinuz.clone(),
        initramfs: dir.join("initramfs.cpio.gz"),
        disk: dir.join("disk.img"),
        release: unpacked.release.clone(),
    };
    let closure = modules::Index::load(&unpacked.modules)?.closure(WANTED_MODULES, &[])?;
    let names: Vec<String> = closure.load.iter().map(|(n, _)| n.clone()).collect();
    let key = format!(
        "build-version {BUILD_VERSION}\n{fetched}init {:016x}\nrtstats {:016x}\nvclock {:016x}\n\
         disk {:?}\n",
        super::fnv1a(initramfs::init_script(&names, true).as_bytes()),
        super::fnv1a(initramfs::RTSTATS.as_bytes()),
        super::fnv1a(&vclock_x86::elf()),
        disk::HELLO,
    );
    let stamp = dir.join("build.stamp");
    let outputs_exist = [&l.vmlinux, &l.initramfs, &l.disk]
        .iter()
        .all(|p| p.is_file());
    if !refresh && outputs_exist && fs::read_to_string(&stamp).is_ok_and(|t| t == key) {
        return Ok(l);
    }
    if stamp.exists() {
        fs::remove_file(&stamp)?;
    }
    let bz = fs::read(&unpacked.vmlinuz)
        .with_context(|| format!("reading {}", unpacked.vmlinuz.display()))?;
    let (vmlinux, how) = bzimage::vmlinux(&bz)?;
    let entry = bzimage::pvh_entry(&vmlinux)?;
    say(format!(
        "{}: {how} payload, {} bytes of vmlinux, PVH entry {entry:#x}",
        rel(&unpacked.vmlinuz),
        vmlinux.len()
    ));
    fs::write(&l.vmlinux, &vmlinux)?;
    let contents = initramfs::Contents {
        busybox: super::busybox_in(&busybox_root)?,
        modules: closure.load,
        vclock: Some(vclock_x86::elf()),
    };
    fs::write(&l.initramfs, initramfs::build(&contents)?)?;
    disk::build(&l.disk, &dir.join("disk-root"))?;
    fs::write(&stamp, key)?;
    say(format!(
        "built {}, {} and {}; /init loads {}",
        rel(&l.vmlinux),
        rel(&l.initramfs),
        rel(&l.disk),
        names.join(" ")
    ));
    Ok(l)
}

/// `cargo xtask linux --x86`: ensure the files and print them.
pub fn command(refresh: bool) -> Result<()> {
    let l = ensure(refresh)?;
    say(format!("kernel release {}", l.release));
    say(format!("  vmlinux   {}", l.vmlinux.display()));
    say(format!("  initramfs {}", l.initramfs.display()));
    say(format!("  disk      {}", l.disk.display()));
    Ok(())
}
