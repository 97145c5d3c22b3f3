//! The Linux boot row of `cargo xtask bench --linux`: virtual time from QEMU's start to
//! the initramfs's ready line, bare and under rtvisor, and where the difference goes.
//!
//! The same kernel, initramfs and command line ([`BOOTARGS`]) boot three ways, each
//! under `-cpu cortex-a72 -icount shift=0,sleep=off`:
//!
//! ```text
//! linux-bare        QEMU virt at EL1, 2 CPUs, 512 MiB (the VM's CPU count and RAM)
//! linux-rtvisor     tests/bench/linux.toml: the VM alone under rtvisor
//! linux-rtvisor-rt  tests/bench/linux-rt.toml: beside the demo's RT VM
//! ```
//!
//! `/init` runs `/bin/vclock` just before its ready line (crate::linux::vclock): the
//! virtual counter, which under QEMU starts with the machine and under rtvisor has no
//! offset, so the figure is virtual time since QEMU started, hypervisor boot included.
//! The ratio is rtvisor / bare; its budget is [`RATIO_MAX_PERMILLE`].
//!
//! Then `linux-rtvisor` boots once more from an image built with the interference
//! accounting: at the ready line the hypervisor shell's `cpu stats` gives the entries
//! into EL2 by cause on each of Linux's CPUs during the boot (the breakdown).

use super::budget::{Check, Verdict};
use super::run::{absolute_paths, command, Target};
use crate::console::{Console, Pattern};
use crate::image;
use crate::linux::{self, vclock, Linux};
use crate::systest::hv;
use crate::util::{rel, root, say};
use anyhow::{anyhow, Context, Result};
use rtvisor::qemu::{Boot, CpuModel, Icount, QemuCommand};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The kernel command line of every boot (the scenarios' `bootargs` too).
pub const BOOTARGS: &str = "console=ttyAMA0 earlycon";
/// The bare machine: the VM's vCPUs and RAM.
const BARE_CPUS: u32 = 2;
const BARE_MEMORY_MIB: u64 = 512;
/// Budget: rtvisor / bare at most 1.10 (in thousandths).
pub const RATIO_MAX_PERMILLE: u64 = 1100;
/// The configuration the budget and the breakdown read.
pub const ALONE: &str = "linux-rtvisor";
pub const BARE: &str = "linux-bare";

/// One way to boot.
pub struct Setup {
    pub name: &'static str,
    /// The scenario under tests/bench/, or none for bare.
    pub scenario: Option<&'static str>,
    pub about: &'static str,
}

pub const SETUPS: &[Setup] = &[
    Setup {
        name: BARE,
        scenario: None,
        about: "the kernel at EL1 on QEMU virt, 2 CPUs, 512 MiB: the reference",
    },
    Setup {
        name: ALONE,
        scenario: Some("linux.toml"),
        about: "the same in VM linux (CPUs 1-2, 512 MiB) under rtvisor, alone",
    },
    Setup {
        name: "linux-rtvisor-rt",
        scenario: Some("linux-rt.toml"),
        about: "linux-rtvisor beside the demo's RT VM (rtbench, direct mode, CPU 3)",
    },
];

/// The vclock line, with its two hex numbers.
const VCLOCK_RE: &str = r"rtvisor-linux: vclock ticks=([0-9a-f]{16}) hz=([0-9a-f]{16})";
/// The line `/init` prints first: the same, and the kernel's uptime (its own clock,
/// which starts once the kernel has set up its timekeeping).
const INIT_RE: &str =
    r"rtvisor-linux: init vclock ticks=([0-9a-f]{16}) hz=([0-9a-f]{16}) uptime=(\d+)\.(\d\d)";

/// Where `/init` began: virtual ns since QEMU started, and the kernel's uptime then
/// (ms, 10 ms resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitAt {
    pub ns: u64,
    pub uptime_ms: u64,
}

impl InitAt {
    /// Virtual time before the kernel's clock started: firmware or hypervisor boot,
    /// loading, and the kernel's earliest setup (±10 ms: the uptime's resolution).
    pub fn before_kernel_clock_ms(&self) -> u64 {
        (self.ns / 1_000_000).saturating_sub(self.uptime_ms)
    }
}

