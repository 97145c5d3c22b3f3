//! `cargo xtask bench`: the T4 latency benchmark (docs/benchmark.md).
//!
//! rtbench (`mode=bench`) runs under `qemu-system-aarch64 -cpu cortex-a72 -icount
//! shift=0,sleep=off` (1 instruction = 1 ns of virtual time, so every figure is
//! deterministic) in the configurations of [`CONFIGS`]: bare at EL1, then under rtvisor
//! with the emulated vGIC and in direct mode, each alone and next to a noisy neighbour,
//! and bare next to the neighbour's loop at three timer periods (`bare-noisy*`: what
//! the harness's round-robin scheduling does with no hypervisor, docs/benchmark.md).
//! Each boot is watched by the console expect engine until `rtbench: bench done`; its
//! `result` and `hist` lines are parsed (`parse`), the latency budgets checked
//! (`budget`), and the outputs written to target/bench/ (`report`, `svg`):
//!
//! ```text
//! latency.json   one object per configuration (name, samples, min/avg/max_ns, added_*)
//! latency.md     the table: each figure, what it adds over bare, the ratio to bare
//! <name>.svg     the timer-latency histogram        <name>.log  the raw console
//! ```
//!
//! Full runs (and `--only linux`) also boot Debian's Linux bare and under rtvisor and
//! compare the virtual time to its shell (`linuxboot`); `--only doorbell` and full runs
//! measure the doorbell round trip (`doorbell`). `--only linux-x86` boots Debian's
//! amd64 Linux on q35 (AMD-V), and `--slow` adds the slow tier, the same on Bochs
//! (VT-x, `linux-x86-intel`: about 20 wall minutes).
//!
//! `--quick` (CI, `cargo xtask test` as `bench-quick`) checks the machinery and
//! determinism only: fewer samples, `bare`, `rtvisor-virtual` and `rtvisor-direct`, each
//! booted twice, outputs in target/bench/quick/.

mod budget;
mod configs;
mod doorbell;
mod el2;
pub mod linuxboot;
pub(crate) mod parse;
mod paths;
mod report;
pub mod run;
mod size;
mod svg;
pub mod x86;

use crate::util::{out_dir, rel, say};
use crate::{image, setup};
use anyhow::{bail, Result};
use budget::{Check, Verdict};
use std::path::Path;
use std::time::Duration;

pub use configs::{Config, Machine, CONFIGS};

/// The name of the baseline configuration.
pub const BARE: &str = "bare";
/// The x86_64 baseline: rtbench-x86.elf booted bare by QEMU q35.
pub const BARE_X86: &str = "bare-x86";
/// The VT-x rows' baseline: rtbench-x86.elf booted bare by GRUB on Bochs.
pub const BARE_BOCHS_X86: &str = "bare-bochs-x86";
/// The reference for the noisy configurations: bare with the noise on the other CPUs
/// (`bare-noisy-*` are the same at other neighbour timer periods).
pub const BARE_NOISY: &str = "bare-noisy";
/// The benchmarked VM of the rtvisor scenarios (its console lines carry `[rt] `).
pub const RT_VM: &str = "rt";
/// rtbench's bootargs for a full run (also what tests/bench/*.toml hold).
pub const FULL_ARGS: &str =
    "mode=bench period-us=100 samples=1000 hvc=1000 ipi=1000 unknown=1000 gicd=1000";
/// rtbench's bootargs for `--quick`.
pub const QUICK_ARGS: &str =
    "mode=bench period-us=100 samples=100 hvc=100 ipi=50 unknown=100 gicd=100";
/// rtbench's bootargs for the accounting build's run of a full benchmark: the timer
/// samples (in the window the interference budgets read) and the null call, for the
/// accounting's cost; no IPI or other rows.
pub const ACCOUNTING_ARGS: &str =
    "mode=bench period-us=100 samples=1000 hvc=1000 ipi=0 unknown=0 gicd=0";
