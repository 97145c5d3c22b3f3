//! The hypervisor's slow paths as rows and budgets: the IPI round trip in each mode,
//! the SMC conduit against HVC, an unknown SMCCC function id, a read of an emulated
//! distributor register (rtbench's `smc`, `unknown` and `gicd` rows), and the doorbell
//! round trip (`doorbell.rs`).
//!
//! - IPI round trip (avg): emulated vGIC at most 1,000 ns, direct at most 400 ns;
//!   direct-untrusted is reported;
//! - SMC null call (avg) within 10 ns of the HVC one, in every quiet rtvisor
//!   configuration;
//! - unknown function id (avg) at most 100 ns, in every quiet rtvisor configuration
//!   (next to a noisy neighbour QEMU runs the cores in turn under `-icount`, so a call
//!   there measures the neighbour's time slices, not the hypervisor: those rows are
//!   information);
//! - GICD_TYPER read (avg) in virtual mode at most 200 ns;
//! - doorbell round trip (avg) at most 1,000 ns (full runs only).

use super::budget::{Check, Verdict};
use super::parse::{Metric, Results};
use super::Outcome;
use std::fmt::Write;

pub const IPI_VIRTUAL_MAX_NS: u64 = 1_000;
pub const IPI_DIRECT_MAX_NS: u64 = 400;
pub const SMC_SLACK_NS: u64 = 10;
pub const UNKNOWN_MAX_NS: u64 = 100;
pub const GICD_MAX_NS: u64 = 200;
pub const DOORBELL_MAX_NS: u64 = 1_000;

