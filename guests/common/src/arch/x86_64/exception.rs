//! The IDT, the trap frame, the guest's exception hook, and the report-and-power-off
//! path for everything unexpected.
//!
//! Order for an exception (vectors 0..=31):
//! 1. an armed [`crate::guard::catch`] on this vCPU records it and resumes at the
//!    label the guarded instruction registered (x86 instructions have no fixed
//!    length, so a fault is never "skipped" blindly);
//! 2. else the hook registered with [`crate::exception::set_sync_handler`] decides;
//! 3. else print vector, error code, RIP and CR2, and power off.
//!
//! Vectors 32..=255 are interrupts: [`super::irq::dispatch`]; without a registered
//! handler they are reported like the others.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::{cpu, guard, power, println};

/// Registers saved by the stubs (layout shared with the assembly below).
#[repr(C)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    /// Interrupt vectors only: the TSC read by the stub's third instruction.
    pub stamp: u64,
    pub vector: u64,
    /// The CPU's error code, 0 for vectors without one.
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const FRAME_WORDS: usize = 23;
const _: () = assert!(core::mem::size_of::<TrapFrame>() == FRAME_WORDS * 8);

/// An exception as the hook and `guard` see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    /// CR2 for a page fault, 0 otherwise.
    pub cr2: u64,
}

/// #UD: invalid opcode.
pub const VECTOR_UD: u64 = 6;
/// #GP: general protection.
pub const VECTOR_GP: u64 = 13;
/// #PF: page fault.
pub const VECTOR_PF: u64 = 14;

impl Fault {
    /// The words `guard` keeps per vCPU.
    pub(crate) fn to_words(self) -> [u64; 4] {
        [self.vector, self.error, self.rip, self.cr2]
    }
    pub(crate) fn from_words(w: [u64; 4]) -> Self {
        Fault {
            vector: w[0],
            error: w[1],
            rip: w[2],
            cr2: w[3],
        }
    }
    /// Where execution continues past the faulting instruction: unknown on x86 (a
    /// guarded instruction names its resume label instead).
    pub(crate) fn return_address(&self) -> Option<u64> {
        None
    }
    /// Short name of the vector.
    pub fn name(&self) -> &'static str {
        match self.vector {
            0 => "#DE",
            1 => "#DB",
            3 => "#BP",
            4 => "#OF",
            5 => "#BR",
            6 => "#UD",
            7 => "#NM",
            8 => "#DF",
            10 => "#TS",
            11 => "#NP",
            12 => "#SS",
            13 => "#GP",
            14 => "#PF",
            16 => "#MF",
            17 => "#AC",
            18 => "#MC",
            19 => "#XM",
            20 => "#VE",
            21 => "#CP",
            _ => "exception",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vector={} error={:#x} rip={:#x} cr2={:#x}",
            self.name(),
            self.vector,
            self.error,
            self.rip,
            self.cr2
        )
    }
}

/// What the hook wants done with an exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resume at the RIP in the frame (the hook fixed the cause or the RIP).
    Resume,
    /// Not handled: report and power off.
    Unhandled,
}

/// Guest hook for exceptions.
pub type SyncHandler = fn(&Fault, &mut TrapFrame) -> Action;

// SAFETY: a function pointer: one usize, never null.
unsafe impl crate::hook::FnPointer for SyncHandler {}

fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Called by the stubs with the saved frame.
pub(crate) extern "C" fn trap(frame: &mut TrapFrame) {
    if frame.vector >= 32 {
        if super::irq::dispatch(frame) {
            return;
        }
    } else {
        let fault = Fault {
            vector: frame.vector,
            error: frame.error,
            rip: frame.rip,
            cr2: if frame.vector == VECTOR_PF {
                read_cr2()
            } else {
                0
            },
        };
        if let Some(resume) = guard::record(&fault) {
            frame.rip = resume;
            return;
        }
        if let Some(handler) = crate::exception::sync_handler() {
            if handler(&fault, frame) == Action::Resume {
                return;
            }
        }
        println!(
            "guest: unexpected exception on vcpu {}: {}",
            cpu::index(),
            fault
        );
        power::system_off()
    }
    println!(
        "guest: unexpected interrupt vector {} on vcpu {}",
        frame.vector,
        cpu::index()
    );
    power::system_off()
}