/// Per-boot timeouts: icount runs are slow, a hang in CI must stay cheap.
pub const FULL_TIMEOUT_S: f64 = 300.0;
pub const QUICK_TIMEOUT_S: f64 = 50.0;

/// The doorbell round trip's name for `--only` (it is measured on every full run).
pub const DOORBELL: &str = "doorbell";

/// The Linux boot rows' name for `--only` (`linuxboot`).
pub const LINUX: &str = "linux";
/// Per-boot timeout of the Linux boot rows (a Linux boot under icount is slower than
/// an rtbench run).
pub const LINUX_TIMEOUT_S: f64 = 900.0;

/// The x86 Linux boot rows' name for `--only` (`linuxboot::x86`): only run when
/// named (one boot under rtvisor takes tens of wall minutes on a busy machine).
pub const LINUX_X86: &str = "linux-x86";

/// The VT-x Linux boot rows' name for `--only` (`linuxboot::x86::intel`): the slow
/// tier, run only with `--slow` (each boot takes 10 to 20 wall minutes on Bochs).
pub const LINUX_X86_INTEL: &str = "linux-x86-intel";
/// Per-boot timeout of the VT-x Linux boot rows.
pub const LINUX_X86_INTEL_TIMEOUT_S: f64 = 3600.0;

/// Whether the run measures the VT-x Linux boot: with `--slow`, on full runs and when
/// `--only` names it.
fn wants_linux_x86_intel(opts: &Options) -> bool {
    opts.slow && full_or_named(opts, LINUX_X86_INTEL)
}

/// Whether the run measures the x86 Linux boot: `--only linux-x86`.
fn wants_linux_x86(opts: &Options) -> bool {
    !opts.quick
        && opts
            .only
            .iter()
            .flat_map(|s| s.split(','))
            .any(|n| n.trim() == LINUX_X86)
}

/// Whether the run measures the Linux boot: full runs, and `--only linux`.
fn wants_linux(opts: &Options) -> bool {
    full_or_named(opts, LINUX)
}

/// Whether a row measured outside [`CONFIGS`] runs: on full runs, and when `--only`
/// names it.
fn full_or_named(opts: &Options, name: &str) -> bool {
    !opts.quick
        && (opts.only.is_empty()
            || opts
                .only
                .iter()
                .flat_map(|s| s.split(','))
                .any(|n| n.trim() == name))
}

/// Whether the run measures the doorbell round trip: full runs, and `--only doorbell`.
fn wants_doorbell(opts: &Options) -> bool {
    full_or_named(opts, DOORBELL)
}

/// The x86 doorbell rows the run measures: full runs, and those `--only` names.
fn doorbell_x86(opts: &Options) -> Vec<(&'static str, crate::x86::machine::Emulator)> {
    doorbell::X86
        .into_iter()
        .filter(|(name, _)| full_or_named(opts, name))
        .collect()
}

/// The QEMU command lines of the x86 configurations (their own builder: q35).
pub fn x86_commands() -> Result<Vec<(String, crate::x86::X86Qemu)>> {
    let elf = image::x86_guest("rtbench")?;
    Ok(CONFIGS
        .iter()
        .filter(|c| c.machine == Machine::BareX86)
        .map(|c| {
            (
                format!("bench {}", c.name),
                run::x86_command(&elf, FULL_ARGS),
            )
        })
        .collect())
}

/// The outcome of one configuration (its first boot).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: &'static str,
    /// The results, or the first line of the failure report.
    pub result: Result<parse::Results, String>,
    pub warnings: Vec<String>,
}

pub struct Options {
    pub quick: bool,
    /// Configuration names (each may be a comma-separated list); empty = the default set.
    pub only: Vec<String>,
    /// Boot every configuration twice and compare the output (always on with `quick`).
    pub repeat: bool,
    pub timeout: Option<f64>,
    pub verbose: bool,
    pub no_build: bool,
    /// The slow tier too: the VT-x Linux boot rows on Bochs.
    pub slow: bool,
}

