//! rtbench's machine-readable lines (docs/interfaces-draft.md, "Benchmark protocol").
//!
//! ```text
//! rtbench: selfcheck pmc_per_16ns=<x>
//! rtbench: result metric=timer samples=<n> min_ns=<a> avg_ns=<b> max_ns=<c> cnt_min_ns=.. cnt_avg_ns=.. cnt_max_ns=..
//! rtbench: hist metric=timer bucket_ns=<w> counts=<c0>,<c1>,...
//! rtbench: result metric=hvc samples=<n> min_ns=<a> avg_ns=<b> max_ns=<c>
//! rtbench: result metric=ipi samples=<n> min_ns=<a> avg_ns=<b> max_ns=<c>
//! rtbench: result metric=smc|unknown|gicd samples=<n> min_ns=<a> avg_ns=<b> max_ns=<c>
//! rtbench: bench done
//! ```
//!
//! Under rtvisor every line carries the VM's `[rt] ` prefix; bare it has none. The
//! functions here take the lines with that prefix already removed.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;

/// What every diagnostic line starts with (after the VM prefix).
pub const DIAG: &str = "rtbench-diag: ";
/// The last line of a benchmark run.
pub const DONE: &str = "rtbench: bench done";

/// One `result` line: PMCCNTR figures, and for the timer the generic-counter ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub samples: u64,
    pub min_ns: u64,
    pub avg_ns: u64,
    pub max_ns: u64,
    /// `cnt_min_ns`, `cnt_avg_ns`, `cnt_max_ns` (timer only): 16 ns resolution.
    pub cnt: Option<[u64; 3]>,
}

/// One `hist` line: `counts[i]` latencies in `[i*bucket_ns, (i+1)*bucket_ns)`, the last
/// bucket counting everything above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hist {
    pub bucket_ns: u64,
    pub counts: Vec<u64>,
}

/// Everything one run of `rtbench mode=bench` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results {
    pub timer: Metric,
    pub hist: Hist,
    pub hvc: Metric,
    /// Absent when the guest has one vCPU or the IPI phase failed.
    pub ipi: Option<Metric>,
    /// PSCI_VERSION through SMC (only under rtvisor: bare QEMU has no SMC conduit).
    pub smc: Option<Metric>,
    /// An unknown SMCCC function id through the PSCI conduit.
    pub unknown: Option<Metric>,
    /// A read of the distributor's GICD_TYPER (emulated under rtvisor's vGIC).
    pub gicd: Option<Metric>,
    /// `pmc_per_16ns` as printed (e.g. `16.000`).
    pub selfcheck: Option<String>,
    /// The hypervisor's accounting of the RT core during the timer samples (rtvisor
    /// configurations; `super::el2`).
    pub el2: Option<super::el2::Window>,
}

/// `key=value` words after the first word; the rest of the line must be only those.
fn fields(rest: &str) -> Result<BTreeMap<&str, &str>> {
    let mut map = BTreeMap::new();
    for word in rest.split_whitespace() {
        let (k, v) = word
            .split_once('=')
            .with_context(|| format!("{word:?} is not key=value"))?;
        if map.insert(k, v).is_some() {
            bail!("{k} given twice");
        }
    }
    Ok(map)
}

/// What rtbench prints for a figure it has no honest value for (a minimum its
/// arm-time estimate clamped at 0, when the PMCCNTR/CNTVCT calibration failed).
pub const UNAVAILABLE: &str = "unavailable";

fn num(map: &BTreeMap<&str, &str>, key: &str) -> Result<u64> {
    let v = map.get(key).with_context(|| format!("no {key}="))?;
    if *v == UNAVAILABLE {
        bail!("{key} is unavailable: rtbench's PMCCNTR/CNTVCT calibration failed");
    }
    v.parse()
        .with_context(|| format!("{key}={v:?} is not a number"))
}

