//! `rtvisor`: the host command of the rtvisor hypervisor, as a library (used by the
//! `rtvisor` binary and by `cargo xtask`, which wraps these commands).
//!
//! ```text
//! rtvisor board inspect --dtb board.dtb -o boards/myboard.toml  # describe the hardware
//! rtvisor board inspect --acpi /sys/firmware/acpi/tables \
//!     --memmap /sys/firmware/memmap -o boards/mypc.toml            # ... an x86 PC's
//! rtvisor check  scenarios/demo.toml                            # errors, or the resolved map
//! rtvisor build  scenarios/demo.toml -o rtvisor.img             # one bootable image
//! rtvisor run    scenarios/demo.toml --duration 10              # boot it under QEMU
//! ```
//!
//! Board and scenario files, and what `check` reports, are documented in
//! docs/scenario.md. Validation and layout live in `rtvisor-config`; this crate reads
//! device trees, drives cargo and QEMU, and prints.
#![forbid(unsafe_code)]

pub mod build;
mod dtcheck;
mod dtprops;
pub mod imagesize;
pub mod inspect;
pub mod inspect_acpi;
pub mod inspect_pcie;
pub mod qemu;
pub mod render;
pub mod run;

use anyhow::Result;
use rtvisor_config::Plan;
use std::path::Path;

/// Per VM, every INTID it sees: its timers, its console, its devices (a device with
/// no interrupt says so).
pub fn interrupt_map(plan: &Plan) -> String {
    use rtvisor_config::contract::aarch64::VUART_INTID;
    use rtvisor_config::contract::{x86_64, Arch};
    let [_, phys, virt, _] = plan.timer_intids;
    let mut s = String::new();
    if plan.arch == Arch::X86_64 {
        for (id, vm) in plan.vms.iter().enumerate() {
            let bells: Vec<String> = vm
                .shared
                .iter()
                .map(|m| format!("{} ({})", m.doorbell, m.name))
                .collect();
            s.push_str(&format!(
                "interrupts vm {id} `{}`: timer: the local APIC's; console GSI {} (emulated \
                 COM1); doorbells: {}; devices: {}\n",
                vm.name,
                x86_64::COM1_GSI,
                list(bells),
                list(device_irqs(vm))
            ));
        }
        return s;
    }
    for (id, vm) in plan.vms.iter().enumerate() {
        s.push_str(&format!(
            "interrupts vm {id} `{}`: timers {virt} (virtual), {phys} (physical); console \
             {VUART_INTID} (emulated); devices: {}\n",
            vm.name,
            list(device_irqs(vm))
        ));
    }
    s
}

/// Each device's interrupts, or that it has none.
fn device_irqs(vm: &rtvisor_config::plan::VmPlan) -> Vec<String> {
    // A PCIe host bridge's windows have none; its INTx lines come with its ECAM.
    vm.devices
        .iter()
        .filter_map(|d| match (d.irqs.as_slice(), &d.bridge) {
            ([], Some(_)) => None,
            ([], None) => Some(format!("{} (no interrupt)", d.name)),
            (irqs, bridge) => {
                let irqs: Vec<String> = irqs.iter().map(u32::to_string).collect();
                let name = bridge
                    .as_ref()
                    .map_or(d.name.clone(), |b| format!("{b} INTx"));
                Some(format!("{} {:?} ({name})", irqs.join(","), d.trigger))
            }
        })
        .collect()
}

fn list(items: Vec<String>) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// An error whose message is already printed (the scenario's diagnostics).
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the scenario has errors")
    }
}

impl std::error::Error for Reported {}

/// The architecture of `scenario`'s board: its board file's `arch`, read before the
/// rest of the scenario is checked (a fresh checkout has not built the guests the
/// scenario names yet); else the whole check's answer; `None` when neither reads.
pub fn scenario_arch(scenario: &Path) -> Option<rtvisor_config::contract::Arch> {
    let board = std::fs::read_to_string(scenario).ok().and_then(|text| {
        text.lines().find_map(|l| {
            let (key, value) = l.split_once('=')?;
            let value = value.trim().strip_prefix('"')?;
            let end = value.find('"')?;
            (key.trim() == "board").then(|| value[..end].to_string())
        })
    });
    let dir = scenario.parent().unwrap_or(Path::new("."));
    if let Some(b) = board.and_then(|b| rtvisor_config::check_board(&dir.join(b)).ok()) {
        return Some(b.arch());
    }
    rtvisor_config::check(scenario).ok().map(|p| p.arch)
}

/// Validates `scenario`; prints its warnings, or on error every diagnostic, to stderr.
pub fn check_plan(scenario: &Path) -> Result<Plan> {
    let plan = rtvisor_config::check(scenario).map_err(|diags| {
        eprintln!("{diags}");
        anyhow::Error::new(Reported)
    })?;
    for w in &plan.warnings {
        eprintln!("{w}\n");
    }
    Ok(plan)
}