fn select(opts: &Options) -> Result<Vec<&'static Config>> {
    let names: Vec<&str> = opts
        .only
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for n in &names {
        let extra = [
            DOORBELL,
            doorbell::X86[0].0,
            doorbell::X86[1].0,
            LINUX,
            LINUX_X86,
            LINUX_X86_INTEL,
        ];
        if !extra.contains(n) && !CONFIGS.iter().any(|c| c.name == *n) {
            let all: Vec<&str> = CONFIGS.iter().map(|c| c.name).collect();
            bail!(
                "no configuration {n:?}; the names are {}, {}",
                all.join(", "),
                extra.join(", ")
            );
        }
        if *n == LINUX_X86_INTEL && !opts.slow {
            bail!("{LINUX_X86_INTEL} is in the slow tier: run it with --slow");
        }
    }
    Ok(CONFIGS
        .iter()
        .filter(|c| {
            if names.is_empty() {
                !opts.quick || c.quick
            } else {
                names.contains(&c.name)
            }
        })
        .collect())
}

fn qemu_version() -> String {
    std::process::Command::new(rtvisor::qemu::program())
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "QEMU (version unknown)".into())
}

fn write(path: &Path, text: &str) {
    match std::fs::write(path, text) {
        Ok(()) => say(format!("wrote {}", rel(path))),
        Err(e) => eprintln!("[xtask] could not write {}: {e}", path.display()),
    }
}

/// The first line of a failure report, without the `FAILED <name>: ` the console adds.
fn first_line(name: &str, e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let line = text.lines().next().unwrap_or("");
    line.strip_prefix(&format!("FAILED {name}: "))
        .unwrap_or(line)
        .to_string()
}

/// Runs one configuration (once, or twice with `runs == 2`); returns its outcome and
/// the determinism check when it booted twice.
fn one(
    cfg: &'static Config,
    opts: &Options,
    dir: &Path,
    args: &str,
    timeout: Duration,
    runs: usize,
) -> (Outcome, Option<Check>) {
    say(format!("=== bench {}: {}", cfg.name, cfg.about));
    let svg_path = dir.join(format!("{}.svg", cfg.name));
    let _ = std::fs::remove_file(&svg_path);
    let failed = |e: String| Outcome {
        name: cfg.name,
        result: Err(e),
        warnings: Vec::new(),
    };
    let target = match run::prepare(cfg, opts.quick, args, opts.no_build, false) {
        Ok(t) => t,
        Err(e) => {
            println!("bench {} ... FAILED (no image)\n{e:#}", cfg.name);
            return (failed(first_line(cfg.name, &e)), None);
        }
    };
    let log = dir.join(format!("{}.log", cfg.name));
    let first = run::once(cfg, &target, args, log, timeout, opts.verbose);
    let outcome = match first.result {
        Ok(r) => {
            println!("bench {} ... ok ({:.1}s)", cfg.name, first.secs);
            for w in &first.warnings {
                println!("bench {}: warning: {w}", cfg.name);
            }
            if !x86::unmeasured(cfg.name) {
                write(&svg_path, &svg::histogram(cfg.name, &r.timer, &r.hist));
            }
            Outcome {
                name: cfg.name,
                result: Ok(r),
                warnings: first.warnings,
            }
        }
        Err(e) => {
            println!("bench {} ... FAILED ({:.1}s)\n{e:#}", cfg.name, first.secs);
            return (failed(first_line(cfg.name, &e)), None);
        }
    };
    if runs < 2 {
        return (outcome, None);
    }
    let log = dir.join(format!("{}.run2.log", cfg.name));
    let second = run::once(cfg, &target, args, log, timeout, opts.verbose);
    if let Err(e) = &second.result {
        println!("bench {} (run 2) ... FAILED\n{e:#}", cfg.name);
    }
    let mut check = budget::determinism(cfg.name, &first.lines, &second.lines);
    if check.verdict != Verdict::Pass && second.result.is_ok() {
        // Seen here, rarely and only with the host busy: one run of the same bare
        // image differs from another by a few ns in one timer sample (QEMU 7.2 icount).
        // A third run decides; the mismatch stays in the report.
        println!(
            "bench {}: runs 1 and 2 differ; a third run decides",
            cfg.name
        );
        let log = dir.join(format!("{}.run3.log", cfg.name));
        let third = run::once(cfg, &target, args, log, timeout, opts.verbose);
        let agrees =
            third.result.is_ok() && (third.lines == first.lines || third.lines == second.lines);
        if agrees {
            check.verdict = Verdict::Pass;
            check.detail = format!(
                "2 of 3 runs identical (runs 1 and 2 differed: {})",
                check.detail
            );
        }
    }
    (outcome, Some(check))
}

