//! T2 on x86_64, bare: the x86 test guests booted by QEMU q35 itself (the PVH way,
//! `-kernel <guest>-x86.elf`), no hypervisor. They check the guests' x86 side: PVH
//! entry and long mode, COM1, ACPI (MADT CPUs, FADT power-off), the TSC and the local
//! APIC timer, INIT-SIPI-SIPI, IPIs, exceptions through the IDT.
//!
//! - `x86-rtbench-bare`: count mode on 2 CPUs (banner, boot protocol version, vCPU 1
//!   started, online with its APIC id and off again, counts 1..5, done, ACPI S5 ends
//!   QEMU with status 0); then bench mode under `-icount shift=0,sleep=off` (the
//!   benchmark's `--quick` arguments): the selfcheck, timer, hvc and ipi result lines
//!   parse as the benchmark's, and QEMU exits 0.
//! - `x86-probe-bare`: the x86 probe runs every case to `probe: done`, every line
//!   whole; the cases that mean something without a hypervisor are contained (see
//!   [`BARE_CONTAINED`]), and its last act, a triple fault, resets the machine (QEMU
//!   exits with `-no-reboot`).
//! - `x86-pvh-amd`: the hypervisor itself booted the same way, its ELF for
//!   scenarios/x86-two-vms.toml by QEMU's PVH loader instead of GRUB's Multiboot2 (the
//!   other QEMU tests boot from the ISO): the `x86-two-vms-amd` checks.

use super::Timeouts;
use crate::bench::{self, parse};
use crate::console::{Console, Pattern};
use crate::image::x86_guest;
use crate::util::{out_dir, say};
use crate::x86::X86Qemu;
use anyhow::{Context, Result};
use regex::Regex;
use rtvisor::qemu::Icount;
use std::process::Stdio;

/// One bare x86 test.
pub struct X86Test {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&Timeouts, bool) -> Result<()>,
}

pub const X86_TESTS: &[X86Test] = &[
    X86Test {
        name: "x86-rtbench-bare",
        about: "rtbench-x86.elf boots bare on QEMU q35 (PVH): starts vCPU 1 with INIT-SIPI-SIPI, counts, powers off through ACPI; bench mode under icount gives timer, hvc and ipi results",
        run: rtbench_bare,
    },
    X86Test {
        name: "x86-probe-bare",
        about: "probe-x86.elf boots bare on QEMU q35: every x86 case reports, those meaningful without a hypervisor are contained, and the final triple fault resets the machine",
        run: probe_bare,
    },
    X86Test {
        name: "x86-pvh-amd",
        about: "the hypervisor for scenarios/x86-two-vms.toml booted by QEMU's PVH loader (-kernel, the ELF's PVH note) on q35 (AMD-V): memory map, ACPI and CPUs from hvm_start_info, both VMs count side by side and power off, the shell answers",
        run: pvh_two_vms,
    },
];

/// The scenario `x86-pvh-amd` boots.
const PVH_SCENARIO: &str = "scenarios/x86-two-vms.toml";

/// The hypervisor ELF for [`PVH_SCENARIO`] (built with its ISO) by QEMU's PVH loader,
/// on the x86 tests' q35 (4 CPUs, 2 GiB).
fn pvh_command() -> Result<X86Qemu> {
    crate::image::build_x86_guests_only()?;
    let iso = crate::x86::build_scenario_iso(&crate::util::root().join(PVH_SCENARIO))?;
    let mut q = X86Qemu::bare(&iso.with_extension("elf"), "");
    q.smp = crate::x86::machine::CPUS;
    q.memory_mib = 2048;
    Ok(q)
}

pub fn pvh_two_vms(t: &Timeouts, verbose: bool) -> Result<()> {
    let name = "x86-pvh-amd";
    let q = pvh_command()?;
    // COM1 takes input: the test types at the shell.
    let mut c = spawn(name, name, &q, Stdio::piped(), verbose)?;
    for f in crate::x86::cases::line::FAILURES {
        c.fail_on(Pattern::contains(*f));
    }
    crate::x86::cases::two_vms(&mut c, t, crate::x86::machine::Emulator::Qemu)
}