/// The IDT: 256 gates of 16 bytes, built once by the first CPU that loads it.
#[repr(C, align(16))]
struct Idt([AtomicU64; 512]);

static IDT: Idt = Idt([const { AtomicU64::new(0) }; 512]);
static IDT_BUILT: AtomicBool = AtomicBool::new(false);

extern "C" {
    static gc_stubs: u8;
}

/// Bytes between two stubs (the assembly aligns each to this).
const STUB_STRIDE: usize = 64;

fn build_idt() {
    let base = core::ptr::addr_of!(gc_stubs) as u64;
    for v in 0..256u64 {
        let addr = base + v * STUB_STRIDE as u64;
        // Interrupt gate, DPL 0, present; selector 0x08 (64-bit code).
        let low = (addr & 0xffff) | (0x08 << 16) | (0x8e00 << 32) | ((addr >> 16) & 0xffff) << 48;
        IDT.0[2 * v as usize].store(low, Ordering::Relaxed);
        IDT.0[2 * v as usize + 1].store(addr >> 32, Ordering::Relaxed);
    }
    IDT_BUILT.store(true, Ordering::Release);
}

/// Loads the IDT on this CPU (the boot code calls it on every CPU before Rust code
/// runs; the primary, first, builds it).
pub(crate) extern "C" fn load_idt() {
    if !IDT_BUILT.load(Ordering::Acquire) {
        build_idt();
    }
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: core::ptr::addr_of!(IDT) as u64,
    };
    // SAFETY: the IDT is static and fully built; every gate points at a stub below.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags))
    };
}

/// A triple fault: an exception with an empty IDT. The machine resets (under a
/// hypervisor: this VM).
pub fn triple_fault() -> ! {
    load_null_idt();
    // SAFETY: with a null IDT, INT3 cannot be delivered: a triple fault, which
    // resets the machine or the VM; nothing runs after it.
    unsafe { core::arch::asm!("int3", options(nomem, nostack)) };
    cpu::park()
}

/// Loads an empty IDT: the next exception is a triple fault (a reset).
pub(crate) fn load_null_idt() {
    let ptr = [0u16; 5];
    // SAFETY: an IDT of limit 0; used only on the way to a reset.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags))
    };
}

core::arch::global_asm!(
    r#"
.pushsection .text.gc_stubs, "ax"
.balign {stride}
.global gc_stubs
gc_stubs:
.set gc_vec, 0
.rept 32
.balign {stride}
.if (gc_vec == 8) || (gc_vec == 10) || (gc_vec == 11) || (gc_vec == 12) || (gc_vec == 13) || (gc_vec == 14) || (gc_vec == 17) || (gc_vec == 21) || (gc_vec == 29) || (gc_vec == 30)
    push gc_vec
.else
    push 0
    push gc_vec
.endif
    push 0
    push rax
    push rdx
    jmp gc_trap_common
.set gc_vec, gc_vec + 1
.endr
.rept 224
.balign {stride}
    push rax
    push rdx
    rdtsc
    shl rdx, 32
    or rax, rdx
    push rax
    mov rax, qword ptr [rsp + 16]
    mov rdx, qword ptr [rsp + 8]
    mov qword ptr [rsp + 16], 0
    mov qword ptr [rsp + 8], gc_vec
    push rax
    push rdx
    jmp gc_trap_common
.set gc_vec, gc_vec + 1
.endr

gc_trap_common:
    push rbx
    push rcx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    sub rsp, 8
    call {trap}
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rcx
    pop rbx
    pop rdx
    pop rax
    add rsp, 24
    iretq
.popsection
"#,
    stride = const STUB_STRIDE,
    trap = sym trap,
);
