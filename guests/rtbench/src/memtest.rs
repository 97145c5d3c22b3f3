//! `memtest=<base>+<size>[,<base>+<size>...]`: the guest checks the RAM it was given.
//! Before counting it writes a word derived from its address and its own bootargs into
//! every 64-byte line of each range; after counting (the other VMs ran meanwhile) it
//! reads every one back, then reads the word past each range, which must fault when
//! the range ends the VM's RAM. A VM whose RAM is built from scattered host pages
//! (cache coloring) sees it contiguous: a page mapped twice, or shared with another VM
//! testing the same guest addresses (with other bootargs, so other words), shows as
//! a mismatch.
//!
//! Lines, per range: `rtbench: memtest written base=<hex> size=<hex>`, then `rtbench:
//! memtest ok base=<hex> size=<hex> beyond=fault|readable` or `rtbench: memtest FAIL
//! at <hex>: read <hex>, wrote <hex>` (or a fault inside the range).

use guest_common::args::parse_u64;
use guest_common::{guard, println, BootInfo};

const STRIDE: usize = 64;
/// The most ranges one `memtest=` takes.
pub const MAX_RANGES: usize = 4;

/// The ranges of `memtest=`, and the salt of this VM's words.
#[derive(Clone, Copy)]
pub struct Plan {
    ranges: [(usize, usize); MAX_RANGES],
    count: usize,
    salt: u64,
}

impl Plan {
    fn ranges(&self) -> &[(usize, usize)] {
        &self.ranges[..self.count]
    }

    /// The word written at `addr`.
    fn pattern(&self, addr: usize) -> u64 {
        (addr as u64).rotate_left(17) ^ self.salt
    }
}

/// FNV-1a 64 of the bootargs: two VMs with different bootargs write different words.
fn salt(line: &str) -> u64 {
    line.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `memtest=`, if given and well formed (else a diagnostic).
pub fn plan(boot: &BootInfo) -> Option<Plan> {
    let arg = boot.args().get("memtest")?;
    let mut plan = Plan {
        ranges: [(0, 0); MAX_RANGES],
        count: 0,
        salt: salt(boot.args().line()),
    };
    for item in arg.split(',') {
        let parsed = item.split_once('+').and_then(|(b, s)| {
            let (b, s) = (parse_u64(b)?, parse_u64(s)?);
            Some((usize::try_from(b).ok()?, usize::try_from(s).ok()?))
        });
        match parsed {
            Some(r) if plan.count < MAX_RANGES => {
                plan.ranges[plan.count] = r;
                plan.count += 1;
            }
            _ => {
                println!(
                    "rtbench-diag: bad memtest={:?}, want up to {} <base>+<size>, comma-separated",
                    arg, MAX_RANGES
                );
                return None;
            }
        }
    }
    Some(plan)
}

/// Fills every range.
pub fn write(plan: &Plan) {
    for &(base, size) in plan.ranges() {
        for addr in (base..base + size).step_by(STRIDE) {
            // SAFETY: the range is RAM the scenario's bootargs give to the test, away
            // from this image, its stacks and its device tree.
            if let Err(f) = unsafe { guard::write_u64(addr, plan.pattern(addr)) } {
                println!(
                    "rtbench: memtest FAIL at {:#x}: write faulted ({:?})",
                    addr, f
                );
                return;
            }
        }
        println!("rtbench: memtest written base={:#x} size={:#x}", base, size);
    }
}

/// Checks every range and what lies past it.
pub fn check(plan: &Plan) {
    for &(base, size) in plan.ranges() {
        for addr in (base..base + size).step_by(STRIDE) {
            match guard::read_u64(addr) {
                Ok(v) if v == plan.pattern(addr) => {}
                Ok(v) => {
                    println!(
                        "rtbench: memtest FAIL at {:#x}: read {:#x}, wrote {:#x}",
                        addr,
                        v,
                        plan.pattern(addr)
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
}
