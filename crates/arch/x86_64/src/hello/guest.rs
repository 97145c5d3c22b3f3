//! The built-in 32-bit guest of `vm=hello`, assembled with the image and copied into
//! the VM's memory at [`LOAD`]. It starts at the PVH entry and, each step printed on
//! COM1 by port I/O:
//! 1. checks EBX (the start-info address of the entry);
//! 2. CPUID leaf 1: the hypervisor bit must be set;
//! 3. picks VMMCALL (AMD) or VMCALL (Intel) by the CPUID vendor and makes the
//!    [`HC_PING`] hypercall, whose answer must be `!arg`;
//!    then [`HC_BENCH_START`] (answered with a count), that many [`HC_NULL`] calls
//!    and [`HC_BENCH_END`], which the hypervisor times;
//! 4. reads and writes memory outside its RAM ([`OUTSIDE`]) and reads an unclaimed
//!    I/O port: both must read all-ones;
//! 5. HLT; then, with its own GDT and an IDT whose handlers count and step over: a
//!    VMX/SVM instruction (VMXOFF or VMLOAD) must raise #UD and RDMSR of an MSR that
//!    does not exist #GP (both injected by the hypervisor);
//! 6. with an empty IDT, UD2: #UD, #GP, #DF, a triple fault, the end of the run.
//!
//! Any failed check prints a line starting with "FAIL".

use core::arch::global_asm;

/// Guest-physical address the code is copied to.
pub const LOAD: u32 = 0x1000;
/// EBX at entry.
pub const START_INFO: u32 = 0x5000;
/// The hypercall number the guest uses, and its argument.
pub const HC_PING: u32 = 1;
pub const HC_ARG: u32 = 0x1234_5678;
/// The timed loop: start (answers the number of null calls), null, end.
pub const HC_BENCH_START: u32 = 2;
pub const HC_NULL: u32 = 3;
pub const HC_BENCH_END: u32 = 4;
/// Guest-physical address the guest touches outside its RAM.
pub const OUTSIDE: u32 = 0x4000_0000;
/// The I/O port nobody claims.
pub const UNCLAIMED_PORT: u16 = 0x510;
/// The MSR that does not exist.
pub const NO_MSR: u32 = 0xC001_DEAD;

