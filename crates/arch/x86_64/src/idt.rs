//! Exceptions: an IDT with a stub for each of the 32 exception vectors (16 to 31 are
//! replaced by `irq::init`'s, since an interrupt can use those vectors too). The
//! hypervisor takes none on purpose, so every one is fatal: it prints the vector, error code, RIP,
//! CR2 and CPU, stops the other CPUs with an NMI, waits until they confirm, and halts.
//! An NMI while the machine is halting is that request: the CPU confirms and halts.
//! A double fault and an NMI run on their own stacks (`gdt`'s IST), so a stack
//! overflow into a guard page is reported too.

use crate::cpu;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

core::arch::global_asm!(
    r#"
.macro X86_ISR n, err
.text
x86_isr\n:
    .if \err == 0
    push $0
    .endif
    push $\n
    jmp x86_isr_common
.section .rodata.x86_isr_table, "a"
    .quad x86_isr\n
.endm

.section .rodata.x86_isr_table, "a"
.balign 8
.global x86_isr_table
x86_isr_table:
X86_ISR 0, 0
X86_ISR 1, 0
X86_ISR 2, 0
X86_ISR 3, 0
X86_ISR 4, 0
X86_ISR 5, 0
X86_ISR 6, 0
X86_ISR 7, 0
X86_ISR 8, 1
X86_ISR 9, 0
X86_ISR 10, 1
X86_ISR 11, 1
X86_ISR 12, 1
X86_ISR 13, 1
X86_ISR 14, 1
X86_ISR 15, 0
X86_ISR 16, 0
X86_ISR 17, 1
X86_ISR 18, 0
X86_ISR 19, 0
X86_ISR 20, 0
X86_ISR 21, 1
X86_ISR 22, 0
X86_ISR 23, 0
X86_ISR 24, 0
X86_ISR 25, 0
X86_ISR 26, 0
X86_ISR 27, 0
X86_ISR 28, 0
X86_ISR 29, 1
X86_ISR 30, 1
X86_ISR 31, 0

.text
x86_isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    cld
    call x86_exception
    ud2
"#,
    options(att_syntax)
);

/// What the stubs leave on the stack.
#[repr(C)]
#[derive(Debug)]
pub struct Frame {
    pub gprs: [u64; 15],
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The exception vectors (each has a stub).
const VECTORS: usize = 32;
/// Entries of the IDT: every vector, so that the hypervisor's own interrupt vectors
/// ([`crate::irq`]) have a gate; the others stay not present.
const ENTRIES: usize = 256;
const NMI: u64 = 2;
const DOUBLE_FAULT: u64 = 8;

#[repr(C, align(16))]
struct Idt(UnsafeCell<[[u64; 2]; ENTRIES]>);

// SAFETY: written by the BSP in `init` and `set_gate` before any other CPU runs;
// read-only after.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([[0; 2]; ENTRIES]));

unsafe extern "C" {
    static x86_isr_table: [u64; VECTORS];
}

/// A 64-bit interrupt gate: present, DPL 0, selector 0x08, on IST slot `ist` (0: the
/// current stack).
fn gate(handler: u64, ist: u8) -> [u64; 2] {
    let lo = (handler & 0xFFFF)
        | (u64::from(crate::trampoline::CODE64) << 16)
        | (u64::from(ist & 7) << 32)
        | (0x8E << 40)
        | ((handler >> 16) & 0xFFFF) << 48;
    [lo, handler >> 32]
}

/// Fills the IDT (BSP, once, before the APs start) and loads it on this CPU.
pub fn init() {
    // SAFETY: the table is the stubs' addresses, in .rodata; nothing writes it.
    let table = unsafe { &x86_isr_table };
    // SAFETY: only the BSP calls this, before the APs start (the discipline of `Idt`).
    let idt = unsafe { &mut *IDT.0.get() };
    for (v, (slot, &h)) in idt.iter_mut().zip(table.iter()).enumerate() {
        let ist = match v as u64 {
            DOUBLE_FAULT => crate::gdt::IST_DOUBLE_FAULT,
            NMI => crate::gdt::IST_NMI,
            _ => 0,
        };
        *slot = gate(h, ist);
    }
    load();
}

/// Installs `handler` as the interrupt gate of `vector` (16 and above: `irq::init`
/// gives 16 to 31, exceptions the hypervisor cannot raise itself but an interrupt
/// can arrive with, stubs that tell the two apart).
///
/// # Safety
/// Only the BSP may call this, before the APs start (the discipline of `Idt`), and
/// `handler` must be an interrupt stub that returns with IRETQ.
pub(crate) unsafe fn set_gate(vector: u8, handler: u64) {
    if vector < 16 {
        return;
    }
    // SAFETY: the caller is the BSP before any other CPU runs.
    let idt = unsafe { &mut *IDT.0.get() };
    idt[usize::from(vector)] = gate(handler, 0);
}

/// Installs `handler` as the NMI's gate, on the NMI's own stack (IST).
///
/// # Safety
/// As [`set_gate`]'s; `handler` ends with IRETQ or continues at the NMI's stub in
/// `x86_isr_table` with the stack as the CPU left it.
pub(crate) unsafe fn set_nmi_gate(handler: u64) {
    // SAFETY: the caller is the BSP before any other CPU runs.
    let idt = unsafe { &mut *IDT.0.get() };
    idt[NMI as usize] = gate(handler, crate::gdt::IST_NMI);
}

/// Whether a CPU is reporting a fatal error (an NMI is then the halt request).
pub(crate) fn halting() -> bool {
    HALTING.load(Ordering::Acquire)
}

/// Loads the IDT on this CPU.
pub fn load() {
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let r = Idtr {
        limit: (ENTRIES * 16 - 1) as u16,
        base: IDT.0.get() as u64,
    };
    // SAFETY: IDTR points at a filled, static IDT.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &r, options(readonly, nostack, preserves_flags))
    };
}

