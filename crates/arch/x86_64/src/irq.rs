//! The hypervisor's own interrupts: a kick (another CPU wants this one to look at its
//! vCPU again) and the timer, each with its APIC vector and an IDT gate. The stubs
//! save the registers a call may clobber, acknowledge the APIC (EOI) and record the
//! vector in this CPU's pending bits; the hypervisor takes them with [`take`].
//!
//! The hypervisor runs with interrupts off. They come in only at three places:
//! while a guest runs (they exit it: VMX's external-interrupt exiting, SVM's INTR
//! intercept with V_INTR_MASKING and the host's IF set around VMRUN), in
//! [`window`] right after such an exit (the interrupt that caused it is still
//! pending at the APIC and is taken there), and in [`wait`] (an idle CPU).

use crate::acpi::madt::MAX_CPUS;
use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The kick's vector.
pub const KICK: u8 = 0xF0;
/// The hypervisor timer's vector.
pub const TIMER: u8 = 0xF1;
/// The APIC's spurious vector (`apic::enable`): no EOI.
pub const SPURIOUS: u8 = 0xFF;

/// A pending kick, in [`take`]'s bits.
pub const PENDING_KICK: u32 = 1 << 0;
/// A pending timer interrupt.
pub const PENDING_TIMER: u32 = 1 << 1;
/// A device's MSI is pending ([`take_devices`] says which).
pub const PENDING_DEVICE: u32 = 1 << 2;

/// The first of the vectors that passed-through PCI functions' MSIs arrive with (the
/// hypervisor routes each to a guest, `crates/hypervisor`'s `pci`).
pub const DEVICE_BASE: u8 = 0x40;
/// How many there are (one bit each in a CPU's [`take_devices`] word).
pub const DEVICE_COUNT: usize = 64;

static PENDING: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// Each CPU's pending device vectors, bit `v - DEVICE_BASE`.
static DEVICES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

// Every stub saves RAX (the first register `push_scratch!` saves), loads its vector
// into it and goes on at `x86_irq_common`, which saves the rest in the same order and
// calls `x86_irq`. The device vectors' stubs are 16 bytes apart from
// `x86_irq_devices`.
global_asm!(
    r#"
.macro X86_IRQ name, vector
.text
.global \name
\name:
    push %rax
    mov $\vector, %eax
    jmp x86_irq_common
.endm
X86_IRQ x86_irq_kick, {KICK}
X86_IRQ x86_irq_timer, {TIMER}
X86_IRQ x86_irq_stray, 0
X86_IRQ x86_irq_mc, {MC}
.text
.global x86_irq_spurious
x86_irq_spurious:
    iretq
.balign 16
.global x86_irq_devices
x86_irq_devices:
.set rtv_dv, {BASE}
.rept {COUNT}
    .balign 16
    push %rax
    mov $rtv_dv, %eax
    jmp x86_irq_common
    .set rtv_dv, rtv_dv + 1
.endr
x86_irq_common:
"#,
    push_scratch_but_rax!(),
    r#"
    mov %eax, %edi
    cld
    call x86_irq
"#,
    pop_scratch_but_rax!(),
    r#"
    pop %rax
    iretq
"#,
    KICK = const KICK,
    TIMER = const TIMER,
    MC = const MACHINE_CHECK,
    BASE = const DEVICE_BASE,
    COUNT = const DEVICE_COUNT,
    options(att_syntax)
);

/// The machine-check exception's vector, which an interrupt can also use.
const MACHINE_CHECK: u8 = 18;

/// Whether vector 18 arrived as the machine check, not as an interrupt: a machine
/// check is in progress (IA32_MCG_STATUS.MCIP, where the CPU has machine-check
/// architecture), or the APIC has no interrupt of that number in service. MCIP comes
/// first: a direct-mode guest can leave its own vector-18 interrupt in service.
fn machine_check() -> bool {
    const IA32_MCG_STATUS: u32 = 0x17a;
    const MCIP: u64 = 1 << 2;
    // CPUID.1:EDX.MCA (bit 14): the MCG registers exist.
    let mca = crate::cpu::cpuid(1, 0)[3] & (1 << 14) != 0;
    // SAFETY: IA32_MCG_STATUS exists where CPUID says MCA; reading it has no effect.
    (mca && unsafe { crate::cpu::rdmsr(IA32_MCG_STATUS) } & MCIP != 0)
        || !crate::apic::in_service(MACHINE_CHECK)
}

