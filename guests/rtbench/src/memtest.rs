//! `memtest=<base>+<size>`: the guest checks the RAM it was given. Before counting it
//! writes a word derived from its address into every 64-byte line of `[base, base +
//! size)`; after counting (the other VMs ran meanwhile) it reads every one back, then
//! reads the word at `base + size`, which must fault when the range ends the VM's RAM.
//! A VM whose RAM is built from scattered host pages (cache coloring) sees it
//! contiguous: a page mapped twice, or shared with another VM, shows as a mismatch.
//!
//! Lines: `rtbench: memtest written base=<hex> size=<hex>`, then `rtbench: memtest ok
//! base=<hex> size=<hex> beyond=fault|readable` or `rtbench: memtest FAIL at <hex>:
//! read <hex>, wrote <hex>` (also for a fault inside the range).

use guest_common::args::parse_u64;
use guest_common::{guard, println, BootInfo};

const STRIDE: usize = 64;

/// The word written at `addr`.
fn pattern(addr: usize) -> u64 {
    (addr as u64).rotate_left(17) ^ 0x5a5a_c01d_0b5e_55ed
}

/// `memtest=<base>+<size>`, if given and well formed (else a diagnostic).
pub fn range(boot: &BootInfo) -> Option<(usize, usize)> {
    let arg = boot.args().get("memtest")?;
    let parsed = arg.split_once('+').and_then(|(b, s)| {
        let (b, s) = (parse_u64(b)?, parse_u64(s)?);
        Some((usize::try_from(b).ok()?, usize::try_from(s).ok()?))
    });
    if parsed.is_none() {
        println!("rtbench-diag: bad memtest={:?}, want <base>+<size>", arg);
    }
    parsed
}

/// Fills the range.
pub fn write(base: usize, size: usize) {
    for addr in (base..base + size).step_by(STRIDE) {
        // SAFETY: the range is RAM the scenario's bootargs give to the test, away from
        // this image, its stacks and its device tree.
        if let Err(f) = unsafe { guard::write_u64(addr, pattern(addr)) } {
            println!(
                "rtbench: memtest FAIL at {:#x}: write faulted ({:?})",
                addr, f
            );
            return;
        }
    }
    println!("rtbench: memtest written base={:#x} size={:#x}", base, size);
}

/// Checks the range and what lies past it.
pub fn check(base: usize, size: usize) {
    for addr in (base..base + size).step_by(STRIDE) {
        match guard::read_u64(addr) {
            Ok(v) if v == pattern(addr) => {}
            Ok(v) => {
                println!(
                    "rtbench: memtest FAIL at {:#x}: read {:#x}, wrote {:#x}",
                    addr,
                    v,
                    pattern(addr)
                );
                return;
            }
            Err(f) => {
                println!(
                    "rtbench: memtest FAIL at {:#x}: read faulted ({:?})",
                    addr, f
                );
                return;
            }
        }
    }
    let beyond = match guard::read_u64(base + size) {
        Ok(_) => "readable",
        Err(_) => "fault",
    };
    println!(
        "rtbench: memtest ok base={:#x} size={:#x} beyond={}",
        base, size, beyond
    );
}
