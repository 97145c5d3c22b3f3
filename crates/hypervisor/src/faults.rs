//! Contained guest faults at `warn`: a guest killed by an injected abort is not silent.
//! Per VM the first fault is printed in full (what, where, the PC, what was done), then
//! at most one count line a second (`rtvisor_core::faultlog` decides). Refused calls and
//! ignored writes stay at `debug`.

use crate::config::{CONFIG, MAX_VMS};
use crate::debug;
use crate::log;
use rtvisor_arch_aarch64::sysreg;
use rtvisor_config::tables::LogLevel;
use rtvisor_core::faultlog::{self, FaultLog, Report};
use rtvisor_core::handler::Contained;

static LOGS: [FaultLog; MAX_VMS] = [const { FaultLog::new() }; MAX_VMS];

/// VM `vm` was answered `what` on this CPU (its exit is being handled: ELR_EL2 holds
/// the guest's PC).
pub fn contained(vm: usize, what: Contained) {
    let name = CONFIG.vms[vm].name;
    let Some(fault) = faultlog::fault(what) else {
        debug!("vm {name}: contained {what:?}");
        return;
    };
    let pc = rtvisor_arch_aarch64::read_sysreg!(elr_el2);
    match LOGS[vm].note(sysreg::counter(), sysreg::counter_freq()) {
        Some(Report::First) => log::line(
            LogLevel::Warn,
            format_args!(
                "vm {name}: {fault}, at PC {pc:#x} (later faults of this VM are counted, one \
                 line a second at most)"
            ),
        ),
        Some(Report::More { count }) => log::line(
            LogLevel::Warn,
            format_args!(
                "vm {name}: {count} more contained faults; the latest: {fault}, at PC {pc:#x}"
            ),
        ),
        None => {}
    }
}

/// VM `vm` stops or restarts: the faults no line counted yet are printed, and its next
/// run's first fault is printed in full again.
pub fn reset(vm: usize) {
    let unreported = LOGS[vm].reset();
    if unreported > 0 {
        log::line(
            LogLevel::Warn,
            format_args!(
                "vm {}: {unreported} more contained faults before it stopped",
                CONFIG.vms[vm].name
            ),
        );
    }
}
