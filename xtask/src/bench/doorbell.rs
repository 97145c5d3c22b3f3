//! The doorbell round trip: tests/bench/doorbell.toml under the benchmark machine
//! (`-icount shift=0,sleep=off`, so the figure is deterministic). `ping` (virtual
//! interrupts) rings `pong` (direct interrupts) through shared memory and waits for
//! the answer's doorbell, 1000 times; rtbench reports the round trip as
//! `result metric=doorbell`. Written to target/bench/doorbell.json and added to
//! latency.md.

use super::budget::{Check, Verdict};
use super::run::{absolute_paths, command, Target};
use crate::console::{Console, Pattern};
use crate::image;
use crate::systest::hv;
use crate::util::{out_dir, rel, root, say};
use crate::x86::machine::Emulator;
use anyhow::{ensure, Context, Result};
use regex::Regex;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// One doorbell measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doorbell {
    pub samples: u64,
    pub min_ns: u64,
    pub avg_ns: u64,
    pub max_ns: u64,
}

const RESULT: &str = r"^\[ping\] rtbench: result metric=doorbell samples=(?P<n>\d+) min_ns=(?P<min>\d+) avg_ns=(?P<avg>\d+) max_ns=(?P<max>\d+)$";

/// Parses ping's result line.
pub fn parse(line: &str) -> Option<Doorbell> {
    let m = Regex::new(RESULT).ok()?.captures(line)?;
    Some(Doorbell {
        samples: m["n"].parse().ok()?,
        min_ns: m["min"].parse().ok()?,
        avg_ns: m["avg"].parse().ok()?,
        max_ns: m["max"].parse().ok()?,
    })
}

/// Builds (unless `no_build`) and boots the doorbell scenario once.
pub fn measure(dir: &Path, no_build: bool, timeout: Duration, verbose: bool) -> Result<Doorbell> {
    let src = root().join("tests/bench/doorbell.toml");
    let text = std::fs::read_to_string(&src).with_context(|| format!("reading {}", rel(&src)))?;
    let scenario = dir.join("scenarios/rtvisor-doorbell.toml");
    let img = image::Image::for_scenario(&scenario)?;
    let bin = if no_build {
        img.bin
    } else {
        std::fs::create_dir_all(dir.join("scenarios"))?;
        std::fs::write(&scenario, absolute_paths(&text, &root()))?;
        image::build_image(&scenario)?.bin
    };
    let q = command(&Target::Image { bin, scenario: src }, "")?;
    say(format!("bench doorbell: {}", q.line()));
    let mut cmd = q.command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", q.line()))?;
    let mut con = Console::spawn("bench doorbell", child);
    con.set_log_file(dir.join("rtvisor-doorbell.log"));
    con.set_echo(verbose);
    wait(con, timeout)
}

/// Waits for ping's result and pong's end on `con`; the figure.
fn wait(mut con: Console, timeout: Duration) -> Result<Doorbell> {
    for f in hv::FATAL {
        con.fail_on(Pattern::contains(*f));
    }
    con.fail_on(Pattern::contains("rtbench-diag: shm"));
    // Either VM may finish first.
    let at = con.expect_all(
        &[
            Pattern::regex(RESULT),
            Pattern::contains("[pong] rtbench: shm done"),
        ],
        timeout,
    )?;
    parse(con.line(at[0])).context("unparsable doorbell result")
}

/// The x86 rows' `--only` names: QEMU q35 (AMD-V) and Bochs (VT-x).
pub const X86: [(&str, Emulator); 2] = [
    ("doorbell-svm-x86", Emulator::Qemu),
    ("doorbell-vmx-x86", Emulator::Bochs),
];

