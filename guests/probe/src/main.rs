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
//! Cases, in order: read-other-vm, write-other-vm, read-hypervisor, read-device,
//! hvc-unknown, smc-unknown, sysreg-trapped, sysreg-debug, hvc-fuzz, smc-fuzz,
//! doorbell-flood, ro-shm-write, unmapped-* (one per address class, then instruction
//! fetches), fetch-ro-shm, sysreg-el2, sysreg-impdef, sgi-group0, sgi-alias,
//! pmu-own, cache-setway, tlbi-flood, wfx-storm, sgi-flood, sustained-storm.
//!
//! With `mode=takeback` it runs none of these: it takes the attacks on the hypervisor's
//! hold on its cores one at a time from its console instead (see `takeback.rs`).
//!
//! Every access is a fixed inline-asm instruction (`ldr/str`, `hvc/smc`, `msr/mrs`,
//! a branch) run under `guard::catch` (or `guard::call_at`), so a fault comes back as
//! a value.
#![no_std]
#![no_main]

mod access;
mod basic;
mod cpuops;
mod fuzz;
mod report;
mod shm;
mod storm;
mod sysregs;
mod takeback;
mod unmapped;

use guest_common::{println, psci, timer, BootInfo};

use report::{number, Tally};

guest_common::entry!(main);

const DEFAULT_FUZZ: u64 = 2000;
const DEFAULT_WFE: u64 = 100_000;
const DEFAULT_WFI: u64 = 10_000;

fn main(boot: &BootInfo) -> ! {
    println!("probe: banner");
    if boot.args().get("mode") == Some("takeback") {
        takeback::run(boot);
    }
    let count = |key: &str, default: u64| number(boot, key).unwrap_or(default) as u32;
    timer::delay_us(number(boot, "start-after-us").unwrap_or(0));
    let mut tally = Tally::new(boot.args().get("timing").is_some());
    tally.add(basic::read_case(boot, "read-other-vm", "other-vm"));
    tally.add(basic::write_case(boot, "write-other-vm", "other-vm"));
    tally.add(basic::read_case(boot, "read-hypervisor", "hypervisor"));
    tally.add(basic::read_case(boot, "read-device", "device"));
    tally.add(basic::call_case("hvc-unknown", false));
    tally.add(basic::call_case("smc-unknown", true));
    tally.add(basic::sysreg_trapped());
    tally.add(basic::sysreg_debug());
    let calls = count("fuzz", DEFAULT_FUZZ);
    tally.add(fuzz::fuzz("hvc-fuzz", false, calls));
    tally.add(fuzz::fuzz("smc-fuzz", true, calls));
    tally.add(shm::doorbell_flood(boot));
    tally.add(shm::ro_shm_write(boot));
    unmapped::run_all(boot, &mut tally);
    tally.add(sysregs::sysreg_el2());
    tally.add(sysregs::sysreg_impdef());
    tally.add(sysregs::sgi_group0());
    tally.add(sysregs::sgi_alias());
    tally.add(sysregs::pmu_own());
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
    println!(
        "probe: done cases={} contained={}",
        tally.cases, tally.contained
    );
    psci::system_off()
}
