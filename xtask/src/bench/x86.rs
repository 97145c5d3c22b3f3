//! The x86 rows of `cargo xtask bench` that boot a GRUB ISO: rtbench-x86 in VM `rt`
//! under rtvisor (tests/bench/x86.toml) on QEMU q35 (AMD-V) and on Bochs (VT-x), and
//! rtbench-x86 bare on Bochs (the VT-x rows' baseline; GRUB loads it by Multiboot2).
//!
//! ```text
//! rtvisor-svm-x86   qemu-system-x86_64 -M q35 -cpu max -smp 4 -m 2G ... -icount shift=0,sleep=off
//! bare-bochs-x86    bochs (machine.rs: sync=none, ips fixed) booting rtbench-x86.elf
//! rtvisor-vmx-x86   bochs booting the hypervisor for tests/bench/x86.toml
//! rtvisor-{svm,vmx}-direct-x86   the same for tests/bench/x86-direct.toml
//! ```
//!
//! Both clocks are instruction counts: under `-icount shift=0` the TSC counts one per
//! instruction (= 1 virtual ns); Bochs' TSC counts one per instruction of each CPU
//! whatever `ips` says (its TSC frequency is `ips`). rtbench's figures are TSC ticks,
//! so on both they are instructions on the path. On Bochs the timer period is given in
//! TSC ticks' microseconds (1 MHz), so its `period-us` is long enough for a round trip
//! through the hypervisor ([`BOCHS_PERIOD_US`]).
//!
//! The timer and IPI phases need interrupts injected into the x86 guest; until the
//! backend does that ([`INJECTION`]), the rtvisor rows run the null call only and say
//! "not measured" for the others.

use super::run::Target;
use super::{Config, Machine, ACCOUNTING_ARGS, FULL_ARGS, QUICK_ARGS};
use crate::console::Console;
use crate::util::{out_dir, rel, root, say, show};
use crate::x86::machine::{self, Emulator};
use anyhow::{ensure, Context, Result};
use rtvisor::qemu::Icount;
use std::path::Path;
use std::process::Stdio;

/// The scenario of the x86 rtvisor rows (the same on both emulators, as
/// scenarios/x86-two-vms.toml is).
pub const SCENARIO: &str = "x86.toml";
/// The scenario of the x86 direct-mode rows (LAPIC pass-through).
pub const SCENARIO_DIRECT: &str = "x86-direct.toml";

/// Whether the x86 backend injects interrupts into its guests (the timer and IPI
/// rows need it). Without it those rows are not run and are reported as such.
pub const INJECTION: bool = true;

/// Why a row of an x86 rtvisor configuration has no figure.
pub const NOT_MEASURED: &str = "not measured (no interrupt injection)";

/// The Bochs timer period: its TSC runs at `ips` (1 MHz), so 1 us is one instruction
/// of each CPU; 100 us would end before the hypervisor has handled the arming write.
pub const BOCHS_PERIOD_US: u64 = 20_000;

/// Whether configuration `name` is an x86 rtvisor row whose timer and IPI figures are
/// not measured (see [`INJECTION`]).
pub fn unmeasured(name: &str) -> bool {
    !INJECTION && name.starts_with("rtvisor-") && name.ends_with("-x86")
}

/// rtbench's bootargs for an x86 configuration: the aarch64 run's, with the Bochs
/// timer period, and without the timer and IPI phases where nothing injects.
pub fn args(machine: Machine, quick: bool) -> String {
    adapt(if quick { QUICK_ARGS } else { FULL_ARGS }, machine)
}

/// rtbench's bootargs for the accounting build's run of an x86 configuration: the
/// aarch64 accounting run's (the timer samples in the window, the null call), with the
/// Bochs timer period.
pub fn accounting_args(machine: Machine) -> String {
    adapt(ACCOUNTING_ARGS, machine)
}

