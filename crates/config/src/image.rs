//! Where a kernel image goes in guest RAM, as QEMU 7.2's `-kernel` puts the same file
//! (hw/arm/boot.c; DESIGN.md section 6). The kind comes from the content unless the
//! scenario names one:
//! - an ELF file: its PT_LOAD segments at their physical addresses, entered at
//!   `e_entry`;
//! - a file with the arm64 `Image` header (magic "ARM\x64" at byte 56) and a non-zero
//!   `image_size`: at RAM base + `text_offset` (+ 2 MiB when `text_offset` is below
//!   4 KiB, where QEMU keeps its boot stub), claiming `image_size` bytes;
//! - anything else, and an Image whose `image_size` is 0 (kernels before 3.17): at RAM
//!   base + 0x8_0000, claiming its own length.
//!
//! Where the initrd and the device tree go follows from this ([`crate::layout`]).

use crate::elf::{self, EM_AARCH64};
use crate::schema::FormatSpec;
use crate::size::{hex, human, range, within, MIB};

/// Load offset of a headerless image in guest RAM.
pub const RAW_OFFSET: u64 = 0x8_0000;
/// QEMU writes its boot stub in the first 4 KiB of RAM; an Image asking for a
/// `text_offset` below this goes 2 MiB higher.
const BOOT_STUB: u64 = 0x1000;
const ARM64_MAGIC: &[u8; 4] = b"ARM\x64";
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// What a kernel file is, judged from its content as QEMU judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An ELF file.
    Elf,
    /// A file with the arm64 Image header (its `text_offset` and `image_size` are used
    /// when `image_size` is not 0).
    Image,
    /// Neither: a flat binary.
    Headerless,
}

impl Kind {
    /// Detects the kind of `file`.
    pub fn of(file: &[u8]) -> Kind {
        if file.starts_with(ELF_MAGIC) {
            Kind::Elf
        } else if file.len() > 60 && file[56..60] == *ARM64_MAGIC {
            Kind::Image
        } else {
            Kind::Headerless
        }
    }

    /// The scenario's name for this kind.
    pub fn format_name(self) -> &'static str {
        match self {
            Kind::Elf => "elf",
            Kind::Image => "linux-image",
            Kind::Headerless => "raw",
        }
    }

    /// How the map names it.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Elf => "ELF",
            Kind::Image => "arm64 Image",
            Kind::Headerless => "headerless binary",
        }
    }
}

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
    /// How it was placed.
    pub kind: Kind,
}

impl Placed {
    /// Whether QEMU boots it the Linux way (an Image or a headerless binary: its boot
    /// stub passes the device tree in x0, placed after the initrd). An ELF is entered
    /// directly, and QEMU puts its device tree at the start of RAM.
    pub fn linux(&self) -> bool {
        self.kind != Kind::Elf
    }
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

/// When a declared format is followed but the content says otherwise, what to warn:
/// completes "kernel image `x` of VM `y` ...". (A declared format that cannot be
/// followed at all, such as an ELF as `raw`, is refused by [`place`].)
pub fn contradiction(format: FormatSpec, file: &[u8]) -> Option<Refused> {
    let kind = Kind::of(file);
    match (format, kind) {
        (FormatSpec::Raw, Kind::Image) => Some(Refused {
            message: "carries the arm64 Image header, but format = \"raw\" loads it at RAM + \
                      0x8_0000 as a headerless binary; QEMU -kernel would place it per its header"
                .into(),
            hint: "drop `format` (or say \"auto\" or \"linux-image\") to place it as QEMU does"
                .into(),
        }),
        _ => None,
    }
}

/// Places `file` in guest RAM `[ram, ram + size)` as `format` says.
pub fn place(format: FormatSpec, file: Vec<u8>, ram: u64, size: u64) -> Result<Placed, Refused> {
    if file.is_empty() {
        return Err(refuse(
            "is empty".into(),
            "point `path` at the built guest binary",
        ));
    }
    let kind = match format {
        FormatSpec::Auto => Kind::of(&file),
        FormatSpec::Raw => Kind::Headerless,
        FormatSpec::Elf => Kind::Elf,
        FormatSpec::LinuxImage => Kind::Image,
    };
    let placed = match kind {
        Kind::Headerless => {
            if file.starts_with(ELF_MAGIC) {
                return Err(refuse(
                    "is an ELF file: as format = \"raw\" its ELF header would be copied to \
                     RAM + 0x8_0000 and executed"
                        .into(),
                    "use format = \"elf\" (placed at its own addresses), or convert it to a \
                     raw binary",
                ));
            }
            if file.starts_with(&[0x1f, 0x8b]) && format == FormatSpec::Auto {
                return Err(refuse(
                    "is gzip-compressed (Image.gz or vmlinuz)".into(),
                    "decompress it first (QEMU would, rtvisor does not)",
                ));
            }
            headerless(file, ram)
        }
        Kind::Elf => elf_image(&file, ram, size)?,
        Kind::Image => linux_image(file, ram)?,
    };
    in_ram(placed, ram, size)
}

/// `placed` if it lies inside RAM `[ram, ram + size)`, else why not (both
/// architectures).
pub(crate) fn in_ram(placed: Placed, ram: u64, size: u64) -> Result<Placed, Refused> {
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

fn headerless(file: Vec<u8>, ram: u64) -> Placed {
    let load = ram + RAW_OFFSET;
    let end = load.saturating_add(file.len() as u64);
    Placed {
        bytes: file,
        load,
        entry: load,
        end,
        kind: Kind::Headerless,
    }
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
        kind: Kind::Elf,
    })
}

fn linux_image(file: Vec<u8>, ram: u64) -> Result<Placed, Refused> {
    if Kind::of(&file) != Kind::Image {
        let hint = if file.starts_with(&[0x1f, 0x8b]) {
            "this is gzip-compressed (Image.gz or vmlinuz): decompress it first"
        } else {
            "use the uncompressed arch/arm64/boot/Image, or drop `format` to let the content \
             decide"
        };
        return Err(refuse(
            "is not an arm64 Linux Image (no \"ARM\\x64\" magic at byte 56)".into(),
            hint,
        ));
    }
    let word = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap_or([0; 8]));
    let (text_offset, image_size) = (word(8), word(16));
    if image_size == 0 {
        // Kernels before 3.17 leave image_size zero: QEMU loads them like a headerless
        // binary.
        return Ok(Placed {
            kind: Kind::Image,
            ..headerless(file, ram)
        });
    }
    let offset = match text_offset < BOOT_STUB {
        true => text_offset + 2 * MIB,
        false => text_offset,
    };
    let load = ram
        .checked_add(offset)
        .ok_or_else(|| refuse(format!("has a bad text_offset {}", hex(text_offset)), ""))?;
    let end = load.saturating_add(image_size.max(file.len() as u64));
    Ok(Placed {
        bytes: file,
        load,
        entry: load,
        end,
        kind: Kind::Image,
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
mod tests;
