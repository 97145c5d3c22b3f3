//! T2 system tests: a scenario boots under QEMU and its console is matched.
//!
//! Each test names a scenario in `tests/scenarios/`; the runner builds the image for
//! it, boots QEMU in captured mode, and hands the console to the test function (in
//! `systest/cases.rs`, `ipc.rs`, `shell.rs`, `linux.rs`). The full console of each
//! test goes to `target/systest/<test>.log`.
//!
//! The console strings that tests match are all in [`hv`] (what the hypervisor prints)
//! and [`guest`] (the guest protocol of docs/interfaces-draft.md), so a change of
//! wording is a change in one place.

mod boot;
pub(crate) mod cases;
mod colors;
mod conform;
mod cpustats;
mod fatal;
mod ipc;
mod linux;
mod linux_colors;
pub(crate) mod shell;
mod takeback;
mod timers;
mod uboot;
pub mod x86;

use crate::console::{Console, Pattern};
use crate::image::{self, Image};
use crate::qemu;
use crate::util::{out_dir, root, say};
use anyhow::{ensure, Result};
use rtvisor::qemu::{ConsoleMode, QemuCommand};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// What the hypervisor prints (the contract with crates/hypervisor and crates/core).
pub mod hv {
    use super::Pattern;
    use regex::escape;

    /// `[rtvisor] vm <name>: stopped (<reason>)` — a VM stopped (SYSTEM_OFF or a fault).
    pub fn stopped(vm: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[rtvisor\] vm {}: stopped \(.*\)$", escape(vm)))
    }
    /// `[rtvisor] vm <name>: restarting (<reason>)` — SYSTEM_RESET of one VM.
    pub fn restarting(vm: &str) -> Pattern {
        Pattern::regex(&format!(
            r"^\[rtvisor\] vm {}: restarting \(.*\)$",
            escape(vm)
        ))
    }
    /// `[rtvisor] vm <name>: restarting (<reason>)` for one reason.
    pub fn restarting_for(vm: &str, reason: &str) -> Pattern {
        Pattern::contains(format!("[rtvisor] vm {vm}: restarting ({reason})"))
    }
    /// `[rtvisor] vm <name>: stopped (<reason>)`, confirmed by every vCPU in time.
    pub fn stopped_for(vm: &str, reason: &str) -> Pattern {
        Pattern::regex(&format!(
            r"^\[rtvisor\] vm {}: stopped \({}\)$",
            escape(vm),
            escape(reason)
        ))
    }
    /// A stop or restart some vCPU of the VM did not acknowledge in time.
    pub fn unresponsive(vm: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[rtvisor\] vm {}: unresponsive", escape(vm)))
    }
    /// The last vCPU of an unresponsive VM parked after all.
    pub fn stopped_late(vm: &str) -> Pattern {
        Pattern::regex(&format!(
            r"^\[rtvisor\] vm {}: stopped \(.*\): its last vCPU parked late$",
            escape(vm)
        ))
    }
    /// Printed once when the last VM stopped on a machine without a shell, just before
    /// it powers off.
    pub fn all_stopped() -> Pattern {
        Pattern::contains("[rtvisor] all VMs stopped and this image has no shell: powering off")
    }
    /// Printed when the last VM stopped and a shell runs: the hypervisor stays up.
    pub fn none_running() -> Pattern {
        Pattern::contains("[rtvisor] no VM is running; the shell stays up")
    }
    /// `[rtvisor] FATAL: <what>`: the hypervisor stopped for good.
    pub fn fatal(what: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[rtvisor\] FATAL: {}$", escape(what)))
    }
    /// The first contained fault of a VM, in full, at `warn`.
    pub fn first_fault(vm: &str) -> Pattern {
        Pattern::regex(&format!(
            r"^\[rtvisor\] vm {}: .* injected, at PC 0x[0-9a-f]+ \(later faults of this VM are counted",
            escape(vm)
        ))
    }
    /// A count of a VM's later contained faults (one line a second at most, and one
    /// when it stops).
    pub fn more_faults(vm: &str) -> Pattern {
        Pattern::regex(&format!(
            r"^\[rtvisor\] vm {}: [0-9]+ more contained faults",
            escape(vm)
        ))
    }
    /// Any of these fails a test at once (a hypervisor panic or fatal exception).
    pub const FATAL: &[&str] = &[
        "[rtvisor] FATAL",
        "[rtvisor] fatal",
        "[rtvisor] panic",
        "[rtvisor] all CPUs halted",
    ];
}

