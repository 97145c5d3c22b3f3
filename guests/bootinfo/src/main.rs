//! bootinfo: a guest that reports what a boot loader gave it, as an arm64 Image whose
//! code runs wherever it is loaded (position-independent assembly, linked at 0).
//!
//! It prints, on the PL011 of QEMU `virt` (0x0900_0000), then powers off with PSCI
//! SYSTEM_OFF (HVC):
//!
//! ```text
//! bootinfo: el=1 load=0x40200000 stack-top=0x40204000 fdt=0x40800000 fdt-magic=ok
//! bootinfo: fdt above stack top: yes
//! bootinfo: virtual counter offset: zero
//! bootinfo: flash erased=0xffffffff query=0x510051 status=0x800080 read-back=0x12345678
//! bootinfo: done
//! ```
//!
//! - `load` is where its first byte is, `stack-top` the top of its stack, the last
//!   bytes its header's `image_size` claims (.bss); `fdt` is x0 at entry.
//! - "fdt above stack top" is what QEMU's `-kernel` guarantees an Image: the device
//!   tree lies above the image and its initrd, never in the memory the image claims.
//! - the counter line reads CNTPCT_EL0, CNTVCT_EL0, CNTPCT_EL0: "zero" when the
//!   virtual count lies between the two physical ones (CNTVOFF_EL2 is 0), else
//!   "non-zero".
//! - the flash line: a word of QEMU virt's second flash bank (0x0400_0000) before it
//!   is written, the CFI query's "Q" (one per x16 device), the status after a word
//!   program (ready), and the word read back.
//!
//! Any exception prints `bootinfo: exception esr=...` and powers off. Bare, QEMU boots
//! the same file (`-kernel`, with no EL2) and the lines must be the same.
#![no_std]
#![no_main]

