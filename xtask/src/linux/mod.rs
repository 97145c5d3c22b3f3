//! Debian's stock arm64 Linux as a guest: the kernel, an initramfs and a test disk,
//! cached under `target/linux/`.
//!
//! - `apt`: fetches `linux-image-<abi>-arm64` (whatever `linux-image-arm64` depends on
//!   today) and `busybox-static` with a private apt state; the machine's apt is untouched.
//! - `kernel`: the release and the raw arm64 `Image` from the unpacked .deb.
//! - `modules` + `elf`: the modules the guest needs, in dependency order, read from
//!   each `.ko`'s `.modinfo` (the .deb has no modules.dep).
//! - `cpio` + `initramfs`: the gzip'd newc initramfs and its `/init`.
//! - `vclock`: `/bin/vclock`, which prints the virtual counter (boot-time figures).
//! - `disk`: an 8 MiB ext4 image holding `hello.txt`.
//! - `boot`: `cargo xtask linux --boot-bare`, the same kernel under QEMU without rtvisor.
//! - `x86` + `bzimage`: Debian's amd64 kernel for the x86 VMs (`cargo xtask linux
//!   --x86`, `target/linux-x86/`): the PVH vmlinux out of the bzImage, an initramfs.
//!
//! Caching: `fetch.stamp` names the .debs that were fetched and unpacked; while it and
//! the unpacked trees exist, nothing touches the network (`--refresh` fetches again).
//! `build.stamp` records what the Image, initramfs and disk were made from; they are
//! rebuilt only when that changes.

pub(crate) mod apt;
mod boot;
mod bzimage;
mod cpio;
pub(crate) mod disk;
mod elf;
mod initramfs;
mod kernel;
mod modules;
pub(crate) mod tools;
pub(crate) mod vclock;
pub(crate) mod vclock_x86;
pub mod x86;

pub use boot::{bare_command, boot_bare};
pub use disk::HELLO;
pub use initramfs::{DISK_FAILED, DISK_MOUNTED, NO_DISK, READY};

/// Whether the scenario at `scenario` boots this guest (names a file under
/// `target/linux/`): then its images (and the disk its `[[qemu-device]]` names) must
/// exist before the hypervisor is built and QEMU starts.
pub fn needed_by(scenario: &Path) -> bool {
    fs::read_to_string(scenario).is_ok_and(|s| s.contains("target/linux/"))
}

use crate::util::{out_dir, rel, say};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The modules the guest loads (their dependencies are added).
pub const WANTED_MODULES: &[&str] = &[
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    // After virtio_blk, so the virtio-mmio disk is vda and a PCI disk comes next.
    "virtio_pci",
    "ext4",
    "uio",
    "uio_pdrv_genirq",
    // The doorbell GPIO's key events reach user space through these.
    "evdev",
    "gpio_keys",
];

/// Wanted modules this kernel may lack; then they are reported, not an error. Debian
/// builds its arm64 kernel with `# CONFIG_UIO_PDRV_GENIRQ is not set`, so the stock
/// kernel has uio.ko but no driver binding `generic-uio` device-tree nodes.
pub const OPTIONAL_MODULES: &[&str] = &["uio_pdrv_genirq"];

/// Bump when the way the outputs are built changes, to force a rebuild from the cache.
const BUILD_VERSION: u32 = 3;

/// Everything needed to boot the guest.
#[derive(Debug, Clone)]
pub struct Linux {
    /// The raw arm64 `Image` (`target/linux/Image`).
    pub image: PathBuf,
    /// `target/linux/initramfs.cpio.gz`.
    pub initramfs: PathBuf,
    /// `target/linux/disk.img`: ext4 with `hello.txt`.
    pub disk: PathBuf,
    /// The kernel release, e.g. `6.1.0-56-arm64`.
    pub release: String,
    /// Modules `/init` loads, in that order.
    pub modules: Vec<String>,
    /// Needed modules that are built into the kernel (nothing to load).
    pub builtin: Vec<String>,
    /// Wanted modules (from [`OPTIONAL_MODULES`]) this kernel does not have.
    pub unavailable: Vec<String>,
}