/// Distance between two device stubs.
const DEVICE_STUB: u64 = 16;

unsafe extern "C" {
    fn x86_irq_kick();
    fn x86_irq_timer();
    fn x86_irq_spurious();
    fn x86_irq_stray();
    fn x86_irq_mc();
    fn x86_irq_devices();
}

#[unsafe(no_mangle)]
extern "C" fn x86_irq(vector: u32) {
    if vector as u8 == MACHINE_CHECK && machine_check() {
        crate::idt::fatal(format_args!("exception 18 (#MC)"));
    }
    // A level-triggered INTx line's pin is masked before the EOI (`crate::ioapic`).
    if is_device(vector as u8) {
        crate::ioapic::on_vector(vector as u8);
    }
    crate::apic::eoi();
    let bit = match vector as u8 {
        KICK => PENDING_KICK,
        TIMER => PENDING_TIMER,
        v if is_device(v) => {
            if let Some(i) = crate::smp::this_index() {
                if let Some(d) = DEVICES.get(i) {
                    d.fetch_or(1 << (v - DEVICE_BASE), Ordering::AcqRel);
                }
                pend(i, PENDING_DEVICE);
            }
            return;
        }
        // A vector the hypervisor does not use (a direct-mode guest's, left pending
        // at its core's APIC when it stopped): ended and dropped.
        _ => return,
    };
    if let Some(i) = crate::smp::this_index() {
        pend(i, bit);
    }
}

/// Marks `bit` pending on CPU `index` (the interrupt stubs, and the NMI that kicks a
/// direct-mode core, `crate::nmi`).
pub(crate) fn pend(index: usize, bit: u32) {
    if let Some(p) = PENDING.get(index) {
        p.fetch_or(bit, Ordering::AcqRel);
    }
}

/// Installs the gates of the hypervisor's vectors (BSP, before the APs start).
pub fn init() {
    let gates = [
        (KICK, x86_irq_kick as unsafe extern "C" fn()),
        (TIMER, x86_irq_timer),
        (SPURIOUS, x86_irq_spurious),
    ];
    for (vector, stub) in gates {
        // SAFETY: the BSP before any AP runs; each stub ends with IRETQ.
        unsafe { crate::idt::set_gate(vector, stub as usize as u64) };
    }
    // Every other vector ends and drops what arrives: a direct-mode guest's
    // interrupts may still be pending at its core's APIC when the hypervisor takes
    // the core back.
    for i in 0..DEVICE_COUNT {
        let stub = x86_irq_devices as unsafe extern "C" fn() as usize as u64;
        // SAFETY: as above; stub `i` is `DEVICE_STUB` bytes after the previous one.
        unsafe { crate::idt::set_gate(DEVICE_BASE + i as u8, stub + i as u64 * DEVICE_STUB) };
    }
    // Vectors 16 to 31 are exceptions the hypervisor cannot raise itself (#MF and
    // #XM need x87 or SSE code, which it has none of; #AC needs ring 3; #VE, #CP,
    // #VC and #SX features it does not turn on) but a direct-mode guest can leave
    // pending as interrupts (its LVT entries and TSC deadline are its own): they get
    // the stray gate, which ends and drops them, instead of the exception stubs,
    // whose report is fatal (and for 17, 21, 29 and 30 expects an error code an
    // interrupt does not push). 18, the machine check, tells itself apart by the
    // APIC's in-service bit ([`x86_irq`]).
    for vector in 16..0x20 {
        let stub = match vector {
            MACHINE_CHECK => x86_irq_mc as unsafe extern "C" fn() as usize as u64,
            _ => x86_irq_stray as unsafe extern "C" fn() as usize as u64,
        };
        // SAFETY: as above.
        unsafe { crate::idt::set_gate(vector, stub) };
    }
    for vector in 0x20..SPURIOUS {
        if vector != KICK && vector != TIMER && !is_device(vector) {
            // SAFETY: as above.
            unsafe {
                crate::idt::set_gate(
                    vector,
                    x86_irq_stray as unsafe extern "C" fn() as usize as u64,
                )
            };
        }
    }
    crate::nmi::init();
}

