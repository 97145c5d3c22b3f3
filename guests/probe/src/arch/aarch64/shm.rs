//! Shared memory and doorbells: `doorbell-flood` and `ro-shm-write`.
//!
//! Bootargs: `bell=<k>` a region this VM is a peer of (rung `rings=<n>` times,
//! default 10000), `bell-other=<k>` a region it is not a peer of, `ro-shm=<ipa>` a
//! region mapped read-only for it, `doorbell-page=<ipa>` (default 0x0901_0000).

use core::fmt::Write;

use guest_common::arch::psci;
use guest_common::exception::Fault;
use guest_common::{guard, hypercall, BootInfo};

use super::access;
use super::fuzz::Rng;
use super::How;
use crate::report::{contained, leak, number, target, Outcome, Text};

const DOORBELL_PAGE: usize = 0x0901_0000;
const PAGE: usize = 0x1000;
const DEFAULT_RINGS: u64 = 10_000;
/// Rings written to offset 0 of the doorbell page.
const PAGE_RINGS: u32 = 100;
/// DOORBELL_RING, SMC64.
const RING64: u64 = 0xc600_0001;

/// Region numbers that name no region of this VM: `bell-other` (if given), numbers
/// past any scenario's list, and `bell` with upper bits set (SMC64 takes all 64).
fn invalid_numbers(bell: u64, other: Option<u64>) -> [Option<u64>; 6] {
    [
        other,
        Some(64),
        Some(1000),
        Some(0xffff_ffff),
        Some((1 << 32) | bell),
        Some(u64::MAX),
    ]
}

/// Faults and non-zero reads seen while sweeping the doorbell page.
#[derive(Default)]
struct Sweep {
    accesses: u32,
    faults: u32,
    nonzero: Option<(usize, u64)>,
}

impl Sweep {
    fn write(&mut self, r: Result<(), Fault>) {
        self.accesses += 1;
        if r.is_err() {
            self.faults += 1;
        }
    }

    fn read(&mut self, addr: usize, r: Result<u64, Fault>) {
        match r {
            Ok(0) => self.accesses += 1,
            Ok(v) => {
                self.accesses += 1;
                self.nonzero.get_or_insert((addr, v));
            }
            Err(e) => self.write(Err(e)),
        }
    }
}

pub fn doorbell_flood(boot: &BootInfo) -> Outcome {
    const CASE: &str = "doorbell-flood";
    let Some(bell) = target(boot, CASE, "bell").map(|b| b as u64) else {
        return Outcome::Skipped;
    };
    let rings = number(boot, "rings").unwrap_or(DEFAULT_RINGS);
    let page = number(boot, "doorbell-page").map_or(DOORBELL_PAGE, |p| p as usize);
    // 1. The hypercall, many times, on a region this VM is a peer of.
    let failed = (0..rings)
        .filter(|_| hypercall::rtvisor_ring(bell) != 0)
        .count();
    // 2. Numbers it is no peer of must be refused.
    let mut refused = 0;
    for k in invalid_numbers(bell, number(boot, "bell-other"))
        .into_iter()
        .flatten()
    {
        let r = psci::call(RING64 as u32, k, 0, 0) as i64;
        if r == 0 {
            return leak(CASE, format_args!("ringing region {:#x} returned 0", k));
        }
        refused += 1;
    }
    // 3. Junk to every 32-bit word of the doorbell page, each read back; then 64-bit
    // accesses (the page takes only 32-bit ones); then odd forms; then page rings.
    let mut rng = Rng::new(0x0d00_be11);
    let (mut w32, mut w64, mut odd) = (Sweep::default(), Sweep::default(), Sweep::default());
    for off in (0..PAGE).step_by(4) {
        let junk = rng.next() as u32;
        // SAFETY: the doorbell page is an emulated device page, not this program's
        // memory; a write there at most rings a doorbell.
        w32.write(unsafe { guard::write_u32(page + off, junk) });
        w32.read(page + off, guard::read_u32(page + off).map(u64::from));
    }
    for off in (0..PAGE).step_by(8) {
        // SAFETY: as above.
        w64.write(unsafe { guard::write_u64(page + off, rng.next()) });
        w64.read(page + off, guard::read_u64(page + off));
    }
    for off in (0..PAGE).step_by(0x100) {
        // SAFETY: as above.
        unsafe {
            odd.write(access::write_u8(page + off, rng.next() as u8));
            odd.write(access::write_pair(page + off, rng.next(), rng.next()));
            odd.write(access::write_u32_post(page + off, rng.next() as u32));
        }
        let pair = access::read_pair(page + off);
        odd.read(page + off, pair.map(|(a, b)| a | b));
    }
    let mut page_faults = 0;
    for _ in 0..PAGE_RINGS {
        // SAFETY: as above; this is the page's documented use.
        if unsafe { guard::write_u32(page, bell as u32) }.is_err() {
            page_faults += 1;
        }
    }
    for s in [&w32, &w64, &odd] {
        if let Some((addr, v)) = s.nonzero {
            return leak(
                CASE,
                format_args!("doorbell page read {:#x} at {:#x}", v, addr),
            );
        }
    }
    let mut how = Text::new();
    let _ = write!(
        how,
        "{} rings ({} failed), {} bad ids refused; page: {} w32 ({} faulted), {} x64 ({} faulted), {} odd ({} faulted), {} rings ({} faulted)",
        rings, failed, refused, w32.accesses, w32.faults, w64.accesses, w64.faults,
        odd.accesses, odd.faults, PAGE_RINGS, page_faults
    );
    contained(CASE, format_args!("{}", how.as_str()))
}

