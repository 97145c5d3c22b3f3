//! The aarch64 cases (the list and order are in [`run`]); `mode=takeback` runs
//! `takeback.rs` instead, `mode=timers` `timers.rs`, `mode=storm` the sustained
//! storm on every vCPU until stopped (`storm.rs`).

mod access;
mod basic;
mod cpuops;
mod fuzz;
mod lrs;
mod shm;
mod storm;
mod sysregs;
pub mod takeback;
mod timers;
mod unmapped;

use core::fmt;

use guest_common::exception::{Fault, EC_DATA_ABORT_SAME_EL, EC_UNKNOWN};
use guest_common::{timer, BootInfo};

use crate::memory;
use crate::report::{contained, number, Outcome, Tally};

/// What an unclaimed address reads as: nothing (aarch64 faults).
pub const UNCLAIMED: Option<u64> = None;

/// ESR.EC: instruction abort taken without a change in exception level.
pub const EC_INSTRUCTION_ABORT_SAME_EL: u8 = 0x21;

const DEFAULT_FUZZ: u64 = 2000;
const DEFAULT_WFE: u64 = 100_000;
const DEFAULT_WFI: u64 = 10_000;

/// After `probe: done`: nothing on aarch64 (the caller powers off).
pub fn finish(_boot: &BootInfo) {}

/// Runs every case, in order (or, with `mode=timers`, the timer checks alone; with
/// `mode=storm`, the storm until stopped).
pub fn run(boot: &BootInfo, tally: &mut Tally) {
    match boot.args().get("mode") {
        Some("timers") => timers::run(boot),
        Some("storm") => storm::forever(boot),
        _ => {}
    }
    let count = |key: &str, default: u64| number(boot, key).unwrap_or(default) as u32;
    tally.add(memory::read_case(boot, "read-other-vm", "other-vm"));
    tally.add(memory::write_case(boot, "write-other-vm", "other-vm"));
    tally.add(memory::read_case(boot, "read-hypervisor", "hypervisor"));
    tally.add(memory::read_case(boot, "read-device", "device"));
    tally.add(basic::call_case("hvc-unknown", false));
    tally.add(basic::call_case("smc-unknown", true));
    tally.add(basic::sysreg_trapped());
    tally.add(basic::sysreg_debug());
    let calls = count("fuzz", DEFAULT_FUZZ);
    tally.add(fuzz::fuzz("hvc-fuzz", false, calls));
    tally.add(fuzz::fuzz("smc-fuzz", true, calls));
    tally.add(shm::doorbell_flood(boot));
    tally.add(shm::ro_shm_write(boot));
    unmapped::run_all(boot, tally);
    tally.add(sysregs::sysreg_el2());
    tally.add(sysregs::sysreg_impdef());
    tally.add(sysregs::sgi_group0());
    tally.add(sysregs::sgi_alias());
    tally.add(sysregs::pmu_own());
    tally.add(lrs::lr_underflow(boot));
    tally.add(cpuops::cache_setway());
    tally.add(cpuops::tlbi_flood());
    tally.add(cpuops::wfx_storm(
        boot,
        count("wfe", DEFAULT_WFE),
        count("wfi", DEFAULT_WFI),
    ));
    timer::delay_us(number(boot, "flood-after-us").unwrap_or(0));
    tally.add(basic::sgi_flood());
    tally.add(storm::storm(boot));
}

/// A fault, described briefly: `data abort dfsc=0x..`, `instruction abort ifsc=0x..`,
/// `undefined`, else `exception ec=0x.. esr=0x..`.
pub struct How<'a>(pub &'a Fault);

impl fmt::Display for How<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = self.0;
        match fault.ec() {
            EC_DATA_ABORT_SAME_EL => write!(f, "data abort dfsc={:#x}", fault.fsc()),
            EC_INSTRUCTION_ABORT_SAME_EL => {
                write!(f, "instruction abort ifsc={:#x}", fault.fsc())
            }
            EC_UNKNOWN => write!(f, "undefined"),
            ec => write!(f, "exception ec={:#x} esr={:#x}", ec, fault.esr),
        }
    }
}

/// A fault on an access: a data abort says how (its DFSC); anything else still
/// stopped the access, so it is contained too, described by its class.
pub fn contained_by_fault(case: &str, fault: &Fault) -> Outcome {
    if fault.ec() == EC_DATA_ABORT_SAME_EL || fault.ec() == EC_UNKNOWN {
        contained(case, format_args!("{}", How(fault)))
    } else {
        contained(
            case,
            format_args!("exception ec={:#x} esr={:#x}", fault.ec(), fault.esr),
        )
    }
}
