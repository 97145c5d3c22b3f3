//! Physical SPIs at the distributor (passed-through devices, direct-mode doorbells,
//! the console's receive interrupt for the shell): trigger, route, enable, and taking
//! one back from a guest. All of them stay in Group 1 (set by
//! `gic::init_distributor`); a virtual-mode guest gets them through HW list
//! registers, so its EOI deactivates them.

use crate::gic::{rd, wr, DIST};
use core::sync::atomic::Ordering;

const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ICPENDR: u64 = 0x280;
const GICD_ICACTIVER: u64 = 0x380;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ICFGR: u64 = 0xc00;
/// GICD_IROUTER<n> is at 0x6000 + 8n (n = INTID; SPIs only, from 0x6100).
const GICD_IROUTER: u64 = 0x6000;
/// Priority of forwarded SPIs: below the hypervisor's Group-0 SGIs (0x00).
const PRIORITY: u8 = 0x80;

/// The distributor base, if the INTID is an SPI and the distributor is set up.
fn dist(intid: u32) -> Option<u64> {
    let base = DIST.load(Ordering::Relaxed);
    (base != 0 && (32..1020).contains(&intid)).then_some(base)
}

/// Bit `intid` of a one-bit-per-interrupt register bank at `bank`.
fn set_bit(base: u64, bank: u64, intid: u32) {
    wr(base + bank + 4 * u64::from(intid / 32), 1 << (intid % 32));
}

/// Prepares SPI `intid` for a guest: disabled, not pending, not active, the given
/// trigger, the forwarding priority, routed to the CPU with affinity `mpidr`.
pub fn configure(intid: u32, edge: bool, mpidr: u64) {
    let Some(base) = dist(intid) else { return };
    quiesce(intid);
    let cfg = base + GICD_ICFGR + 4 * u64::from(intid / 16);
    let shift = 2 * (intid % 16) + 1;
    let old = rd(cfg) & !(1 << shift);
    wr(cfg, old | u32::from(edge) << shift);
    // SAFETY: one priority byte of a valid SPI inside the distributor given to
    // `init_distributor`, mapped as device memory.
    unsafe {
        ((base + GICD_IPRIORITYR + u64::from(intid)) as *mut u8).write_volatile(PRIORITY);
    }
    route(intid, mpidr);
}

/// Routes SPI `intid` to the CPU with affinity `mpidr` (Interrupt_Routing_Mode 0).
pub fn route(intid: u32, mpidr: u64) {
    let Some(base) = dist(intid) else { return };
    let aff = mpidr & 0xff_00ff_ffff;
    // SAFETY: IROUTER<n> of a valid SPI inside the distributor, mapped as device.
    unsafe { ((base + GICD_IROUTER + 8 * u64::from(intid)) as *mut u64).write_volatile(aff) };
}

/// Enables or disables SPI `intid` at the distributor.
pub fn set_enabled(intid: u32, on: bool) {
    let Some(base) = dist(intid) else { return };
    set_bit(
        base,
        if on { GICD_ISENABLER } else { GICD_ICENABLER },
        intid,
    );
}

/// Makes SPI `intid` pending (a doorbell for a direct-mode guest).
pub fn set_pending(intid: u32) {
    const GICD_ISPENDR: u64 = 0x200;
    let Some(base) = dist(intid) else { return };
    set_bit(base, GICD_ISPENDR, intid);
}

/// Whether SPI `intid` is pending at the distributor (a level-sensitive one: its
/// line is asserted).
pub fn is_pending(intid: u32) -> bool {
    const GICD_ISPENDR: u64 = 0x200;
    let Some(base) = dist(intid) else {
        return false;
    };
    rd(base + GICD_ISPENDR + 4 * u64::from(intid / 32)) & 1 << (intid % 32) != 0
}

/// Takes SPI `intid` back: disabled, pending state cleared, deactivated (a guest may
/// have stopped before its EOI).
pub fn quiesce(intid: u32) {
    let Some(base) = dist(intid) else { return };
    set_bit(base, GICD_ICENABLER, intid);
    set_bit(base, GICD_ICPENDR, intid);
    set_bit(base, GICD_ICACTIVER, intid);
}
