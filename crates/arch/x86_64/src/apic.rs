//! The local APIC, in x2APIC mode (MSRs) when the CPU has it, else xAPIC (MMIO at the
//! address IA32_APIC_BASE gives). Used for start-up IPIs, the halt NMI, kicks and the
//! hypervisor's timer (TSC-deadline mode, else one-shot mode calibrated at boot).

use crate::cpu::{rdmsr, wrmsr};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

const IA32_APIC_BASE: u32 = 0x1B;
const BASE_EN: u64 = 1 << 11;
const BASE_EXTD: u64 = 1 << 10;
const BASE_ADDR: u64 = 0x000F_FFFF_FFFF_F000;

/// x2APIC MSRs are 0x800 + (xAPIC offset >> 4).
const X2_BASE: u32 = 0x800;
const REG_ID: u32 = 0x20;
const REG_SVR: u32 = 0xF0;
const REG_ICR: u32 = 0x300;
const REG_ICR_HI: u32 = 0x310;
const SVR_ENABLE: u32 = 1 << 8;
const SPURIOUS: u32 = 0xFF;
const ICR_PENDING: u32 = 1 << 12;
const ICR_ASSERT: u32 = 1 << 14;
const ICR_INIT: u32 = 5 << 8;
const ICR_STARTUP: u32 = 6 << 8;
const ICR_NMI: u32 = 4 << 8;
const ICR_ALL_BUT_SELF: u32 = 3 << 18;

/// 0: not set up; 1: x2APIC; else the xAPIC MMIO base.
static MODE: AtomicU64 = AtomicU64::new(0);
const X2: u64 = 1;

/// The xAPIC base this CPU's IA32_APIC_BASE gives (read before the page tables are
/// built, so that the page is mapped as a device).
pub fn mmio_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (checked by the caller).
    unsafe { rdmsr(IA32_APIC_BASE) & BASE_ADDR }
}

/// Enables this CPU's local APIC, in x2APIC mode if `x2apic`; the BSP decides the
/// mode, every AP follows it.
pub fn enable(x2apic: bool) {
    // SAFETY: IA32_APIC_BASE exists; setting EN (and EXTD, which the CPU supports
    // when `x2apic`) keeps the APIC at its address.
    unsafe {
        let base = rdmsr(IA32_APIC_BASE);
        let want = base | BASE_EN | if x2apic { BASE_EXTD } else { 0 };
        if want != base {
            wrmsr(IA32_APIC_BASE, base | BASE_EN);
            if x2apic {
                wrmsr(IA32_APIC_BASE, want);
            }
        }
        MODE.store(
            if x2apic { X2 } else { base & BASE_ADDR },
            Ordering::Release,
        );
    }
    write(REG_SVR, SVR_ENABLE | SPURIOUS);
}

pub fn is_x2apic() -> bool {
    MODE.load(Ordering::Acquire) == X2
}

fn read(reg: u32) -> u32 {
    match MODE.load(Ordering::Acquire) {
        0 => 0,
        // SAFETY: the register's x2APIC MSR exists in x2APIC mode.
        X2 => unsafe { rdmsr(X2_BASE + (reg >> 4)) as u32 },
        // SAFETY: the xAPIC page is mapped uncached (platform::bsp_init).
        base => unsafe { ((base + u64::from(reg)) as *const u32).read_volatile() },
    }
}

fn write(reg: u32, v: u32) {
    match MODE.load(Ordering::Acquire) {
        0 => {}
        // SAFETY: as in `read`.
        X2 => unsafe { wrmsr(X2_BASE + (reg >> 4), u64::from(v)) },
        // SAFETY: as in `read`.
        base => unsafe { ((base + u64::from(reg)) as *mut u32).write_volatile(v) },
    }
}

/// This CPU's APIC id as its APIC reports it.
pub fn id() -> u32 {
    if is_x2apic() {
        read(REG_ID)
    } else {
        read(REG_ID) >> 24
    }
}

/// Sends an IPI; false when the APIC is not set up or the id does not fit xAPIC.
fn send(dest: u32, low: u32) -> bool {
    match MODE.load(Ordering::Acquire) {
        0 => false,
        X2 => {
            // SAFETY: ICR is MSR 0x830 in x2APIC mode; one 64-bit write sends.
            unsafe {
                wrmsr(
                    X2_BASE + (REG_ICR >> 4),
                    u64::from(dest) << 32 | u64::from(low),
                )
            };
            true
        }
        _ => {
            let Ok(d) = u8::try_from(dest) else {
                return false;
            };
            write(REG_ICR_HI, u32::from(d) << 24);
            write(REG_ICR, low);
            let mut spins = 0u32;
            while read(REG_ICR) & ICR_PENDING != 0 && spins < 1_000_000 {
                crate::cpu::pause();
                spins += 1;
            }
            true
        }
    }
}

pub fn send_init(apic_id: u32) -> bool {
    send(apic_id, ICR_INIT | ICR_ASSERT)
}

/// A start-up IPI: the AP starts in real mode at `page << 12`.
pub fn send_startup(apic_id: u32, page: u8) -> bool {
    send(apic_id, ICR_STARTUP | ICR_ASSERT | u32::from(page))
}

