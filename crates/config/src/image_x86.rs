//! Where a kernel image goes in an x86_64 VM's RAM (the machine contract's
//! [`crate::contract::x86_64`]): an ELF64 for x86-64 at its own physical addresses,
//! entered at the 32-bit PVH entry its `XEN_ELFNOTE_PHYS32_ENTRY` note names (Linux's
//! vmlinux with CONFIG_PVH, the rtvisor guests); a raw binary at 0x10_0000, entered
//! there. Everything loads at or above 1 MiB: below are the boot data and ACPI tables.

use crate::contract::x86_64::{KERNEL_MIN_GPA, RAW_LOAD_GPA};
use crate::elf::{self, u32_at, u64_at};
use crate::image::{Kind, Placed, Refused};
use crate::schema::FormatSpec;
use crate::size::{hex, range, within};

/// x86-64 `e_machine`.
pub const EM_X86_64: u16 = 62;
const PT_NOTE: u32 = 4;
/// The Xen ELF note type naming the 32-bit PVH entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

fn refuse(message: String, hint: &str) -> Refused {
    Refused {
        message,
        hint: hint.to_owned(),
    }
}

/// Places `file` in guest RAM `[ram, ram + size)` as `format` says.
/// `format = "auto"` (the default) is an ELF when the file starts with the ELF magic,
/// else a raw binary.
pub fn place(format: FormatSpec, file: Vec<u8>, ram: u64, size: u64) -> Result<Placed, Refused> {
    let format = match format {
        FormatSpec::Auto if file.starts_with(b"\x7fELF") => FormatSpec::Elf,
        FormatSpec::Auto => FormatSpec::Raw,
        f => f,
    };
    let placed = match format {
        FormatSpec::Raw => {
            if file.is_empty() {
                return Err(refuse(
                    "is empty".into(),
                    "point `path` at the built guest binary",
                ));
            }
            if file.starts_with(b"\x7fELF") {
                return Err(refuse(
                    "is an ELF file: as format = \"raw\" its ELF header would be copied to \
                     0x10_0000 and executed"
                        .into(),
                    "use format = \"elf\" (placed at its own addresses, entered at its PVH \
                     note)",
                ));
            }
            let load = ram + RAW_LOAD_GPA;
            Placed {
                end: load.saturating_add(file.len() as u64),
                bytes: file,
                load,
                entry: load,
                kind: Kind::Headerless,
            }
        }
        FormatSpec::Elf | FormatSpec::Auto => elf_image(&file, ram, size)?,
        FormatSpec::LinuxImage => {
            // Refused at the key by the architecture rules; nothing to place.
            return Err(refuse(
                "is for arm64 (format = \"linux-image\")".into(),
                "use format = \"elf\"",
            ));
        }
    };
    crate::image::in_ram(placed, ram, size)
}

fn elf_image(file: &[u8], ram: u64, size: u64) -> Result<Placed, Refused> {
    let hint = "build the guest as a static ELF64 for x86-64 with a PVH entry note, or use \
                format = \"raw\"";
    let e =
        elf::parse(file).map_err(|e| refuse(format!("is not a loadable ELF file: {e}"), hint))?;
    if e.machine != EM_X86_64 {
        let msg = format!(
            "is an ELF file for machine {}, not x86-64 ({EM_X86_64})",
            e.machine
        );
        return Err(refuse(msg, hint));
    }
    let low = ram + KERNEL_MIN_GPA;
    if let Some(s) = e
        .segments
        .iter()
        .find(|s| s.paddr < low || !within(s.paddr, s.memsz, ram, size))
    {
        let message = format!(
            "has a segment at {}, outside the VM's RAM above 1 MiB ({})",
            range(s.paddr, s.memsz),
            range(low, (ram + size).saturating_sub(low))
        );
        let hint = "link the guest at or above 0x10_0000 (below are the boot data and ACPI \
                    tables), or give the VM more memory";
        return Err(refuse(message, hint));
    }
    let entry = match pvh_entry(file) {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            return Err(refuse(
                "has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE segment)".into(),
                "build Linux with CONFIG_PVH=y, or give the guest an `.note.Xen` note of type \
                 18 naming its 32-bit entry point",
            ))
        }
        Err(e) => return Err(refuse(format!("has a malformed note: {e}"), hint)),
    };
    if !e
        .segments
        .iter()
        .any(|s| within(entry, 1, s.paddr, s.memsz))
    {
        let msg = format!(
            "has its PVH entry point {} in no loadable segment",
            hex(entry)
        );
        return Err(refuse(msg, "check the guest's PVH note"));
    }
    Ok(Placed {
        bytes: e.flatten(file),
        load: e.low(),
        entry,
        end: e.high(),
        kind: Kind::Elf,
    })
}

/// The PVH entry point of an ELF64 (`XEN_ELFNOTE_PHYS32_ENTRY`, name "Xen", a 32- or
/// 64-bit physical address) from its PT_NOTE segments; `None` when it has none.
pub fn pvh_entry(b: &[u8]) -> Result<Option<u64>, String> {
    let phoff = u64_at(b, 0x20).ok_or("truncated ELF header")?;
    let phentsize = u64::from(elf::u16_at(b, 0x36).ok_or("truncated ELF header")?);
    let phnum = u64::from(elf::u16_at(b, 0x38).ok_or("truncated ELF header")?);
    for i in 0..phnum {
        let at = phoff
            .checked_add(i * phentsize)
            .and_then(|a| usize::try_from(a).ok())
            .ok_or("program header table out of range")?;
        if u32_at(b, at) != Some(PT_NOTE) {
            continue;
        }
        let bad = || format!("program header {i} lies outside the file");
        let off = u64_at(b, at + 8).ok_or_else(bad)?;
        let len = u64_at(b, at + 32).ok_or_else(bad)?;
        let notes = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| b.get(o..o.checked_add(l)?))
            .ok_or_else(|| format!("note segment {i} lies outside the file"))?;
        if let Some(entry) = find_note(notes)? {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// Walks the notes of one segment: `namesz`, `descsz`, `type`, then the name and the
/// descriptor, each padded to 4 bytes.
fn find_note(notes: &[u8]) -> Result<Option<u64>, String> {
    let mut at = 0usize;
    while at + 12 <= notes.len() {
        let word = |k: usize| u32_at(notes, at + 4 * k).unwrap_or(0) as usize;
        let (namesz, descsz, kind) = (word(0), word(1), word(2) as u32);
        let name_at = at + 12;
        let desc_at = name_at
            .checked_add(namesz.next_multiple_of(4))
            .ok_or("note too large")?;
        let next = desc_at
            .checked_add(descsz.next_multiple_of(4))
            .ok_or("note too large")?;
        if desc_at + descsz > notes.len() {
            return Err("a note runs past its segment".into());
        }
        let name = &notes[name_at..name_at + namesz];
        if name == b"Xen\0" && kind == XEN_ELFNOTE_PHYS32_ENTRY {
            let desc = &notes[desc_at..desc_at + descsz];
            return match descsz {
                4 => Ok(u32_at(desc, 0).map(u64::from)),
                8 => Ok(u64_at(desc, 0)),
                n => Err(format!("the PVH entry note has {n} bytes, not 4 or 8")),
            };
        }
        at = next;
    }
    Ok(None)
}