/// The guest console protocol (docs/interfaces-draft.md), with the `[vm] ` prefix.
pub mod guest {
    use super::Pattern;
    use regex::escape;

    /// The probe cases, each reported as `probe: <case>: contained (<how>)`, in the
    /// order guests/probe runs them (all of them run with tests/scenarios/probe.toml);
    /// the last, `sustained-storm`, repeats the floods for `storm-ms`.
    pub const PROBE_CASES: &[&str] = &[
        "read-other-vm",
        "write-other-vm",
        "read-hypervisor",
        "read-device",
        "hvc-unknown",
        "smc-unknown",
        "sysreg-trapped",
        "sysreg-debug",
        "hvc-fuzz",
        "smc-fuzz",
        "doorbell-flood",
        "ro-shm-write",
        "unmapped-platform-bus",
        "unmapped-gicd-end",
        "unmapped-gich",
        "unmapped-gits",
        "unmapped-pl011-end",
        "unmapped-doorbell-end",
        "unmapped-fwcfg",
        "unmapped-pcie-ecam",
        "unmapped-ram-below",
        "unmapped-ipa-top",
        "unmapped-ipa-limit",
        "unmapped-pa-limit",
        "unmapped-va-top",
        "unmapped-gicr-other",
        "unmapped-ram-end",
        "unmapped-hypervisor",
        "unmapped-device",
        "unmapped-fetch",
        "unmapped-fetch-mmio",
        "unmapped-fetch-ipa-limit",
        "unmapped-fetch-other-vm",
        "fetch-ro-shm",
        "sysreg-el2",
        "sysreg-impdef",
        "sgi-group0",
        "sgi-alias",
        "pmu-own",
        "lr-underflow",
        "cache-setway",
        "tlbi-flood",
        "wfx-storm",
        "sgi-flood",
        "sustained-storm",
    ];

    /// Every well-formed line of either guest; a line that mentions a guest protocol
    /// but does not match this whole was torn or interleaved.
    pub const WHOLE_LINE: &str = concat!(
        r"^\[(?P<vm>[A-Za-z0-9_.-]+)\] (?:rtbench: (?:",
        r"banner vcpus=\d+ el=[012]|(?:psci|pvh) version \d+\.\d+|cpu_on vcpu \d+ -> -?\d+",
        r"|vcpu \d+ online (?:mpidr|apicid)=(?:0x)?[0-9a-fA-F]+|vcpu \d+ affinity=(?:on|off|on-pending)",
        r"|count \d+|done, then=(?:off|reset|hang)|counter at-boot-us=\d+|string-io rep (?:outsb|insb (?:ok|mismatch|unsupported))",
        r"|selfcheck pmc_per_16ns=\d+\.\d+|stray irqs=\d+|bench done",
        r"|result metric=[a-z]+ samples=\d+ min_ns=(?:\d+|unavailable) avg_ns=\d+ max_ns=\d+(?: cnt_min_ns=\d+ cnt_avg_ns=\d+ cnt_max_ns=\d+)?",
        r"|hist metric=[a-z]+ bucket_ns=\d+ counts=[0-9,]+)",
        r"|probe: (?:banner|[a-z0-9-]+: (?:contained|LEAK) \(.*\)|done cases=\d+ contained=\d+))$",
    );