/// The command lines these tests run (for `qemu-args --all` and the network rule).
pub fn commands() -> Result<Vec<(String, X86Qemu)>> {
    let mut out = vec![
        (
            "system test x86-rtbench-bare (count)".to_owned(),
            X86Qemu::bare(&x86_guest("rtbench")?, RTBENCH_COUNT_ARGS),
        ),
        (
            "system test x86-probe-bare".to_owned(),
            X86Qemu::bare(&x86_guest("probe")?, PROBE_ARGS),
        ),
    ];
    let mut bench = X86Qemu::bare(&x86_guest("rtbench")?, bench::QUICK_ARGS);
    bench.icount = Some(Icount::BENCH);
    out.push(("system test x86-rtbench-bare (bench)".to_owned(), bench));
    Ok(out)
}

const RTBENCH_COUNT_ARGS: &str = "count=5 period-us=1000 vcpus=2 then=off";
/// The probe, bare: its own RAM's last page stands in for "another VM", a hole in
/// the physical map for the hypervisor and the HPET for a device; APIC ids 8..15 do
/// not exist on the 2-CPU machine. `cr4=0`: QEMU 7.2's TCG hangs on the #GP of a
/// MOV to CR4 with a reserved bit (see the probe's `cr_tricks`).
const PROBE_ARGS: &str = "other-vm=0x1fff0000 hypervisor=0xe0000000 device=0xfed00000 \
                          foreign-apic-ids=8-15 fuzz=200 cr4=0 triple-fault";

/// Starts `q` bare (no input), with the console logged to target/systest/<log>.log
/// and failing on a guest's own error lines.
fn start(name: &str, log: &str, q: &X86Qemu, verbose: bool) -> Result<Console> {
    let mut con = spawn(name, log, q, Stdio::null(), verbose)?;
    con.fail_on(Pattern::contains("guest: "));
    Ok(con)
}

