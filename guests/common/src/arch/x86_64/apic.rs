//! The local APIC: x2APIC mode (MSRs) when CPUID says the CPU has it, else xAPIC
//! (MMIO at the IA32_APIC_BASE address, uncached in the boot page tables); timer in
//! TSC-deadline mode when the CPU has it, else one-shot mode at divide-by-1 with its
//! rate measured against the TSC. IPIs through the ICR: fixed, physical destination.
//!
//! The mode is chosen once, by the primary in [`configure`], before any secondary
//! starts; every vCPU then runs [`init_cpu`].

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::cpu::{cpuid, rdmsr, wrmsr};

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_EN: u64 = 1 << 11;
const APIC_BASE_EXTD: u64 = 1 << 10;
const IA32_TSC_DEADLINE: u32 = 0x6e0;

const REG_ID: u32 = 0x20;
const REG_TPR: u32 = 0x80;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_ICR: u32 = 0x300;
const REG_ICR_HI: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_CUR: u32 = 0x390;
const REG_TIMER_DIV: u32 = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
/// The spurious-interrupt vector (no EOI for it).
pub const SPURIOUS_VECTOR: u32 = 0xff;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TSC_DEADLINE: u32 = 2 << 17;
const ICR_ASSERT: u64 = 1 << 14;
const ICR_PENDING: u32 = 1 << 12;
/// ICR delivery modes.
pub const ICR_FIXED: u64 = 0;
pub const ICR_INIT: u64 = 5 << 8;
pub const ICR_STARTUP: u64 = 6 << 8;
pub const ICR_NMI: u64 = 4 << 8;
/// ICR destination shorthand: all excluding self.
const ICR_ALL_BUT_SELF: u64 = 3 << 18;
const ICR_POLLS: u32 = 100_000;
const DIVIDE_BY_1: u32 = 0xb;

static X2APIC: AtomicBool = AtomicBool::new(false);
static DEADLINE: AtomicBool = AtomicBool::new(false);
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0xfee0_0000);
/// One-shot mode: APIC timer counts per 2^32 TSC ticks (0 until measured).
static COUNTS_PER_TSC: AtomicU64 = AtomicU64::new(0);
/// The timer's vector.
static TIMER_VECTOR: AtomicU64 = AtomicU64::new(0);

/// Whether x2APIC mode is in use.
pub fn x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

/// Whether the timer runs in TSC-deadline mode.
pub fn tsc_deadline() -> bool {
    DEADLINE.load(Ordering::Relaxed)
}

