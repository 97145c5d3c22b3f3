//! Just enough ELF64 to read a kernel module's `.modinfo` section.
//!
//! `.modinfo` is a run of NUL-terminated `key=value` strings (`depends=a,b`,
//! `softdep=pre: x`, `license=GPL`, ...). Only little-endian ELF64 is accepted:
//! that is what arm64 modules are.

use anyhow::{bail, ensure, Context, Result};
use rtvisor_config::elf::{u16_at, u32_at, u64_at};

/// The bytes of section `name` in the ELF64 little-endian file `elf`, if it has one.
pub fn section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    ensure!(elf.starts_with(b"\x7fELF"), "not an ELF file");
    ensure!(elf.get(4) == Some(&2), "not ELF64");
    ensure!(elf.get(5) == Some(&1), "not little-endian");
    let bad = || anyhow::anyhow!("truncated ELF header");
    // e_shoff, e_shentsize, e_shnum, e_shstrndx.
    let shoff = usize::try_from(u64_at(elf, 0x28).ok_or_else(bad)?)?;
    let shentsize = usize::from(u16_at(elf, 0x3a).ok_or_else(bad)?);
    let shnum = usize::from(u16_at(elf, 0x3c).ok_or_else(bad)?);
    let shstrndx = usize::from(u16_at(elf, 0x3e).ok_or_else(bad)?);
    ensure!(shentsize >= 0x40, "section headers of {shentsize} bytes");

    // One section header: (sh_name, sh_offset, sh_size).
    let header = |i: usize| -> Result<(usize, &'a [u8])> {
        let h = shoff + i * shentsize;
        let bad = || anyhow::anyhow!("section header {i} is outside the file");
        let sh_name = u32_at(elf, h).ok_or_else(bad)? as usize;
        let sh_type = u32_at(elf, h + 4).ok_or_else(bad)?;
        let off = usize::try_from(u64_at(elf, h + 0x18).ok_or_else(bad)?)?;
        let size = usize::try_from(u64_at(elf, h + 0x20).ok_or_else(bad)?)?;
        // SHT_NOBITS (8) occupies no bytes in the file.
        let data = if sh_type == 8 {
            &elf[0..0]
        } else {
            elf.get(off..off.checked_add(size).context("section size overflows")?)
                .with_context(|| format!("section {i} data is outside the file"))?
        };
        Ok((sh_name, data))
    };

    ensure!(shstrndx < shnum, "no section name table");
    let (_, names) = header(shstrndx)?;
    for i in 0..shnum {
        let (name_off, data) = header(i)?;
        let Some(rest) = names.get(name_off..) else {
            bail!("section {i} name is outside the name table");
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if &rest[..end] == name.as_bytes() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// The `key=value` strings of a module's `.modinfo` (empty when it has none).
pub fn modinfo(elf: &[u8]) -> Result<Vec<(String, String)>> {
    let Some(data) = section(elf, ".modinfo")? else {
        return Ok(Vec::new());
    };
    Ok(data
        .split(|&b| b == 0)
        .filter_map(|s| {
            let s = String::from_utf8_lossy(s);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}

/// A minimal ELF64 image with the given sections, for the tests here and in modules.rs.
#[cfg(test)]
pub fn synthetic(sections: &[(&str, &[u8])]) -> Vec<u8> {
    // Layout: 64-byte header, section data, the name table, then the headers
    // (a null section, one per entry, and the name table's own).
    let mut names = vec![0u8];
    let mut body = Vec::new();
    let mut heads = vec![(0u32, 0u64, 0u64)];
    for (name, data) in sections {
        heads.push((
            names.len() as u32,
            64 + body.len() as u64,
            data.len() as u64,
        ));
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        body.extend_from_slice(data);
    }
    let strtab_name = names.len() as u32;
    names.extend_from_slice(b".shstrtab\0");
    heads.push((strtab_name, 64 + body.len() as u64, names.len() as u64));
    body.extend_from_slice(&names);
    let shoff = 64 + body.len() as u64;

    let mut f = vec![0u8; 64];
    f[..6].copy_from_slice(b"\x7fELF\x02\x01");
    f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
    f[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    f[0x3c..0x3e].copy_from_slice(&(heads.len() as u16).to_le_bytes());
    f[0x3e..0x40].copy_from_slice(&(heads.len() as u16 - 1).to_le_bytes());
    f.extend_from_slice(&body);
    for (name, off, size) in heads {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name.to_le_bytes());
        h[4..8].copy_from_slice(&1u32.to_le_bytes()); // SHT_PROGBITS
        h[0x18..0x20].copy_from_slice(&off.to_le_bytes());
        h[0x20..0x28].copy_from_slice(&size.to_le_bytes());
        f.extend_from_slice(&h);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modinfo_strings() {
        let info = b"license=GPL\0depends=virtio,virtio_ring\0\0name=virtio_blk\0";
        let elf = synthetic(&[(".text", b"\x00\x01"), (".modinfo", info)]);
        let kv = modinfo(&elf).unwrap();
        assert_eq!(kv[1], ("depends".into(), "virtio,virtio_ring".into()));
        assert_eq!(kv.len(), 3);
        assert_eq!(section(&elf, ".text").unwrap().unwrap(), b"\x00\x01");
        assert!(section(&elf, ".data").unwrap().is_none());
    }

    #[test]
    fn rejects_what_is_not_elf64_le() {
        assert!(modinfo(b"not an elf file at all").is_err());
        let mut elf = synthetic(&[]);
        elf[5] = 2; // big-endian
        assert!(modinfo(&elf).is_err());
        let elf = synthetic(&[(".modinfo", b"a=b\0")]);
        assert!(
            modinfo(&elf[..elf.len() - 48]).is_err(),
            "truncated headers"
        );
    }
}