/// Parses `rtbench: result ...`; returns the metric name and its figures.
pub fn result_line(line: &str) -> Result<(String, Metric)> {
    let rest = line
        .strip_prefix("rtbench: result ")
        .with_context(|| format!("not a result line: {line:?}"))?;
    let map = fields(rest).with_context(|| format!("bad result line {line:?}"))?;
    let metric = map
        .get("metric")
        .with_context(|| format!("no metric= in {line:?}"))?
        .to_string();
    let cnt = if map.contains_key("cnt_min_ns") {
        Some([
            num(&map, "cnt_min_ns")?,
            num(&map, "cnt_avg_ns")?,
            num(&map, "cnt_max_ns")?,
        ])
    } else {
        None
    };
    let samples = num(&map, "samples")?;
    // With no samples (a phase not run) there is no minimum: rtbench says
    // `unavailable`, and the row is reported as not measured, never as a figure.
    let min_ns = if samples == 0 && map.get("min_ns") == Some(&UNAVAILABLE) {
        0
    } else {
        num(&map, "min_ns")?
    };
    let m = Metric {
        samples,
        min_ns,
        avg_ns: num(&map, "avg_ns")?,
        max_ns: num(&map, "max_ns")?,
        cnt,
    };
    Ok((metric, m))
}

/// Parses `rtbench: hist metric=timer bucket_ns=<w> counts=<c0>,<c1>,...`.
pub fn hist_line(line: &str) -> Result<(String, Hist)> {
    let rest = line
        .strip_prefix("rtbench: hist ")
        .with_context(|| format!("not a hist line: {line:?}"))?;
    let map = fields(rest).with_context(|| format!("bad hist line {line:?}"))?;
    let metric = map
        .get("metric")
        .with_context(|| format!("no metric= in {line:?}"))?
        .to_string();
    let bucket_ns = num(&map, "bucket_ns")?;
    let counts = map
        .get("counts")
        .with_context(|| format!("no counts= in {line:?}"))?
        .split(',')
        .map(|c| {
            c.parse::<u64>()
                .with_context(|| format!("count {c:?} is not a number"))
        })
        .collect::<Result<Vec<_>>>()?;
    if bucket_ns == 0 || counts.is_empty() {
        bail!("empty histogram in {line:?}");
    }
    Ok((metric, Hist { bucket_ns, counts }))
}

/// Collects the results from a run's protocol lines (VM prefix removed). Fails on a
/// diagnostic line, a malformed line, or a missing timer/hist/hvc figure.
pub fn results(lines: &[&str]) -> Result<Results> {
    let (mut timer, mut hist, mut hvc, mut ipi, mut selfcheck) = (None, None, None, None, None);
    let (mut smc, mut unknown, mut gicd) = (None, None, None);
    for l in lines {
        if l.starts_with(DIAG) {
            bail!("rtbench reported a problem: {l:?}");
        } else if l.starts_with("rtbench: result ") {
            let (name, m) = result_line(l)?;
            let slot = match name.as_str() {
                "timer" => &mut timer,
                "hvc" => &mut hvc,
                "ipi" => &mut ipi,
                "smc" => &mut smc,
                "unknown" => &mut unknown,
                "gicd" => &mut gicd,
                _ => continue,
            };
            if slot.replace(m).is_some() {
                bail!("metric={name} reported twice");
            }
        } else if l.starts_with("rtbench: hist ") {
            let (name, h) = hist_line(l)?;
            if name == "timer" && hist.replace(h).is_some() {
                bail!("hist metric=timer reported twice");
            }
        } else if let Some(x) = l.strip_prefix("rtbench: selfcheck pmc_per_16ns=") {
            selfcheck = Some(x.to_string());
        }
    }
    let timer: Metric = timer.ok_or_else(|| anyhow!("no `result metric=timer` line"))?;
    let hist: Hist = hist.ok_or_else(|| anyhow!("no `hist metric=timer` line"))?;
    let hvc = hvc.ok_or_else(|| anyhow!("no `result metric=hvc` line"))?;
    if timer.cnt.is_none() {
        bail!("the timer result has no cnt_*_ns figures");
    }
    let total: u64 = hist.counts.iter().sum();
    if total != timer.samples {
        bail!(
            "the timer histogram counts {total} samples, the result line {}",
            timer.samples
        );
    }
    Ok(Results {
        timer,
        hist,
        hvc,
        ipi,
        smc,
        unknown,
        gicd,
        selfcheck,
        el2: None,
    })
}