global_asm!(
    ".pushsection .rodata.x86_hello_guest, \"a\"",
    ".code32",
    ".global x86_hello_guest_start",
    "x86_hello_guest_start:",
    "mov $0x80000, %esp",
    "mov %ebx, %ebp",
    "mov $(.Lhg_hello - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "cmp ${start_info}, %ebp",
    "jne .Lhg_fail",
    "mov $(.Lhg_pvh - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "mov $1, %eax",
    "xor %ecx, %ecx",
    "cpuid",
    "bt $31, %ecx",
    "jnc .Lhg_fail",
    "mov $(.Lhg_cpuid - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "xor %eax, %eax",
    "cpuid",
    "xor %edi, %edi",
    "cmp $0x68747541, %ebx",
    "sete %al",
    "movzbl %al, %edi",
    "mov ${hc}, %eax",
    "mov ${arg}, %ebx",
    "call .Lhg_hcall",
    "cmp $~{arg}, %eax",
    "jne .Lhg_fail",
    "mov $(.Lhg_hc - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "mov ${start}, %eax",
    "call .Lhg_hcall",
    "mov %eax, %ecx",
    "test %edi, %edi",
    "jz 6f",
    "5:",
    "jecxz 7f",
    "mov ${null}, %eax",
    "vmmcall",
    "dec %ecx",
    "jmp 5b",
    "6:",
    "jecxz 7f",
    "mov ${null}, %eax",
    "vmcall",
    "dec %ecx",
    "jmp 6b",
    "7:",
    "mov ${end}, %eax",
    "call .Lhg_hcall",
    "mov $(.Lhg_bench - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "mov {outside}, %eax",
    "cmp $-1, %eax",
    "jne .Lhg_fail",
    "mov %eax, {outside}",
    "mov ${port}, %dx",
    "in %dx, %eax",
    "cmp $-1, %eax",
    "jne .Lhg_fail",
    "mov $(.Lhg_mem - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "hlt",
    // Its own GDT, and an IDT whose #UD and #GP handlers count (EBX) and step over.
    "mov $(.Lhg_gdtr - x86_hello_guest_start + {load}), %eax",
    "lgdt (%eax)",
    "mov $(.Lhg_idt - x86_hello_guest_start + {load}), %edx",
    "mov $(.Lhg_ud - x86_hello_guest_start + {load}), %eax",
    "mov %ax, 6*8(%edx)",
    "movw $0x08, 6*8+2(%edx)",
    "movw $0x8e00, 6*8+4(%edx)",
    "shr $16, %eax",
    "mov %ax, 6*8+6(%edx)",
    "mov $(.Lhg_gp - x86_hello_guest_start + {load}), %eax",
    "mov %ax, 13*8(%edx)",
    "movw $0x08, 13*8+2(%edx)",
    "movw $0x8e00, 13*8+4(%edx)",
    "shr $16, %eax",
    "mov %ax, 13*8+6(%edx)",
    "mov $(.Lhg_idtr - x86_hello_guest_start + {load}), %eax",
    "lidt (%eax)",
    "mov $(.Lhg_msr - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "xor %ebx, %ebx",
    // VMLOAD on AMD, VMXOFF on Intel (3 bytes each): the hypervisor injects #UD.
    "test %edi, %edi",
    "jz 9f",
    ".byte 0x0f, 0x01, 0xda",
    "jmp 10f",
    "9:",
    ".byte 0x0f, 0x01, 0xc4",
    "10:",
    "cmp $1, %ebx",
    "jne .Lhg_fail",
    "mov $(.Lhg_udok - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "mov ${msr}, %ecx",
    "rdmsr",
    "cmp $2, %ebx",
    "jne .Lhg_fail",
    "mov $(.Lhg_gpok - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    // No IDT: the #UD becomes #GP, #DF, then a triple fault.
    "mov $(.Lhg_noidt - x86_hello_guest_start + {load}), %eax",
    "lidt (%eax)",
    "ud2",
    "mov $(.Lhg_nogp - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    ".Lhg_fail:",
    "mov $(.Lhg_failed - x86_hello_guest_start + {load}), %esi",
    "call .Lhg_puts",
    "3:",
    "cli",
    "hlt",
    "jmp 3b",
    // The hypercall of this vendor: VMMCALL when EDI is 1 (AMD), else VMCALL.
    ".Lhg_hcall:",
    "test %edi, %edi",
    "jz 8f",
    "vmmcall",
    "ret",
    "8:",
    "vmcall",
    "ret",
    ".Lhg_ud:",
    "inc %ebx",
    "addl $3, (%esp)",
    "iret",
    ".Lhg_gp:",
    "inc %ebx",
    "add $4, %esp",
    "addl $2, (%esp)",
    "iret",
    ".Lhg_puts:",
    "movzbl (%esi), %eax",
    "test %eax, %eax",
    "jz 4f",
    "mov $0x3f8, %dx",
    "out %al, %dx",
    "inc %esi",
    "jmp .Lhg_puts",
    "4:",
    "ret",
    ".Lhg_hello: .asciz \"hello from the guest\\n\"",
    ".Lhg_pvh: .asciz \"pvh entry: 32-bit protected mode, paging off, ebx ok\\n\"",
    ".Lhg_cpuid: .asciz \"cpuid: hypervisor bit set\\n\"",
    ".Lhg_hc: .asciz \"hypercall answered\\n\"",
    ".Lhg_bench: .asciz \"null hypercalls done\\n\"",
    ".Lhg_mem: .asciz \"outside ram and unclaimed port read all-ones\\n\"",
    ".Lhg_msr: .asciz \"halt returned; own gdt and idt loaded\\n\"",
    ".Lhg_udok: .asciz \"vmx/svm instruction raised #UD\\n\"",
    ".Lhg_gpok: .asciz \"rdmsr of a missing msr raised #GP; triple fault next\\n\"",
    ".Lhg_nogp: .asciz \"FAIL: no triple fault\\n\"",
    ".balign 8",
    ".Lhg_gdt: .quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff",
    ".Lhg_idt: .fill 14, 8, 0",
    ".Lhg_gdtr: .word 23",
    ".long .Lhg_gdt - x86_hello_guest_start + {load}",
    ".Lhg_idtr: .word 14 * 8 - 1",
    ".long .Lhg_idt - x86_hello_guest_start + {load}",
    ".Lhg_noidt: .word 0",
    ".long 0",
    ".Lhg_failed: .asciz \"FAIL\\n\"",
    ".global x86_hello_guest_end",
    "x86_hello_guest_end:",
    ".code64",
    ".popsection",
    load = const LOAD,
    start_info = const START_INFO,
    hc = const HC_PING,
    arg = const HC_ARG,
    start = const HC_BENCH_START,
    null = const HC_NULL,
    end = const HC_BENCH_END,
    outside = const OUTSIDE,
    port = const UNCLAIMED_PORT,
    msr = const NO_MSR,
    options(att_syntax)
);

unsafe extern "C" {
    static x86_hello_guest_start: u8;
    static x86_hello_guest_end: u8;
}

/// The guest's code and data.
pub fn image() -> &'static [u8] {
    let start = &raw const x86_hello_guest_start;
    let end = &raw const x86_hello_guest_end;
    // SAFETY: both symbols bound the bytes emitted above, in read-only data, in this
    // order.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}