/// `base` for `machine`: the Bochs timer period, no timer or IPI phase where nothing
/// injects.
fn adapt(base: &str, machine: Machine) -> String {
    let bochs = on_bochs(machine);
    base.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some(("period-us", _)) if bochs => format!("period-us={BOCHS_PERIOD_US}"),
            Some(("samples" | "ipi", _))
                if !INJECTION && matches!(machine, Machine::RtvisorX86 { .. }) =>
            {
                format!("{}=0", w.split_once('=').map_or(w, |p| p.0))
            }
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `machine` runs on Bochs.
fn on_bochs(machine: Machine) -> bool {
    matches!(
        machine,
        Machine::BareBochs
            | Machine::RtvisorX86 {
                emulator: Emulator::Bochs,
                ..
            }
    )
}

/// The two clocks' cross-check (`parse::crosscheck`) of a row's results. On Bochs
/// the TSC runs at `ips` (1 MHz): rtbench's `cnt_*` figures (the TSC read as time) are
/// 1,000 times its tick figures, and the PM timer check reads 0.016 ticks per 16 ns.
/// That is Bochs' clock, not two clocks disagreeing: those warnings are left out.
pub fn crosscheck(machine: Machine, r: &super::parse::Results) -> Vec<String> {
    let all = super::parse::crosscheck(r);
    if !on_bochs(machine) {
        return all;
    }
    all.into_iter()
        .filter(|w| !w.starts_with("timer ") && !w.starts_with("selfcheck pmc_per_16ns=0.016"))
        .collect()
}

/// Builds the ISO a configuration boots: the hypervisor for a copy of
/// tests/bench/x86.toml with the run's bootargs (target/bench/scenarios/<name>.toml,
/// ISO target/x86/<name>.iso; with `accounting`, the build with the interference
/// accounting and rtbench's window, <name>-accounting), or rtbench-x86.elf itself
/// with them on GRUB's line.
pub fn prepare(cfg: &Config, quick: bool, no_build: bool, accounting: bool) -> Result<Target> {
    let accounting = accounting && matches!(cfg.machine, Machine::RtvisorX86 { .. });
    let args = match accounting {
        true => accounting_args(cfg.machine),
        false => args(cfg.machine, quick),
    };
    let suffix = match (accounting, quick) {
        (false, false) => "",
        (false, true) => "-quick",
        (true, false) => "-accounting",
        (true, true) => "-accounting-quick",
    };
    let stem = format!("{}{suffix}", cfg.name);
    let iso = out_dir("x86")?.join(format!("{stem}.iso"));
    let emulator = match cfg.machine {
        Machine::RtvisorX86 { emulator, .. } => emulator,
        _ => Emulator::Bochs,
    };
    if no_build {
        ensure!(
            iso.is_file(),
            "{} does not exist; run without --no-build",
            rel(&iso)
        );
        return Ok(Target::X86 { iso, emulator });
    }
    let built = match cfg.machine {
        Machine::RtvisorX86 { scenario, .. } => {
            let src = root().join("tests/bench").join(scenario);
            let text =
                std::fs::read_to_string(&src).with_context(|| format!("reading {}", rel(&src)))?;
            let text = super::run::derive_scenario(&text, &root(), &args, accounting)
                .with_context(|| rel(&src))?;
            let copy = out_dir("bench/scenarios")?.join(format!("{stem}.toml"));
            std::fs::write(&copy, text).with_context(|| format!("writing {}", rel(&copy)))?;
            crate::x86::build_scenario_iso(&copy)
                .map_err(|e| e.context(format!("building the ISO for {}", rel(&src))))?
        }
        _ => {
            let elf = crate::image::x86_guest("rtbench")?;
            ensure!(
                elf.is_file(),
                "{} does not exist (cargo xtask build --guests-only)",
                rel(&elf)
            );
            crate::x86::iso::build(&elf, &args, &out_dir("x86")?, &stem)?
        }
    };
    ensure!(
        built == iso,
        "the ISO is {}, not {}",
        rel(&built),
        rel(&iso)
    );
    Ok(Target::X86 { iso, emulator })
}

/// The QEMU command of an ISO row: the x86 tests' q35 under `-icount` (the benchmark
/// scenarios plug in no devices).
pub fn qemu_command(iso: &Path) -> std::process::Command {
    let mut c = machine::qemu(iso, &[]);
    c.args(["-icount", &Icount::BENCH.to_string()]);
    c
}

/// Starts configuration `cfg` on its emulator; its console.
pub fn spawn(name: &str, iso: &Path, emulator: Emulator) -> Result<Console> {
    match emulator {
        Emulator::Qemu => {
            let mut c = qemu_command(iso);
            let line = show(&c);
            say(format!("bench {name}: {line}"));
            let child = c
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("could not start `{line}`"))?;
            Ok(Console::spawn(name, child))
        }
        Emulator::Bochs => crate::x86::spawn(Emulator::Bochs, iso, &format!("bench-{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVM: Machine = Machine::RtvisorX86 {
        scenario: SCENARIO,
        emulator: Emulator::Qemu,
    };
    const VMX: Machine = Machine::RtvisorX86 {
        scenario: SCENARIO,
        emulator: Emulator::Bochs,
    };

    #[test]
    fn bochs_rows_take_a_longer_period_and_unmeasured_phases_are_off() {
        let svm = args(SVM, false);
        let vmx = args(VMX, false);
        let bare = args(Machine::BareBochs, false);
        assert!(svm.starts_with("mode=bench period-us=100 "), "{svm}");
        assert!(
            vmx.contains(&format!("period-us={BOCHS_PERIOD_US} ")),
            "{vmx}"
        );
        assert!(bare.contains("samples=1000 hvc=1000 ipi=1000"), "{bare}");
        if INJECTION {
            assert_eq!(svm, FULL_ARGS);
        } else {
            assert!(svm.contains(" samples=0 hvc=1000 ipi=0 "), "{svm}");
            assert!(vmx.contains(" samples=0 hvc=1000 ipi=0 "), "{vmx}");
        }
        assert!(args(SVM, true).contains(" hvc=100 "), "{}", args(SVM, true));
        assert_eq!(unmeasured("rtvisor-svm-x86"), !INJECTION);
        assert!(!unmeasured("bare-bochs-x86") && !unmeasured("rtvisor-virtual"));
    }

    #[test]
    fn bochs_rows_drop_only_the_warnings_of_its_1_mhz_tsc() {
        let mut r = super::super::tests::canned("rtvisor-vmx-x86", 1220, 1220, 350, None)
            .result
            .unwrap();
        r.timer.cnt = Some([1_216_350; 3]);
        r.selfcheck = Some("0.016".into());
        assert_eq!(super::super::parse::crosscheck(&r).len(), 4);
        assert!(crosscheck(VMX, &r).is_empty());
        assert_eq!(crosscheck(SVM, &r).len(), 4);
        r.selfcheck = Some("0.000".into());
        assert_eq!(crosscheck(VMX, &r).len(), 1, "no PM timer is still said");
    }

    #[test]
    fn the_qemu_line_is_the_x86_tests_q35_under_icount() {
        let a: Vec<String> = qemu_command(Path::new("x.iso"))
            .get_args()
            .map(|a| a.to_string_lossy().into())
            .collect();
        let a = a.join(" ");
        assert!(
            a.starts_with("-M q35 -cpu max -smp 4 -m 2G -nic none "),
            "{a}"
        );
        assert!(a.ends_with("-cdrom x.iso -icount shift=0,sleep=off"), "{a}");
    }
}
