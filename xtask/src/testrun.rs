//! `cargo xtask test`: host phases, then T2 system tests, then one summary line.
//!
//! The last line printed is exactly `N passed, M failed` (CI counts tests by it): one
//! test per host phase (see `unit::PHASES`) plus one per system test. The slow tier
//! (`x86::slow::TESTS`) runs only with `--slow`.

use crate::systest::x86::X86_TESTS;
use crate::systest::{self, Timeouts};
use crate::unit::PHASES;
use crate::util::say;
use crate::{bench, image, setup, x86};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::time::Instant;

/// The T4 machinery/determinism check, run after the system tests.
const BENCH_QUICK: &str = "bench-quick";

pub struct Options {
    pub filter: Option<String>,
    pub list: bool,
    pub verbose: bool,
    pub timeout_scale: f64,
    pub no_build: bool,
    /// Run the slow tier too.
    pub slow: bool,
}

fn all_names() -> Vec<&'static str> {
    PHASES
        .iter()
        .map(|p| p.name)
        .chain(systest::TESTS.iter().map(|t| t.name))
        .chain(X86_TESTS.iter().map(|t| t.name))
        .chain(x86::cases::TESTS.iter().map(|t| t.name))
        .chain(x86::slow::TESTS.iter().map(|t| t.test.name))
        .chain([BENCH_QUICK])
        .collect()
}

/// An exact name selects only that test; otherwise the filter is a substring.
pub fn selected(name: &str, filter: Option<&str>, all: &[&str]) -> bool {
    match filter {
        None => true,
        Some(f) if all.contains(&f) => name == f,
        Some(f) => name.contains(f),
    }
}

fn list() {
    for p in PHASES {
        println!("{:<14} host   {}", p.name, p.about);
    }
    for t in systest::TESTS {
        println!("{:<14} {}     {} ({})", t.name, t.tier, t.about, t.scenario);
    }
    for t in X86_TESTS {
        println!("{:<14} T2     {} (bare, QEMU q35)", t.name, t.about);
    }
    for t in x86::cases::TESTS {
        // The Linux ones say they are T3 at the start of their description.
        let (tier, about) = match t.about.strip_prefix("T3: ") {
            Some(rest) => ("T3", rest),
            None => ("T2", t.about),
        };
        println!("{:<14} {tier}     {about} ({})", t.name, t.emulator.name());
    }
    println!("{BENCH_QUICK:<14} T4     cargo xtask bench --quick: runs work, output deterministic");
    for s in x86::slow::TESTS {
        let t = &s.test;
        println!(
            "{:<14} slow   {} ({}, --slow)",
            t.name,
            t.about,
            t.emulator.name()
        );
    }
}

/// The slow tests the filter selects; without `--slow` an error when the filter
/// selects nothing but slow tests.
fn slow_selected(opts: &Options, all: &[&str]) -> Result<Vec<&'static x86::slow::SlowTest>> {
    let filter = opts.filter.as_deref();
    let slow: Vec<_> = x86::slow::TESTS
        .iter()
        .filter(|s| selected(s.test.name, filter, all))
        .collect();
    if opts.slow || slow.is_empty() {
        return Ok(if opts.slow { slow } else { Vec::new() });
    }
    let fast = all
        .iter()
        .filter(|n| !slow.iter().any(|s| s.test.name == **n))
        .any(|n| selected(n, filter, all));
    if !fast {
        bail!(
            "--filter {:?} selects only tests of the slow tier ({}): add --slow",
            filter.unwrap_or(""),
            slow.iter()
                .map(|s| s.test.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(Vec::new())
}

fn report(
    name: &str,
    start: Instant,
    result: Result<()>,
    passed: &mut usize,
    failed: &mut Vec<String>,
) {
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            println!("test {name} ... ok ({secs:.1}s)");
            *passed += 1;
        }
        Err(e) => {
            println!("test {name} ... FAILED ({secs:.1}s)\n{e:#}");
            failed.push(name.to_string());
        }
    }
}