/// What `fetch.stamp` records: the kernel package and the two .debs.
fn fetch_stamp_text(debs: &apt::Debs) -> String {
    let name = |p: &Path| {
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    format!(
        "kernel-package {}\nkernel-deb {}\nbusybox-deb {}\n",
        debs.kernel_package,
        name(&debs.kernel),
        name(&debs.busybox)
    )
}

/// The busybox binary in the unpacked busybox-static .deb.
fn busybox_in(root: &Path) -> Result<PathBuf> {
    ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
        .with_context(|| format!("no bin/busybox in {}", root.display()))
}

/// Fetches and unpacks the .debs unless `fetch.stamp` says that was done. Returns the
/// stamp's text.
fn fetch(
    dir: &Path,
    arch: apt::DebArch,
    kernel_root: &Path,
    busybox_root: &Path,
    refresh: bool,
) -> Result<String> {
    let stamp = dir.join("fetch.stamp");
    if !refresh {
        if let Ok(text) = fs::read_to_string(&stamp) {
            if kernel::find(kernel_root).is_ok() && busybox_in(busybox_root).is_ok() {
                return Ok(text);
            }
        }
    }
    // Remove the stamp first: an interrupted fetch must not look complete.
    if stamp.exists() {
        fs::remove_file(&stamp)?;
    }
    let debs = apt::fetch(&dir.join("apt"), arch)?;
    say(format!("unpacking {}", rel(&debs.kernel)));
    apt::extract(&debs.kernel, kernel_root)?;
    say(format!("unpacking {}", rel(&debs.busybox)));
    apt::extract(&debs.busybox, busybox_root)?;
    let text = fetch_stamp_text(&debs);
    fs::write(&stamp, &text)?;
    Ok(text)
}

/// Makes sure the kernel Image, the initramfs and the disk image exist under
/// `target/linux/`, fetching with apt only when the cache is empty or `refresh` is set.
pub fn ensure(refresh: bool) -> Result<Linux> {
    let dir = out_dir("linux")?;
    let (kernel_root, busybox_root) = (dir.join("kernel"), dir.join("busybox"));
    let fetched = fetch(
        &dir,
        apt::DebArch::Arm64,
        &kernel_root,
        &busybox_root,
        refresh,
    )?;
    let unpacked = kernel::find(&kernel_root)?;
    let mut l = Linux {
        image: dir.join("Image"),
        initramfs: dir.join("initramfs.cpio.gz"),
        disk: dir.join("disk.img"),
        release: unpacked.release.clone(),
        modules: Vec::new(),
        builtin: Vec::new(),
        unavailable: Vec::new(),
    };

    let key = build_key(&fetched);
    // The stamp is the key followed by what the build found (the module lists).
    let stamp = dir.join("build.stamp");
    let outputs_exist = [&l.image, &l.initramfs, &l.disk]
        .iter()
        .all(|p| p.is_file());
    if let (Ok(text), false, true) = (fs::read_to_string(&stamp), refresh, outputs_exist) {
        if let Some(found) = text.strip_prefix(&key) {
            read_found(found, &mut l);
            return Ok(l);
        }
    }
    if stamp.exists() {
        fs::remove_file(&stamp)?;
    }

    let closure =
        modules::Index::load(&unpacked.modules)?.closure(WANTED_MODULES, OPTIONAL_MODULES)?;
    l.modules = closure.load.iter().map(|(n, _)| n.clone()).collect();
    l.builtin = closure.builtin;
    l.unavailable = closure.unavailable;
    let vmlinuz = fs::read(&unpacked.vmlinuz)?;
    fs::write(&l.image, kernel::image_bytes(&vmlinuz)?)?;
    let contents = initramfs::Contents {
        busybox: busybox_in(&busybox_root)?,
        modules: closure.load,
        vclock: Some(vclock::elf()),
    };
    fs::write(&l.initramfs, initramfs::build(&contents)?)?;
    disk::build(&l.disk, &dir.join("disk-root"))?;
    fs::write(&stamp, format!("{key}{}", found_text(&l)))?;
    say(format!(
        "built {}, {} and {}",
        rel(&l.image),
        rel(&l.initramfs),
        rel(&l.disk)
    ));
    Ok(l)
}

/// The module lists as stamp lines.
fn found_text(l: &Linux) -> String {
    format!(
        "load {}\nbuiltin {}\nunavailable {}\n",
        l.modules.join(" "),
        l.builtin.join(" "),
        l.unavailable.join(" ")
    )
}

/// Reads back what [`found_text`] wrote.
fn read_found(text: &str, l: &mut Linux) {
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        let list = v.split_whitespace().map(String::from).collect();
        match k {
            "load" => l.modules = list,
            "builtin" => l.builtin = list,
            "unavailable" => l.unavailable = list,
            _ => {}
        }
    }
}