/// The cross-check of the two clocks: under icount PMCCNTR runs at 16 cycles per
/// generic-counter tick, and each generic-counter figure (16 ns resolution, read one
/// instruction after PMCCNTR) lies within one tick of the PMCCNTR figure. Returns what
/// disagrees (empty when all is consistent).
pub fn crosscheck(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    match r.selfcheck.as_deref() {
        Some("16.000") => {}
        Some("0.000") => out.push(
            "selfcheck pmc_per_16ns=0.000: no ACPI PM timer to check the TSC against".to_string(),
        ),
        Some(x) => out.push(format!("selfcheck pmc_per_16ns={x}, expected 16.000")),
        None => out.push("no selfcheck line".to_string()),
    }
    if let Some(cnt) = r.timer.cnt {
        let pmc = [r.timer.min_ns, r.timer.avg_ns, r.timer.max_ns];
        for ((name, c), p) in ["min", "avg", "max"].iter().zip(cnt).zip(pmc) {
            // cnt = 16 * floor((p + 1) / 16) for one sample; avg is a mean of those.
            if c > p + 1 || p >= c + 16 {
                out.push(format!(
                    "timer {name}: PMCCNTR {p} ns vs generic counter {c} ns (more than one tick apart)"
                ));
            }
        }
    }
    out
}

/// rtbench's own code that writes its figures, compiled here so that the tests check
/// this parser against what rtbench prints.
#[cfg(test)]
#[path = "../../../guests/rtbench/src/stats.rs"]
#[allow(dead_code)]
mod rtbench_stats;

#[cfg(test)]
mod tests {
    use super::*;

    pub const BARE: &[&str] = &[
        "rtbench: banner vcpus=2 el=1",
        "rtbench: selfcheck pmc_per_16ns=16.000",
        "rtbench: result metric=timer samples=100 min_ns=4 avg_ns=4 max_ns=4 cnt_min_ns=0 cnt_avg_ns=0 cnt_max_ns=0",
        "rtbench: hist metric=timer bucket_ns=8 counts=100,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0",
        "rtbench: result metric=hvc samples=100 min_ns=2 avg_ns=2 max_ns=2",
        "rtbench: result metric=ipi samples=50 min_ns=149 avg_ns=149 max_ns=149",
        "rtbench: bench done",
    ];

    #[test]
    fn parses_a_whole_run() {
        let r = results(BARE).unwrap();
        assert_eq!(
            r.timer,
            Metric {
                samples: 100,
                min_ns: 4,
                avg_ns: 4,
                max_ns: 4,
                cnt: Some([0, 0, 0])
            }
        );
        assert_eq!(r.hist.bucket_ns, 8);
        assert_eq!(r.hist.counts.len(), 32);
        assert_eq!(r.hist.counts[0], 100);
        assert_eq!(r.hvc.avg_ns, 2);
        assert_eq!(r.hvc.cnt, None);
        assert_eq!(r.ipi.unwrap().avg_ns, 149);
        assert_eq!(r.selfcheck.as_deref(), Some("16.000"));
        assert!(crosscheck(&r).is_empty());
    }

    #[test]
    fn parses_the_call_and_register_rows() {
        let mut lines = BARE.to_vec();
        lines.insert(
            5,
            "rtbench: result metric=smc samples=10 min_ns=60 avg_ns=61 max_ns=62",
        );
        lines.insert(
            5,
            "rtbench: result metric=unknown samples=10 min_ns=9 avg_ns=12 max_ns=20",
        );
        lines.insert(
            5,
            "rtbench: result metric=gicd samples=10 min_ns=15 avg_ns=15 max_ns=15",
        );
        let r = results(&lines).unwrap();
        assert_eq!(r.smc.map(|m| m.avg_ns), Some(61));
        assert_eq!(r.unknown.map(|m| m.max_ns), Some(20));
        assert_eq!(r.gicd.map(|m| m.samples), Some(10));
        let plain = results(BARE).unwrap();
        assert_eq!((plain.smc, plain.unknown, plain.gicd), (None, None, None));
        lines.push("rtbench: result metric=gicd samples=1 min_ns=1 avg_ns=1 max_ns=1");
        assert!(results(&lines).is_err());
    }

    #[test]
    fn ipi_is_optional_the_rest_is_not() {
        let no_ipi: Vec<&str> = BARE
            .iter()
            .copied()
            .filter(|l| !l.contains("metric=ipi"))
            .collect();
        assert_eq!(results(&no_ipi).unwrap().ipi, None);
        for gone in ["metric=timer", "metric=hvc", "hist "] {
            let lines: Vec<&str> = BARE.iter().copied().filter(|l| !l.contains(gone)).collect();
            assert!(results(&lines).is_err(), "{gone}");
        }
    }

