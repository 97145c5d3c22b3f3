//! The way in: the Multiboot2 header, the 32-bit entry GRUB jumps to, the PVH note and
//! its entry (QEMU's `-kernel`), the switch to long mode on boot page tables, and the
//! AP trampoline (real mode -> long mode).
//!
//! The entry (`x86_start32`) runs in 32-bit protected mode with paging off, `eax` =
//! the Multiboot2 magic, `ebx` = the boot information; the PVH entry
//! (`x86_pvh_start32`, named by the `XEN_ELFNOTE_PHYS32_ENTRY` note) sets `eax` to
//! `pvh::ENTRY_MARK` and goes on there, `ebx` = the `hvm_start_info`. It clears .bss, checks for long
//! mode and NX, identity-maps the first 4 GiB with 2 MiB pages (boot tables in .bss,
//! used only until `platform::bsp_init` switches to the final W^X tables), enables
//! PAE, EFER.LME|NXE and CR0.PG|WP, and calls the binary's
//! `rtvisor_x86_bsp(magic, info)` on CPU 0's stack.
//!
//! An AP runs the trampoline copy (see `trampoline.rs` for its layout), arrives in
//! `x86_ap_start64` on the final tables, loads the GDT and calls
//! `rtvisor_x86_ap(index)` on the stack `smp` left in `X86_AP_STACK_TOP`.
//!
//! Symbols the linker script (link.ld) provides: `__bss_start`, `__bss_end`.

use crate::acpi::madt::MAX_CPUS;
use crate::layout::STACK_SIZE;
use crate::multiboot2::HEADER_MAGIC;
use crate::trampoline::{CODE64, DATA, OFF_CODE, OFF_CR3, OFF_GDTR, OFF_LM, OFF_PM};

/// Bytes of one stack slot: an unmapped guard page, then the stack.
pub const STACK_SLOT: usize = STACK_SIZE + 4096;

