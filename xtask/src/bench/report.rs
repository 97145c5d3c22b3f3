//! `latency.json` and `latency.md`: the figures of every configuration and what each
//! adds over `bare` (written by hand: a few numbers do not need a serializer).

use super::parse::{Metric, Results};
use super::Outcome;
use rtvisor::imagesize::Breakdown;
use std::fmt::Write;

/// The `bare` results among `outcomes`, if bare ran and succeeded.
pub fn bare(outcomes: &[Outcome]) -> Option<&Results> {
    results_of(outcomes, super::BARE)
}

fn results_of<'a>(outcomes: &'a [Outcome], name: &str) -> Option<&'a Results> {
    outcomes
        .iter()
        .find(|o| o.name == name)
        .and_then(|o| o.result.as_ref().ok())
}

/// What a configuration's table cells are compared with: `bare-noisy` for the rtvisor
/// configurations with a noisy neighbour (the same noise with no hypervisor),
/// `bare-x86` for the x86 ones, `bare` for the others; None for the two bare
/// baselines themselves.
pub fn baseline(name: &str) -> Option<&'static str> {
    if is_baseline(name) {
        None
    } else if name.ends_with("-x86") && (name.contains("-vmx") || name.contains("-bochs")) {
        Some(super::BARE_BOCHS_X86)
    } else if name.ends_with("-x86") {
        Some(super::BARE_X86)
    } else if name.ends_with("-noisy") && name != super::BARE_NOISY {
        Some(super::BARE_NOISY)
    } else {
        Some(super::BARE)
    }
}