/// Runs the selected tests; Ok(true) when all passed.
pub fn run(opts: &Options) -> Result<bool> {
    if opts.list {
        list();
        return Ok(true);
    }
    let all = all_names();
    let filter = opts.filter.as_deref();
    if !all.iter().any(|n| selected(n, filter, &all)) {
        bail!(
            "no test matches --filter {:?}; `cargo xtask test --list` shows the names",
            filter.unwrap_or("")
        );
    }
    let slow = slow_selected(opts, &all)?;
    setup::ensure_all()?;
    if let Ok(extra) = setup::extra_packages() {
        if !extra.is_empty() {
            say(format!(
                "note: {} installed, which a fresh machine lacks (QEMU only recommends \
                 them); `cargo xtask setup --fresh` removes them, as CI does",
                extra.join(", ")
            ));
        }
    }
    let (mut passed, mut failed) = (0usize, Vec::new());
    for p in PHASES.iter().filter(|p| selected(p.name, filter, &all)) {
        say(format!("=== {}: {}", p.name, p.about));
        report(p.name, Instant::now(), (p.run)(), &mut passed, &mut failed);
    }
    let t2: Vec<_> = systest::TESTS
        .iter()
        .filter(|t| selected(t.name, filter, &all))
        .collect();
    let x86: Vec<_> = X86_TESTS
        .iter()
        .filter(|t| selected(t.name, filter, &all))
        .collect();
    if !t2.is_empty() || !x86.is_empty() {
        say(format!(
            "=== system tests (T2, T3): {}",
            t2.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ));
        let timeouts = Timeouts::scaled(opts.timeout_scale);
        let guests = if opts.no_build {
            Ok(())
        } else {
            image::build_guests()
        };
        match guests {
            Err(e) => {
                let names = t2.iter().map(|t| t.name).chain(x86.iter().map(|t| t.name));
                for name in names {
                    let err = Err(anyhow::anyhow!("the guests did not build: {e:#}"));
                    report(name, Instant::now(), err, &mut passed, &mut failed);
                }
            }
            Ok(()) => {
                let mut built = HashMap::new();
                for t in &t2 {
                    say(format!("=== {}: {}", t.name, t.about));
                    let start = Instant::now();
                    let result =
                        systest::run(t, &timeouts, opts.verbose, opts.no_build, &mut built);
                    report(t.name, start, result, &mut passed, &mut failed);
                }
                for t in &x86 {
                    say(format!("=== {}: {}", t.name, t.about));
                    let start = Instant::now();
                    let result = (t.run)(&timeouts, opts.verbose);
                    report(t.name, start, result, &mut passed, &mut failed);
                }
            }
        }
    }
    let x86_tests: Vec<_> = x86::cases::TESTS
        .iter()
        .filter(|t| selected(t.name, filter, &all))
        .map(|t| (t, &x86::machine::BochsSpec::T2))
        .chain(slow.iter().map(|s| (&s.test, &s.bochs)))
        .collect();
    if !x86_tests.is_empty() {
        let timeouts = Timeouts::scaled(opts.timeout_scale);
        let mut isos = HashMap::new();
        for (t, bochs) in x86_tests {
            say(format!("=== {}: {}", t.name, t.about));
            let start = Instant::now();
            let result = x86::run_test(t, bochs, &timeouts, opts.verbose, &mut isos);
            report(t.name, start, result, &mut passed, &mut failed);
        }
    }
    if selected(BENCH_QUICK, filter, &all) {
        say(format!("=== {BENCH_QUICK}: cargo xtask bench --quick"));
        let start = Instant::now();
        let result = bench::quick_test(opts.verbose, opts.timeout_scale, opts.no_build);
        report(BENCH_QUICK, start, result, &mut passed, &mut failed);
    }
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
        println!("console logs of system tests: target/systest/<test>.log");
    }
    println!("{passed} passed, {} failed", failed.len());
    Ok(failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_win_over_substrings() {
        let all = ["unit", "two-vms", "two-vms-elf", "smp"];
        let pick = |f: Option<&str>| {
            all.iter()
                .copied()
                .filter(|n| selected(n, f, &all))
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(Some("two-vms")), ["two-vms"]);
        assert_eq!(pick(Some("two")), ["two-vms", "two-vms-elf"]);
        assert_eq!(pick(None).len(), 4);
        assert!(pick(Some("nope")).is_empty());
    }
}