/// An NMI to every other CPU.
pub fn nmi_all_but_self() -> bool {
    send(0, ICR_NMI | ICR_ASSERT | ICR_ALL_BUT_SELF)
}

/// This CPU's IA32_APIC_BASE.
pub fn base_msr() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC; reading it changes
    // nothing.
    unsafe { rdmsr(IA32_APIC_BASE) }
}

/// An NMI to the CPU with APIC id `apic_id`.
pub fn send_nmi(apic_id: u32) -> bool {
    send(apic_id, ICR_NMI | ICR_ASSERT)
}

/// Sends an IPI a direct-mode guest asked for, checked by the caller: the ICR's low
/// word `low` to APIC id `dest`.
pub fn send_raw(dest: u32, low: u32) -> bool {
    send(dest, low)
}

/// A register of this CPU's APIC at xAPIC offset `reg` (a direct-mode guest's read).
pub fn read_reg(reg: u32) -> u32 {
    read(reg)
}

/// Writes a register of this CPU's APIC at xAPIC offset `reg`, for a direct-mode
/// guest whose write the caller checked (never ID, LDR, DFR or the ICR).
pub fn write_reg(reg: u32, v: u32) {
    write(reg, v)
}

const REG_TPR: u32 = 0x80;
const REG_ISR: u32 = 0x100;
const REG_LVT_THERMAL: u32 = 0x330;
const REG_LVT_PERF: u32 = 0x340;
const REG_LVT_ERROR: u32 = 0x370;

/// Gives this CPU's APIC back to the hypervisor after a direct-mode guest drove it:
/// its timer stopped and every LVT entry masked, TPR 0, the APIC software-enabled
/// with the hypervisor's spurious vector, every interrupt in service ended (at most
/// 256 EOIs), then the hypervisor's timer on `timer_vector`, disarmed. What the guest
/// left pending is taken and dropped by the IDT's stray gates (`irq::init`).
pub fn take_back(timer_vector: u8) {
    if has_tsc_deadline() {
        // SAFETY: IA32_TSC_DEADLINE exists in TSC-deadline mode; 0 disarms.
        unsafe { wrmsr(IA32_TSC_DEADLINE, 0) };
    }
    write(REG_TIMER_INIT, 0);
    for lvt in [
        REG_LVT_TIMER,
        REG_LVT_THERMAL,
        REG_LVT_PERF,
        REG_LVT_LINT0,
        REG_LVT_LINT1,
        REG_LVT_ERROR,
    ] {
        write(lvt, LVT_MASKED);
    }
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | SPURIOUS);
    for _ in 0..256 {
        if (0..8).all(|i| read(REG_ISR + i * 0x10) == 0) {
            break;
        }
        eoi();
    }
    timer_init(timer_vector);
}

const REG_EOI: u32 = 0xB0;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TSC_DEADLINE: u32 = 2 << 17;
const LVT_ONE_SHOT: u32 = 0;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3E0;
const DIVIDE_BY_1: u32 = 0xB;
const IA32_TSC_DEADLINE: u32 = 0x6E0;

/// Ends the interrupt in service on this CPU's APIC.
/// Whether `vector` is in service at this CPU's APIC: an interrupt it accepted and
/// has not ended (an exception of the same number leaves it clear).
pub fn in_service(vector: u8) -> bool {
    let reg = REG_ISR + u32::from(vector / 32) * 0x10;
    read(reg) & (1 << (vector % 32)) != 0
}

pub fn eoi() {
    write(REG_EOI, 0);
}

/// A fixed interrupt of `vector` to the CPU with APIC id `apic_id`.
pub fn send_fixed(apic_id: u32, vector: u8) -> bool {
    send(apic_id, ICR_ASSERT | u32::from(vector))
}

/// Masks the two 8259 PICs, then LINT0 and LINT1 (the PICs' virtual wire and the NMI
/// line): the hypervisor takes only its own APIC vectors.
///
/// The order matters on the boot CPU. The firmware leaves its LINT0 in ExtINT mode
/// with the PIT's line unmasked at the 8259, so an interrupt request is raised there
/// while the hypervisor starts with interrupts off. Masking the 8259 first drops that
/// request through the still-open LINT0; masking LINT0 first would leave it raised
/// with nothing behind it, and QEMU then delivers it at the first STI as an interrupt
/// no controller names (a #GP for a vector outside the IDT).
pub fn mask_legacy() {
    // SAFETY: the 8259 data ports (0x21, 0xA1): writing all-ones masks every line.
    unsafe {
        crate::cpu::outb(0x21, 0xFF);
        crate::cpu::outb(0xA1, 0xFF);
    }
    write(REG_LVT_LINT0, LVT_MASKED);
    write(REG_LVT_LINT1, LVT_MASKED);
}

