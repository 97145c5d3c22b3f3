//! The TSC as the counter, and the local APIC timer as the one-shot timer.
//!
//! TSC frequency, first that answers (found once by the primary, [`init`]):
//! 1. CPUID 0x15: crystal Hz (ECX) x EBX / EAX, all non-zero;
//! 2. CPUID 0x16: base MHz (EAX), non-zero;
//! 3. the hypervisor timing leaf 0x4000_0010 (EAX = TSC kHz) when CPUID 0x4000_0000
//!    says the leaf exists;
//! 4. calibration over 10 ms of the ACPI PM timer (3.579545 MHz; FADT PM_TMR_BLK),
//!    else of PIT channel 2 (1.193182 MHz, gated through port 0x61). A result within
//!    2 ppm of a whole MHz is taken as that MHz: under QEMU's `-icount` the TSC
//!    counts virtual ns, exactly 1 GHz, and the polling loop's few ns of error must
//!    not turn that into 999.999 MHz.
//!
//! Under `-icount shift=0` the TSC counts 1 per ns of virtual time, so TSC figures
//! are ns there (the x86 twin of PMCCNTR on aarch64).

use core::arch::asm;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::cpu::{cpuid, inb, inl, outb};

/// Frequency assumed until [`init`] ran (and if everything fails): 1 GHz.
pub const FALLBACK_FREQUENCY: u64 = 1_000_000_000;
/// The timer interrupt's vector.
pub const INTERRUPT: u32 = 0x20;

const PM_TIMER_HZ: u64 = 3_579_545;
const PIT_HZ: u64 = 1_193_182;
const CALIBRATION_US: u64 = 10_000;
/// Polls of a reference counter before it is taken as not counting.
const EDGE_POLLS: u32 = 10_000_000;

static FREQUENCY: AtomicU64 = AtomicU64::new(FALLBACK_FREQUENCY);
static SOURCE: AtomicU8 = AtomicU8::new(Source::Fallback as u8);

/// Where the TSC frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Source {
    Fallback,
    Cpuid15,
    Cpuid16,
    HypervisorLeaf,
    PmTimer,
    Pit,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Fallback => "fallback",
            Source::Cpuid15 => "cpuid-15",
            Source::Cpuid16 => "cpuid-16",
            Source::HypervisorLeaf => "cpuid-40000010",
            Source::PmTimer => "acpi-pm-timer",
            Source::Pit => "pit",
        }
    }
}

/// Where the frequency in use came from.
pub fn source() -> Source {
    match SOURCE.load(Ordering::Relaxed) {
        1 => Source::Cpuid15,
        2 => Source::Cpuid16,
        3 => Source::HypervisorLeaf,
        4 => Source::PmTimer,
        5 => Source::Pit,
        _ => Source::Fallback,
    }
}

/// The TSC (LFENCE first, so it is not read early).
pub fn counter() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: LFENCE + RDTSC have no side effects.
    unsafe {
        asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// The TSC frequency in Hz.
pub fn frequency() -> u64 {
    FREQUENCY.load(Ordering::Relaxed)
}

/// Finds the TSC frequency (see the module doc); `pm_timer` is the FADT's port.
pub fn init(pm_timer: Option<u16>) {
    let (hz, source) = from_cpuid()
        .or_else(|| {
            pm_timer.map(|p| {
                (
                    calibrate(|| pm_timer_read(p), PM_TIMER_HZ, 24),
                    Source::PmTimer,
                )
            })
        })
        .unwrap_or_else(|| (calibrate_pit(), Source::Pit));
    if hz != 0 {
        FREQUENCY.store(hz, Ordering::Relaxed);
        SOURCE.store(source as u8, Ordering::Relaxed);
    }
}

fn from_cpuid() -> Option<(u64, Source)> {
    let (max, ..) = cpuid(0, 0);
    if max >= 0x15 {
        let (den, num, crystal, _) = cpuid(0x15, 0);
        if den != 0 && num != 0 && crystal != 0 {
            return Some((
                u64::from(crystal) * u64::from(num) / u64::from(den),
                Source::Cpuid15,
            ));
        }
    }
    if max >= 0x16 {
        let (mhz, ..) = cpuid(0x16, 0);
        if mhz != 0 {
            return Some((u64::from(mhz) * 1_000_000, Source::Cpuid16));
        }
    }
    let (hv_max, ..) = cpuid(0x4000_0000, 0);
    if (0x4000_0010..0x5000_0000).contains(&hv_max) {
        let (khz, ..) = cpuid(0x4000_0010, 0);
        if khz != 0 {
            return Some((u64::from(khz) * 1000, Source::HypervisorLeaf));
        }
    }
    None
}

fn pm_timer_read(port: u16) -> u64 {
    u64::from(inl(port) & 0xff_ffff)
}

/// TSC ticks over `CALIBRATION_US` of a free-running `bits`-bit reference counter at
/// `ref_hz`, edge to edge; snapped to a whole MHz within 2 ppm.
fn calibrate(read: impl Fn() -> u64, ref_hz: u64, bits: u32) -> u64 {
    let mask = (1u64 << bits) - 1;
    let want = ref_hz * CALIBRATION_US / 1_000_000;
    // Every wait is bounded: a reference that does not count gives 0 (not found).
    let edge = |from: u64| {
        (0..EDGE_POLLS).find_map(|_| {
            let v = read();
            (v != from).then(|| (v, counter()))
        })
    };
    let Some((r0, t0)) = edge(read()) else {
        return 0;
    };
    let mut last = r0;
    while (last.wrapping_sub(r0) & mask) < want {
        let Some((v, _)) = edge(last) else {
            return 0;
        };
        last = v;
    }
    let Some((r1, t1)) = edge(last) else {
        return 0;
    };
    let ticks = r1.wrapping_sub(r0) & mask;
    let hz = u128::from(t1 - t0) * u128::from(ref_hz) / u128::from(ticks.max(1));
    snap(u64::try_from(hz).unwrap_or(0))
}

/// `hz` rounded to a whole MHz if it is within 2 ppm of it.
fn snap(hz: u64) -> u64 {
    let mhz = (hz + 500_000) / 1_000_000 * 1_000_000;
    if hz.abs_diff(mhz) <= hz / 500_000 {
        mhz
    } else {
        hz
    }
}

/// PIT channel 2 counting down from 0xffff (mode 0, gate on, speaker off): TSC
/// ticks per `CALIBRATION_US`, as [`calibrate`] does.
fn calibrate_pit() -> u64 {
    outb(0x61, (inb(0x61) & !0x02) | 0x01);
    outb(0x43, 0xb0); // channel 2, lobyte/hibyte, mode 0, binary
    outb(0x42, 0xff);
    outb(0x42, 0xff);
    let read = || {
        outb(0x43, 0x80); // latch channel 2
        let lo = u64::from(inb(0x42));
        let hi = u64::from(inb(0x42));
        0xffff - (hi << 8 | lo)
    };
    // 10 ms at 1.19 MHz fits in the 16-bit count.
    calibrate(read, PIT_HZ, 16)
}

/// Arms the timer: fires when the TSC reaches `deadline`.
pub fn arm(deadline: u64) {
    super::apic::arm(deadline);
}

/// Stops the timer.
pub fn stop() {
    super::apic::stop();
}