/// `bare`, `bare-x86` and `bare-bochs-x86`: the figures the others are compared with.
pub fn is_baseline(name: &str) -> bool {
    name == super::BARE || name == super::BARE_X86 || name == super::BARE_BOCHS_X86
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

fn diff(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

/// The fields of the timer figures (null where the timer phase did not run).
const TIMER_KEYS: &[&str] = &[
    "samples",
    "min_ns",
    "avg_ns",
    "max_ns",
    "added_avg_ns",
    "added_max_ns",
    "over_baseline_avg_ns",
    "over_baseline_max_ns",
    "cnt_min_ns",
    "cnt_avg_ns",
    "cnt_max_ns",
];

/// `latency.json`: an array with one object per configuration, in run order. A failed
/// configuration has `"ok": false`, an `error`, and null figures.
#[cfg(test)]
pub fn json(outcomes: &[Outcome]) -> String {
    json_with_sizes(outcomes, &[])
}

/// [`json`] with each rtvisor configuration's hypervisor size (`own_size_bytes`,
/// `text_bytes`, `rodata_bytes`, `data_bytes`, `bss_bytes`; null where `sizes` has
/// none).
pub fn json_with_sizes(outcomes: &[Outcome], sizes: &[(&str, Breakdown)]) -> String {
    let base = bare(outcomes);
    let base_of = |name: &str| baseline(name).and_then(|b| results_of(outcomes, b));
    let mut s = String::from("[\n");
    for (i, o) in outcomes.iter().enumerate() {
        let mut f: Vec<(&str, String)> = vec![("name", esc(o.name))];
        // The x86 rows are added to their emulator's bare x86 figures, not the
        // aarch64 ones (a bare x86 row to itself, as `bare` is).
        let base = if o.name.ends_with("-x86") {
            results_of(outcomes, baseline(o.name).unwrap_or(o.name))
        } else {
            base
        };
        match &o.result {
            Ok(r) => {
                let t = r.timer;
                let cnt = t.cnt.unwrap_or_default();
                f.extend([
                    ("ok", "true".to_string()),
                    ("samples", t.samples.to_string()),
                    ("min_ns", t.min_ns.to_string()),
                    ("avg_ns", t.avg_ns.to_string()),
                    ("max_ns", t.max_ns.to_string()),
                    (
                        "added_avg_ns",
                        opt(base.map(|b| diff(t.avg_ns, b.timer.avg_ns))),
                    ),
                    (
                        "added_max_ns",
                        opt(base.map(|b| diff(t.max_ns, b.timer.max_ns))),
                    ),
                    ("hvc_ns", r.hvc.avg_ns.to_string()),
                    ("ipi_ns", opt(r.ipi.map(|m| m.avg_ns))),
                    ("hvc_max_ns", r.hvc.max_ns.to_string()),
                    ("baseline", opt(baseline(o.name).map(esc))),
                    (
                        "over_baseline_avg_ns",
                        opt(base_of(o.name).map(|b| diff(t.avg_ns, b.timer.avg_ns))),
                    ),
                    (
                        "over_baseline_max_ns",
                        opt(base_of(o.name).map(|b| diff(t.max_ns, b.timer.max_ns))),
                    ),
                    ("ipi_max_ns", opt(r.ipi.map(|m| m.max_ns))),
                    ("el2", super::el2::json(r.el2.as_ref())),
                    ("cnt_min_ns", cnt[0].to_string()),
                    ("cnt_avg_ns", cnt[1].to_string()),
                    ("cnt_max_ns", cnt[2].to_string()),
                    ("pmc_per_16ns", opt(r.selfcheck.as_deref().map(esc))),
                    ("bucket_ns", r.hist.bucket_ns.to_string()),
                    (
                        "hist",
                        format!(
                            "[{}]",
                            r.hist
                                .counts
                                .iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                    ),
                ]);
                f.extend(super::paths::json_fields(Some(r)));
                if super::x86::unmeasured(o.name) {
                    // Its timer phase did not run: no figures, and why.
                    for (k, v) in f.iter_mut() {
                        if TIMER_KEYS.contains(k) {
                            *v = "null".to_string();
                        }
                    }
                    f.push(("not_measured", esc(super::x86::NOT_MEASURED)));
                }
            }
            Err(e) => {
                f.push(("ok", "false".to_string()));
                f.push(("error", esc(e)));
                for k in [
                    "samples",
                    "min_ns",
                    "avg_ns",
                    "max_ns",
                    "added_avg_ns",
                    "added_max_ns",
                    "hvc_ns",
                    "ipi_ns",
                ] {
                    f.push((k, "null".to_string()));
                }
                f.extend(super::paths::json_fields(None));
            }
        }
        let size = sizes.iter().find(|(n, _)| *n == o.name).map(|(_, b)| b);
        f.extend(super::size::json_fields(size));
        let warnings: Vec<String> = o.warnings.iter().map(|w| esc(w)).collect();
        f.push(("warnings", format!("[{}]", warnings.join(", "))));
        s += "  {\n";
        for (j, (k, v)) in f.iter().enumerate() {
            let comma = if j + 1 < f.len() { "," } else { "" };
            let _ = writeln!(s, "    {}: {v}{comma}", esc(k));
        }
        s += if i + 1 < outcomes.len() {
            "  },\n"
        } else {
            "  }\n"
        };
    }
    s += "]\n";
    s
}

/// One figure with what it adds over bare and the ratio to bare (when bare is not 0).
pub fn cell(v: u64, bare: Option<u64>, is_bare: bool) -> String {
    match bare {
        Some(b) if !is_bare => {
            let d = diff(v, b);
            let ratio = if b > 0 {
                format!(", {:.1}x", v as f64 / b as f64)
            } else {
                String::new()
            };
            format!("{v} ({d:+}{ratio})")
        }
        _ => v.to_string(),
    }
}

fn metric_cell(m: Option<&Metric>, b: Option<&Metric>, is_bare: bool) -> String {
    match m {
        Some(m) => cell(m.avg_ns, b.map(|b| b.avg_ns), is_bare),
        None => "-".to_string(),
    }
}

/// The markdown table (only the table, so docs can paste it as it is).
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from(
        "| configuration | samples | timer min ns | timer avg ns | timer max ns | hvc avg ns | ipi avg ns |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let is_bare = is_baseline(o.name);
        let base = baseline(o.name).and_then(|b| results_of(outcomes, b));
        match &o.result {
            Ok(r) if super::x86::unmeasured(o.name) => {
                let not = super::x86::NOT_MEASURED;
                let _ = writeln!(
                    s,
                    "| `{}` | {not} | | | | {} | {not} |",
                    o.name,
                    metric_cell(Some(&r.hvc), base.map(|b| &b.hvc), is_bare),
                );
            }
            Ok(r) => {
                let t = r.timer;
                let bt = base.map(|b| b.timer);
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {} | {} | {} |",
                    o.name,
                    t.samples,
                    cell(t.min_ns, bt.map(|b| b.min_ns), is_bare),
                    cell(t.avg_ns, bt.map(|b| b.avg_ns), is_bare),
                    cell(t.max_ns, bt.map(|b| b.max_ns), is_bare),
                    metric_cell(Some(&r.hvc), base.map(|b| &b.hvc), is_bare),
                    metric_cell(r.ipi.as_ref(), base.and_then(|b| b.ipi.as_ref()), is_bare),
                );
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or("").replace('|', "\\|");
                let _ = writeln!(s, "| `{}` | failed: {first} | | | | | |", o.name);
            }
        }
    }
    s
}

/// `latency.md`: a heading, how the figures were taken, the table, and any warnings.
pub fn markdown(outcomes: &[Outcome], how: &str) -> String {
    let mut s = String::from("# rtvisor latency benchmark\n\n");
    s += how;
    s += "\n\nVirtual nanoseconds (1 instruction = 1 ns under `-icount shift=0,sleep=off`). \
          Each figure is followed by (what it adds over its baseline, its ratio to the \
          baseline): `bare-noisy` for the rtvisor configurations with a noisy \
          neighbour, `bare` for the others; the ratio is left out where the baseline \
          is 0.\n\n";
    s += &table(outcomes);
    s += "\nCalls and an emulated register, avg ns: PSCI_VERSION through HVC and through SMC, \
          an unknown SMCCC function id, a read of GICD_TYPER (bare QEMU has no SMC \
          conduit).\n\n";
    s += &super::paths::table(outcomes);
    let el2 = super::el2::table(outcomes);
    if el2.lines().count() > 2 {
        s += "\nWhat the hypervisor did on the RT core during the timer samples \
              (its interference accounting, from a second run of each configuration built \
              with `[hypervisor] accounting = true`, whose own timer and null call \
              figures are the last two columns; own = on behalf \
              of the rt VM, other = anyone else):\n\n";
        s += &el2;
    }
    let warned: Vec<&Outcome> = outcomes.iter().filter(|o| !o.warnings.is_empty()).collect();
    if !warned.is_empty() {
        s += "\nWarnings:\n\n";
        for o in warned {
            for w in &o.warnings {
                let _ = writeln!(s, "- `{}`: {w}", o.name);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::{canned, failed};
    use super::*;

    #[test]
    fn json_has_every_field_and_the_added_figures() {
        let outs = [
            canned("bare", 4, 4, 2, Some(149)),
            canned("rtvisor-virtual", 100, 140, 90, None),
            failed("rtvisor-direct", "timed out \"waiting\""),
        ];
        let j = json(&outs);
        assert!(j.starts_with("[\n  {\n    \"name\": \"bare\",\n"), "{j}");
        assert!(j.contains("\"added_avg_ns\": 96,\n"), "{j}");
        assert!(j.contains("\"added_max_ns\": 136,\n"), "{j}");
        assert!(j.contains("\"hvc_ns\": 90,\n"), "{j}");
        assert!(j.contains("\"ipi_ns\": null,\n"), "{j}");
        assert!(j.contains("\"ipi_ns\": 149,\n"), "{j}");
        assert!(
            j.contains("\"error\": \"timed out \\\"waiting\\\"\""),
            "{j}"
        );
        assert!(j.contains("\"hist\": [100,0,"), "{j}");
        assert_eq!(j.matches("\"name\"").count(), 3);
        assert!(j.ends_with("  }\n]\n"));
        // Balanced braces and no trailing commas before a closing brace.
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert!(!j.contains(",\n  }"));
        // Without bare there is nothing to add to.
        let j = json(&outs[1..2]);
        assert!(j.contains("\"added_avg_ns\": null"), "{j}");
    }

    #[test]
    fn x86_rows_are_compared_with_bare_x86() {
        assert_eq!(baseline("bare-x86"), None);
        assert_eq!(baseline("rtvisor-svm-x86"), Some("bare-x86"));
        let outs = [
            canned("bare", 4, 4, 2, Some(161)),
            canned("bare-x86", 40, 40, 8, Some(150)),
            canned("rtvisor-svm-x86", 100, 140, 90, None),
        ];
        let j = json(&outs);
        let x86 = &j[j.find("\"name\": \"bare-x86\"").unwrap()..];
        assert!(x86.contains("\"added_avg_ns\": 0,\n"), "{j}");
        let svm = &j[j.find("\"name\": \"rtvisor-svm-x86\"").unwrap()..];
        if super::super::x86::INJECTION {
            assert!(svm.contains("\"added_avg_ns\": 60,\n"), "{j}");
        } else {
            assert!(svm.contains("\"added_avg_ns\": null,\n"), "{j}");
        }
        // canned(): timer min is the smaller of avg and 4.
        assert!(table(&outs).contains("| `bare-x86` | 100 | 4 | 40 | 40 | 8 | 150 |"));
    }

    #[test]
    fn vmx_rows_are_compared_with_bochs_bare_and_unmeasured_rows_say_so() {
        assert_eq!(baseline("bare-bochs-x86"), None);
        assert_eq!(baseline("rtvisor-vmx-x86"), Some("bare-bochs-x86"));
        assert_eq!(baseline("rtvisor-svm-x86"), Some("bare-x86"));
        let outs = [
            canned("bare-x86", 40, 40, 8, Some(150)),
            canned("bare-bochs-x86", 30, 30, 6, Some(120)),
            canned("rtvisor-vmx-x86", 0, 0, 90, None),
        ];
        let j = json(&outs);
        let vmx = &j[j.find("\"name\": \"rtvisor-vmx-x86\"").unwrap()..];
        assert!(vmx.contains("\"baseline\": \"bare-bochs-x86\""), "{j}");
        if !super::super::x86::INJECTION {
            assert!(
                vmx.contains("\"samples\": null,\n    \"min_ns\": null,"),
                "{j}"
            );
            assert!(vmx.contains("\"not_measured\": \"not measured"), "{j}");
        }
        let t = table(&outs);
        if super::super::x86::INJECTION {
            assert!(
                t.contains("| `rtvisor-vmx-x86` | 100 | 0 (-4, 0.0x) |"),
                "{t}"
            );
        } else {
            assert!(
                t.contains(
                    "| `rtvisor-vmx-x86` | not measured (no interrupt injection) | | | | \
                     90 (+84, 15.0x) | not measured (no interrupt injection) |"
                ),
                "{t}"
            );
        }
    }

    #[test]
    fn noisy_rows_are_compared_with_bare_noisy() {
        assert_eq!(baseline("bare"), None);
        assert_eq!(baseline("rtvisor-direct"), Some("bare"));
        assert_eq!(baseline("bare-noisy"), Some("bare"));
        assert_eq!(baseline("bare-noisy-7us"), Some("bare"));
        assert_eq!(baseline("rtvisor-direct-noisy"), Some("bare-noisy"));
        let outs = [
            canned("bare", 4, 4, 2, Some(149)),
            canned("bare-noisy", 4, 900, 2, Some(3000)),
            canned("rtvisor-direct-noisy", 4, 1000, 60, Some(4000)),
        ];
        let t = table(&outs);
        assert!(
            t.contains("| `bare-noisy` | 100 | 4 (+0, 1.0x) | 4 (+0, 1.0x) | 900 (+896, 225.0x) |"),
            "{t}"
        );
        assert!(t.contains("| `rtvisor-direct-noisy` | 100 | 4 (+0, 1.0x) | 4 (+0, 1.0x) | 1000 (+100, 1.1x) |"), "{t}");
        let j = json(&outs);
        assert!(j.contains("\"baseline\": \"bare-noisy\",\n    \"over_baseline_avg_ns\": 0,\n    \"over_baseline_max_ns\": 100,"), "{j}");
        assert!(j.contains("\"added_max_ns\": 996,"), "{j}");
    }

    #[test]
    fn markdown_shows_figures_added_and_ratio() {
        assert_eq!(cell(150, Some(4), false), "150 (+146, 37.5x)");
        assert_eq!(cell(2, Some(0), false), "2 (+2)");
        assert_eq!(cell(4, Some(4), true), "4");
        assert_eq!(cell(3, None, false), "3");
        let outs = [
            canned("bare", 4, 4, 2, Some(149)),
            canned("rtvisor-direct", 4, 5, 80, Some(160)),
            failed("rtvisor-virtual", "rtbench reported a problem | x\nmore"),
        ];
        let md = markdown(&outs, "how");
        assert!(
            md.contains("| `bare` | 100 | 4 | 4 | 4 | 2 | 149 |"),
            "{md}"
        );
        assert!(
            md.contains("| `rtvisor-direct` | 100 | 4 (+0, 1.0x) | 4 (+0, 1.0x) | 5 (+1, 1.2x) | 80 (+78, 40.0x) | 160 (+11, 1.1x) |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| `rtvisor-virtual` | failed: rtbench reported a problem \\| x | | | | | |"
            ),
            "{md}"
        );
        assert!(!md.contains("more"));
    }
}
