//! probe: the hostile guest. Each case tries to break isolation and reports
//! `probe: <case>: contained (<how>)` or `probe: <case>: LEAK (<what>)`; it ends with
//! `probe: done cases=<run> contained=<m>` and SYSTEM_OFF.
//!
//! Bootargs (all optional; a case whose key is missing prints a `probe-diag:` line
//! and is not counted):
//! - `other-vm=`, `hypervisor=`, `device=`: host addresses of another VM's RAM, the
//!   hypervisor and a board device not given to this VM;
//! - `bell=<k>`, `bell-other=<k>`, `ro-shm=<ipa>`, `rings=<n>`, `doorbell-page=<ipa>`:
//!   shared memory (see `shm.rs`);
//! - `fuzz=<n>` calls per fuzz case (default 2000), `wfe=<n>` (100000), `wfi=<n>`
//!   (10000);
//! - `storm-ms=<ms>`: how long `sustained-storm` attacks (skipped without it);
//! - `timing`: a `probe-diag:` line with the time after each case;
//! - `start-after-us=<us>` before the first case, `flood-after-us=<us>` before
//!   `sgi-flood` (let the other VMs set up their interrupt controllers first).
//!
//! The cases are the architecture's (`arch/<arch>/`, selected in one place below);
//! on aarch64, in order: read-other-vm, write-other-vm, read-hypervisor, read-device,
//! hvc-unknown, smc-unknown, sysreg-trapped, sysreg-debug, hvc-fuzz, smc-fuzz,
//! doorbell-flood, ro-shm-write, unmapped-* (one per address class, then instruction
//! fetches), fetch-ro-shm, sysreg-el2, sysreg-impdef, sgi-group0, sgi-alias,
//! pmu-own, cache-setway, tlbi-flood, wfx-storm, sgi-flood, sustained-storm.
//!
//! With `mode=takeback` it runs none of these: it takes the attacks on the hypervisor's
//! hold on its cores one at a time from its console instead (see `takeback.rs`). With
//! `mode=timers` (aarch64) it checks what it sees of its EL1 timers instead, the same
//! bare and in a VM (see `timers.rs`). With `mode=storm` (aarch64) every vCPU runs
//! the rounds of `sustained-storm` until the VM is stopped, printing only
//! `probe: storming vcpus=<k>`: the benchmark's storming neighbour (see `storm.rs`).
//!
//! Every access is a fixed inline-asm instruction (`ldr/str`, `hvc/smc`, `msr/mrs`,
//! a branch) run under `guard::catch` (or `guard::call_at`), so a fault comes back as
//! a value.
#![no_std]
#![no_main]

/// The architecture's cases: the only place it is selected.
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64/mod.rs")]
#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64/mod.rs")]
mod arch;
mod memory;
mod report;

use guest_common::{power, println, timer, BootInfo};

use report::{number, Tally};

guest_common::entry!(main);

fn main(boot: &BootInfo) -> ! {
    println!("probe: banner");
    if boot.args().get("mode") == Some("takeback") {
        arch::takeback::run(boot);
    }
    timer::delay_us(number(boot, "start-after-us").unwrap_or(0));
    let mut tally = Tally::new(boot.args().get("timing").is_some());
    arch::run(boot, &mut tally);
    println!(
        "probe: done cases={} contained={}",
        tally.cases, tally.contained
    );
    arch::finish(boot);
    power::system_off()
}
