//! What the hypervisor's image is made of: its own loadable bytes (`.text`, `.rodata`
//! and `.data` of the linked ELF, less the guest images and device trees the scenario
//! embeds), the zero-initialised `.bss` that boot clears (in memory, not in the file)
//! and its largest items, as `rtvisor build` prints them and the benchmark's size row
//! records them. The same for both architectures' images.

use anyhow::{anyhow, bail, Result};
use rtvisor_config::elf::{u16_at, u32_at, u64_at};
use std::fmt;
use std::path::Path;

/// The breakdown of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    /// Zero-initialised memory (`.bss`, NOBITS): cleared at boot, no bytes in the file.
    pub bss: u64,
    /// Bytes of the embedded guest images and device trees (inside `.rodata`).
    pub embedded: u64,
    /// The largest symbols of the loadable sections: (size, name), largest first.
    pub largest: Vec<(u64, String)>,
    /// The parts of the hypervisor the scenario's build leaves out
    /// (`Plan::left_out`; empty: the full build, or not known).
    pub left_out: Vec<&'static str>,
}

impl Breakdown {
    /// Which build this is: `full`, or `without ...`.
    pub fn build(&self) -> String {
        match self.left_out.is_empty() {
            true => "full".to_string(),
            false => format!("without {}", self.left_out.join(", ")),
        }
    }
}

impl Breakdown {
    /// The hypervisor's own loadable size: text + rodata + data, embedded data excluded.
    pub fn own(&self) -> u64 {
        (self.text + self.rodata + self.data).saturating_sub(self.embedded)
    }
}

impl fmt::Display for Breakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "hypervisor own size {} bytes ({} build): text {}, rodata {} (less {} of \
             embedded guest images and device trees), data {}; bss {} (zeroed at boot)",
            self.own(),
            self.build(),
            self.text,
            self.rodata.saturating_sub(self.embedded),
            self.embedded,
            self.data,
            self.bss
        )?;
        for (size, name) in &self.largest {
            writeln!(f, "  {size:>7}  {name}")?;
        }
        Ok(())
    }
}

struct Section<'a> {
    name: &'a str,
    kind: u32,
    size: u64,
}

fn sections(b: &[u8]) -> Result<Vec<Section<'_>>> {
    let bad = || anyhow!("not a 64-bit little-endian ELF file with section headers");
    if b.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        bail!(bad());
    }
    let shoff = usize::try_from(u64_at(b, 0x28).ok_or_else(bad)?)?;
    let entsize = usize::from(u16_at(b, 0x3a).ok_or_else(bad)?);
    let count = usize::from(u16_at(b, 0x3c).ok_or_else(bad)?);
    let names = usize::from(u16_at(b, 0x3e).ok_or_else(bad)?);
    let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
    let names_off = header(names)
        .and_then(|h| u64_at(b, h + 0x18))
        .ok_or_else(bad)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let h = header(i).ok_or_else(bad)?;
        let name_at = u32_at(b, h).ok_or_else(bad)?;
        let start = usize::try_from(names_off + u64::from(name_at))?;
        let rest = b.get(start..).ok_or_else(bad)?;
        let end = rest.iter().position(|&c| c == 0).ok_or_else(bad)?;
        out.push(Section {
            name: std::str::from_utf8(&rest[..end]).map_err(|_| bad())?,
            kind: u32_at(b, h + 4).ok_or_else(bad)?,
            size: u64_at(b, h + 0x20).ok_or_else(bad)?,
        });
    }
    Ok(out)
}