/// Whether `vector` is one of the devices' ([`DEVICE_BASE`]).
pub const fn is_device(vector: u8) -> bool {
    vector >= DEVICE_BASE && ((vector - DEVICE_BASE) as usize) < DEVICE_COUNT
}

/// Takes CPU `index`'s pending device vectors (bit `v - DEVICE_BASE`).
pub fn take_devices(index: usize) -> u64 {
    DEVICES
        .get(index)
        .map_or(0, |p| p.swap(0, Ordering::AcqRel))
}

/// Takes CPU `index`'s pending bits ([`PENDING_KICK`], [`PENDING_TIMER`]).
pub fn take(index: usize) -> u32 {
    PENDING
        .get(index)
        .map_or(0, |p| p.swap(0, Ordering::AcqRel))
}

/// Lets an interrupt pending at the APIC in (after a guest exit it caused), then
/// turns interrupts off again.
pub fn window() {
    // SAFETY: the gates above handle every vector the APIC delivers to the host; STI
    // takes effect after the NOP, so a pending interrupt is taken between the two.
    unsafe { asm!("sti", "nop", "cli", options(nomem, nostack)) };
}

/// Sleeps until an interrupt (taken by its gate), interrupts off again after it.
pub fn wait() {
    // SAFETY: as in `window`; STI's shadow covers HLT, so an interrupt between the
    // two wakes the HLT instead of being lost.
    unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads the counter.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

/// Spins until the time-stamp counter reaches `at` (the caller bounds the wait).
/// Without PAUSE: the loop ends within one RDTSC of `at` (a PAUSE adds its own
/// delay on hardware, and QEMU's TCG gives the other CPUs a turn at each one, whose
/// instructions then count in the virtual time of the wait).
pub fn until(at: u64) {
    while rdtsc() < at {}
}

/// The proof that this CPU's stack may be reset: nothing on it is in use any more.
#[derive(Debug)]
pub struct FreshStack(u64);

impl FreshStack {
    /// The stack of CPU `index`, from its top.
    ///
    /// # Safety
    /// The caller runs on CPU `index`'s stack, and every frame on it will be dead
    /// when the proof is used (it is made at boot, or on the way back from an exit
    /// whose vCPU parks, whose frames are never returned to).
    pub unsafe fn new(index: usize) -> FreshStack {
        FreshStack(crate::boot::stack_top(index))
    }

    /// Continues on the fresh stack with `f`, which never returns; everything on
    /// the old stack is abandoned.
    pub fn run(self, f: extern "C" fn() -> !) -> ! {
        // SAFETY: the proof's contract: the stack is this CPU's and nothing on it is
        // used any more.
        unsafe { on_stack(self.0, f) }
    }
}

/// Continues on a fresh stack: sets RSP to `top` (16-byte aligned) and calls `f`,
/// which never returns; everything on the old stack is abandoned.
///
/// # Safety
/// `top` is the top of this CPU's own stack, and nothing still refers to anything on
/// it (the caller's frames are dead from here on).
unsafe fn on_stack(top: u64, f: extern "C" fn() -> !) -> ! {
    // SAFETY: the caller's contract; `f` gets an aligned stack with a zero return
    // address slot below it (a call).
    unsafe {
        asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {f}",
            "ud2",
            top = in(reg) top & !0xF,
            f = in(reg) f,
            options(noreturn)
        )
    }
}