/// What the outputs are made from, in words: the .debs (`fetched`), the module lists,
/// the scripts the initramfs gets (/init for the wanted list, /bin/rtstats) and the
/// disk's contents.
fn build_key(fetched: &str) -> String {
    let wanted: Vec<String> = WANTED_MODULES.iter().map(|m| m.to_string()).collect();
    format!(
        "build-version {BUILD_VERSION}\n{fetched}wanted {}\noptional {}\n\
         init {:016x}\nrtstats {:016x}\nvclock {:016x}\ndisk {:?}\n",
        wanted.join(","),
        OPTIONAL_MODULES.join(","),
        fnv1a(initramfs::init_script(&wanted, true).as_bytes()),
        fnv1a(initramfs::RTSTATS.as_bytes()),
        fnv1a(&vclock::elf()),
        disk::HELLO,
    )
}

/// A stable 64-bit hash (FNV-1a) for the build stamp.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Options of `cargo xtask linux`.
pub struct Options {
    pub refresh: bool,
    pub boot_bare: bool,
    pub timeout: Duration,
    pub verbose: bool,
}

/// `cargo xtask linux`: ensure the artifacts, print them, optionally boot bare.
pub fn command(o: &Options) -> Result<()> {
    let l = ensure(o.refresh)?;
    say(format!("kernel release {}", l.release));
    say(format!("  image     {}", l.image.display()));
    say(format!("  initramfs {}", l.initramfs.display()));
    say(format!("  disk      {}", l.disk.display()));
    say(format!("  modules   {}", l.modules.join(" ")));
    say(format!("  built in  {}", l.builtin.join(" ")));
    if !l.unavailable.is_empty() {
        say(format!(
            "  warning: not in this kernel (neither .ko nor built in): {}",
            l.unavailable.join(" ")
        ));
    }
    if o.boot_bare {
        let t = if o.verbose {
            boot::boot(&l, o.timeout, true)?
        } else {
            boot_bare(&l, o.timeout)?
        };
        println!("linux-bare: ready in {:.2} s", t.as_secs_f64());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lists_survive_the_stamp() {
        let mut l = Linux {
            image: "/t/Image".into(),
            initramfs: "/t/i.gz".into(),
            disk: "/t/disk.img".into(),
            release: "r".into(),
            modules: vec!["virtio_mmio".into(), "ext4".into()],
            builtin: Vec::new(),
            unavailable: vec!["uio_pdrv_genirq".into()],
        };
        let text = found_text(&l);
        let want = l.clone();
        l.modules.clear();
        l.unavailable.clear();
        read_found(&text, &mut l);
        assert_eq!(
            (l.modules, l.builtin, l.unavailable),
            (want.modules, want.builtin, want.unavailable)
        );
    }

    #[test]
    fn the_build_key_covers_every_script_of_the_initramfs() {
        let key = build_key("");
        let rtstats = format!("rtstats {:016x}\n", fnv1a(initramfs::RTSTATS.as_bytes()));
        assert!(key.contains(&rtstats), "{key}");
        assert!(key.contains("\ninit "), "{key}");
    }

    #[test]
    fn fnv1a_is_the_reference_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
