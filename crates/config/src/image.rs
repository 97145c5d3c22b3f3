//! Where a kernel image goes in guest RAM (DESIGN.md section 6): a raw binary at RAM +
//! 0x8_0000, an ELF at its own physical addresses, an arm64 Linux `Image` at the 2 MiB
//! aligned RAM base + its header's `text_offset`. The entry point is the load address,
//! or the ELF's `e_entry`.

use crate::elf::{self, EM_AARCH64};
use crate::schema::FormatSpec;
use crate::size::{hex, human, range, within, MIB};

/// Load offset of a raw image in guest RAM.
pub const RAW_OFFSET: u64 = 0x8_0000;
const ARM64_MAGIC: &[u8; 4] = b"ARM\x64";
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// An image placed in guest RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The bytes to copy (an ELF already flattened).
    pub bytes: Vec<u8>,
    /// Guest-physical address of `bytes[0]`.
    pub load: u64,
    /// Guest-physical entry point.
    pub entry: u64,
    /// One past the last byte the image claims (a Linux Image claims `image_size`,
    /// which covers its `.bss`).
    pub end: u64,
}

/// Why an image cannot be placed: completes "kernel image `x` of VM `y` ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The rest of the sentence.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

fn refuse(message: String, hint: &str) -> Refused {
    Refused {
        message,
        hint: hint.to_owned(),
    }
}

/// Places `file` in guest RAM `[ram, ram + size)` as `format` says.
pub fn place(format: FormatSpec, file: Vec<u8>, ram: u64, size: u64) -> Result<Placed, Refused> {
    let placed = match format {
        FormatSpec::Raw => {
            if file.is_empty() {
                return Err(refuse(
                    "is empty".into(),
                    "point `path` at the built guest binary",
                ));
            }
            if file.starts_with(ELF_MAGIC) {
                return Err(refuse(
                    "is an ELF file: as format = \"raw\" its ELF header would be copied to \
                     RAM + 0x8_0000 and executed"
                        .into(),
                    "use format = \"elf\" (placed at its own addresses), or convert it to a \
                     raw binary",
                ));
            }
            let load = ram + RAW_OFFSET;
            let end = load.saturating_add(file.len() as u64);
            Placed {
                bytes: file,
                load,
                entry: load,
                end,
            }
        }
        FormatSpec::Elf => elf_image(&file, ram, size)?,
        FormatSpec::LinuxImage => linux_image(file, ram)?,
    };
    if !within(placed.load, placed.end - placed.load, ram, size) {
        let message = format!(
            "does not fit in the VM's RAM: it spans {}, past the end of RAM at {}",
            range(placed.load, placed.end - placed.load),
            hex(ram + size)
        );
        let need = (placed.end - ram).div_ceil(2 * MIB) * 2 * MIB;
        let hint = format!("give the VM at least {} of memory", human(need));
        return Err(Refused { message, hint });
    }
    Ok(placed)
}

fn elf_image(file: &[u8], ram: u64, size: u64) -> Result<Placed, Refused> {
    let hint = "build the guest as a static ELF64 for aarch64, or use format = \"raw\"";
    let e =
        elf::parse(file).map_err(|e| refuse(format!("is not a loadable ELF file: {e}"), hint))?;
    if e.machine != EM_AARCH64 {
        let msg = format!(
            "is an ELF file for machine {}, not AArch64 ({EM_AARCH64})",
            e.machine
        );
        return Err(refuse(msg, hint));
    }
    if let Some(s) = e
        .segments
        .iter()
        .find(|s| !within(s.paddr, s.memsz, ram, size))
    {
        let message = format!(
            "has a segment at {}, outside the VM's RAM ({})",
            range(s.paddr, s.memsz),
            range(ram, size)
        );
        let hint = format!(
            "link the guest for its guest-physical RAM at {} (or give the VM more memory)",
            hex(ram)
        );
        return Err(Refused { message, hint });
    }
    let Some(entry) = e.entry_paddr() else {
        let msg = format!(
            "has its entry point {} in no loadable segment",
            hex(e.entry)
        );
        return Err(refuse(msg, "check the guest's linker script (ENTRY)"));
    };
    Ok(Placed {
        bytes: e.flatten(file),
        load: e.low(),
        entry,
        end: e.high(),
    })
}