fn verdict(ok: bool) -> Verdict {
    if ok {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

fn check(what: String, verdict: Verdict, detail: String) -> Check {
    Check {
        what,
        verdict,
        detail,
    }
}

/// A budget "avg of `metric` of configuration `name` at most `limit`".
fn at_most(
    outcomes: &[Outcome],
    name: &str,
    metric: &str,
    get: fn(&Results) -> Option<Metric>,
    limit: u64,
) -> Check {
    let what = format!("{name}: {metric} avg <= {limit} ns");
    match outcomes.iter().find(|o| o.name == name) {
        None => check(what, Verdict::Skip, format!("{name} not run")),
        Some(o) => match o.result.as_ref().map(get) {
            Err(_) => check(what, Verdict::Fail, format!("{name} failed")),
            Ok(None) => check(what, Verdict::Fail, format!("no {metric} figure")),
            Ok(Some(m)) => check(
                what,
                verdict(m.avg_ns <= limit),
                format!("avg {} ns", m.avg_ns),
            ),
        },
    }
}

/// The slow-path budgets on `outcomes`.
pub fn evaluate(outcomes: &[Outcome]) -> Vec<Check> {
    let mut out = vec![
        at_most(
            outcomes,
            "rtvisor-virtual",
            "ipi",
            |r| r.ipi,
            IPI_VIRTUAL_MAX_NS,
        ),
        at_most(
            outcomes,
            "rtvisor-direct",
            "ipi",
            |r| r.ipi,
            IPI_DIRECT_MAX_NS,
        ),
        at_most(outcomes, "rtvisor-virtual", "gicd", |r| r.gicd, GICD_MAX_NS),
    ];
    // The x86 rows have no SMCCC conduit or GIC: their calls are the null call only.
    let quiet = |o: &&Outcome| {
        o.name.starts_with("rtvisor-") && !super::budget::noisy(o.name) && !o.name.ends_with("-x86")
    };
    for o in outcomes.iter().filter(quiet) {
        out.push(at_most(
            outcomes,
            o.name,
            "unknown",
            |r| r.unknown,
            UNKNOWN_MAX_NS,
        ));
        let what = format!("{}: smc avg within 10 ns of hvc", o.name);
        out.push(match &o.result {
            Err(_) => check(what, Verdict::Fail, format!("{} failed", o.name)),
            Ok(Results { smc: None, .. }) => check(what, Verdict::Fail, "no smc figure".into()),
            Ok(r @ Results { smc: Some(s), .. }) => {
                let d = s.avg_ns.abs_diff(r.hvc.avg_ns);
                check(
                    what,
                    verdict(d <= SMC_SLACK_NS),
                    format!("smc {} vs hvc {} ns", s.avg_ns, r.hvc.avg_ns),
                )
            }
        });
    }
    out
}

/// The doorbell budget on a full run's round trip average (None: not measured).
pub fn doorbell(avg_ns: Option<u64>) -> Check {
    let what = format!("doorbell: round trip avg <= {DOORBELL_MAX_NS} ns");
    match avg_ns {
        None => check(what, Verdict::Fail, "not measured".into()),
        Some(a) => check(what, verdict(a <= DOORBELL_MAX_NS), format!("avg {a} ns")),
    }
}

fn avg(m: Option<Metric>) -> String {
    m.map_or_else(|| "null".to_string(), |m| m.avg_ns.to_string())
}

/// The rows' fields of one configuration in `latency.json` (avg ns, null when absent).
pub fn json_fields(r: Option<&Results>) -> Vec<(&'static str, String)> {
    vec![
        ("smc_ns", avg(r.and_then(|r| r.smc))),
        ("unknown_ns", avg(r.and_then(|r| r.unknown))),
        ("gicd_ns", avg(r.and_then(|r| r.gicd))),
    ]
}

/// The markdown table of the rows (avg ns; `-` where a configuration has none).
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from(
        "| configuration | hvc avg ns | smc avg ns | unknown id avg ns | GICD_TYPER read avg ns |\n\
         |---|---:|---:|---:|---:|\n",
    );
    let cell = |m: Option<Metric>| m.map_or_else(|| "-".to_string(), |m| m.avg_ns.to_string());
    for o in outcomes {
        if let Ok(r) = &o.result {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                o.name,
                r.hvc.avg_ns,
                cell(r.smc),
                cell(r.unknown),
                cell(r.gicd)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::canned;
    use super::*;

    fn m(avg: u64) -> Option<Metric> {
        Some(Metric {
            samples: 10,
            min_ns: avg,
            avg_ns: avg,
            max_ns: avg,
            cnt: None,
        })
    }

    fn with_rows(mut o: Outcome, smc: u64, unknown: u64, gicd: u64) -> Outcome {
        if let Ok(r) = o.result.as_mut() {
            (r.smc, r.unknown, r.gicd) = (m(smc), m(unknown), m(gicd));
        }
        o
    }

    fn verdicts(c: &[Check]) -> Vec<(String, Verdict)> {
        c.iter().map(|c| (c.what.clone(), c.verdict)).collect()
    }

    #[test]
    fn budgets_pass_and_fail_at_their_limits() {
        let good = [
            with_rows(
                canned("rtvisor-virtual", 38, 38, 57, Some(1000)),
                67,
                100,
                200,
            ),
            with_rows(canned("rtvisor-direct", 4, 4, 55, Some(400)), 45, 60, 300),
        ];
        let c = evaluate(&good);
        assert!(
            c.iter().all(|c| c.verdict == Verdict::Pass),
            "{:?}",
            verdicts(&c)
        );
        let bad = [
            with_rows(
                canned("rtvisor-virtual", 38, 38, 57, Some(1001)),
                68,
                101,
                201,
            ),
            with_rows(canned("rtvisor-direct", 4, 4, 55, Some(401)), 44, 60, 300),
        ];
        let c = evaluate(&bad);
        let failed: Vec<&str> = c
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.what.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "rtvisor-virtual: ipi avg <= 1000 ns",
                "rtvisor-direct: ipi avg <= 400 ns",
                "rtvisor-virtual: gicd avg <= 200 ns",
                "rtvisor-virtual: unknown avg <= 100 ns",
                "rtvisor-virtual: smc avg within 10 ns of hvc",
                "rtvisor-direct: smc avg within 10 ns of hvc",
            ]
        );
    }

    #[test]
    fn noisy_configurations_get_no_call_budgets() {
        let c = evaluate(&[with_rows(
            canned("rtvisor-virtual-noisy", 38, 180, 689, Some(4000)),
            921,
            1033,
            7496,
        )]);
        assert!(
            c.iter()
                .all(|c| !c.what.starts_with("rtvisor-virtual-noisy")),
            "{:?}",
            verdicts(&c)
        );
    }

    #[test]
    fn missing_rows_fail_and_unselected_configurations_skip() {
        let c = evaluate(&[canned("rtvisor-virtual", 38, 38, 57, None)]);
        let v = verdicts(&c);
        assert!(v.contains(&("rtvisor-virtual: ipi avg <= 1000 ns".into(), Verdict::Fail)));
        assert!(v.contains(&("rtvisor-direct: ipi avg <= 400 ns".into(), Verdict::Skip)));
        assert!(v.contains(&(
            "rtvisor-virtual: smc avg within 10 ns of hvc".into(),
            Verdict::Fail
        )));
        assert_eq!(doorbell(Some(1000)).verdict, Verdict::Pass);
        assert_eq!(doorbell(Some(1001)).verdict, Verdict::Fail);
        assert_eq!(doorbell(None).verdict, Verdict::Fail);
    }

    #[test]
    fn json_and_table_carry_the_rows() {
        let o = with_rows(
            canned("rtvisor-virtual", 38, 38, 57, Some(900)),
            60,
            70,
            150,
        );
        let f = json_fields(o.result.as_ref().ok());
        assert_eq!(f[0], ("smc_ns", "60".to_string()));
        assert_eq!(f[2], ("gicd_ns", "150".to_string()));
        assert_eq!(json_fields(None)[1], ("unknown_ns", "null".to_string()));
        let bare = canned("bare", 4, 4, 2, Some(161));
        let t = table(&[bare, o]);
        assert!(t.contains("| `bare` | 2 | - | - | - |"), "{t}");
        assert!(
            t.contains("| `rtvisor-virtual` | 57 | 60 | 70 | 150 |"),
            "{t}"
        );
    }
}
