//! `apic-mode-switch`: an interrupt left pending across the APIC's mode changes. With
//! interrupts masked the guest sends itself an IPI in x2APIC mode, turns the APIC off
//! (which drops it), on in xAPIC mode, sends itself another through the xAPIC page
//! (the hypervisor, unable to deliver it, asks for an exit at the interrupt window),
//! and goes back to x2APIC mode (where VT-x's virtual-interrupt delivery takes over).
//! Unmasked, exactly the second IPI must arrive, once, within 100 ms: one stuck
//! behind a window request the new mode does not clear never does (the vCPU then
//! loops on window exits). The APIC is set up again afterwards (`apic::init_cpu`).
//! Without x2APIC (bare QEMU's TCG) there is nothing to switch.

use core::sync::atomic::{AtomicU32, Ordering};

use guest_common::arch::apic::{self, ICR_FIXED};
use guest_common::irq::{self, Stamp};
use guest_common::timer;

use super::msr::{rdmsr, wrmsr};
use super::How;
use crate::report::{contained, leak, Outcome};

const CASE: &str = "apic-mode-switch";
const APIC_BASE: u32 = 0x1b;
const EN: u64 = 1 << 11;
const EXTD: u64 = 1 << 10;
const FIRST: u32 = 0x5a;
const SECOND: u32 = 0x5b;
const SVR_ENABLE: u32 = 1 << 8 | 0xff;

static SEEN: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

fn on_interrupt(vector: u32, _: Stamp) {
    match vector {
        FIRST => SEEN[0].fetch_add(1, Ordering::Relaxed),
        SECOND => SEEN[1].fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
}

/// A 32-bit store to the xAPIC page at `base + reg`.
fn xapic_write(base: u64, reg: u64, v: u32) {
    // SAFETY: the local APIC's page, mapped uncached by the boot code, in xAPIC mode.
    unsafe { core::ptr::write_volatile((base + reg) as *mut u32, v) }
}

pub fn mode_switch() -> Outcome {
    if !apic::x2apic() {
        return contained(CASE, format_args!("x2APIC not offered: no mode to switch"));
    }
    let Ok(base) = rdmsr(APIC_BASE) else {
        return leak(CASE, format_args!("IA32_APIC_BASE unreadable"));
    };
    let me = u64::from(apic::id());
    let page = base & 0xf_ffff_f000;
    irq::set_handler(on_interrupt);
    irq::disable();
    apic::send(me, ICR_FIXED, FIRST as u8);
    let steps = [base & !(EN | EXTD), (base & !EXTD) | EN];
    for (i, v) in steps.into_iter().enumerate() {
        if let Err(f) = wrmsr(APIC_BASE, v) {
            apic::init_cpu();
            return leak(
                CASE,
                format_args!("mode step {i} ({v:#x}) refused: {}", How(&f)),
            );
        }
    }
    xapic_write(page, 0xf0, SVR_ENABLE);
    xapic_write(page, 0x310, (me as u32) << 24);
    xapic_write(page, 0x300, 1 << 14 | SECOND);
    if let Err(f) = wrmsr(APIC_BASE, base | EN | EXTD) {
        apic::init_cpu();
        return leak(CASE, format_args!("back to x2APIC refused: {}", How(&f)));
    }
    irq::enable();
    let end = timer::counter() + timer::frequency() / 10;
    while SEEN[1].load(Ordering::Relaxed) == 0 && timer::counter() < end {
        core::hint::spin_loop();
    }
    irq::disable();
    apic::init_cpu();
    let (first, second) = (
        SEEN[0].load(Ordering::Relaxed),
        SEEN[1].load(Ordering::Relaxed),
    );
    match (first, second) {
        (0, 1) => contained(
            CASE,
            format_args!(
                "x2APIC -> disabled -> xAPIC -> x2APIC: the IPI sent before dropped, the one \
                 pending in xAPIC mode taken once after"
            ),
        ),
        _ => leak(
            CASE,
            format_args!("{first} of the dropped IPI, {second} of the pending one (want 0, 1)"),
        ),
    }
}
