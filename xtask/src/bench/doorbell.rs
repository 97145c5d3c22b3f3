//! The doorbell round trip: tests/bench/doorbell.toml under the benchmark machine
//! (`-icount shift=0,sleep=off`, so the figure is deterministic). `ping` (virtual
//! interrupts) rings `pong` (direct interrupts) through shared memory and waits for
//! the answer's doorbell, 1000 times; rtbench reports the round trip as
//! `result metric=doorbell`. Written to target/bench/doorbell.json and added to
//! latency.md.

use super::run::{absolute_paths, command, Target};
use crate::console::{Console, Pattern};
use crate::image;
use crate::systest::hv;
use crate::util::{rel, root, say};
use anyhow::{Context, Result};
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

/// The JSON object written to doorbell.json.
pub fn json(d: &Doorbell) -> String {
    format!(
        "{{\"name\": \"rtvisor-doorbell\", \"samples\": {}, \"min_ns\": {}, \"avg_ns\": {}, \"max_ns\": {}}}\n",
        d.samples, d.min_ns, d.avg_ns, d.max_ns
    )
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
