//! Multiboot2, the second way in: GRUB's `multiboot2` loads the same ELF on a PC
//! whose firmware has no PVH loader (Bochs), so the guests also run bare there. The
//! entry state is the PVH one (32-bit flat protected mode, paging off, interrupts
//! off) with EAX = [`BOOT_MAGIC`] and EBX = the boot information, so the entry code
//! is shared: it only records EAX ([`ENTRY_EAX`]) before anything else.
//!
//! From the boot information only the command line (tag 1) and the copy of the
//! firmware's RSDP (tags 14 and 15) are read; the tags are bounded by the block's own
//! size and a fixed limit.

use core::sync::atomic::{AtomicU32, Ordering};

use super::pvh::{below_4g, read_le};

/// EAX at a Multiboot2 entry.
pub const BOOT_MAGIC: u32 = 0x36d7_6289;
/// The header's magic.
const HEADER_MAGIC: u32 = 0xe852_50d6;
/// The header: magic, architecture 0 (i386 protected mode), length, checksum, then the
/// end tag (type 0, size 8).
const HEADER_LENGTH: u32 = 24;
const CHECKSUM: u32 = 0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(HEADER_LENGTH));
/// Boot information larger than this is not read beyond it.
const MAX_INFO: u64 = 64 * 1024;

/// EAX at the entry, written by the entry code before it zeroes .bss (so in .data).
#[link_section = ".data.guest_common_entry_eax"]
pub(crate) static ENTRY_EAX: AtomicU32 = AtomicU32::new(0);

core::arch::global_asm!(
    r#"
.pushsection .multiboot2, "a"
.balign 8
    .long {magic}
    .long 0
    .long {length}
    .long {checksum}
    .word 0
    .word 0
    .long 8
.popsection
"#,
    magic = const HEADER_MAGIC,
    length = const HEADER_LENGTH,
    checksum = const CHECKSUM,
);

/// What the boot information gives: the command line's address (0: none) and the
/// address of the RSDP copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Info {
    pub cmdline: u64,
    pub rsdp: Option<usize>,
}

/// The boot information at `ebx`, if the guest was entered by a Multiboot2 loader.
pub(crate) fn info(ebx: usize) -> Option<Info> {
    if ENTRY_EAX.load(Ordering::Relaxed) != BOOT_MAGIC || !below_4g(ebx as u64, 16) {
        return None;
    }
    let total = read_le::<4>(ebx).min(MAX_INFO);
    if !below_4g(ebx as u64, total) {
        return None;
    }
    let mut out = Info::default();
    let mut at = 8u64;
    while at + 8 <= total {
        let tag = ebx + at as usize;
        let (kind, size) = (read_le::<4>(tag), read_le::<4>(tag + 4));
        if kind == 0 || size < 8 {
            break;
        }
        match kind {
            1 => out.cmdline = (tag + 8) as u64,
            // The old (ACPI 1.0) or new RSDP, copied whole after the tag's header.
            14 | 15 if size >= 8 + 20 => out.rsdp = Some(tag + 8),
            _ => {}
        }
        at += size.next_multiple_of(8);
    }
    Some(out)
}