/// Virtual ns of vclock's `ticks` at the rate it printed, or at `hz` when given (the
/// x86 program prints none).
fn nanoseconds(ticks: &str, printed_hz: &str, hz: Option<u64>) -> Option<u64> {
    match hz {
        Some(hz) => vclock::nanoseconds(ticks, &format!("{hz:x}")),
        None => vclock::nanoseconds(ticks, printed_hz),
    }
}

/// Parses the `/init` line, the counter at the rate it printed or at `hz` when given.
pub fn parse_init_at(line: &str, hz: Option<u64>) -> Option<InitAt> {
    let re = regex::Regex::new(INIT_RE).expect("valid regex");
    let c = re.captures(line)?;
    let ns = nanoseconds(&c[1], &c[2], hz)?;
    let uptime_ms = c[3].parse::<u64>().ok()? * 1000 + c[4].parse::<u64>().ok()? * 10;
    Some(InitAt { ns, uptime_ms })
}

/// One boot's figure.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: &'static str,
    /// Virtual ns from QEMU's start to the ready line, or why there is none.
    pub ns: Result<u64, String>,
    /// Where `/init` began, when the boot got there.
    pub init: Option<InitAt>,
    /// Wall seconds the boot took here (information).
    pub wall_s: f64,
}

impl Row {
    /// The row of boot `name`, which took `wall_s` wall seconds: its virtual ns and
    /// where `/init` began, or the first line of why it failed. Prints the row's
    /// `bench <name> ... ok` or `FAILED` line.
    pub fn from_boot(name: &'static str, got: Result<(u64, Option<InitAt>)>, wall_s: f64) -> Row {
        let (ns, init) = match got {
            Ok((ns, init)) => {
                println!("bench {name} ... ok: ready at {ns} virtual ns ({wall_s:.1}s)");
                (Ok(ns), init)
            }
            Err(e) => {
                println!("bench {name} ... FAILED\n{e:#}");
                let first = format!("{e:#}").lines().next().unwrap_or("").to_string();
                (Err(first), None)
            }
        };
        Row {
            name,
            ns,
            init,
            wall_s,
        }
    }
}

/// A CPU's line of `cpu stats`: its number, what it runs, entries by cause, own and
/// other ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuStats {
    pub cpu: u64,
    pub runs: String,
    pub entries: Vec<(String, u64)>,
    pub own_ns: u64,
    pub other_ns: u64,
}

/// Everything the Linux run measured.
#[derive(Debug, Clone)]
pub struct LinuxBoot {
    pub rows: Vec<Row>,
    /// The accounting build's `cpu stats` at the ready line (Linux's CPUs), or why not.
    pub breakdown: Result<Vec<CpuStats>, String>,
}

impl LinuxBoot {
    fn ns(&self, name: &str) -> Option<u64> {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.ns.as_ref().ok().copied())
    }

    /// rtvisor / bare of configuration `name`, in thousandths.
    pub fn ratio_permille(&self, name: &str) -> Option<u64> {
        self.ratio_to(name, BARE)
    }

    /// Configuration `name` over configuration `bare`, in thousandths.
    pub fn ratio_to(&self, name: &str, bare: &str) -> Option<u64> {
        let (v, b) = (self.ns(name)?, self.ns(bare)?);
        (b > 0).then(|| v * 1000 / b)
    }
}

/// The bare QEMU command: the kernel at EL1 with the VM's CPUs and RAM, no devices.
fn bare_command(l: &Linux) -> QemuCommand {
    let boot = Boot {
        kernel: l.image.clone(),
        initrd: Some(l.initramfs.clone()),
        append: Some(BOOTARGS.into()),
    };
    let mut q = QemuCommand::bare(BARE_CPUS, BARE_MEMORY_MIB, boot);
    q.cpu = CpuModel::CortexA72;
    q.icount = Some(Icount::BENCH);
    q
}