fn read(reg: u32) -> u32 {
    if x2apic() {
        // SAFETY: x2APIC register MSRs 0x800 + reg/16 exist in x2APIC mode.
        unsafe { rdmsr(0x800 + (reg >> 4)) as u32 }
    } else {
        let addr = XAPIC_BASE.load(Ordering::Relaxed) as usize + reg as usize;
        // SAFETY: a 32-bit read of a local APIC register in its uncached MMIO page.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }
}

fn write(reg: u32, v: u32) {
    if x2apic() {
        // SAFETY: as in `read`; writes program this CPU's own APIC.
        unsafe { wrmsr(0x800 + (reg >> 4), u64::from(v)) }
    } else {
        let addr = XAPIC_BASE.load(Ordering::Relaxed) as usize + reg as usize;
        // SAFETY: a 32-bit write of a local APIC register in its MMIO page.
        unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
    }
}

/// Chooses the mode from CPUID (primary, once): x2APIC (CPUID.1:ECX[21]),
/// TSC-deadline (CPUID.1:ECX[24]); `timer_vector` is the timer's vector.
pub fn configure(timer_vector: u8) {
    let (_, _, ecx, _) = cpuid(1, 0);
    X2APIC.store(ecx & (1 << 21) != 0, Ordering::Relaxed);
    DEADLINE.store(ecx & (1 << 24) != 0, Ordering::Relaxed);
    TIMER_VECTOR.store(u64::from(timer_vector), Ordering::Relaxed);
    // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC (CPUID.1:EDX[9]).
    let base = unsafe { rdmsr(IA32_APIC_BASE) };
    XAPIC_BASE.store(base & 0xf_ffff_f000, Ordering::Relaxed);
}

/// Enables this CPU's APIC in the chosen mode, software-enabled with the spurious
/// vector, TPR 0, the timer LVT set to its vector (masked until armed).
pub fn init_cpu() {
    // SAFETY: enabling the APIC (and x2APIC mode, which CPUID reported) changes only
    // how this CPU's interrupts are delivered; EN must be set before EXTD.
    unsafe {
        let base = rdmsr(IA32_APIC_BASE) | APIC_BASE_EN;
        wrmsr(IA32_APIC_BASE, base);
        if x2apic() {
            wrmsr(IA32_APIC_BASE, base | APIC_BASE_EXTD);
        }
    }
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
    write(REG_TIMER_DIV, DIVIDE_BY_1);
    write(REG_LVT_TIMER, timer_lvt() | LVT_MASKED);
    write(REG_LVT_LINT0, LVT_MASKED);
    if !tsc_deadline() && COUNTS_PER_TSC.load(Ordering::Relaxed) == 0 {
        calibrate(super::timer::frequency() / CALIBRATION_DIVISOR);
    }
}

fn timer_lvt() -> u32 {
    let mode = if tsc_deadline() { LVT_TSC_DEADLINE } else { 0 };
    TIMER_VECTOR.load(Ordering::Relaxed) as u32 | mode
}

/// This CPU's APIC id as its APIC reports it.
pub fn id() -> u32 {
    let v = read(REG_ID);
    if x2apic() {
        v
    } else {
        v >> 24
    }
}

/// Arms a one-shot timer interrupt on `vector` that the caller, with interrupts
/// off, does not take, and waits until this APIC holds it pending (its IRR bit):
/// whether it does. The probe leaves an exception's vector pending this way before
/// it powers off, for whoever takes the core next.
pub fn leave_pending(vector: u8) -> bool {
    const REG_IRR: u32 = 0x200;
    write(REG_LVT_TIMER, u32::from(vector));
    write(REG_TIMER_INIT, 1);
    let (reg, bit) = (REG_IRR + u32::from(vector / 32) * 0x10, 1 << (vector % 32));
    (0..1_000_000).any(|_| {
        core::hint::spin_loop();
        read(reg) & bit != 0
    })
}

/// Ends the interrupt being serviced.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Writes the ICR: `mode | vector` to APIC id `dest` (physical, edge, assert); in
/// xAPIC mode waits (bounded) for the previous IPI to be sent first.
pub fn send(dest: u64, mode: u64, vector: u8) {
    let low = mode | ICR_ASSERT | u64::from(vector);
    if x2apic() {
        // SAFETY: writing the x2APIC ICR sends an IPI; no memory is involved.
        unsafe { wrmsr(0x800 + (REG_ICR >> 4), dest << 32 | low) };
    } else {
        for _ in 0..ICR_POLLS {
            if read(REG_ICR) & ICR_PENDING == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        write(REG_ICR_HI, (dest as u32) << 24);
        write(REG_ICR, low as u32);
    }
}

/// Sends `mode | vector` to every CPU but this one (destination shorthand).
pub fn send_all_but_self(mode: u64, vector: u8) {
    send(0, mode | ICR_ALL_BUT_SELF, vector);
}

/// Arms the timer to fire when the TSC reaches `deadline`.
pub fn arm(deadline: u64) {
    if tsc_deadline() {
        write(REG_LVT_TIMER, timer_lvt());
        // SAFETY: IA32_TSC_DEADLINE exists in TSC-deadline mode; writing it arms
        // this CPU's timer.
        unsafe { wrmsr(IA32_TSC_DEADLINE, deadline) };
        return;
    }
    let now = super::timer::counter();
    let ticks = deadline.saturating_sub(now);
    let per = COUNTS_PER_TSC.load(Ordering::Relaxed);
    let counts = (u128::from(ticks) * u128::from(per) + (1 << 31)) >> 32;
    let counts = u32::try_from(counts).unwrap_or(u32::MAX).max(1);
    write(REG_LVT_TIMER, timer_lvt());
    write(REG_TIMER_INIT, counts);
}

/// Stops the timer.
pub fn stop() {
    if tsc_deadline() {
        // SAFETY: writing 0 to IA32_TSC_DEADLINE disarms the timer.
        unsafe { wrmsr(IA32_TSC_DEADLINE, 0) };
    } else {
        write(REG_TIMER_INIT, 0);
    }
    write(REG_LVT_TIMER, timer_lvt() | LVT_MASKED);
}

/// One-shot mode: the APIC timer is measured over 1 / this of a second of TSC.
const CALIBRATION_DIVISOR: u64 = 100;

/// One-shot mode: measures the APIC timer's rate against the TSC over `tsc_ticks`
/// (the first `init_cpu`, the primary's).
fn calibrate(tsc_ticks: u64) {
    if tsc_deadline() || tsc_ticks == 0 {
        return;
    }
    write(REG_LVT_TIMER, timer_lvt() | LVT_MASKED);
    write(REG_TIMER_INIT, u32::MAX);
    let t0 = super::timer::counter();
    let c0 = read(REG_TIMER_CUR);
    crate::timer::wait_until(t0 + tsc_ticks);
    let c1 = read(REG_TIMER_CUR);
    let t1 = super::timer::counter();
    write(REG_TIMER_INIT, 0);
    let counts = u128::from(c0.wrapping_sub(c1));
    let tsc = u128::from((t1 - t0).max(1));
    let per = ((counts << 32) + tsc / 2) / tsc;
    COUNTS_PER_TSC.store(u64::try_from(per).unwrap_or(u64::MAX), Ordering::Relaxed);
}