core::arch::global_asm!(
    r#"
.section .text.head, "ax"
.global _start
_start:
    b       bi_entry                // code0
    .word   0                       // code1
    .quad   0                       // text_offset: RAM base + 2 MiB under QEMU
    .quad   __image_size            // image_size, .bss included (linked at 0)
    .quad   0x8                     // flags: little-endian, placed anywhere
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .word   0

.text
bi_entry:
    mov     x19, x0                 // the device tree
    adr     x20, _start             // where we run
    adrp    x21, __stack_top
    add     x21, x21, :lo12:__stack_top
    mov     sp, x21
    adrp    x1, bi_vectors
    add     x1, x1, :lo12:bi_vectors
    msr     vbar_el1, x1
    isb

    adr     x0, bi_s_el
    bl      bi_puts
    mrs     x0, CurrentEL
    ubfx    x0, x0, #2, #2
    bl      bi_hex
    adr     x0, bi_s_load
    bl      bi_puts
    mov     x0, x20
    bl      bi_hex
    adr     x0, bi_s_stack
    bl      bi_puts
    mov     x0, x21
    bl      bi_hex
    adr     x0, bi_s_fdt
    bl      bi_puts
    mov     x0, x19
    bl      bi_hex
    adr     x0, bi_s_magic
    bl      bi_puts
    adr     x0, bi_s_bad
    tst     x19, #7
    b.ne    1f
    cbz     x19, 1f
    ldr     w1, [x19]
    movz    w2, #0x0dd0
    movk    w2, #0xedfe, lsl #16    // 0xd00dfeed, big-endian in memory
    cmp     w1, w2
    b.ne    1f
    adr     x0, bi_s_ok
1:  bl      bi_puts
    bl      bi_nl

    adr     x0, bi_s_above
    bl      bi_puts
    adr     x0, bi_s_no
    cmp     x19, x21
    b.ls    2f
    adr     x0, bi_s_yes
2:  bl      bi_puts
    bl      bi_nl

    adr     x0, bi_s_counter
    bl      bi_puts
    isb
    mrs     x22, cntpct_el0
    isb
    mrs     x23, cntvct_el0
    isb
    mrs     x24, cntpct_el0
    adr     x0, bi_s_nonzero
    cmp     x23, x22
    b.lo    3f
    cmp     x23, x24
    b.hi    3f
    adr     x0, bi_s_zero
3:  bl      bi_puts
    bl      bi_nl

    // QEMU virt's CFI flash, bank 1: an erased word, the CFI query, a program.
    movz    x25, #0x0400, lsl #16
    adr     x0, bi_s_flash
    bl      bi_puts
    ldr     w0, [x25, #0x2000]
    bl      bi_hex
    adr     x0, bi_s_qry
    bl      bi_puts
    mov     w1, #0x98               // CFI query, at 0x55 * 4
    str     w1, [x25, #0x154]
    ldr     w0, [x25, #0x40]        // 'Q' of both devices, at 0x10 * 4
    bl      bi_hex
    mov     w1, #0xff               // read array
    str     w1, [x25]
    mov     w1, #0x40               // program ...
    str     w1, [x25, #0x1000]
    movz    w1, #0x5678
    movk    w1, #0x1234, lsl #16
    str     w1, [x25, #0x1000]      // ... this word
    adr     x0, bi_s_status
    bl      bi_puts
    ldr     w0, [x25, #0x1000]
    bl      bi_hex
    mov     w1, #0xff
    str     w1, [x25]
    adr     x0, bi_s_back
    bl      bi_puts
    ldr     w0, [x25, #0x1000]
    bl      bi_hex
    bl      bi_nl

    adr     x0, bi_s_done
    bl      bi_puts
    bl      bi_nl
bi_off:
    movz    x0, #0x0008
    movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF
    hvc     #0
4:  wfi
    b       4b

// x0: NUL-terminated string. Clobbers x0-x3, x9.
bi_puts:
    mov     x9, x30
    mov     x3, x0
5:  ldrb    w0, [x3], #1
    cbz     w0, 6f
    bl      bi_putc
    b       5b
6:  ret     x9

bi_nl:
    mov     x9, x30
    mov     w0, #10
    bl      bi_putc
    ret     x9

// w0: one byte to the PL011. Clobbers x1, x2.
bi_putc:
    movz    x1, #0x0900, lsl #16
7:  ldr     w2, [x1, #0x18]         // UARTFR
    tbnz    w2, #5, 7b              // TXFF
    str     w0, [x1]
    ret

// x0: printed as 0x plus hex digits, without leading zeros. Clobbers x0-x6, x10.
bi_hex:
    mov     x10, x30
    mov     x4, x0
    mov     w0, #'0'
    bl      bi_putc
    mov     w0, #'x'
    bl      bi_putc
    mov     x5, #60                 // bit position of the current digit
    mov     x6, #0                  // a digit was printed
8:  lsr     x0, x4, x5
    and     x0, x0, #0xf
    cbnz    x0, 9f
    cbnz    x6, 9f
    cbnz    x5, 11f                 // a leading zero (the last digit always prints)
9:  mov     x6, #1
    cmp     x0, #10
    b.lo    10f
    add     x0, x0, #('a' - 10 - '0')
10: add     x0, x0, #'0'
    bl      bi_putc
11: cbz     x5, 12f
    sub     x5, x5, #4
    b       8b
12: ret     x10

bi_fault:
    adr     x0, bi_s_fault
    bl      bi_puts
    mrs     x0, esr_el1
    bl      bi_hex
    bl      bi_nl
    b       bi_off

.balign 2048
bi_vectors:
    .rept 16
    b       bi_fault
    .balign 128
    .endr

bi_s_el:      .asciz "bootinfo: el="
bi_s_load:    .asciz " load="
bi_s_stack:   .asciz " stack-top="
bi_s_fdt:     .asciz " fdt="
bi_s_magic:   .asciz " fdt-magic="
bi_s_ok:      .asciz "ok"
bi_s_bad:     .asciz "bad"
bi_s_above:   .asciz "bootinfo: fdt above stack top: "
bi_s_yes:     .asciz "yes"
bi_s_no:      .asciz "no"
bi_s_counter: .asciz "bootinfo: virtual counter offset: "
bi_s_zero:    .asciz "zero"
bi_s_nonzero: .asciz "non-zero"
bi_s_flash:   .asciz "bootinfo: flash erased="
bi_s_qry:     .asciz " query="
bi_s_status:  .asciz " status="
bi_s_back:    .asciz " read-back="
bi_s_done:    .asciz "bootinfo: done"
bi_s_fault:   .asciz "bootinfo: exception esr="
"#
);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
