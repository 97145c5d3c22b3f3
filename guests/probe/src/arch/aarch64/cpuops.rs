//! CPU-wide operations a guest may run natively but must not turn against others:
//! cache maintenance by set/way (`cache-setway`), broadcast TLB and instruction-cache
//! invalidation plus the EL2 forms (`tlbi-flood`), and WFE/WFI storms (`wfx-storm`).

use core::arch::asm;

use guest_common::arch::gic;
use guest_common::exception::EC_UNKNOWN;
use guest_common::{guard, irq, timer, BootInfo};

use super::How;
use crate::report::{contained, leak, Outcome};

/// Set/way geometry of one cache level.
struct Geometry {
    log2_line: u32,
    ways: u32,
    sets: u32,
}

fn read_ccsidr(level: u64, ccidx: bool) -> Geometry {
    let ccsidr: u64;
    // SAFETY: selecting a cache level (data/unified) in CSSELR_EL1 and reading its
    // CCSIDR_EL1 only describes this core's caches; nothing else reads CSSELR here.
    unsafe {
        asm!("msr csselr_el1, {l}", "isb", "mrs {c}, ccsidr_el1",
            l = in(reg) level << 1, c = out(reg) ccsidr, options(nomem, nostack, preserves_flags));
    }
    let log2_line = (ccsidr & 7) as u32 + 4;
    let (ways, sets) = if ccidx {
        ((ccsidr >> 3) & 0x1f_ffff, (ccsidr >> 32) & 0xff_ffff)
    } else {
        ((ccsidr >> 3) & 0x3ff, (ccsidr >> 13) & 0x7fff)
    };
    Geometry {
        log2_line,
        ways: ways as u32 + 1,
        sets: sets as u32 + 1,
    }
}

/// DC ISW, DC CSW and DC CISW on every set and way of every data or unified cache
/// level in CLIDR_EL1. Returns (CLIDR_EL1, levels, operations).
pub fn setway_all() -> (u64, u32, u64) {
    let (clidr, mmfr2): (u64, u64);
    // SAFETY: reading ID/cache-description registers has no side effects.
    unsafe {
        asm!("mrs {}, clidr_el1", "mrs {}, id_aa64mmfr2_el1", out(reg) clidr, out(reg) mmfr2,
            options(nomem, nostack, preserves_flags));
    }
    let ccidx = (mmfr2 >> 20) & 0xf != 0;
    let (mut levels, mut ops) = (0u32, 0u64);
    for level in 0..7u64 {
        let ctype = (clidr >> (3 * level)) & 7;
        if ctype == 0 {
            break;
        }
        if ctype < 2 {
            continue; // instruction cache only
        }
        levels += 1;
        let g = read_ccsidr(level, ccidx);
        let way_shift = 32 - (g.ways - 1).leading_zeros().min(32);
        for way in 0..g.ways {
            for set in 0..g.sets {
                let way_bits = if g.ways > 1 {
                    u64::from(way) << (32 - way_shift)
                } else {
                    0
                };
                let sw = way_bits | u64::from(set) << g.log2_line | level << 1;
                // SAFETY: maintenance by set/way of this core's caches: invalidate is
                // upgraded to clean+invalidate under stage 2 (no data is lost), and
                // the probe keeps nothing it relies on in dirty lines (MMU off:
                // every access is Device, uncached).
                unsafe {
                    asm!("dc isw, {sw}", "dc csw, {sw}", "dc cisw, {sw}", sw = in(reg) sw,
                        options(nostack, preserves_flags));
                }
                ops += 3;
            }
        }
    }
    // SAFETY: completes the maintenance above; no memory effects of its own.
    unsafe { asm!("dsb sy", "isb", options(nostack, preserves_flags)) };
    (clidr, levels, ops)
}

/// `setway_all`. With stage 2 on, DC ISW is a clean and invalidate, so no other VM's
/// dirty lines are lost; the victim keeps running (checked by the test).
pub fn cache_setway() -> Outcome {
    let (clidr, levels, ops) = setway_all();
    contained(
        "cache-setway",
        format_args!(
            "{} set/way operations (DC ISW, CSW, CISW) over {} data/unified levels, clidr={:#x}",
            ops, levels, clidr
        ),
    )
}

/// 1000 rounds of TLBI VMALLE1IS and IC IALLUIS (broadcast, but by the architecture
/// limited to this VM's VMID), then the EL2-only TLBI ALLE2IS, ALLE1IS and
/// VMALLS12E1IS, which must be UNDEFINED at EL1.
pub fn tlbi_flood() -> Outcome {
    const CASE: &str = "tlbi-flood";
    for _ in 0..1000 {
        // SAFETY: invalidating this VM's stage-1 TLB entries and the instruction
        // caches; the MMU is off and the code is unchanged, so nothing is lost.
        unsafe {
            asm!(
                "tlbi vmalle1is",
                "dsb ish",
                "ic ialluis",
                "dsb ish",
                "isb",
                options(nostack, preserves_flags)
            );
        }
    }
    // EL2 TLB maintenance is UNDEFINED at EL1; should one take effect it only drops
    // TLB entries (a performance matter). Each is caught by `catch`.
    let alle2 = guard::catch(|| {
        // SAFETY: see above.
        unsafe { asm!("tlbi alle2is", "dsb ish", options(nostack)) }
    });
    let alle1 = guard::catch(|| {
        // SAFETY: see above.
        unsafe { asm!("tlbi alle1is", "dsb ish", options(nostack)) }
    });
    let vmalls12 = guard::catch(|| {
        // SAFETY: see above.
        unsafe { asm!("tlbi vmalls12e1is", "dsb ish", options(nostack)) }
    });
    let el2 = [alle2, alle1, vmalls12];
    let names = ["TLBI ALLE2IS", "TLBI ALLE1IS", "TLBI VMALLS12E1IS"];
    for (r, name) in el2.iter().zip(names) {
        match r {
            Ok(()) => return leak(CASE, format_args!("{} ran at EL1", name)),
            Err(f) if f.ec() == EC_UNKNOWN => {}
            Err(f) => return contained(CASE, format_args!("{}: {}", name, How(f))),
        }
    }
    contained(
        CASE,
        format_args!(
            "1000 x (TLBI VMALLE1IS, IC IALLUIS); TLBI ALLE2IS/ALLE1IS/VMALLS12E1IS undefined"
        ),
    )
}