/// Builds the image of `scenario` (a file of tests/bench/), with the accounting when
/// `accounting`; returns its QEMU command.
fn rtvisor_command(
    name: &str,
    scenario: &str,
    dir: &Path,
    no_build: bool,
    accounting: bool,
) -> Result<QemuCommand> {
    let src = root().join("tests/bench").join(scenario);
    let text = std::fs::read_to_string(&src).with_context(|| format!("reading {}", rel(&src)))?;
    let mut text = absolute_paths(&text, &root());
    if accounting {
        text = text.replacen("[hypervisor]\n", "[hypervisor]\naccounting = true\n", 1);
    }
    let suffix = if accounting { "-accounting" } else { "" };
    let copy = dir.join("scenarios").join(format!("{name}{suffix}.toml"));
    let bin = if no_build {
        image::Image::for_scenario(&copy)?.bin
    } else {
        std::fs::create_dir_all(dir.join("scenarios"))?;
        std::fs::write(&copy, text).with_context(|| format!("writing {}", rel(&copy)))?;
        image::build_image(&copy)
            .map_err(|e| e.context(format!("building the image for {}", rel(&src))))?
            .bin
    };
    command(&Target::Image { bin, scenario: src }, "")
}

/// Boots `q` until the vclock line; returns the virtual ns, and with `stats` the
/// hypervisor shell's `cpu stats` at that point.
fn boot(
    name: &str,
    q: &QemuCommand,
    log: &Path,
    timeout: Duration,
    verbose: bool,
    stats: bool,
) -> Result<(u64, Option<InitAt>, Option<Vec<CpuStats>>)> {
    let b = Boot1 {
        name,
        log,
        timeout,
        verbose,
        stats,
        hz: None,
    };
    boot_command(&b, q.command(), &q.line())
}

/// One boot of [`boot_command`]: its name, console log, timeout, whether the shell's
/// `cpu stats` is read at the ready line, and the counter's rate when vclock cannot
/// print it (x86: `crate::linux::vclock_x86`).
pub struct Boot1<'a> {
    pub name: &'a str,
    pub log: &'a Path,
    pub timeout: Duration,
    pub verbose: bool,
    pub stats: bool,
    pub hz: Option<u64>,
}

/// Runs `cmd` (shown as `line`) until the vclock line: the virtual ns, where `/init`
/// began, and with `b.stats` the hypervisor shell's `cpu stats` at that point.
pub fn boot_command(
    b: &Boot1<'_>,
    mut cmd: std::process::Command,
    line: &str,
) -> Result<(u64, Option<InitAt>, Option<Vec<CpuStats>>)> {
    say(format!("bench {}: {line}", b.name));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    boot_console(b, Console::spawn(&format!("bench {}", b.name), child))
}

/// Watches the console `con` of a started machine until the vclock line: as
/// [`boot_command`] (the Bochs rows start theirs with `crate::x86::spawn_on`).
pub fn boot_console(
    b: &Boot1<'_>,
    mut con: Console,
) -> Result<(u64, Option<InitAt>, Option<Vec<CpuStats>>)> {
    let Boot1 {
        log,
        timeout,
        verbose,
        stats,
        hz,
        ..
    } = *b;
    con.set_log_file(log.to_path_buf());
    con.set_echo(verbose);
    for bad in hv::FATAL.iter().copied().chain(["Kernel panic"]) {
        con.fail_on(Pattern::contains(bad));
    }
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let init_line = con.expect(&Pattern::regex(INIT_RE), left())?;
    let init = parse_init_at(con.line(init_line), hz);
    let re = regex::Regex::new(VCLOCK_RE).expect("valid regex");
    let at = con.expect(&Pattern::Regex(re.clone()), left())?;
    let caps = re.captures(con.line(at)).expect("matched above");
    let ns = nanoseconds(&caps[1], &caps[2], hz)
        .ok_or_else(|| anyhow!("unusable vclock line {:?}", con.line(at)))?;
    if !stats {
        con.kill();
        return Ok((ns, init, None));
    }
    // Console input is the shell's (the scenario names no console-input VM).
    con.send("cpu stats\r")?;
    let head = con.expect(&Pattern::contains("[rtvisor] cpu  "), left())?;
    let end = con.expect(
        &Pattern::contains("[rtvisor] (entries from the guest"),
        left(),
    )?;
    let names = parse_heading(con.line(head))
        .ok_or_else(|| anyhow!("unusable `cpu stats` heading {:?}", con.line(head)))?;
    let rows: Vec<CpuStats> = (head + 1..end)
        .filter_map(|i| parse_stats(&names, con.line(i)))
        .collect();
    con.kill();
    Ok((ns, init, Some(rows)))
}