/// Builds (unless `no_build`) tests/bench/x86-doorbell.toml's ISO, the same for both
/// emulators, and boots it once on `emulator` (QEMU under `-icount`): row `name`.
pub fn measure_x86(
    dir: &Path,
    name: &str,
    emulator: Emulator,
    no_build: bool,
    timeout: Duration,
    verbose: bool,
) -> Result<Doorbell> {
    let src = root().join("tests/bench/x86-doorbell.toml");
    let iso = out_dir("x86")?.join("rtvisor-doorbell-x86.iso");
    if !no_build && !built_x86(&iso) {
        let text =
            std::fs::read_to_string(&src).with_context(|| format!("reading {}", rel(&src)))?;
        std::fs::create_dir_all(dir.join("scenarios"))?;
        let scenario = dir.join("scenarios/rtvisor-doorbell-x86.toml");
        std::fs::write(&scenario, absolute_paths(&text, &root()))?;
        let built = crate::x86::build_scenario_iso(&scenario)?;
        ensure!(
            built == iso,
            "the ISO is {}, not {}",
            rel(&built),
            rel(&iso)
        );
        BUILT_X86.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    ensure!(
        iso.is_file(),
        "{} does not exist; run without --no-build",
        rel(&iso)
    );
    let mut con = super::x86::spawn(name, &iso, emulator)?;
    con.set_log_file(dir.join(format!("{name}.log")));
    con.set_echo(verbose);
    wait(con, timeout)
}

/// Measures the x86 doorbell rows `rows` (name, emulator), writes doorbell-x86.json;
/// whether every one ran, the markdown section, and an information row each.
pub fn x86_rows(
    dir: &Path,
    rows: &[(&'static str, Emulator)],
    opts: &super::Options,
    timeout: Duration,
) -> (bool, String, Vec<Check>) {
    let (mut ok, mut checks, mut done) = (true, Vec::new(), Vec::new());
    for &(name, emulator) in rows {
        say(format!("=== bench {name}: the x86 doorbell round trip"));
        let r = measure_x86(dir, name, emulator, opts.no_build, timeout, opts.verbose);
        let r = match r {
            Ok(d) => {
                println!(
                    "bench {name} ... ok: {} round trips, min {} avg {} max {} {}",
                    d.samples,
                    d.min_ns,
                    d.avg_ns,
                    d.max_ns,
                    unit(emulator)
                );
                checks.push(Check {
                    what: format!("{name}: round trip avg (information)"),
                    verdict: Verdict::Info,
                    detail: format!(
                        "avg {}, min {}, max {} {}",
                        d.avg_ns,
                        d.min_ns,
                        d.max_ns,
                        unit(emulator)
                    ),
                });
                Ok(d)
            }
            Err(e) => {
                println!("bench {name} ... FAILED\n{e:#}");
                ok = false;
                Err(format!("{e:#}").lines().next().unwrap_or("").to_string())
            }
        };
        done.push((name, emulator, r));
    }
    if done.is_empty() {
        return (ok, String::new(), checks);
    }
    let json: String = done
        .iter()
        .filter_map(|(n, e, r)| Some(json_x86(n, *e, r.as_ref().ok()?)))
        .collect();
    let path = dir.join("doorbell-x86.json");
    match std::fs::write(&path, json) {
        Ok(()) => say(format!("wrote {}", rel(&path))),
        Err(e) => eprintln!("[xtask] could not write {}: {e}", path.display()),
    }
    let rows: Vec<(&str, Result<Doorbell, String>)> =
        done.into_iter().map(|(n, _, r)| (n, r)).collect();
    (ok, markdown_x86(&rows), checks)
}

/// The unit of an x86 row's figures: QEMU's TSC under `-icount shift=0` counts
/// nanoseconds, Bochs' counts instructions (ticks).
fn unit(e: Emulator) -> &'static str {
    match e {
        Emulator::Qemu => "ns",
        Emulator::Bochs => "ticks",
    }
}

/// One x86 row's line of doorbell-x86.json: the figures under `min`, `avg`, `max`
/// with their `unit`.
fn json_x86(name: &str, e: Emulator, d: &Doorbell) -> String {
    format!(
        "{{\"name\": \"{name}\", \"unit\": \"{}\", \"samples\": {}, \"min\": {}, \"avg\": {}, \"max\": {}}}\n",
        unit(e),
        d.samples,
        d.min_ns,
        d.avg_ns,
        d.max_ns
    )
}

/// Whether this run built the x86 ISO already (both rows boot the same one).
static BUILT_X86: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn built_x86(iso: &Path) -> bool {
    BUILT_X86.load(std::sync::atomic::Ordering::Relaxed) && iso.is_file()
}

/// The JSON object written to doorbell.json.
pub fn json(d: &Doorbell) -> String {
    format!(
        "{{\"name\": \"rtvisor-doorbell\", \"samples\": {}, \"min_ns\": {}, \"avg_ns\": {}, \"max_ns\": {}}}\n",
        d.samples, d.min_ns, d.avg_ns, d.max_ns
    )
}

/// The markdown section of the x86 rows (`rows`: name and figure, or why none).
pub fn markdown_x86(rows: &[(&str, Result<Doorbell, String>)]) -> String {
    let mut s = String::from(
        "\n## Doorbell round trip (x86)\n\n`tests/bench/x86-doorbell.toml`: `ping` (emulated \
         local APIC) rings `pong` (LAPIC pass-through) through shared memory and waits for the \
         answer's doorbell; TSC ticks from the ring hypercall to ping's doorbell handler \
         (QEMU under `-icount`: ns; Bochs: instructions).\n\n\
         | row | samples | min | avg | max |\n|---|---:|---:|---:|---:|\n",
    );
    for (name, r) in rows {
        s += &match r {
            Ok(d) => format!(
                "| `{name}` | {} | {} | {} | {} |\n",
                d.samples, d.min_ns, d.avg_ns, d.max_ns
            ),
            Err(e) => format!("| `{name}` | failed: {e} | | | |\n"),
        };
    }
    s
}

/// The markdown section added to latency.md.
pub fn markdown(d: &Doorbell) -> String {
    format!(
        "\n## Doorbell round trip\n\n`tests/bench/doorbell.toml`: `ping` (virtual interrupts) rings `pong` \
         (direct interrupts) through shared memory and waits for the answer's doorbell; \
         PMCCNTR from the ring hypercall to ping's doorbell handler.\n\n\
         | samples | min ns | avg ns | max ns |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
        d.samples, d.min_ns, d.avg_ns, d.max_ns
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pings_result_and_nothing_else() {
        let d = parse("[ping] rtbench: result metric=doorbell samples=50 min_ns=2340 avg_ns=3820 max_ns=76354");
        assert_eq!(
            d,
            Some(Doorbell {
                samples: 50,
                min_ns: 2340,
                avg_ns: 3820,
                max_ns: 76354
            })
        );
        assert_eq!(
            parse("[pong] rtbench: result metric=doorbell samples=1 min_ns=1 avg_ns=1 max_ns=1"),
            None
        );
        assert_eq!(
            parse("[ping] rtbench: result metric=timer samples=1 min_ns=1 avg_ns=1 max_ns=1"),
            None
        );
        assert!(json(&d.unwrap()).contains("\"avg_ns\": 3820"));
    }
}