fn linux_image(file: Vec<u8>, ram: u64) -> Result<Placed, Refused> {
    if file.get(56..60) != Some(ARM64_MAGIC.as_slice()) {
        let hint = if file.starts_with(&[0x1f, 0x8b]) {
            "this is gzip-compressed (Image.gz or vmlinuz): decompress it first"
        } else {
            "use the uncompressed arch/arm64/boot/Image, or format = \"elf\" / \"raw\""
        };
        return Err(refuse(
            "is not an arm64 Linux Image (no \"ARM\\x64\" magic at byte 56)".into(),
            hint,
        ));
    }
    let word = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap_or([0; 8]));
    let (mut text_offset, image_size) = (word(8), word(16));
    if image_size == 0 {
        // Kernels before 3.17 leave image_size zero; their text_offset is 0x8_0000.
        text_offset = RAW_OFFSET;
    }
    let base = ram.next_multiple_of(2 * MIB);
    let load = base
        .checked_add(text_offset)
        .ok_or_else(|| refuse("has a bad text_offset".into(), ""))?;
    let end = load.saturating_add(image_size.max(file.len() as u64));
    Ok(Placed {
        bytes: file,
        load,
        entry: load,
        end,
    })
}

#[cfg(test)]
pub(crate) fn linux_header(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(64)];
    f[8..16].copy_from_slice(&text_offset.to_le_bytes());
    f[16..24].copy_from_slice(&image_size.to_le_bytes());
    f[56..60].copy_from_slice(ARM64_MAGIC);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    const RAM: u64 = 0x4000_0000;

    #[test]
    fn raw_goes_at_0x80000() {
        let p = place(FormatSpec::Raw, vec![1, 2, 3], RAM, 2 * MIB).unwrap();
        assert_eq!(
            (p.load, p.entry, p.end),
            (0x4008_0000, 0x4008_0000, 0x4008_0003)
        );
        let e = place(FormatSpec::Raw, vec![0; 2 * MIB as usize], RAM, 2 * MIB).unwrap_err();
        assert_eq!(
            e.message,
            "does not fit in the VM's RAM: it spans 0x4008_0000..0x4028_0000, past the end of RAM at 0x4020_0000"
        );
        assert_eq!(e.hint, "give the VM at least 4 MiB of memory");
    }

    #[test]
    fn linux_image_follows_its_header() {
        let p = place(
            FormatSpec::LinuxImage,
            linux_header(0, 0x30_0000, 4096),
            RAM,
            64 * MIB,
        )
        .unwrap();
        assert_eq!((p.load, p.entry, p.end), (RAM, RAM, RAM + 0x30_0000));
        let old = place(
            FormatSpec::LinuxImage,
            linux_header(0x1234, 0, 4096),
            RAM,
            64 * MIB,
        )
        .unwrap();
        assert_eq!(old.load, RAM + 0x8_0000);
        let e = place(
            FormatSpec::LinuxImage,
            vec![0x1f, 0x8b, 0, 0],
            RAM,
            64 * MIB,
        )
        .unwrap_err();
        assert_eq!(
            e.hint,
            "this is gzip-compressed (Image.gz or vmlinuz): decompress it first"
        );
    }

    #[test]
    fn elf_segments_must_be_in_ram() {
        let f = elf::build(0x4008_0000, &[(0x4008_0000, 0x4008_0000, b"code", 0x100)]);
        let p = place(FormatSpec::Elf, f, RAM, 2 * MIB).unwrap();
        assert_eq!(
            (p.load, p.entry, p.end, p.bytes.len()),
            (0x4008_0000, 0x4008_0000, 0x4008_0100, 0x100)
        );
        let f = elf::build(0x8_0000, &[(0x8_0000, 0x8_0000, b"code", 4)]);
        let e = place(FormatSpec::Elf, f, RAM, 2 * MIB).unwrap_err();
        assert_eq!(e.message, "has a segment at 0x0008_0000..0x0008_0004, outside the VM's RAM (0x4000_0000..0x4020_0000)");
    }
}