/// Boots rtvisor configuration `cfg` once more, built with the interference
/// accounting ([`ACCOUNTING_ARGS`]), and gives its window (with that build's timer
/// and null call figures), or why there is none.
fn accounting_run(
    cfg: &'static Config,
    opts: &Options,
    dir: &Path,
    timeout: Duration,
) -> Result<el2::Window, String> {
    say(format!("=== bench {} (accounting build)", cfg.name));
    let target = run::prepare(cfg, false, ACCOUNTING_ARGS, opts.no_build, true)
        .map_err(|e| format!("no accounting image: {}", first_line(cfg.name, &e)))?;
    let log = dir.join(format!("{}.accounting.log", cfg.name));
    let r = run::once(cfg, &target, ACCOUNTING_ARGS, log, timeout, opts.verbose);
    let res = r.result.map_err(|e| {
        println!(
            "bench {} (accounting) ... FAILED ({:.1}s)\n{e:#}",
            cfg.name, r.secs
        );
        format!("accounting run: {}", first_line(cfg.name, &e))
    })?;
    let mut w = res
        .el2
        .ok_or_else(|| "accounting run: no `el2 window` line".to_string())?;
    w.build_timer = Some((res.timer.avg_ns, res.timer.max_ns));
    w.build_hvc = Some(res.hvc.avg_ns);
    println!(
        "bench {} (accounting) ... ok ({:.1}s): {} EL2 entries, own {} ns, other {} ns",
        cfg.name,
        r.secs,
        w.total(),
        w.own_ns,
        w.other_ns
    );
    Ok(w)
}