/// Set once a CPU reports a fatal exception.
static HALTING: AtomicBool = AtomicBool::new(false);
/// CPUs that stopped on the halt request.
static HALTED: AtomicUsize = AtomicUsize::new(0);

fn name(v: u64) -> &'static str {
    const NAMES: [&str; 21] = [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "-", "#TS", "#NP", "#SS",
        "#GP", "#PF", "-", "#MF", "#AC", "#MC", "#XM", "#VE",
    ];
    NAMES.get(v as usize).copied().unwrap_or("reserved")
}

#[unsafe(no_mangle)]
extern "C" fn x86_exception(f: &Frame) -> ! {
    if f.vector == NMI && HALTING.load(Ordering::Acquire) {
        HALTED.fetch_add(1, Ordering::AcqRel);
        cpu::halt_forever();
    }
    fatal(format_args!(
        "exception {} ({}) error {:#x} rip {:#x} cr2 {:#x}",
        f.vector,
        name(f.vector),
        f.error,
        f.rip,
        cpu::cr2(),
    ))
}

/// Stops every other CPU for good (the caller reports a fatal error itself): an NMI
/// to each, which it confirms and halts on; waits a bounded time for them.
pub fn halt_others() {
    if HALTING.swap(true, Ordering::AcqRel) {
        return;
    }
    let others = crate::smp::online().saturating_sub(1);
    if others > 0 && crate::apic::nmi_all_but_self() {
        crate::timer::wait_until(100_000, || HALTED.load(Ordering::Acquire) >= others);
    }
}

/// Stops the machine: prints `[rtvisor] FATAL: <what> on cpu N (apic id A)`, halts
/// every other CPU with an NMI, says when they all confirmed, and halts.
pub fn fatal(what: core::fmt::Arguments<'_>) -> ! {
    if HALTING.swap(true, Ordering::AcqRel) {
        // Another CPU is already reporting; its NMI will count this one.
        HALTED.fetch_add(1, Ordering::AcqRel);
        cpu::halt_forever();
    }
    let apic = cpu::apic_id();
    let index = crate::smp::index_of(apic).map_or(-1, |i| i as i64);
    crate::console::print_fatal(format_args!(
        "[rtvisor] FATAL: {what} on cpu {index} (apic id {apic})\n"
    ));
    let others = crate::smp::online().saturating_sub(1);
    if others > 0 && crate::apic::nmi_all_but_self() {
        crate::timer::wait_until(100_000, || HALTED.load(Ordering::Acquire) >= others);
    }
    let halted = HALTED.load(Ordering::Acquire);
    if halted >= others {
        crate::console::print_fatal(format_args!("[rtvisor] all CPUs halted\n"));
    } else {
        crate::console::print_fatal(format_args!(
            "[rtvisor] {halted} of {others} other CPUs confirmed the halt\n"
        ));
    }
    cpu::halt_forever()
}
