//! Contained guest faults at `warn`: a guest killed by an injected fault is not silent.
//! Per VM the first fault is printed in full (what, where, the PC, what was done), then
//! at most one count line a second (`rtvisor_core::faultlog` decides). Refused calls and
//! ignored writes stay at `debug`.

use crate::backend::{Arch, Backend, Clock};
use crate::config::MAX_VMS;
use crate::{debug, log, vms};
use rtvisor_config::tables::LogLevel;
use rtvisor_core::faultlog::{self, FaultLog, Report};
use rtvisor_core::handler::Contained;
use rtvisor_core::ids::VmId;
use rtvisor_core::seam::Timer;

static LOGS: [FaultLog; MAX_VMS] = [const { FaultLog::new() }; MAX_VMS];

/// VM `vm` was answered `what` on this CPU (its exit is being handled: the backend
/// still knows the guest's PC).
pub fn contained(vm: VmId, what: Contained) {
    let name = vms::cfg(vm).name;
    let Some(fault) = faultlog::fault(what, Arch::register_name) else {
        match what {
            Contained::IgnoredRegister(id) => {
                let reg = Arch::register_name(id);
                debug!("vm {name}: contained {what} ({reg})");
            }
            _ => debug!("vm {name}: contained {what}"),
        }
        return;
    };
    let Some(log) = LOGS.get(vm.index()) else {
        return;
    };
    let pc = Arch::guest_pc();
    match log.note(Clock::now(), Clock::frequency()) {
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
pub fn reset(vm: VmId) {
    let unreported = LOGS.get(vm.index()).map_or(0, FaultLog::reset);
    if unreported > 0 {
        log::line(
            LogLevel::Warn,
            format_args!(
                "vm {}: {unreported} more contained faults before it stopped",
                vms::cfg(vm).name
            ),
        );
    }
}