/// Starts `q` with `stdin` as its input (COM1), the console logged to
/// target/systest/<log>.log.
fn spawn(name: &str, log: &str, q: &X86Qemu, stdin: Stdio, verbose: bool) -> Result<Console> {
    let path = out_dir("systest")?.join(format!("{log}.log"));
    say(format!("T2 {name}: {}", q.line()));
    let child = q
        .command()
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{}`", q.line()))?;
    let mut con = Console::spawn(name, child);
    con.set_log_file(path);
    con.set_echo(verbose);
    Ok(con)
}

fn line(rest: &str) -> Pattern {
    Pattern::regex(&format!("^{rest}$"))
}

pub fn rtbench_bare(t: &Timeouts, verbose: bool) -> Result<()> {
    let name = "x86-rtbench-bare";
    let elf = x86_guest("rtbench")?;
    let q = X86Qemu::bare(&elf, RTBENCH_COUNT_ARGS);
    let mut c = start(name, name, &q, verbose)?;
    c.fail_on(Pattern::contains(parse::DIAG));
    c.expect(&line(r"rtbench: banner vcpus=2 el=0"), t.boot)?;
    c.expect(&line(r"rtbench: pvh version 1\.0"), t.step)?;
    c.expect(&line(r"rtbench: cpu_on vcpu 1 -> 0"), t.step)?;
    c.expect(&line(r"rtbench: vcpu 1 online apicid=0x1"), t.step)?;
    c.expect(&line(r"rtbench: vcpu 1 affinity=off"), t.step)?;
    for n in 1..=5 {
        c.expect(&line(&format!("rtbench: count {n}")), t.step)?;
    }
    c.expect(&line(r"rtbench: done, then=off"), t.step)?;
    c.expect_exit(0, t.step)?;
    drop(c);

    let mut q = X86Qemu::bare(&elf, bench::QUICK_ARGS);
    q.icount = Some(Icount::BENCH);
    let mut c = start(name, &format!("{name}-bench"), &q, verbose)?;
    c.fail_on(Pattern::contains(parse::DIAG));
    c.expect(&line(r"rtbench: banner vcpus=2 el=0"), t.boot)?;
    c.expect(&Pattern::contains(parse::DONE), t.boot)?;
    c.expect_exit(0, t.step)?;
    let own: Vec<&str> = c
        .log()
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("rtbench"))
        .collect();
    let r = parse::results(&own)
        .map_err(|e| c.fail("the benchmark's result lines", &format!("{e:#}")))?;
    if r.ipi.is_none() {
        return Err(c.fail("a `result metric=ipi` line", "none"));
    }
    if r.selfcheck.as_deref() != Some("16.000") {
        return Err(c.fail(
            "selfcheck pmc_per_16ns=16.000 (the TSC counts ns under icount)",
            &format!("{:?}", r.selfcheck),
        ));
    }
    Ok(())
}

/// The x86 probe cases that mean something bare, where no hypervisor stands between
/// the probe and the machine: each must still come out contained.
pub const BARE_CONTAINED: &[&str] = &[
    "hypercall-unknown",
    "hypercall-fuzz",
    "msr-sysenter-star",
    "cr-tricks",
    "vmx-svm-instructions",
    "cache-invd-wbinvd",
    "init-sipi-foreign",
    "ipi-flood",
    // The machine's own PIT and RTC: the reference the emulated ones are held to.
    "pc-devices",
    // The machine's own I/O APIC and COM1 (q35: version 0x20, 24 entries).
    "ioapic-com1",
];

/// Every x86 probe case, in the order it runs them.
pub const PROBE_CASES: &[&str] = &[
    "read-other-vm",
    "write-other-vm",
    "read-hypervisor",
    "read-device",
    "unclaimed-mmio",
    "hypercall-unknown",
    "hypercall-fuzz",
    "msr-efer",
    "msr-apic-base",
    "msr-sysenter-star",
    "msr-vmx-svm-control",
    "msr-unknown",
    "io-ports",
    "pc-devices",
    "cr-tricks",
    "cr0-refused",
    "cr8-tpr",
    "xsetbv-invalid",
    "vmx-svm-instructions",
    "cache-invd-wbinvd",
    "init-sipi-foreign",
    "ipi-flood",
    "ioapic-com1",
    "apic-mode-switch",
];

pub fn probe_bare(t: &Timeouts, verbose: bool) -> Result<()> {
    let name = "x86-probe-bare";
    let q = X86Qemu::bare(&x86_guest("probe")?, PROBE_ARGS);
    let mut c = start(name, name, &q, verbose)?;
    c.expect(&line("probe: banner"), t.boot)?;
    for case in PROBE_CASES {
        let p = Pattern::regex(&format!(
            r"^probe: {}: (?:contained|LEAK) \(.*\)$",
            regex::escape(case)
        ));
        c.expect(&p, t.step)?;
    }
    let done = c.expect(
        &Pattern::regex(r"^probe: done cases=(\d+) contained=(\d+)$"),
        t.step,
    )?;
    let want = format!("probe: done cases={} ", PROBE_CASES.len());
    if !c.line(done).starts_with(&want) {
        return Err(c.fail(&want, c.line(done)));
    }
    for case in BARE_CONTAINED {
        let p = Regex::new(&format!(r"^probe: {}: contained \(", regex::escape(case)))?;
        if !c.log().iter().any(|l| p.is_match(l)) {
            return Err(c.fail(
                &format!("probe: {case}: contained (meaningful bare)"),
                "it was not",
            ));
        }
    }
    let whole = Regex::new(
        r"^probe: (?:banner|[a-z0-9-]+: (?:contained|LEAK) \(.*\)|done cases=\d+ contained=\d+)$",
    )?;
    if let Some(l) = c
        .log()
        .iter()
        .find(|l| l.starts_with("probe: ") && !whole.is_match(l))
    {
        return Err(c.fail("whole probe lines", &format!("{l:?}")));
    }
    // The triple fault resets the machine; with -no-reboot QEMU exits (status 0).
    c.expect(&line("probe-diag: triple fault now"), t.step)?;
    c.expect_exit(0, t.step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_contained_cases_are_probe_cases() {
        for c in BARE_CONTAINED {
            assert!(PROBE_CASES.contains(c), "{c}");
        }
        let names: Vec<&str> = X86_TESTS.iter().map(|t| t.name).collect();
        assert!(names.iter().all(|n| n.starts_with("x86-")), "{names:?}");
    }
}
