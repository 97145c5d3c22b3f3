//! Identity-mapped x86_64 VMs: their RAM from 1 MiB (`LOW_PRIVATE`) is the host's at
//! the same addresses, reserved before any VM is placed; their first MiB is in
//! private host pages placed first fit (`RamMap::low`).

use super::first_fit;
use crate::contract::Arch;
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::schema::VmSpec;
use crate::size::PAGE;
use crate::tables::LOW_PRIVATE;

/// The host RAM of each identity-mapped x86_64 VM (from `LOW_PRIVATE` to its size; its
/// first MiB is elsewhere).
pub(crate) fn reserved(inp: &Inputs) -> Vec<(u64, u64)> {
    if inp.board.arch() != Arch::X86_64 {
        return Vec::new();
    }
    let low = LOW_PRIVATE;
    inp.scenario
        .vm
        .iter()
        .filter(|vm| vm.memory.identity)
        .map(|vm| (low, vm.memory.size.get_ref().0.saturating_sub(low)))
        .collect()
}

/// The private host pages behind an identity-mapped x86_64 VM's first MiB: first fit,
/// 4 KiB aligned, outside everything taken (its identity part included).
pub(super) fn low(
    inp: &Inputs,
    vm: &VmSpec,
    banks: &[(u64, u64)],
    taken: &mut Vec<(u64, u64)>,
    out: &mut Vec<Diagnostic>,
) -> Option<u64> {
    let Some(at) = first_fit(banks, taken, LOW_PRIVATE, PAGE) else {
        let msg = format!(
            "no room for the private first MiB of identity-mapped VM `{}` in the board's RAM",
            vm.name.get_ref()
        );
        let hint = "give the other VMs or the hypervisor less memory".to_owned();
        out.push(inp.scenario_src.diag(vm.memory.size.span(), msg, hint));
        return None;
    };
    taken.push((at, LOW_PRIVATE));
    Some(at)
}
