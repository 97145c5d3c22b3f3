//! Boot code: the PVH entry (primary), the real-mode trampoline of INIT-SIPI-SIPI
//! (secondaries), long mode, per-CPU stacks and the interrupt stubs.
//!
//! PVH entry state (the Xen/QEMU/Cloud Hypervisor contract): 32-bit flat protected
//! mode, paging off, interrupts off, ebx = the `hvm_start_info` structure. The
//! primary claims `BOOT_CLAIM` (in .data, so zeroing .bss cannot reset it; later
//! arrivals park), zeroes .bss, builds the page tables, loads its own GDT, turns on
//! PAE, long mode and paging, sets GS to its per-CPU block and RSP to the top of its
//! 16 KiB stack, then calls `primary_main(start_info)`.
//!
//! Page tables: 4 GiB identity mapped with 2 MiB pages (one PML4 entry, four page
//! directories); the top GiB (local APIC, I/O APIC, ...) uncached (PCD|PWT).
//!
//! Secondaries: the primary copies the trampoline (`gc_tramp_start..gc_tramp_end`,
//! real-mode code that only refers to itself) to [`TRAMPOLINE`] and writes the vCPU
//! index to `SMP_INDEX`; the SIPI starts the CPU there in real mode (CS = page >> 4,
//! IP = 0). It loads the image's GDT, enters protected mode and jumps to
//! `gc_secondary32` in the image, which takes the same path to long mode as the
//! primary and calls `secondary_main(index)`.
//!
//! Interrupt stubs (vectors 32..=255) read the TSC with their third instruction into
//! the frame's `stamp` (interrupt latency is measured from there); exception stubs
//! (0..=31) push a zero error code where the CPU pushes none. All stubs save the
//! general registers into an `exception::TrapFrame` and call `exception::trap`. The
//! target is soft-float: there is no FP/SIMD state to save.

use core::sync::atomic::{AtomicU32, AtomicU64};

use crate::{MAX_VCPUS, STACK_SIZE};

/// Where the real-mode trampoline is copied (a page below 1 MiB, in the RAM the
/// memory map gives every PVH guest; SIPI vector `TRAMPOLINE >> 12`).
pub const TRAMPOLINE: usize = 0x8000;

/// Set to 1 by the CPU that becomes primary (not zeroed with .bss; cleared before a
/// guest-requested reset).
#[link_section = ".data.guest_common_boot_claim"]
pub(crate) static BOOT_CLAIM: AtomicU32 = AtomicU32::new(0);

/// The vCPU index the next secondary takes (written by the primary before the SIPI).
pub(crate) static SMP_INDEX: AtomicU64 = AtomicU64::new(0);

/// Per-CPU block, addressed through GS: word 0 is the vCPU index.
#[repr(C, align(64))]
pub(crate) struct PerCpu {
    pub index: AtomicU64,
}

pub(crate) static PERCPU: [PerCpu; MAX_VCPUS] = [const {
    PerCpu {
        index: AtomicU64::new(0),
    }
}; MAX_VCPUS];

extern "C" {
    static gc_tramp_start: u8;
    static gc_tramp_end: u8;
}

/// The trampoline's bytes (copied to [`TRAMPOLINE`] by `smp`).
pub(crate) fn trampoline() -> &'static [u8] {
    let start = core::ptr::addr_of!(gc_tramp_start);
    let end = core::ptr::addr_of!(gc_tramp_end);
    // SAFETY: the two symbols delimit the trampoline in .rodata (global_asm below);
    // it is never written.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}