    fn line(vm: &str, rest: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[{}\] {rest}$", escape(vm)))
    }
    /// rtbench's banner, running at EL1 (a guest must never see EL2).
    pub fn banner(vm: &str) -> Pattern {
        line(vm, r"rtbench: banner vcpus=\d+ el=1")
    }
    pub fn banner_vcpus(vm: &str, k: u32) -> Pattern {
        line(vm, &format!("rtbench: banner vcpus={k} el=1"))
    }
    pub fn psci_version(vm: &str, major: u32, minor: u32) -> Pattern {
        line(vm, &format!(r"rtbench: psci version {major}\.{minor}"))
    }
    pub fn cpu_on(vm: &str, vcpu: u32, ret: i64) -> Pattern {
        line(vm, &format!("rtbench: cpu_on vcpu {vcpu} -> {ret}"))
    }
    /// Captures `mpidr` (hex, optional 0x).
    pub fn online(vm: &str, vcpu: u32) -> Pattern {
        line(
            vm,
            &format!(r"rtbench: vcpu {vcpu} online mpidr=(?:0x)?(?P<mpidr>[0-9a-fA-F]+)"),
        )
    }
    pub fn affinity(vm: &str, vcpu: u32, state: &str) -> Pattern {
        line(vm, &format!("rtbench: vcpu {vcpu} affinity={state}"))
    }
    pub fn count(vm: &str, n: u64) -> Pattern {
        line(vm, &format!("rtbench: count {n}"))
    }
    /// Any count; captures `n`.
    pub fn count_any(vm: &str) -> Pattern {
        line(vm, r"rtbench: count (?P<n>\d+)")
    }
    pub fn done(vm: &str) -> Pattern {
        line(vm, r"rtbench: done, then=(?:off|reset|hang)")
    }
    pub fn probe_banner(vm: &str) -> Pattern {
        line(vm, "probe: banner")
    }
    /// The takeback probe waits for a command on its console.
    pub fn probe_ready(vm: &str) -> Pattern {
        line(vm, "probe: ready")
    }
    /// The takeback probe holds vCPU `vcpu` after `case`.
    pub fn holding(vm: &str, case: &str, vcpu: u32) -> Pattern {
        line(vm, &format!("probe: holding {} vcpu={vcpu}", escape(case)))
    }
    pub fn contained(vm: &str, case: &str) -> Pattern {
        line(vm, &format!(r"probe: {}: contained \(.*\)", escape(case)))
    }
    pub fn probe_diag(vm: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[{}\] probe-diag: ", escape(vm)))
    }
    pub fn leak(vm: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[{}\] probe: .*: LEAK", escape(vm)))
    }
    /// Captures `cases` and `contained`.
    pub fn probe_done(vm: &str) -> Pattern {
        line(
            vm,
            r"probe: done cases=(?P<cases>\d+) contained=(?P<contained>\d+)",
        )
    }
}

/// How long a test waits. `boot` is for the first guest line, `step` for each later
/// awaited line. Both scale with `--timeout-scale` for slow or loaded machines.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub boot: Duration,
    pub step: Duration,
}

impl Timeouts {
    pub fn scaled(factor: f64) -> Timeouts {
        Timeouts {
            boot: Duration::from_secs_f64(90.0 * factor),
            step: Duration::from_secs_f64(30.0 * factor),
        }
    }
}

/// What a test changes in its board's QEMU machine.
#[derive(Debug, Clone, Copy)]
pub struct Tweak {
    /// This CPU count instead of the board's (a machine smaller than the board).
    pub smp: Option<u32>,
    /// Semihosting on or off, whatever the board says.
    pub semihosting: Option<bool>,
    /// Debian's U-Boot (`cargo xtask u-boot`) as the machine's firmware (`-bios`): the
    /// image reaches it through QEMU's fw_cfg (`-kernel`), and the test starts it with
    /// U-Boot's `booti`, as on a board.
    pub u_boot: bool,
}

/// The board's machine as it is.
pub const BOARD: Tweak = Tweak {
    smp: None,
    semihosting: None,
    u_boot: false,
};

/// One system test.
pub struct SysTest {
    pub name: &'static str,
    /// `T2` (bare-metal guests) or `T3` (the Debian Linux guest).
    pub tier: &'static str,
    /// Scenario file, relative to the repository.
    pub scenario: &'static str,
    /// Boots the Debian guest of `cargo xtask linux`: its files (the disk the
    /// scenario's `[[qemu-device]]` names among them) are made before the image is built.
    pub linux: bool,
    /// Boot the ELF form of the image instead of the raw Image.
    pub elf: bool,
    /// How its QEMU differs from the board's machine ([`BOARD`]: not at all).
    pub qemu: Tweak,
    pub about: &'static str,
    pub run: fn(&mut Console, &Timeouts) -> Result<()>,
}