/// Runs the selected configurations, writes the outputs, prints the tables. Ok(true)
/// when every run succeeded, the output was deterministic and (without `--quick`)
/// every budget passed.
pub fn run(opts: &Options) -> Result<bool> {
    let configs = select(opts)?;
    setup::ensure_all()?;
    // The x86 Linux rows boot no guest of ours: a run of only those builds none.
    let bells_x86 = doorbell_x86(opts);
    let some_bell = wants_doorbell(opts) || !bells_x86.is_empty();
    if !opts.no_build && (!configs.is_empty() || some_bell || wants_linux(opts)) {
        image::build_guests()?;
    }
    let (dir, args) = if opts.quick {
        (out_dir("bench/quick")?, QUICK_ARGS)
    } else {
        (out_dir("bench")?, FULL_ARGS)
    };
    let secs = opts.timeout.unwrap_or(if opts.quick {
        QUICK_TIMEOUT_S
    } else {
        FULL_TIMEOUT_S
    });
    let timeout = Duration::from_secs_f64(secs);
    let runs = if opts.quick || opts.repeat { 2 } else { 1 };
    let mut outcomes = Vec::new();
    let mut checks = Vec::new();
    let mut windows = Vec::new();
    for cfg in configs {
        let (mut o, det) = one(cfg, opts, &dir, args, timeout, runs);
        // The interference budgets read an accounting build of the same configuration
        // (full runs; the default build above has no accounting, so its latency rows
        // are the product's).
        let rtvisor = matches!(
            cfg.machine,
            Machine::Rtvisor(_) | Machine::RtvisorX86 { .. }
        );
        if rtvisor && !opts.quick && o.result.is_ok() {
            match accounting_run(cfg, opts, &dir, timeout) {
                Ok(w) => {
                    if let Ok(r) = &mut o.result {
                        r.el2 = Some(w);
                    }
                }
                Err(e) => windows.push(budget::Check {
                    what: format!("{}: an accounting build's window", cfg.name),
                    verdict: Verdict::Fail,
                    detail: e,
                }),
            }
        }
        outcomes.push(o);
        checks.extend(det);
    }
    checks.extend(windows);
    let (mut budgets, enforced) = if opts.quick {
        (Vec::new(), false)
    } else {
        let mut b = budget::evaluate(&outcomes);
        b.extend(el2::evaluate(&outcomes));
        (b, true)
    };
    budgets.extend(checks);
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        if runs == 2 {
            budgets.push(budget::Check {
                what: format!("{}: identical rtbench output on two runs", o.name),
                verdict: Verdict::Fail,
                detail: "the first run failed".into(),
            });
        }
    }
    // The hypervisor's own size, of every rtvisor configuration's image (x86 ones too).
    let mut sizes: Vec<(&str, rtvisor::imagesize::Breakdown)> = outcomes
        .iter()
        .filter(|o| o.name.starts_with("rtvisor-"))
        .filter_map(|o| Some((o.name, size::of(o.name, opts.quick)?)))
        .collect();
    // Beside them, the build with every part in (information) and the checked
    // configuration's build without the shell, the deployed build the 96 KiB budget is
    // checked on (full runs that built an aarch64 image).
    if !opts.quick && !sizes.is_empty() {
        let extra = [
            (size::FULL_ROW, size::FULL_SCENARIO),
            (size::NO_SHELL_ROW, size::NO_SHELL_SCENARIO),
        ];
        for (row, scenario) in extra {
            if let Some(b) = size::built(scenario, opts.no_build) {
                sizes.push((row, b));
            }
        }
    }
    if !opts.quick {
        let ran = outcomes.iter().any(|o| o.name == size::CHECKED);
        budgets.extend(size::checks(&sizes, ran));
    }
    let how = format!(
        "{}, `-cpu cortex-a72 -icount shift=0,sleep=off`; rtbench bootargs `{args}`{}. \
         Produced by `cargo xtask bench{}`.",
        qemu_version(),
        if runs == 2 {
            "; every configuration booted twice"
        } else {
            ""
        },
        if opts.quick { " --quick" } else { "" },
    );
    let mut md = report::markdown(&outcomes, &how);
    md += &size::markdown(&sizes);
    // The full benchmark also measures the doorbell round trip (not in --quick runs,
    // nor in --only runs that do not name it).
    let mut doorbell_ok = true;
    if wants_doorbell(opts) {
        say("=== bench doorbell: round trip between a virtual-mode and a direct-mode VM");
        match doorbell::measure(&dir, opts.no_build, timeout, opts.verbose) {
            Ok(d) => {
                println!(
                    "bench doorbell ... ok: {} round trips, min {} avg {} max {} ns",
                    d.samples, d.min_ns, d.avg_ns, d.max_ns
                );
                write(&dir.join("doorbell.json"), &doorbell::json(&d));
                md += &doorbell::markdown(&d);
                budgets.push(paths::doorbell(Some(d.avg_ns)));
            }
            Err(e) => {
                println!("bench doorbell ... FAILED\n{e:#}");
                doorbell_ok = false;
                budgets.push(paths::doorbell(None));
            }
        }
    }
    // The x86 doorbell rows: information, no budget.
    let (ok, text, checks) = doorbell::x86_rows(&dir, &bells_x86, opts, timeout);
    doorbell_ok &= ok;
    md += &text;
    budgets.extend(checks);
    // The Linux boot rows (full runs, `--only linux`).
    let mut linux_ok = true;
    let mut linux_rows = Vec::new();
    if wants_linux(opts) {
        let secs = opts.timeout.unwrap_or(LINUX_TIMEOUT_S);
        match linuxboot::measure(
            &dir,
            opts.no_build,
            Duration::from_secs_f64(secs),
            opts.verbose,
        ) {
            Ok(b) => {
                linux_ok = b.rows.iter().all(|r| r.ns.is_ok());
                md += &linuxboot::markdown(&b);
                linux_rows = linuxboot::json_rows(&b);
                budgets.push(linuxboot::budget(Some(&b)));
            }
            Err(e) => {
                println!("bench linux ... FAILED\n{e:#}");
                linux_ok = false;
                budgets.push(linuxboot::budget(None));
            }
        }
    }
    if wants_linux_x86(opts) {
        let t = Duration::from_secs_f64(opts.timeout.unwrap_or(LINUX_TIMEOUT_S));
        let (ok, text, rows, checks) = linuxboot::x86::rows(&dir, opts.no_build, t, opts.verbose);
        linux_ok &= ok;
        md += &text;
        linux_rows.extend(rows);
        budgets.extend(checks);
    }
    if wants_linux_x86_intel(opts) {
        let secs = opts.timeout.unwrap_or(LINUX_X86_INTEL_TIMEOUT_S);
        let t = Duration::from_secs_f64(secs);
        let (ok, text, rows, checks) =
            linuxboot::x86::intel::rows(&dir, opts.no_build, t, opts.verbose, opts.repeat);
        linux_ok &= ok;
        md += &text;
        linux_rows.extend(rows);
        budgets.extend(checks);
    }
    if !budgets.is_empty() {
        md += "\n## Budgets\n\n";
        md += &budget::table(&budgets);
    }
    write(
        &dir.join("latency.json"),
        &linuxboot::append_json(&report::json_with_sizes(&outcomes, &sizes), &linux_rows),
    );
    write(&dir.join("latency.md"), &md);
    println!("\n{}", report::table(&outcomes));
    if !budgets.is_empty() {
        if !enforced {
            println!(
                "(--quick: only the runs and determinism are checked, not the latency budgets)"
            );
        }
        println!("{}", budget::table(&budgets));
    }
    let runs_ok = outcomes.iter().all(|o| o.result.is_ok()) && doorbell_ok && linux_ok;
    let budgets_ok = budgets.iter().all(|c| c.verdict != Verdict::Fail);
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.name)
        .collect();
    if !failed.is_empty() {
        println!(
            "failed configurations: {} (console logs: {}/<name>.log)",
            failed.join(", "),
            rel(&dir)
        );
    }
    println!(
        "bench: {} configurations, {} failed; budgets {}",
        outcomes.len(),
        failed.len(),
        if budgets_ok { "ok" } else { "FAILED" }
    );
    Ok(runs_ok && budgets_ok)
}

