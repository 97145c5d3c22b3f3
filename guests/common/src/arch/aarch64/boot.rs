//! Boot code: `_start` (primary), the PSCI `CPU_ON` entry (secondaries) and the
//! exception vector tables.
//!
//! Entry state (both paths): EL1h (or EL2 when run bare on a machine with EL2), MMU
//! off, DAIF masked. Each vCPU: selects SP_ELx, enables FP/SIMD (the target uses
//! NEON), installs the vectors of its EL, stores its vCPU index in TPIDR_EL1 and sets
//! SP to the top of its 16 KiB stack.
//! - Primary: the first vCPU to claim `BOOT_CLAIM` (in .data, so not zeroed); later
//!   arrivals at `_start` park. Index = MPIDR.Aff0 (0 when >= MAX_VCPUS). Zeroes
//!   .bss, then calls `primary_main(x0)`.
//! - Secondary: x0 = context_id = vCPU index (parks when >= MAX_VCPUS).
//!
//! Trap frame (see `exception::TrapFrame`, 816 bytes): x0..x30, ELR, SPSR, FPSR,
//! FPCR, pad, q0..q31, stamp. Every vector saves the full frame, so a handler that
//! returns (skip/retry) resumes any code transparently. The IRQ vector of the current
//! EL (SP_ELx) first reads PMCCNTR_EL0 and CNTVCT_EL0 into `stamp` (the third and
//! fourth instructions of the vector: interrupt latency is measured from there).

use core::sync::atomic::AtomicU32;

use crate::{MAX_VCPUS, STACK_SIZE};

/// Set to 1 by the vCPU that becomes primary. In .data so that zeroing .bss cannot
/// reset it; cleared again before a guest-requested reset (`psci::system_reset`).
#[link_section = ".data.guest_common_boot_claim"]
pub(crate) static BOOT_CLAIM: AtomicU32 = AtomicU32::new(0);

extern "C" {
    fn guest_common_secondary_entry();
}

/// Address of the secondary entry point.
pub(crate) fn secondary_entry_address() -> usize {
    guest_common_secondary_entry as *const () as usize
}

core::arch::global_asm!(
    r#"
.macro GC_CPU_SETUP
    msr     spsel, #1
    mrs     x9, CurrentEL
    ubfx    x9, x9, #2, #2
    cmp     x9, #2
    b.ne    1f
    mrs     x10, hcr_el2
    tbnz    x10, #34, 3f
    mov     x10, #0x33ff            // CPTR_EL2 (nVHE): RES1 bits, TFP = 0
    msr     cptr_el2, x10
    b       4f
3:  mov     x10, #(3 << 20)         // CPTR_EL2 (VHE layout): FPEN = 0b11
    msr     cptr_el2, x10
4:  adrp    x10, guest_common_vectors_el2
    add     x10, x10, :lo12:guest_common_vectors_el2
    msr     vbar_el2, x10
    b       2f
1:  mrs     x10, cpacr_el1
    orr     x10, x10, #(3 << 20)    // FPEN = 0b11: no FP/SIMD traps
    msr     cpacr_el1, x10
    adrp    x10, guest_common_vectors_el1
    add     x10, x10, :lo12:guest_common_vectors_el1
    msr     vbar_el1, x10
2:  isb
.endm

// x0 = vCPU index (< MAX_VCPUS); sets TPIDR_EL1 and SP. Clobbers x1-x3.
.macro GC_SET_STACK
    msr     tpidr_el1, x0
    adrp    x1, guest_common_stacks
    add     x1, x1, :lo12:guest_common_stacks
    add     x2, x0, #1
    mov     x3, #{stack_size}
    madd    x1, x2, x3, x1
    mov     sp, x1
.endm

.pushsection .text.boot, "ax"
.global _start
.type _start, %function
_start:
    mov     x19, x0
    GC_CPU_SETUP
    adrp    x1, {claim}
    add     x1, x1, :lo12:{claim}
    mov     w2, #1
5:  ldaxr   w3, [x1]
    cbnz    w3, guest_common_park
    stxr    w4, w2, [x1]
    cbnz    w4, 5b
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cmp     x0, #{max_vcpus}
    csel    x0, x0, xzr, lo
    GC_SET_STACK
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
6:  cmp     x1, x2
    b.hs    7f
    str     xzr, [x1], #8
    b       6b
7:  mov     x0, x19
    bl      {primary}
    b       guest_common_park
.size _start, . - _start

.global guest_common_secondary_entry
.type guest_common_secondary_entry, %function
guest_common_secondary_entry:
    mov     x19, x0
    GC_CPU_SETUP
    cmp     x19, #{max_vcpus}
    b.hs    guest_common_park
    mov     x0, x19
    GC_SET_STACK
    mov     x0, x19
    bl      {secondary}
    b       guest_common_park
.size guest_common_secondary_entry, . - guest_common_secondary_entry

.global guest_common_park
guest_common_park:
    wfe
    b       guest_common_park
.popsection

.pushsection .bss.guest_common_stacks, "aw", %nobits
.balign 16
guest_common_stacks:
    .space {stacks_bytes}
.popsection
"#,
    stack_size = const STACK_SIZE,
    max_vcpus = const MAX_VCPUS,
    stacks_bytes = const STACK_SIZE * MAX_VCPUS,
    claim = sym BOOT_CLAIM,
    primary = sym crate::primary_main,
    secondary = sym crate::secondary_main,
);