/// The table of system tests (the scenarios they use are described in systest/cases.rs).
pub const TESTS: &[SysTest] = &[
    SysTest {
        name: "two-vms",
        tier: "T2",
        scenario: "tests/scenarios/two-vms.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "two VMs on their own cores print whole prefixed lines, count to 6 and stop; the shell stays up",
        run: cases::two_vms,
    },
    SysTest {
        name: "two-vms-elf",
        tier: "T2",
        scenario: "tests/scenarios/two-vms.toml",
        linux: false,
        elf: true,
        qemu: BOARD,
        about: "two-vms, booting the ELF form of the image",
        run: cases::two_vms,
    },
    SysTest {
        name: "colors",
        tier: "T2",
        scenario: "tests/scenarios/colors.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "two VMs with RAM of disjoint cache colors check all of it side by side; mem map shows their colors",
        run: colors::colors,
    },
    SysTest {
        name: "smp",
        tier: "T2",
        scenario: "tests/scenarios/smp.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "a 2-vCPU VM starts vCPU 1 with PSCI CPU_ON; both report; the shell stays up after it stopped",
        run: cases::smp,
    },
    SysTest {
        name: "probe",
        tier: "T2",
        scenario: "tests/scenarios/probe.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "the hostile probe (44 attacks) is contained every time; the victim RT VM keeps its timer cycle, with no stray interrupt",
        run: cases::probe,
    },
    SysTest {
        name: "off-one",
        tier: "T2",
        scenario: "tests/scenarios/off-one.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "SYSTEM_OFF of one VM leaves the other running; with no CPU free for a shell, QEMU exits 0 once both stopped",
        run: cases::off_one,
    },
    SysTest {
        name: "irq-isolation",
        tier: "T2",
        scenario: "tests/scenarios/irq-isolation.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "two VMs take timer interrupts at their own rates; the probe's SGI flood reaches neither (virtual and direct mode)",
        run: cases::irq_isolation,
    },
    // Next to irq-isolation: both have three VMs, built with the small code model
    // (`contract::aarch64::tiny_code_model`), so the hypervisor's crates are rebuilt
    // for the other model once, not four times.
    SysTest {
        name: "cpu-stats",
        tier: "T2",
        scenario: "tests/scenarios/cpu-stats.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "an accounting build's `cpu stats`: the columns parse, the RT cores count their own entries and time and nothing on anyone else's behalf, `cpu stats reset` starts again from zero",
        run: cpustats::cpu_stats_test,
    },
    SysTest {
        name: "irq-restart",
        tier: "T2",
        scenario: "tests/scenarios/irq-restart.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "a VM restart leaves no stale interrupt; a direct-mode VM is stopped and restarted by the hypervisor",
        run: cases::irq_restart,
    },
    SysTest {
        name: "shell",
        tier: "T2",
        scenario: "tests/scenarios/shell.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "the hypervisor shell lists, stops, starts and restarts VMs typed on the console (DEL, escape sequences, an overlong paste); it stays up when the last VM is stopped",
        run: shell::shell,
    },
    SysTest {
        name: "reset-one",
        tier: "T2",
        scenario: "tests/scenarios/reset-one.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "SYSTEM_RESET restarts one VM; the other counts on undisturbed",
        run: cases::reset_one,
    },
    SysTest {
        name: "shm",
        tier: "T2",
        scenario: "tests/scenarios/shm.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "two VMs (virtual and direct mode) pass data both ways through shared memory and doorbells; a read-only mapping refuses writes",
        run: ipc::shm,
    },
    SysTest {
        name: "watchdog",
        tier: "T2",
        scenario: "tests/scenarios/watchdog.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "a VM that stops kicking its watchdog is restarted; vm list shows the reason",
        run: ipc::watchdog,
    },
    SysTest {
        name: "fatal-exit",
        tier: "T2",
        scenario: "tests/scenarios/two-vms.toml",
        linux: false,
        elf: false,
        qemu: Tweak {
            smp: Some(2),
            semihosting: None,
            u_boot: false,
        },
        about: "a scenario that needs CPU 3 on a 2-CPU QEMU: the FATAL line, then QEMU exits with the failure status",
        run: fatal::fatal_exit,
    },
    SysTest {
        name: "fatal-nested",
        tier: "T2",
        scenario: "tests/scenarios/two-vms.toml",
        linux: false,
        elf: false,
        qemu: Tweak {
            smp: Some(2),
            semihosting: Some(false),
            u_boot: false,
        },
        about: "fatal-exit on a QEMU without semihosting: the exit call faults inside the FATAL path, which reports that once and halts",
        run: fatal::fatal_nested,
    },
    SysTest {
        name: "takeback-untrusted",
        tier: "T2",
        scenario: "tests/scenarios/takeback-untrusted.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "an untrusted direct-mode guest cannot keep its cores: after every attack on the GIC priorities it is restarted, stopped or watchdogged",
        run: takeback::untrusted,
    },
    SysTest {
        name: "takeback-trusted",
        tier: "T2",
        scenario: "tests/scenarios/takeback-trusted.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "a trusted direct-mode guest: contained but for a written ICC_AP1R0_EL1, which is reported unresponsive and never restarted over",
        run: takeback::trusted,
    },
    SysTest {
        name: "takeback-virtual",
        tier: "T2",
        scenario: "tests/scenarios/takeback-virtual.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "the takeback attacks against a virtual-mode guest: all contained",
        run: takeback::virtual_mode,
    },
    SysTest {
        name: "boot-placement",
        tier: "T2",
        scenario: "tests/scenarios/boot-placement.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "an arm64 Image (guests/bootinfo) is loaded and gets its device tree where bare QEMU's -kernel puts them (fdt above its stack); the virtual counter offset is 0 unless asked",
        run: boot::placement,
    },
    SysTest {
        name: "conform-virtual",
        tier: "T2",
        scenario: "tests/scenarios/conform-virtual.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "the conformance guest (timers, GIC, PSCI, debug, PMU, device tree) prints the same checks as a VM in virtual interrupt mode as bare on QEMU",
        run: conform::virtual_mode,
    },
    SysTest {
        name: "conform-direct",
        tier: "T2",
        scenario: "tests/scenarios/conform-direct.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "the conformance guest prints the same checks as a VM in direct interrupt mode as bare on QEMU",
        run: conform::direct_mode,
    },
    SysTest {
        name: "timers",
        tier: "T2",
        scenario: "tests/scenarios/timers.toml",
        linux: false,
        elf: false,
        qemu: BOARD,
        about: "a guest's EL1 timers in a virtual-mode and a direct-mode VM, as bare QEMU shows them: the virtual timer's line pending at the GIC with its PPI disabled, the physical timer's TVAL/CVAL, its PPI 30 interrupt and pending state",
        run: timers::timers,
    },
    SysTest {
        name: "linux",
        tier: "T3",
        scenario: "scenarios/demo.toml",
        linux: true,
        elf: false,
        qemu: BOARD,
        about: "the demo: Debian's Linux answers on its console beside rt, reboots and powers off alone; boot time against bare",
        run: linux::demo,
    },
    SysTest {
        name: "linux-colors",
        tier: "T3",
        scenario: "tests/scenarios/linux-colors.toml",
        linux: true,
        elf: false,
        qemu: BOARD,
        about: "Debian's Linux in 192 MiB of cache colors 8-31 beside rt in colors 2-7, the hypervisor's tables in colors 0-1: every stage-2 RAM page and table page checked at boot, Linux's shell, mem map, poweroff -f stops Linux alone",
        run: linux_colors::linux_colors,
    },
    SysTest {
        name: "u-boot",
        tier: "T3",
        scenario: "tests/scenarios/u-boot.toml",
        linux: true,
        elf: false,
        qemu: BOARD,
        about: "Debian's U-Boot as a VM beside rt: version, bdinfo, fdt print and saveenv at its prompt, then Debian's kernel loaded from the virtio disk and booted with booti to the shell; reboot -f and reset restart only that VM",
        run: uboot::u_boot,
    },
    SysTest {
        name: "booted-by-u-boot",
        tier: "T3",
        scenario: "scenarios/demo.toml",
        linux: true,
        elf: false,
        qemu: Tweak {
            smp: None,
            semihosting: None,
            u_boot: true,
        },
        about: "Debian's U-Boot as QEMU's firmware (EL2) loads the demo's image from fw_cfg and starts it with booti; Linux and rt come up",
        run: uboot::booted,
    },
];