/// `bench-quick` of `cargo xtask test`: `cargo xtask bench --quick`.
pub fn quick_test(verbose: bool, timeout_scale: f64, no_build: bool) -> Result<()> {
    let opts = Options {
        quick: true,
        only: Vec::new(),
        repeat: true,
        timeout: Some(QUICK_TIMEOUT_S * timeout_scale),
        verbose,
        no_build,
        slow: false,
    };
    if run(&opts)? {
        Ok(())
    } else {
        bail!("cargo xtask bench --quick failed (the table above; logs in target/bench/quick/)")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::parse::{Hist, Metric, Results};
    use super::*;

    fn metric(min: u64, avg: u64, max: u64) -> Metric {
        Metric {
            samples: 100,
            min_ns: min,
            avg_ns: avg,
            max_ns: max,
            cnt: None,
        }
    }

    /// A successful outcome: timer min 4 (or avg if lower), given avg/max, hvc, ipi.
    pub fn canned(name: &'static str, avg: u64, max: u64, hvc: u64, ipi: Option<u64>) -> Outcome {
        let mut timer = metric(avg.min(4), avg, max);
        timer.cnt = Some([0, avg / 16 * 16, max / 16 * 16]);
        let mut counts = vec![0; 32];
        counts[0] = 100;
        Outcome {
            name,
            result: Ok(Results {
                timer,
                hist: Hist {
                    bucket_ns: 8,
                    counts,
                },
                hvc: metric(hvc, hvc, hvc),
                ipi: ipi.map(|i| metric(i, i, i)),
                smc: None,
                unknown: None,
                gicd: None,
                selfcheck: Some("16.000".into()),
                el2: None,
            }),
            warnings: Vec::new(),
        }
    }

    pub fn failed(name: &'static str, why: &str) -> Outcome {
        Outcome {
            name,
            result: Err(why.into()),
            warnings: Vec::new(),
        }
    }

    fn opts(quick: bool, only: &[&str]) -> Options {
        Options {
            quick,
            only: only.iter().map(|s| s.to_string()).collect(),
            repeat: false,
            timeout: None,
            verbose: false,
            no_build: true,
            slow: false,
        }
    }

    fn names(o: &Options) -> Vec<&'static str> {
        select(o).unwrap().iter().map(|c| c.name).collect()
    }

    #[test]
    fn selection() {
        assert_eq!(names(&opts(false, &[])).len(), CONFIGS.len());
        assert_eq!(
            names(&opts(true, &[])),
            ["bare", "rtvisor-virtual", "rtvisor-direct", "bare-x86"]
        );
        assert_eq!(names(&opts(false, &["bare"])), ["bare"]);
        assert_eq!(
            names(&opts(true, &["rtvisor-direct-noisy,bare"])),
            ["bare", "rtvisor-direct-noisy"]
        );
        assert!(select(&opts(false, &["nope"])).is_err());
        assert!(names(&opts(false, &["doorbell"])).is_empty());
        assert!(wants_doorbell(&opts(false, &[])));
        assert!(wants_doorbell(&opts(false, &["bare,doorbell"])));
        assert!(!wants_doorbell(&opts(false, &["bare"])));
        assert!(!wants_doorbell(&opts(true, &[])));
        assert!(names(&opts(false, &["linux"])).is_empty());
        assert!(wants_linux(&opts(false, &[])));
        assert!(wants_linux(&opts(false, &["doorbell,linux"])));
        assert!(!wants_linux(&opts(false, &["doorbell"])));
        assert!(!wants_linux(&opts(true, &[])));
        assert!(names(&opts(false, &["linux-x86"])).is_empty());
        assert!(wants_linux_x86(&opts(false, &["bare,linux-x86"])));
        assert!(!wants_linux_x86(&opts(false, &[])), "not in full runs");
        assert!(!wants_linux_x86(&opts(true, &["linux-x86"])));
        // The VT-x rows: only with --slow, on full runs or named.
        let slow = |only: &[&str]| Options {
            slow: true,
            ..opts(false, only)
        };
        assert!(
            select(&opts(false, &["linux-x86-intel"])).is_err(),
            "needs --slow"
        );
        assert!(names(&slow(&["linux-x86-intel"])).is_empty());
        assert!(wants_linux_x86_intel(&slow(&["linux-x86-intel"])));
        assert!(wants_linux_x86_intel(&slow(&[])));
        assert!(!wants_linux_x86_intel(&slow(&["linux-x86"])));
        assert!(!wants_linux_x86_intel(&opts(false, &[])));
        assert!(!wants_linux_x86_intel(&Options {
            quick: true,
            ..slow(&[])
        }));
    }

    #[test]
    fn scenario_files_exist_and_prefixes() {
        for c in CONFIGS {
            match c.machine {
                Machine::Rtvisor(f) => {
                    assert!(
                        crate::util::root().join("tests/bench").join(f).is_file(),
                        "{f}"
                    );
                    assert_eq!(c.prefix(), "[rt] ");
                }
                Machine::RtvisorX86 { scenario, .. } => {
                    assert!(
                        crate::util::root()
                            .join("tests/bench")
                            .join(scenario)
                            .is_file(),
                        "{scenario}"
                    );
                    assert!(c.name.starts_with("rtvisor-") && c.name.ends_with("-x86"));
                    assert_eq!(c.prefix(), "[rt] ");
                }
                Machine::Bare { .. } | Machine::BareX86 | Machine::BareBochs => {
                    assert_eq!(c.prefix(), "")
                }
            }
        }
    }
}