core::arch::global_asm!(
    r#"
.pushsection .note.Xen, "a", @note
.balign 4
    .long 4
    .long 8
    .long 18                    // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .quad gc_pvh_entry
.popsection

// GDT: 0x08 64-bit code, 0x10 data, 0x18 32-bit code.
.pushsection .rodata.gc_gdt, "a"
.balign 16
gc_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00cf9a000000ffff
gc_gdt_end:
.balign 8
gc_gdt_ptr:
    .word gc_gdt_end - gc_gdt - 1
    .quad gc_gdt
.popsection

.pushsection .bss.gc_page_tables, "aw", @nobits
.balign 4096
gc_pml4:
    .space 4096
gc_pdpt:
    .space 4096
gc_pd:
    .space 4 * 4096
.popsection

.pushsection .bss.gc_stacks, "aw", @nobits
.balign 16
gc_stacks:
    .space {stacks_bytes}
.popsection

.pushsection .text.boot, "ax"
.code32
.global gc_pvh_entry
gc_pvh_entry:
    cli
    cld
    mov dword ptr [{entry_eax}], eax    // Multiboot2's magic (multiboot.rs)
    mov esi, ebx
    mov eax, 1
    xchg dword ptr [{claim}], eax
    test eax, eax
    jnz gc_park32
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    xor eax, eax
    rep stosb
    // PML4[0] -> PDPT, PDPT[0..4] -> the four page directories.
    mov dword ptr [gc_pml4], offset gc_pdpt + 3
    mov eax, offset gc_pd + 3
    mov edi, offset gc_pdpt
    mov ecx, 4
2:  mov dword ptr [edi], eax
    add eax, 4096
    add edi, 8
    dec ecx
    jnz 2b
    // 2048 2 MiB pages: PS | RW | P, and PCD | PWT from 3 GiB up.
    mov edi, offset gc_pd
    xor ecx, ecx
3:  mov eax, ecx
    shl eax, 21
    or eax, 0x83
    cmp ecx, 1536
    jb 4f
    or eax, 0x18
4:  mov dword ptr [edi + ecx * 8], eax
    inc ecx
    cmp ecx, 2048
    jb 3b
    xor ebp, ebp                // vCPU index 0
    jmp gc_long_mode

// A secondary, from the trampoline: protected mode, flat segments, paging off.
.global gc_secondary32
gc_secondary32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ebp, dword ptr [{smp_index}]
    // fall through

// ebp = vCPU index, esi = start_info (primary only).
gc_long_mode:
    lgdt [gc_gdt_ptr]
    mov eax, cr4
    or eax, 0x20                // PAE
    mov cr4, eax
    mov eax, offset gc_pml4
    mov cr3, eax
    mov ecx, 0xc0000080         // EFER
    rdmsr
    or eax, 0x100               // LME
    wrmsr
    mov eax, cr0
    or eax, 0x80010001          // PG | WP | PE
    mov cr0, eax
    .byte 0xea                  // ljmp 0x08:gc_long64
    .long gc_long64
    .word 0x08

gc_park32:
    cli
    hlt
    jmp gc_park32

.code64
gc_long64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    cmp ebp, {max_vcpus}
    jae gc_park
    // GS base = &PERCPU[index]; PERCPU[index].index = index.
    mov eax, ebp
    imul rax, rax, {percpu_size}
    lea rdx, [rip + {percpu}]
    add rax, rdx
    mov qword ptr [rax], rbp
    mov rdx, rax
    shr rdx, 32
    mov ecx, 0xc0000101         // IA32_GS_BASE
    wrmsr
    // RSP = top of this vCPU's stack.
    lea rax, [rbp + 1]
    imul rax, rax, {stack_size}
    lea rsp, [rip + gc_stacks]
    add rsp, rax
    mov r12d, esi               // callee-saved across the call
    call {load_idt}
    mov edi, r12d
    test ebp, ebp
    jnz 5f
    call {primary}
    jmp gc_park
5:  mov rdi, rbp
    call {secondary}

.global gc_park
gc_park:
    cli
    hlt
    jmp gc_park
.popsection

// The real-mode trampoline, copied to {tramp} and entered with CS = {tramp} >> 4,
// IP = 0. It refers only to itself (offsets from gc_tramp_start) and to absolute
// addresses of the image below 4 GiB.
.pushsection .rodata.gc_trampoline, "a"
.balign 16
.global gc_tramp_start
gc_tramp_start:
.code16
    jmp 1f
.balign 8
gc_tramp_gdt_ptr:
    .word gc_gdt_end - gc_gdt - 1
    .long gc_gdt
.set gc_tramp_gdt_off, gc_tramp_gdt_ptr - gc_tramp_start
1:  cli
    cld
    mov ax, cs
    mov ds, ax
    .byte 0x66                  // 32-bit base
    lgdt [gc_tramp_gdt_off]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    .byte 0x66, 0xea            // ljmpl 0x18:gc_secondary32
    .long gc_secondary32
    .word 0x18
.code64
.global gc_tramp_end
gc_tramp_end:
.popsection
"#,
    claim = sym BOOT_CLAIM,
    entry_eax = sym super::multiboot::ENTRY_EAX,
    smp_index = sym SMP_INDEX,
    percpu = sym PERCPU,
    percpu_size = const core::mem::size_of::<PerCpu>(),
    max_vcpus = const MAX_VCPUS,
    stack_size = const STACK_SIZE,
    stacks_bytes = const STACK_SIZE * MAX_VCPUS,
    tramp = const TRAMPOLINE,
    load_idt = sym crate::arch::exception::load_idt,
    primary = sym crate::primary_main,
    secondary = sym crate::secondary_main,
);