/// Whether the APIC timer has TSC-deadline mode (CPUID 1, ECX bit 24), asked once:
/// CPUID is slow, and the timer is armed on every hypervisor timer interrupt.
pub fn has_tsc_deadline() -> bool {
    match TSC_DEADLINE.load(Ordering::Relaxed) {
        0 => {
            let has = crate::cpu::cpuid(1, 0)[2] & (1 << 24) != 0;
            TSC_DEADLINE.store(if has { 2 } else { 1 }, Ordering::Relaxed);
            has
        }
        v => v == 2,
    }
}

/// 0: not asked yet; 1: no TSC-deadline mode; 2: TSC-deadline mode (the same on
/// every CPU of the machine).
static TSC_DEADLINE: AtomicU8 = AtomicU8::new(0);

/// One-shot mode: APIC timer counts per 2^32 TSC ticks (`deadline::rate`; 0 until
/// [`timer_calibrate`] measured it).
static ONE_SHOT_RATE: AtomicU64 = AtomicU64::new(0);

/// How this CPU's timer is programmed: TSC-deadline mode when the CPU has it (Bochs,
/// hardware), else one-shot mode counting at the rate measured at boot (QEMU TCG).
pub fn timer_mode() -> &'static str {
    if has_tsc_deadline() {
        "tsc-deadline"
    } else if ONE_SHOT_RATE.load(Ordering::Relaxed) != 0 {
        "one-shot"
    } else {
        "none"
    }
}

/// Without TSC-deadline mode: measures the APIC timer (divide by 1) against the TSC
/// while `wait` runs (the boot CPU, once, before any CPU arms its timer); returns
/// `wait`'s TSC ticks.
pub fn timer_calibrate(wait: impl FnOnce()) -> u64 {
    let t0 = crate::irq::rdtsc();
    if has_tsc_deadline() {
        wait();
        return crate::irq::rdtsc().wrapping_sub(t0);
    }
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_DIVIDE, DIVIDE_BY_1);
    write(REG_TIMER_INIT, u32::MAX);
    let c0 = read(REG_TIMER_CURRENT);
    wait();
    let c1 = read(REG_TIMER_CURRENT);
    let ticks = crate::irq::rdtsc().wrapping_sub(t0);
    write(REG_TIMER_INIT, 0);
    let counts = u64::from(c0.wrapping_sub(c1));
    ONE_SHOT_RATE.store(crate::deadline::rate(counts, ticks), Ordering::Relaxed);
    ticks
}

/// Puts this CPU's APIC timer on `vector`, disarmed: TSC-deadline mode, or one-shot
/// mode at divide by 1; false when neither can be used (no rate measured).
pub fn timer_init(vector: u8) -> bool {
    if has_tsc_deadline() {
        write(REG_LVT_TIMER, LVT_TSC_DEADLINE | u32::from(vector));
    } else {
        write(REG_TIMER_INIT, 0);
        write(REG_TIMER_DIVIDE, DIVIDE_BY_1);
        if ONE_SHOT_RATE.load(Ordering::Relaxed) == 0 {
            write(REG_LVT_TIMER, LVT_MASKED);
            return false;
        }
        write(REG_LVT_TIMER, LVT_ONE_SHOT | u32::from(vector));
    }
    timer_arm(0);
    true
}

/// A direct-mode guest's TSC-deadline arm where the APIC has no such mode: this
/// CPU's one-shot timer fires when the TSC reaches `deadline` (0: disarms it), at the
/// rate [`timer_calibrate`] measured, divide by 1 or, for a wait longer than that
/// count holds, the divider that makes it fit (`deadline::one_shot`: never early up
/// to 128 times the register's range). The LVT (vector, mask, one-shot mode) is the
/// guest's.
pub fn one_shot_at(deadline: u64) {
    let rate = ONE_SHOT_RATE.load(Ordering::Relaxed);
    if deadline == 0 || rate == 0 {
        write(REG_TIMER_INIT, 0);
        return;
    }
    // The divider first; the count from a TSC read just before it is written, as
    // `timer_arm`'s, so that the deadline is met to within a few instructions.
    let shift = crate::deadline::divide_shift(deadline.saturating_sub(crate::irq::rdtsc()), rate);
    write(REG_TIMER_DIVIDE, crate::deadline::divide_config(shift));
    let ticks = deadline.saturating_sub(crate::irq::rdtsc());
    write(
        REG_TIMER_INIT,
        crate::deadline::count_at(ticks, rate, shift),
    );
}

/// Fires this CPU's timer when the TSC reaches `deadline` (0: disarms it). In
/// one-shot mode the count may end a little early on a wait longer than the
/// register holds; the handler then finds its deadline not reached and re-arms.
pub fn timer_arm(deadline: u64) {
    if has_tsc_deadline() {
        // SAFETY: IA32_TSC_DEADLINE exists with the TSC-deadline mode; writing it
        // only (re)arms this CPU's timer.
        unsafe { wrmsr(IA32_TSC_DEADLINE, deadline) };
        return;
    }
    let rate = ONE_SHOT_RATE.load(Ordering::Relaxed);
    if deadline == 0 || rate == 0 {
        write(REG_TIMER_INIT, 0);
        return;
    }
    let ticks = deadline.saturating_sub(crate::irq::rdtsc());
    write(REG_TIMER_INIT, crate::deadline::initial_count(ticks, rate));
}