    #[test]
    fn rejects_diag_and_malformed_lines() {
        let mut diag = BARE.to_vec();
        diag.insert(1, "rtbench-diag: gic setup failed: no redistributor");
        let e = results(&diag).unwrap_err().to_string();
        assert!(e.contains("gic setup failed"), "{e}");
        assert!(
            result_line("rtbench: result metric=hvc samples=1 min_ns=x avg_ns=1 max_ns=1").is_err()
        );
        assert!(result_line("rtbench: result metric=hvc samples=1 min_ns=1 avg_ns=1").is_err());
        assert!(result_line("rtbench: result metric=hvc samples=1 junk").is_err());
        assert!(hist_line("rtbench: hist metric=timer bucket_ns=8 counts=1,,2").is_err());
        assert!(hist_line("rtbench: hist metric=timer bucket_ns=0 counts=1").is_err());
        let mut twice = BARE.to_vec();
        twice.push(BARE[4]);
        assert!(results(&twice).is_err());
        let mut short = BARE.to_vec();
        short[3] = "rtbench: hist metric=timer bucket_ns=8 counts=99,0";
        assert!(results(&short).unwrap_err().to_string().contains("99"));
    }

    #[test]
    fn crosscheck_flags_clock_disagreement() {
        let mut r = results(BARE).unwrap();
        r.timer.cnt = Some([0, 0, 32]);
        r.selfcheck = Some("15.875".into());
        let w = crosscheck(&r);
        assert_eq!(w.len(), 2, "{w:?}");
        // 150 ns by PMCCNTR is 144 ns by the counter: consistent.
        r.timer.max_ns = 150;
        r.timer.cnt = Some([0, 0, 144]);
        r.selfcheck = Some("16.000".into());
        assert!(crosscheck(&r).is_empty());
    }

    #[test]
    fn reads_what_rtbench_prints_and_refuses_an_unavailable_minimum() {
        use super::rtbench_stats::{Figure, Stats, TimerFields};
        let stats = |v: &[u64]| {
            let mut s = Stats::new();
            v.iter().for_each(|&x| s.add(x));
            s
        };
        let line = |pmc: &Stats, cnt: &Stats, exact| {
            format!(
                "rtbench: result metric=timer {}",
                TimerFields { pmc, cnt, exact }
            )
        };
        let whole = regex::Regex::new(crate::systest::guest::WHOLE_LINE).unwrap();
        let (pmc, cnt) = (stats(&[4, 5, 9]), stats(&[0, 16, 16]));
        let exact = line(&pmc, &cnt, true);
        let (name, m) = result_line(&exact).unwrap();
        assert_eq!(name, "timer");
        let want = Metric {
            samples: 3,
            min_ns: 4,
            avg_ns: 6,
            max_ns: 9,
            cnt: Some([0, 10, 16]),
        };
        assert_eq!(m, want);
        // Estimates (calibration failed) that do not reach 0 are still figures.
        assert_eq!(result_line(&line(&pmc, &cnt, false)).unwrap().1, want);
        // An estimate clamped at 0 is no minimum: rtbench says so, the parser refuses
        // it with the reason, and the line is still one whole protocol line.
        let clamped = line(&stats(&[0, 120, 60]), &cnt, false);
        assert!(clamped.contains(" min_ns=unavailable "), "{clamped}");
        let e = result_line(&clamped).unwrap_err().to_string();
        assert!(e.contains("min_ns is unavailable"), "{e}");
        // A phase that took no sample has no minimum either; that is no error.
        let none = line(&Stats::new(), &Stats::new(), true);
        assert!(none.contains("samples=0 min_ns=unavailable "), "{none}");
        assert_eq!(result_line(&none).unwrap().1.samples, 0);
        for l in [&exact, &clamped] {
            assert!(whole.is_match(&format!("[rt] {l}")), "{l}");
        }
        // Shared memory carries an unavailable figure as all ones.
        assert_eq!(Figure(None).word(), u64::MAX);
        assert_eq!(Figure(Some(7)).word(), 7);
    }
}