core::arch::global_asm!(
    r#"
// 32-bit protected mode, paging off, edx = CR3: PAE, CR3, EFER.LME|NXE, CR0.PG|WP|PE.
// The caller's far jump then enters 64-bit code.
.macro X86_LONG_MODE
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov %edx, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x900, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax
    mov %eax, %cr0
.endm

.macro X86_DATA_SEGMENTS
    mov ${DATA}, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
.endm

.section .multiboot2, "a"
.balign 8
x86_mb2_header:
    .long {MB2_MAGIC}
    .long 0
    .long x86_mb2_end - x86_mb2_header
    .long 0x100000000 - ({MB2_MAGIC} + (x86_mb2_end - x86_mb2_header))
    .short 0
    .short 0
    .long 8
x86_mb2_end:

.section .rodata.x86_gdt, "a"
.balign 16
.global x86_gdt
x86_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF
    .quad 0x00CF93000000FFFF
    .quad 0x00CF9B000000FFFF
x86_gdt_end:
.balign 8
x86_gdtr:
    .short x86_gdt_end - x86_gdt - 1
    .quad x86_gdt

x86_nolm_msg:
    .asciz "rtvisor: FATAL: this CPU has no long mode or no NX\r\n"

.section .bss.x86_boot, "aw", @nobits
.balign 4096
x86_boot_pml4: .skip 4096
x86_boot_pdpt: .skip 4096
x86_boot_pd:   .skip 4 * 4096
.global x86_stacks
x86_stacks:    .skip {STACK_SLOT} * {MAX_CPUS}

// PVH: a loader that finds this note (QEMU's `-kernel`) enters at its address in 32-bit
// protected mode with ebx = the hvm_start_info and eax undefined.
.section .pvhnote, "a", @note
.balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .long x86_pvh_start32

.section .text.x86_boot, "ax"
.code32
.global x86_pvh_start32
x86_pvh_start32:
    mov ${PVH_MARK}, %eax
.global x86_start32
x86_start32:
    cli
    cld
    mov %eax, %ebp
    mov %ebx, %esi
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $(x86_stacks + {STACK_SLOT}), %esp

    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb 9f
    mov $0x80000001, %eax
    cpuid
    test $(1 << 29), %edx
    jz 9f
    test $(1 << 20), %edx
    jz 9f

    mov $x86_boot_pdpt, %eax
    or $3, %eax
    mov %eax, x86_boot_pml4
    mov $x86_boot_pd, %eax
    or $3, %eax
    xor %ecx, %ecx
1:  mov %eax, x86_boot_pdpt(, %ecx, 8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jb 1b
    mov $0x83, %eax
    xor %ecx, %ecx
2:  mov %eax, x86_boot_pd(, %ecx, 8)
    add $0x200000, %eax
    inc %ecx
    cmp $2048, %ecx
    jb 2b

    mov $x86_boot_pml4, %edx
    X86_LONG_MODE
    lgdt x86_gdtr
    ljmp ${CODE64}, $x86_start64

9:  mov $x86_nolm_msg, %esi
3:  lodsb
    test %al, %al
    jz 4f
    mov $0x3F8, %dx
    out %al, %dx
    jmp 3b
4:  hlt
    jmp 4b

.code64
x86_start64:
    X86_DATA_SEGMENTS
    mov %esp, %esp
    mov %ebp, %edi
    mov %esi, %esi
    xor %ebp, %ebp
    call rtvisor_x86_bsp
    ud2

.global x86_ap_start64
x86_ap_start64:
    lgdt x86_gdtr(%rip)
    X86_DATA_SEGMENTS
    mov X86_AP_STACK_TOP(%rip), %rsp
    mov X86_AP_INDEX(%rip), %rdi
    xor %ebp, %ebp
    call rtvisor_x86_ap
    ud2

.section .rodata.x86_trampoline, "a"
.balign 16
.global x86_trampoline, x86_trampoline_pm, x86_trampoline_end
x86_trampoline:
.code16
    .byte 0xEB, {OFF_CODE} - 2
    .skip {OFF_CODE} - 2, 0
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    movzwl %ax, %ebx
    shl $4, %ebx
    lgdtl {OFF_GDTR}
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl *{OFF_PM}
.code32
x86_trampoline_pm:
    mov ${DATA}, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov {OFF_CR3}(%ebx), %edx
    X86_LONG_MODE
    ljmp *{OFF_LM}(%ebx)
x86_trampoline_end:
.code64
"#,
    MB2_MAGIC = const HEADER_MAGIC,
    PVH_MARK = const crate::pvh::ENTRY_MARK,
    STACK_SLOT = const STACK_SLOT,
    MAX_CPUS = const MAX_CPUS,
    CODE64 = const CODE64,
    DATA = const DATA,
    OFF_CODE = const OFF_CODE,
    OFF_GDTR = const OFF_GDTR,
    OFF_PM = const OFF_PM,
    OFF_LM = const OFF_LM,
    OFF_CR3 = const OFF_CR3,
    options(att_syntax)
);

unsafe extern "C" {
    static x86_stacks: u8;
    static x86_trampoline: u8;
    static x86_trampoline_pm: u8;
    static x86_trampoline_end: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    pub(crate) fn x86_ap_start64();
}

/// The image's sections: `[text_start, text_end)` RX, `[text_end, rodata_end)` R,
/// `[rodata_end, image_end)` RW (data and bss).
#[derive(Debug, Clone, Copy)]
pub struct Sections {
    pub text_start: u64,
    pub text_end: u64,
    pub rodata_end: u64,
    pub image_end: u64,
}

pub fn sections() -> Sections {
    Sections {
        text_start: (&raw const __text_start) as u64,
        text_end: (&raw const __text_end) as u64,
        rodata_end: (&raw const __rodata_end) as u64,
        image_end: (&raw const __image_end) as u64,
    }
}

/// The base of CPU `index`'s stack slot (its guard page).
pub fn stack_slot(index: usize) -> u64 {
    (&raw const x86_stacks) as u64 + (index * STACK_SLOT) as u64
}

/// The top of CPU `index`'s stack.
pub fn stack_top(index: usize) -> u64 {
    stack_slot(index) + STACK_SLOT as u64
}

/// The index of the CPU whose stack slot holds the calling code's stack (each CPU
/// runs on its own slot, [`stack_top`]), or `None` on any other stack (the
/// interrupt stacks of `gdt`'s IST).
#[inline(always)]
pub fn stack_index() -> Option<usize> {
    let rsp: u64;
    // SAFETY: reads RSP only.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags))
    };
    let index = rsp.wrapping_sub((&raw const x86_stacks) as u64) / STACK_SLOT as u64;
    (index < MAX_CPUS as u64).then_some(index as usize)
}

/// The trampoline code as linked (to be copied below 1 MiB) and the offset of its
/// 32-bit part.
pub fn trampoline_blob() -> (&'static [u8], u32) {
    let start = &raw const x86_trampoline;
    let len = (&raw const x86_trampoline_end) as usize - start as usize;
    let pm = (&raw const x86_trampoline_pm) as usize - start as usize;
    // SAFETY: the two symbols delimit the trampoline in .rodata, which is never written.
    let blob = unsafe { core::slice::from_raw_parts(start, len) };
    (blob, pm as u32)
}