/// The QEMU command of test `t` booting `img`: its scenario's board machine, captured.
pub fn command(t: &SysTest, img: &Image) -> Result<QemuCommand> {
    let scenario = root().join(t.scenario);
    let mut q = qemu::for_scenario(&scenario, img.pick(t.elf), ConsoleMode::Captured)?;
    if let Some(smp) = t.qemu.smp {
        q.smp = smp;
    }
    if let Some(on) = t.qemu.semihosting {
        q.semihosting = on;
    }
    if t.qemu.u_boot {
        let bios = crate::uboot::binary_path()?;
        q.extra.push("-bios".into());
        q.extra.push(bios.display().to_string());
    }
    Ok(q)
}

/// Runs one system test; the error is a complete failure report. With `no_build`, the
/// image already in target/images/ is booted as it is.
pub fn run(
    t: &SysTest,
    timeouts: &Timeouts,
    verbose: bool,
    no_build: bool,
    built: &mut HashMap<PathBuf, Image>,
) -> Result<()> {
    let scenario = root().join(t.scenario);
    let failed =
        |what: String| move |e: anyhow::Error| e.context(format!("FAILED {}: {what}", t.name));
    if t.linux {
        crate::linux::ensure(false).map_err(failed("making the Linux guest".into()))?;
    }
    if t.qemu.u_boot || crate::uboot::needed_by(&scenario) {
        crate::uboot::ensure(false).map_err(failed("making the U-Boot guest".into()))?;
    }
    let img = match built.get(&scenario) {
        Some(img) => img.clone(),
        None if no_build => Image::for_scenario(&scenario)?,
        None => {
            ensure!(
                scenario.is_file(),
                "FAILED {}: scenario {} does not exist",
                t.name,
                t.scenario
            );
            let img = image::build_image(&scenario)
                .map_err(failed(format!("building the image for {}", t.scenario)))?;
            built.insert(scenario.clone(), img.clone());
            img
        }
    };
    let q = command(t, &img)?;
    let log = out_dir("systest")?.join(format!("{}.log", t.name));
    say(format!("{} {}: {}", t.tier, t.name, q.line()));
    let child = qemu::spawn_captured(&q)?;
    let mut con = Console::spawn(t.name, child);
    con.set_log_file(log);
    con.set_echo(verbose);
    for f in hv::FATAL {
        con.fail_on(Pattern::contains(*f));
    }
    (t.run)(&mut con, timeouts)?;
    // Dropping the console kills QEMU (if it still runs) and writes the log.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_line_protocol_regex() {
        let re = regex::Regex::new(guest::WHOLE_LINE).unwrap();
        for ok in [
            "[rt] rtbench: banner vcpus=1 el=1",
            "[gp] rtbench: banner vcpus=2 el=0",
            "[gp] rtbench: pvh version 1.0",
            "[gp] rtbench: vcpu 1 online apicid=0x1",
            "[smp] rtbench: cpu_on vcpu 1 -> 0",
            "[smp] rtbench: cpu_on vcpu 1 -> -2",
            "[smp] rtbench: vcpu 1 online mpidr=0x80000001",
            "[gp] rtbench: done, then=off",
            "[probe] probe: read-other-vm: contained (data abort injected)",
            "[probe] probe: done cases=7 contained=7",
        ] {
            assert!(re.is_match(ok), "{ok}");
        }
        for torn in [
            "[rt] rtbench: cou[gp] rtbench: count 3",
            "[rt] rtbench: count 3 [gp]",
            "rtbench: count 1",
        ] {
            assert!(!re.is_match(torn), "{torn}");
        }
    }

    #[test]
    fn contract_patterns() {
        assert!(hv::stopped("a").is_match("[rtvisor] vm a: stopped (SYSTEM_OFF)"));
        assert!(!hv::stopped("a").is_match("[rtvisor] vm ab: stopped (SYSTEM_OFF)"));
        assert!(hv::restarting("a").is_match("[rtvisor] vm a: restarting (SYSTEM_RESET)"));
        assert!(guest::count_any("b").is_match("[b] rtbench: count 12"));
        assert!(!guest::count("b", 1).is_match("[b] rtbench: count 12"));
        assert!(!guest::banner("rt").is_match("[rt] rtbench: banner vcpus=1 el=2"));
        assert!(guest::leak("probe").is_match("[probe] probe: read-device: LEAK (read 0x1234)"));
        let names: Vec<&str> = TESTS.iter().map(|t| t.name).collect();
        let mut dedup = names.clone();
        dedup.dedup();
        assert_eq!(names, dedup);
    }

    #[test]
    fn only_the_booted_by_u_boot_test_gives_qemu_firmware() {
        for t in TESTS {
            let img = Image::for_scenario(&root().join(t.scenario)).unwrap();
            let args = command(t, &img).unwrap().args();
            let bios = args.iter().position(|a| a == "-bios");
            assert_eq!(bios.is_some(), t.name == "booted-by-u-boot", "{}", t.name);
            if let Some(i) = bios {
                assert!(
                    args[i + 1].ends_with("target/u-boot/u-boot.bin"),
                    "{args:?}"
                );
                // The image still comes with -kernel: QEMU hands it to U-Boot by fw_cfg.
                assert!(args.iter().any(|a| a == "-kernel"), "{args:?}");
            }
        }
    }
}