/// CNTKCTL_EL1 with the virtual event stream on (EVNTEN, every 2^11 ticks), so that
/// no WFE can wait forever; returns the old value.
fn event_stream_on() -> u64 {
    let old: u64;
    // SAFETY: reading CNTKCTL_EL1 has no side effects.
    unsafe { asm!("mrs {}, cntkctl_el1", out(reg) old, options(nomem, nostack, preserves_flags)) };
    // EVNTI = 10 (bits 7:4), EVNTEN (bit 2).
    event_stream_restore(old | 0xa4);
    old
}

/// Writes CNTKCTL_EL1: EL0 timer access and the event stream of this vCPU (the probe
/// has no EL0).
fn event_stream_restore(old: u64) {
    // SAFETY: see above; only this vCPU's event stream and EL0 access change.
    unsafe {
        asm!("msr cntkctl_el1, {}", "isb", in(reg) old, options(nomem, nostack, preserves_flags))
    };
}

/// ICC_HPPIR1_EL1: the highest-priority pending Group-1 INTID (1023: none).
fn highest_pending() -> u32 {
    let v: u64;
    // SAFETY: reading the highest pending interrupt has no side effects.
    unsafe { asm!("mrs {}, s3_0_c12_c12_2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    (v & 0xff_ffff) as u32
}

/// Acknowledges and ends the highest pending Group-1 interrupt (with IRQs masked);
/// returns its INTID (1020..1023: nothing to end).
fn ack_pending() -> u32 {
    let iar: u64;
    // SAFETY: ICC_IAR1_EL1 acknowledges the highest pending Group-1 interrupt; it is
    // ended right below, and the probe has no handler that expects it.
    unsafe {
        asm!("mrs {}, s3_0_c12_c12_0", out(reg) iar, options(nomem, nostack, preserves_flags))
    };
    let intid = (iar & 0xff_ffff) as u32;
    if intid < 1020 {
        // SAFETY: ends the interrupt just acknowledged (EOImode 0: drop + deactivate).
        unsafe {
            asm!("msr s3_0_c12_c12_1, {}", "isb", in(reg) iar, options(nomem, nostack, preserves_flags))
        };
    }
    intid
}

fn us(ticks: u64) -> u64 {
    timer::ticks_to_ns(ticks) / 1_000
}

/// `n` SEV+WFE pairs: SEV signals an event to every PE (they wake spuriously and go
/// back to waiting) and sets this PE's event register, so WFE returns; the event
/// stream is the backstop. Returns the time taken in counter ticks.
pub fn wfe_loop(n: u32) -> u64 {
    let old = event_stream_on();
    let t0 = timer::counter();
    for _ in 0..n {
        // SAFETY: SEV and WFE have no memory effects.
        unsafe { asm!("sev", "wfe", options(nomem, nostack, preserves_flags)) };
    }
    let t = timer::counter() - t0;
    event_stream_restore(old);
    t
}

/// Sets up this vCPU's GIC for the virtual timer (PPI 27) only.
pub fn gic_for_timer(boot: &BootInfo) -> Result<(), gic::GicError> {
    gic::configure(boot);
    gic::init_distributor().and_then(|()| gic::init_cpu(1 << timer::INTERRUPT))
}

/// `n` WFIs with IRQs masked and the virtual timer pending (CVAL 0, enabled), so each
/// returns at once; then the timer is stopped and its interrupt acknowledged and
/// ended. Returns (ticks taken by the WFIs, INTID acknowledged), or an error if the
/// timer never showed up as pending within 100 ms (a WFI could then sleep forever).
pub fn wfi_loop(n: u32) -> Result<(u64, u32), ()> {
    irq::disable();
    timer::arm(0);
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(100_000));
    while highest_pending() != timer::INTERRUPT {
        if timer::counter() > deadline {
            timer::stop();
            return Err(());
        }
    }
    let t0 = timer::counter();
    for _ in 0..n {
        // SAFETY: WFI returns at once: an interrupt (the virtual timer) is pending,
        // masked or not. No memory effects.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
    let t = timer::counter() - t0;
    timer::stop();
    Ok((t, ack_pending()))
}

/// `wfe_loop`, then `wfi_loop` (after setting up the GIC). Contained = both end.
pub fn wfx_storm(boot: &BootInfo, wfe: u32, wfi: u32) -> Outcome {
    const CASE: &str = "wfx-storm";
    irq::disable();
    let t_wfe = wfe_loop(wfe);
    if let Err(e) = gic_for_timer(boot) {
        let name = e.name();
        return leak(
            CASE,
            format_args!("{} WFE done; GIC setup failed ({}), no WFI", wfe, name),
        );
    }
    let Ok((t_wfi, acked)) = wfi_loop(wfi) else {
        return leak(
            CASE,
            format_args!(
                "{} WFE done; the virtual timer never became pending, no WFI",
                wfe
            ),
        );
    };
    contained(
        CASE,
        format_args!(
            "{} SEV+WFE in {} us, {} WFI with the vtimer pending in {} us; then acked intid {}",
            wfe,
            us(t_wfe),
            wfi,
            us(t_wfi),
            acked
        ),
    )
}
