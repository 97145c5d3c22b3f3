//! Shared test support: temporary trees with fake guest images, and a device-tree
//! dumper for readable goldens.
#![allow(dead_code)]

pub mod dtdump;

use rtvisor_config::Severity;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root (two levels above this crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A directory under the system temp dir, removed on drop.
pub struct Tree(pub PathBuf);

impl Tree {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rtvisor-config-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    /// Writes `rel` (creating directories).
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// A copy of the repository's boards/, scenarios/ and tests/scenarios/, with fake
    /// guest images at target/guests/, so examples check without built guests.
    pub fn with_repo_files(tag: &str) -> Self {
        let t = Tree::new(tag);
        for dir in ["boards", "scenarios", "tests/scenarios"] {
            for e in std::fs::read_dir(repo().join(dir)).unwrap() {
                let e = e.unwrap();
                let rel = format!("{dir}/{}", e.file_name().to_str().unwrap());
                t.write(&rel, std::fs::read(e.path()).unwrap());
            }
        }
        t.write("target/guests/rtbench.bin", fake_image(b"rtbench", 3000));
        t.write("target/guests/probe.bin", fake_image(b"probe", 1500));
        t.write("target/guests/conform.bin", fake_image(b"conform", 3000));
        // guests/bootinfo: an arm64 Image with text_offset 0.
        t.write(
            "target/guests/bootinfo.bin",
            fake_linux_image(0, 0x6000, 0x1800),
        );
        // The Debian guest `cargo xtask linux` caches: a 6 MiB image claiming 8 MiB.
        t.write("target/linux/Image", fake_linux_image(0, 8 << 20, 6 << 20));
        t.write(
            "target/linux/initramfs.cpio.gz",
            fake_image(b"initramfs", 4096),
        );
        // Debian's U-Boot (`cargo xtask u-boot`): a headerless binary, and its disk.
        t.write("target/u-boot/u-boot.bin", fake_image(b"u-boot", 8192));
        t.write("target/u-boot/disk.img", fake_image(b"disk", 4096));
        // The x86_64 guests: PVH ELF files at 1 MiB, and a vmlinux at 16 MiB.
        t.write(
            "target/guests/rtbench-x86.elf",
            fake_pvh_elf(0x10_0000, 3000, 0x10_0040, 4),
        );
        t.write(
            "target/guests/probe-x86.elf",
            fake_pvh_elf(0x10_0000, 1500, 0x10_0000, 4),
        );
        t.write(
            "target/linux-x86/vmlinux",
            fake_pvh_elf(0x100_0000, 6 << 20, 0x100_1000, 8),
        );
        t.write(
            "target/linux-x86/initramfs.cpio.gz",
            fake_image(b"initramfs-x86", 4096),
        );
        t
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes standing in for a built guest.
pub fn fake_image(tag: &[u8], len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag[i % tag.len()] ^ (i / tag.len()) as u8)
        .collect()
}

/// A fake arm64 Linux Image: header with `text_offset` and `image_size`.
pub fn fake_linux_image(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
    let mut f = fake_image(b"linux", len);
    f[8..16].copy_from_slice(&text_offset.to_le_bytes());
    f[16..24].copy_from_slice(&image_size.to_le_bytes());
    f[56..60].copy_from_slice(b"ARM\x64");
    f
}

/// An ELF64 with one 16-byte segment at `paddr`, entered at `entry`.
pub fn fake_elf(paddr: u64, entry: u64) -> Vec<u8> {
    let mut f = vec![0u8; 64 + 56];
    f[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    f[0x12..0x14].copy_from_slice(&183u16.to_le_bytes());
    f[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
    f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    f[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
    f[64..68].copy_from_slice(&1u32.to_le_bytes());
    for (k, v) in [120u64, paddr, paddr, 16, 16].iter().enumerate() {
        f[72 + 8 * k..80 + 8 * k].copy_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(&[0xaa; 16]);
    f
}

/// An x86-64 ELF64 with one PT_LOAD segment of `len` bytes at `paddr` (virtual
/// address `paddr + 0xffff_ffff_8000_0000`, as Linux links) and a PT_NOTE segment with
/// the Xen PVH entry note naming `entry`, in a `note_size`-byte (4 or 8) descriptor.
pub fn fake_pvh_elf(paddr: u64, len: usize, entry: u64, note_size: usize) -> Vec<u8> {
    let phoff = 64u64;
    let note_off = phoff + 2 * 56;
    let mut note = Vec::new();
    note.extend(4u32.to_le_bytes()); // namesz
    note.extend((note_size as u32).to_le_bytes());
    note.extend(18u32.to_le_bytes()); // XEN_ELFNOTE_PHYS32_ENTRY
    note.extend(b"Xen\0");
    note.extend(&entry.to_le_bytes()[..note_size]);
    let data_off = (note_off + note.len() as u64).next_multiple_of(16);
    let mut f = vec![0u8; data_off as usize];
    f[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    f[0x12..0x14].copy_from_slice(&62u16.to_le_bytes());
    f[0x18..0x20].copy_from_slice(&(entry + 0xffff_ffff_8000_0000).to_le_bytes());
    f[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
    f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
    let mut ph = |at: usize, kind: u32, fields: [u64; 5]| {
        f[at..at + 4].copy_from_slice(&kind.to_le_bytes());
        for (k, v) in fields.iter().enumerate() {
            f[at + 8 + 8 * k..at + 16 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
    };
    let vaddr = paddr + 0xffff_ffff_8000_0000;
    ph(64, 1, [data_off, vaddr, paddr, len as u64, len as u64]);
    let nlen = note.len() as u64;
    ph(64 + 56, 4, [note_off, 0, 0, nlen, nlen]);
    f[note_off as usize..note_off as usize + note.len()].copy_from_slice(&note);
    f.extend(fake_image(b"x86", len));
    f
}

/// Whether goldens should be rewritten instead of compared.
pub fn bless() -> bool {
    std::env::var_os("RTVISOR_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file `name` under tests/golden/, or rewrites it
/// when RTVISOR_BLESS=1.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden {}; run with RTVISOR_BLESS=1",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{} differs from the generated output (first differing line: {:?}); \
             review and rerun with RTVISOR_BLESS=1 to accept\n--- generated ---\n{actual}",
            path.display(),
            first.map(|l| l + 1)
        );
    }
}

/// A tree for rule tests: the QEMU virt board as `board.toml` and a raw guest `k.bin`.
pub fn rules_tree() -> Tree {
    let t = Tree::new("rules");
    t.write(
        "board.toml",
        std::fs::read(repo().join("boards/qemu-virt-aarch64.toml")).unwrap(),
    );
    t.write("k.bin", fake_image(b"k", 3000));
    t
}

/// One diagnostic, flattened for assertions: (file name, line, column, message, hint).
pub type Flat = (String, usize, usize, String, String);

/// Every error `check` reports for `scenario` (written as `s.toml` in `t`), with the
/// tree's path replaced by `$T`.
pub fn errors(t: &Tree, scenario: &str) -> Vec<Flat> {
    diagnostics(t, scenario, Severity::Error)
}

/// Every warning `check` reports for `scenario`, whether or not it also has errors.
pub fn warnings(t: &Tree, scenario: &str) -> Vec<Flat> {
    diagnostics(t, scenario, Severity::Warning)
}

fn diagnostics(t: &Tree, scenario: &str, severity: Severity) -> Vec<Flat> {
    let path = t.write("s.toml", scenario);
    let root = t.0.to_str().unwrap();
    let all = match rtvisor_config::check(&path) {
        Ok(plan) => plan.warnings,
        Err(d) => d.0,
    };
    all.into_iter()
        .filter(|d| d.severity == severity)
        .map(|d| {
            let file = d.file.file_name().unwrap().to_str().unwrap().to_owned();
            (
                file,
                d.line,
                d.column,
                d.message.replace(root, "$T"),
                d.hint.replace(root, "$T"),
            )
        })
        .collect()
}

/// The single error `check` reports for `scenario`.
pub fn only(t: &Tree, scenario: &str) -> Flat {
    let mut all = errors(t, scenario);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.remove(0)
}

/// Asserts one error in `s.toml` at `line:col` with `message` and `hint`.
#[track_caller]
pub fn assert_one(t: &Tree, scenario: &str, line: usize, col: usize, message: &str, hint: &str) {
    let got = only(t, scenario);
    assert_eq!(
        got,
        ("s.toml".into(), line, col, message.into(), hint.into())
    );
}

/// A scenario: the header (3 lines: board, [hypervisor], console) then `vms`.
pub fn scenario(vms: &[String]) -> String {
    format!(
        "board = \"board.toml\"\n[hypervisor]\nconsole = \"uart0\"\n{}",
        vms.concat()
    )
}

/// A `[[vm]]` block of 6 lines (+ `extra` lines):
/// `[[vm]]`, name, kind, cpus, memory, kernel.
pub fn vm(name: &str, kind: &str, cpus: &str, memory: &str, extra: &str) -> String {
    format!(
        "[[vm]]\nname = \"{name}\"\nkind = \"{kind}\"\ncpus = {cpus}\nmemory = {memory}\n\
         kernel = {{ path = \"k.bin\", format = \"raw\" }}\n{extra}"
    )
}

/// A general-purpose VM on `cpus` with 16 MiB placed automatically.
pub fn gp(name: &str, cpus: &str) -> String {
    vm(name, "general", cpus, "{ size = \"16MiB\" }", "")
}