pub fn ro_shm_write(boot: &BootInfo) -> Outcome {
    const CASE: &str = "ro-shm-write";
    let Some(ro) = target(boot, CASE, "ro-shm") else {
        return Outcome::Skipped;
    };
    let spots = [ro, ro + 8, ro + 0x800, ro + PAGE - 16];
    let mut before = [0u64; 4];
    for (b, &a) in before.iter_mut().zip(&spots) {
        match guard::read_u64(a) {
            Ok(v) => *b = v,
            Err(f) => {
                return leak(
                    CASE,
                    format_args!("mapping broken: read of {:#x} faulted ({})", a, How(&f)),
                )
            }
        }
    }
    // SAFETY: `ro` is the shared region the scenario maps read-only for this VM, not
    // this program's memory; the writes must fault.
    let str_x = unsafe { guard::write_u64(spots[0], 0xbad0_bad0) };
    // SAFETY: as above.
    let str_w = unsafe { guard::write_u32(spots[1], 0xbad1) };
    // SAFETY: as above.
    let strb = unsafe { access::write_u8(spots[2], 0xb2) };
    // SAFETY: as above.
    let stp = unsafe { access::write_pair(spots[3], 3, 3) };
    // SAFETY: as above.
    let post = unsafe { access::write_u32_post(spots[2], 0xbad4) };
    let attempts = [
        ("str x", str_x),
        ("str w", str_w),
        ("strb", strb),
        ("stp", stp),
        ("str w post-index", post),
    ];
    for (what, r) in &attempts {
        if r.is_ok() {
            return leak(
                CASE,
                format_args!("{} to read-only {:#x} accepted", what, ro),
            );
        }
    }
    for (b, &a) in before.iter().zip(&spots) {
        match guard::read_u64(a) {
            Ok(v) if v == *b => {}
            Ok(v) => {
                return leak(
                    CASE,
                    format_args!("{:#x} changed from {:#x} to {:#x}", a, b, v),
                )
            }
            Err(f) => {
                return leak(
                    CASE,
                    format_args!("mapping broken: re-read of {:#x} faulted ({})", a, How(&f)),
                )
            }
        }
    }
    match &str_x {
        Err(f) => contained(
            CASE,
            format_args!(
                "reads work; str x, str w, strb, stp, post-index all faulted (str x: {}); contents unchanged",
                How(f)
            ),
        ),
        Ok(()) => leak(CASE, format_args!("str x to read-only {:#x} accepted", ro)),
    }
}
