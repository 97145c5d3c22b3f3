//! PSCI (Arm DEN0022): the version, PSCI_FEATURES of every function of PSCI 1.x and
//! of an unknown one, CPU_ON of this CPU (ALREADY_ON), of no CPU
//! (INVALID_PARAMETERS), of the second CPU (SUCCESS, then it turns itself off),
//! AFFINITY_INFO before and after, MIGRATE_INFO_TYPE, MIGRATE_INFO_UP_CPU, and an
//! unknown function id (NOT_SUPPORTED). Return codes are printed as numbers.

use core::sync::atomic::{AtomicBool, Ordering};

use guest_common::arch::psci::{call, raw_hvc, uses_smc};
use guest_common::{power, timer, BootInfo};

use crate::check;

/// Every function of PSCI 1.1, by name, with its SMC64 id where it has one.
const FUNCTIONS: &[(&str, u32)] = &[
    ("PSCI_VERSION", 0x8400_0000),
    ("CPU_SUSPEND", 0xc400_0001),
    ("CPU_OFF", 0x8400_0002),
    ("CPU_ON", 0xc400_0003),
    ("CPU_ON32", 0x8400_0003),
    ("AFFINITY_INFO", 0xc400_0004),
    ("AFFINITY_INFO32", 0x8400_0004),
    ("MIGRATE", 0xc400_0005),
    ("MIGRATE_INFO_TYPE", 0x8400_0006),
    ("MIGRATE_INFO_UP_CPU", 0xc400_0007),
    ("SYSTEM_OFF", 0x8400_0008),
    ("SYSTEM_RESET", 0x8400_0009),
    ("PSCI_FEATURES", 0x8400_000a),
    ("CPU_FREEZE", 0x8400_000b),
    ("CPU_DEFAULT_SUSPEND", 0xc400_000c),
    ("NODE_HW_STATE", 0xc400_000d),
    ("SYSTEM_SUSPEND", 0xc400_000e),
    ("PSCI_SET_SUSPEND_MODE", 0x8400_000f),
    ("PSCI_STAT_RESIDENCY", 0xc400_0010),
    ("PSCI_STAT_COUNT", 0xc400_0011),
    ("SYSTEM_RESET2", 0xc400_0012),
    ("MEM_PROTECT", 0x8400_0013),
    ("MEM_PROTECT_CHECK_RANGE", 0xc400_0014),
    ("unknown", 0x8400_001f),
];

const PSCI_FEATURES: u32 = 0x8400_000a;
const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
const MIGRATE_INFO_UP_CPU: u32 = 0xc400_0007;

/// Set by the second CPU when it runs.
static ONLINE: AtomicBool = AtomicBool::new(false);

fn secondary(_index: usize) -> ! {
    ONLINE.store(true, Ordering::Release);
    power::cpu_off();
    guest_common::cpu::park()
}

fn code(r: u64) -> i64 {
    i64::from(r as u32 as i32)
}

pub fn run(boot: &BootInfo) {
    check!("psci.conduit", "{}", if uses_smc() { "smc" } else { "hvc" });
    check!("psci.version", "{:#x}", call(0x8400_0000, 0, 0, 0) as u32);
    for (name, id) in FUNCTIONS {
        let mut n = [0u8; 48];
        let prefix = b"psci.features.";
        n[..prefix.len()].copy_from_slice(prefix);
        let end = (prefix.len() + name.len()).min(n.len());
        n[prefix.len()..end].copy_from_slice(&name.as_bytes()[..end - prefix.len()]);
        let r = code(call(PSCI_FEATURES, u64::from(*id), 0, 0));
        check!(core::str::from_utf8(&n[..end]).unwrap_or("?"), "{}", r);
    }
    check!(
        "psci.unknown-function",
        "{}",
        code(call(0x8400_001f, 0, 0, 0))
    );
    check!(
        "psci.unknown-64bit-function",
        "{}",
        code(raw_hvc(0xc400_00ff, 0, 0, 0))
    );
    check!(
        "psci.migrate-info-type",
        "{}",
        code(call(MIGRATE_INFO_TYPE, 0, 0, 0))
    );
    check!(
        "psci.migrate-info-up-cpu",
        "{}",
        code(call(MIGRATE_INFO_UP_CPU, 0, 0, 0))
    );
    let me = guest_common::cpu::mpidr() & 0xff_00ff_ffff;
    let entry = guest_common::arch::power::secondary_entry_point();
    check!("psci.cpu-on.self", "{}", power::cpu_on(me, 0));
    check!(
        "psci.cpu-on.no-such-cpu",
        "{}",
        guest_common::arch::psci::cpu_on(0xff_00ff_ff00, entry, 0)
    );
    check!("psci.affinity-info.self", "{}", power::affinity_info(me));
    check!(
        "psci.affinity-info.no-such-cpu",
        "{}",
        power::affinity_info(0xff_00ff_ff00)
    );
    check!(
        "psci.affinity-info.level1",
        "{}",
        guest_common::arch::psci::affinity_info(me, 1)
    );
    if boot.cpu_count() < 2 {
        check!("psci.cpu-on.second", "no second cpu");
        return;
    }
    let second = boot.cpu_id(1);
    check!(
        "psci.affinity-info.second-before",
        "{}",
        power::affinity_info(second)
    );
    guest_common::set_secondary_main(secondary);
    check!("psci.cpu-on.second", "{}", power::cpu_on(second, 1));
    let deadline = timer::counter() + timer::frequency();
    while !ONLINE.load(Ordering::Acquire) && timer::counter() < deadline {
        core::hint::spin_loop();
    }
    check!("psci.second-ran", "{}", ONLINE.load(Ordering::Acquire));
    let mut state = power::affinity_info(second);
    while state != 1 && timer::counter() < deadline + timer::frequency() {
        state = power::affinity_info(second);
    }
    check!("psci.affinity-info.second-after-off", "{}", state);
}