/// The symbol table's (size, name) of objects and functions, largest first, at most `n`;
/// empty when the file has no symbol table.
fn largest(b: &[u8], n: usize) -> Vec<(u64, String)> {
    const SHT_SYMTAB: u32 = 2;
    let Some(shoff) = u64_at(b, 0x28).and_then(|v| usize::try_from(v).ok()) else {
        return Vec::new();
    };
    let entsize = u16_at(b, 0x3a).map_or(0, usize::from);
    let count = u16_at(b, 0x3c).map_or(0, usize::from);
    let hdr = |i: usize| shoff + i * entsize;
    let field = |h: usize, off: usize| u64_at(b, h + off).and_then(|v| usize::try_from(v).ok());
    const SHT_NOBITS: u32 = 8;
    // The embedded guests' own section is not the hypervisor's (`own`).
    let payload = sections(b)
        .ok()
        .and_then(|s| s.iter().position(|s| s.name == ".rtvisor_payload"));
    let loaded = |shndx: u16| {
        let h = hdr(usize::from(shndx));
        shndx != 0
            && usize::from(shndx) < count
            && u32_at(b, h + 4) != Some(SHT_NOBITS)
            && payload != Some(usize::from(shndx))
    };
    let mut out = Vec::new();
    for i in 0..count {
        let h = hdr(i);
        if u32_at(b, h + 4) != Some(SHT_SYMTAB) {
            continue;
        }
        let (Some(off), Some(size), Some(link)) =
            (field(h, 0x18), field(h, 0x20), u32_at(b, h + 0x28))
        else {
            continue;
        };
        let Some(strtab) = field(hdr(link as usize), 0x18) else {
            continue;
        };
        for s in (off..off + size).step_by(24) {
            let (Some(name), Some(info), Some(shndx), Some(sz)) = (
                u32_at(b, s),
                b.get(s + 4),
                u16_at(b, s + 6),
                u64_at(b, s + 16),
            ) else {
                continue;
            };
            // Functions and objects in a loaded section (not NOBITS: .bss is not).
            let kind = info & 0xf;
            if sz == 0 || !loaded(shndx) || !(kind == 1 || kind == 2) {
                continue;
            }
            let start = strtab + name as usize;
            let Some(rest) = b.get(start..) else { continue };
            let end = rest.iter().position(|&c| c == 0).unwrap_or(0);
            out.push((sz, demangle(&String::from_utf8_lossy(&rest[..end]))));
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    out.truncate(n);
    out
}

/// A legacy-mangled Rust symbol as a path (`_ZN3foo3bar17h<hash>E` -> `foo::bar`);
/// other names as they are.
fn demangle(name: &str) -> String {
    let Some(mut rest) = name.strip_prefix("_ZN") else {
        return name.to_string();
    };
    let mut parts = Vec::new();
    while let Some(digits) = rest.find(|c: char| !c.is_ascii_digit()).filter(|&d| d > 0) {
        let Ok(len) = rest[..digits].parse::<usize>() else {
            break;
        };
        let Some(part) = rest.get(digits..digits + len) else {
            break;
        };
        parts.push(part);
        rest = &rest[digits + len..];
    }
    if parts
        .last()
        .is_some_and(|p| p.len() == 17 && p.starts_with('h'))
    {
        parts.pop();
    }
    if parts.is_empty() {
        name.to_string()
    } else {
        parts.join("::")
    }
}

/// The breakdown of the ELF file `elf`, whose `.rodata` holds `embedded` bytes of guest
/// images and device trees; `n` largest items.
pub fn breakdown(elf: &[u8], embedded: u64, n: usize) -> Result<Breakdown> {
    const SHT_NOBITS: u32 = 8;
    let mut bd = Breakdown {
        text: 0,
        rodata: 0,
        data: 0,
        bss: 0,
        embedded,
        largest: largest(elf, n),
        left_out: Vec::new(),
    };
    for s in sections(elf)? {
        if s.kind == SHT_NOBITS {
            if s.name == ".bss" {
                bd.bss += s.size;
            }
            continue;
        }
        match s.name {
            ".text" => bd.text += s.size,
            // The embedded guests' own section (`linker::script`) is read-only data
            // like the rest, less `embedded`.
            ".rodata" | ".rtvisor_payload" => bd.rodata += s.size,
            ".data" => bd.data += s.size,
            _ => {}
        }
    }
    Ok(bd)
}

/// The bytes of the guest images and device trees a build embeds: the blobs its
/// generated directory holds (everything but `config.rs` and `link.ld`), each distinct
/// content once: the linker keeps one copy of identical read-only blobs (two VMs
/// booting the same kernel embed it once).
pub fn embedded_bytes(generated: &Path) -> Result<u64> {
    let mut blobs = Vec::new();
    for e in std::fs::read_dir(generated)? {
        let e = e?;
        let name = e.file_name();
        if name == "config.rs" || name == "link.ld" {
            continue;
        }
        blobs.push(std::fs::read(e.path())?);
    }
    Ok(distinct_len(blobs))
}

/// The total length of `blobs`, each distinct content counted once.
fn distinct_len(mut blobs: Vec<Vec<u8>>) -> u64 {
    blobs.sort();
    blobs.dedup();
    blobs.iter().map(|b| b.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF: sections null, .text (64 bytes), .rodata (32), .data (16),
    /// .bss (NOBITS 4096), .shstrtab.
    fn elf() -> Vec<u8> {
        let names = b"\0.text\0.rodata\0.data\0.bss\0.shstrtab\0";
        let mut b = vec![0u8; 0x40];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let strtab_at = b.len() as u64;
        b.extend_from_slice(names);
        let shoff = b.len() as u64;
        let sec = |name: u32, kind: u32, off: u64, size: u64| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            h[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            h
        };
        for h in [
            sec(0, 0, 0, 0),
            sec(1, 1, 0, 64),
            sec(7, 1, 0, 32),
            sec(15, 1, 0, 16),
            sec(21, 8, 0, 4096),
            sec(26, 3, strtab_at, names.len() as u64),
        ] {
            b.extend_from_slice(&h);
        }
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&6u16.to_le_bytes());
        b[0x3e..0x40].copy_from_slice(&5u16.to_le_bytes());
        b
    }

    #[test]
    fn sums_the_loadable_sections_less_the_embedded_bytes() {
        let bd = breakdown(&elf(), 20, 10).unwrap();
        assert_eq!((bd.text, bd.rodata, bd.data, bd.bss), (64, 32, 16, 4096));
        assert_eq!(bd.own(), 64 + 32 + 16 - 20);
        assert!(bd.largest.is_empty());
        let text = bd.to_string();
        assert!(
            text.starts_with(
                "hypervisor own size 92 bytes (full build): text 64, rodata 12 (less 20 of \
                 embedded guest images and device trees), data 16; bss 4096 (zeroed at boot)\n"
            ),
            "{text}"
        );
        assert!(breakdown(b"not an elf", 0, 1).is_err());
    }

    #[test]
    fn identical_blobs_count_once() {
        let k = vec![7u8; 100];
        assert_eq!(distinct_len(vec![k.clone(), vec![1; 10], k]), 110);
        assert_eq!(distinct_len(vec![vec![1; 10], vec![2; 10]]), 20);
        assert_eq!(distinct_len(Vec::new()), 0);
    }

    #[test]
    fn an_image_two_vms_embed_counts_once() {
        let dir = std::env::temp_dir().join(format!("rtvisor-embedded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in [
            ("vm0.kernel", &b"same image"[..]),
            ("vm1.kernel", b"same image"),
            ("vm0.dtb", b"tree"),
            ("config.rs", b"not a blob"),
        ] {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let total = embedded_bytes(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(total, 10 + 4);
    }

    #[test]
    fn names_read_as_paths() {
        assert_eq!(
            demangle("_ZN10rtvisor_hv3vms3VMS17h1e833a3cc495ae59E"),
            "rtvisor_hv::vms::VMS"
        );
        assert_eq!(
            demangle("_ZN10rtvisor_hv5flash5FLASH17h2f01d44d775b7266E.llvm.1787"),
            "rtvisor_hv::flash::FLASH"
        );
        assert_eq!(demangle("memset"), "memset");
    }
}