/// The cause names of `cpu stats`' heading (`[rtvisor] cpu  runs  call mmio ... |
/// kick ... own-ns other-ns`), in column order.
pub fn parse_heading(line: &str) -> Option<Vec<String>> {
    let rest = line.split_once("[rtvisor] ")?.1;
    let mut w = rest.split_whitespace().filter(|w| *w != "|");
    if (w.next(), w.next()) != (Some("cpu"), Some("runs")) {
        return None;
    }
    let names: Vec<String> = w.map(str::to_string).collect();
    match names.as_slice() {
        [causes @ .., own, other] if own == "own-ns" && other == "other-ns" => {
            Some(causes.to_vec())
        }
        _ => None,
    }
}

/// Parses one CPU line of `cpu stats` (`[rtvisor] 1    linux/0  3 4 ... | ... own
/// other`) under the heading's cause `names`.
pub fn parse_stats(names: &[String], line: &str) -> Option<CpuStats> {
    let rest = line.split_once("[rtvisor] ")?.1;
    let words: Vec<&str> = rest.split_whitespace().filter(|w| *w != "|").collect();
    if words.len() != 2 + names.len() + 2 {
        return None;
    }
    let num = |w: &str| w.parse::<u64>().ok();
    let cpu = num(words[0])?;
    let counts: Option<Vec<u64>> = words[2..2 + names.len()].iter().map(|w| num(w)).collect();
    Some(CpuStats {
        cpu,
        runs: words[1].to_string(),
        entries: names.iter().cloned().zip(counts?).collect(),
        own_ns: num(words[2 + names.len()])?,
        other_ns: num(words[3 + names.len()])?,
    })
}

/// Runs the Linux boot benchmark: every [`SETUPS`] entry once, then the accounting
/// build of [`ALONE`]. Console logs go to `dir/<name>.log`.
pub fn measure(dir: &Path, no_build: bool, timeout: Duration, verbose: bool) -> Result<LinuxBoot> {
    let l = linux::ensure(false)?;
    let mut rows = Vec::new();
    for s in SETUPS {
        say(format!("=== bench {}: {}", s.name, s.about));
        let start = Instant::now();
        let ns = match s.scenario {
            None => Ok(bare_command(&l)),
            Some(f) => rtvisor_command(s.name, f, dir, no_build, false),
        }
        .and_then(|q| {
            let log = dir.join(format!("{}.log", s.name));
            boot(s.name, &q, &log, timeout, verbose, false)
        });
        let wall_s = start.elapsed().as_secs_f64();
        let got = ns.map(|(ns, init, _)| (ns, init));
        rows.push(Row::from_boot(s.name, got, wall_s));
    }
    say(format!(
        "=== bench {ALONE} (accounting build): exits by cause during the boot"
    ));
    let breakdown = rtvisor_command(ALONE, "linux.toml", dir, no_build, true)
        .and_then(|q| {
            let log = dir.join(format!("{ALONE}.accounting.log"));
            boot(ALONE, &q, &log, timeout, verbose, true)
        })
        .map(|(_, _, s)| s.unwrap_or_default())
        .map_err(|e| format!("{e:#}").lines().next().unwrap_or("").to_string());
    Ok(LinuxBoot { rows, breakdown })
}

/// The budget: [`ALONE`] / bare at most [`RATIO_MAX_PERMILLE`].
pub fn budget(b: Option<&LinuxBoot>) -> Check {
    let what = format!(
        "linux boot: {ALONE} / {BARE} virtual time to the ready line <= {}.{:02}x",
        RATIO_MAX_PERMILLE / 1000,
        RATIO_MAX_PERMILLE % 1000 / 10
    );
    let Some(b) = b else {
        return Check {
            what,
            verdict: Verdict::Fail,
            detail: "not measured".into(),
        };
    };
    match b.ratio_permille(ALONE) {
        None => Check {
            what,
            verdict: Verdict::Fail,
            detail: "a boot failed".into(),
        },
        Some(r) => Check {
            what,
            verdict: if r <= RATIO_MAX_PERMILLE {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            detail: format!("{}.{:03}x", r / 1000, r % 1000),
        },
    }
}

mod report;
#[cfg(test)]
mod tests;
pub mod x86;

pub use report::{append_json, breakdown_markdown, json_rows, markdown, rows_markdown};