core::arch::global_asm!(
    r#"
.macro GC_VENTRY el, kind
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp]
    mov     x0, #((\el << 4) | \kind)
    b       guest_common_trap_el\el
.endm

// Exception entry is context synchronizing: no ISB is needed before the reads.
.macro GC_VENTRY_IRQ el, kind
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp]
    mrs     x0, pmccntr_el0
    mrs     x1, cntvct_el0
    str     x0, [sp, #{stamp}]
    str     x1, [sp, #({stamp} + 8)]
    mov     x0, #((\el << 4) | \kind)
    b       guest_common_trap_el\el
.endm

.macro GC_VECTORS el
    .balign 2048
guest_common_vectors_el\el:
    .irp kind, 0, 1, 2, 3, 4
    GC_VENTRY \el, \kind
    .endr
    GC_VENTRY_IRQ \el, 5
    .irp kind, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    GC_VENTRY \el, \kind
    .endr
.endm

// x0 = kind, x0/x1 of the interrupted context already saved at [sp].
.macro GC_TRAP el
guest_common_trap_el\el:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x1, elr_el\el
    mrs     x2, spsr_el\el
    stp     x1, x2, [sp, #248]
    mrs     x1, fpsr
    mrs     x2, fpcr
    stp     x1, x2, [sp, #264]
    add     x1, sp, #288
    stp     q0, q1, [x1, #0]
    stp     q2, q3, [x1, #32]
    stp     q4, q5, [x1, #64]
    stp     q6, q7, [x1, #96]
    stp     q8, q9, [x1, #128]
    stp     q10, q11, [x1, #160]
    stp     q12, q13, [x1, #192]
    stp     q14, q15, [x1, #224]
    stp     q16, q17, [x1, #256]
    stp     q18, q19, [x1, #288]
    stp     q20, q21, [x1, #320]
    stp     q22, q23, [x1, #352]
    stp     q24, q25, [x1, #384]
    stp     q26, q27, [x1, #416]
    stp     q28, q29, [x1, #448]
    stp     q30, q31, [x1, #480]
    mov     x1, sp
    bl      {handler}
    add     x1, sp, #288
    ldp     q0, q1, [x1, #0]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    ldp     q16, q17, [x1, #256]
    ldp     q18, q19, [x1, #288]
    ldp     q20, q21, [x1, #320]
    ldp     q22, q23, [x1, #352]
    ldp     q24, q25, [x1, #384]
    ldp     q26, q27, [x1, #416]
    ldp     q28, q29, [x1, #448]
    ldp     q30, q31, [x1, #480]
    ldp     x1, x2, [sp, #264]
    msr     fpsr, x1
    msr     fpcr, x2
    ldp     x1, x2, [sp, #248]
    msr     elr_el\el, x1
    msr     spsr_el\el, x2
    ldp     x0, x1, [sp]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    add     sp, sp, #{frame}
    eret
.endm

.pushsection .text.vectors, "ax"
GC_VECTORS 1
GC_VECTORS 2
GC_TRAP 1
GC_TRAP 2
.popsection
"#,
    frame = const core::mem::size_of::<super::exception::TrapFrame>(),
    stamp = const core::mem::offset_of!(super::exception::TrapFrame, stamp),
    handler = sym super::exception::trap,
);
