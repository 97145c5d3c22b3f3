//! Where things are in physical memory (identity-mapped: virtual = physical).
//!
//! ```text
//!  0x0000_0000  page 0: never mapped (null guard)
//!  ...          conventional memory; the AP trampoline is copied to the highest
//!               free page below 0xA_0000 (trampoline::pick_page), mapped RX only
//!               while APs start, then unmapped
//!  0x0010_0000  GRUB, the boot information and the rest of RAM (memory map)
//!  0x0020_0000  the image (link.ld): .text (RX) | .rodata (R) | .data, .bss (RW, NX)
//!               .bss holds the per-CPU stacks, each with an unmapped guard page
//!               below it, the page-table pool and the per-CPU VMXON/host-save pages
//!  top of RAM   from the Multiboot2 memory map; mapped RW NX with 2 MiB pages
//!  0xFEE0_0000  local APIC (xAPIC mode; the MADT/IA32_APIC_BASE say where), uncached
//! ```
//!
//! Fallbacks, used only when firmware says nothing: COM1 at I/O port 0x3F8 for the
//! console (the PC standard); without ACPI power-off, Bochs' shutdown port 0x8900.

/// Where the linker places the image (link.ld).
pub const IMAGE_BASE: u64 = 0x20_0000;
/// Bytes of one CPU's stack (its guard page is extra).
pub const STACK_SIZE: usize = 16 * 1024;
/// The physical memory mapped at most: the tables cover RAM up to this.
pub const MAX_RAM: u64 = 64 << 30;
