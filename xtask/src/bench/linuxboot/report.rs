//! The Linux boot rows' outputs: the markdown section of latency.md (the rows, and
//! the accounting build's entries by cause) and the objects of latency.json.

use super::{CpuStats, LinuxBoot, Row, ALONE, BARE, BOOTARGS};
use std::fmt::Write as _;

fn ratio_text(b: &LinuxBoot, name: &str) -> String {
    match (name == BARE, b.ratio_permille(name)) {
        (true, _) => "1.000".into(),
        (false, Some(r)) => format!("{}.{:03}", r / 1000, r % 1000),
        (false, None) => "-".into(),
    }
}

/// The markdown section added to latency.md: the rows and the breakdown.
pub fn markdown(b: &LinuxBoot) -> String {
    let head = format!(
        "\n## Linux boot\n\nDebian's arm64 kernel and the busybox initramfs, command line \
         `{BOOTARGS}`: virtual time from QEMU's start to `/init`'s ready line (`/bin/vclock`), \
         ratio to bare; `/init` starts at (and the kernel's own uptime then): the kernel's \
         part; before the kernel's clock: firmware or hypervisor boot and loading, and the \
         kernel's earliest setup (the uptime has 10 ms resolution).\n\n"
    );
    head + &rows_markdown(&b.rows, &|name| ratio_text(b, name))
        + &breakdown_markdown(ALONE, &b.breakdown)
}

/// The rows' table, each row's ratio from `ratio`.
pub fn rows_markdown(rows: &[Row], ratio: &dyn Fn(&str) -> String) -> String {
    let mut s = String::from(
        "| configuration | ready at (virtual ms) | ratio | /init at (ms) | kernel uptime then (ms) \
         | before the kernel's clock (ms) | wall s |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let ms = match &r.ns {
            Ok(ns) => format!("{}.{:03}", ns / 1_000_000, ns % 1_000_000 / 1000),
            Err(e) => format!("failed: {e}"),
        };
        let (at, up, before) = match r.init {
            Some(i) => (
                format!("{}", i.ns / 1_000_000),
                i.uptime_ms.to_string(),
                i.before_kernel_clock_ms().to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {ms} | {} | {at} | {up} | {before} | {:.1} |",
            r.name,
            ratio(r.name),
            r.wall_s
        );
    }
    s
}

/// The accounting build's entries by cause on each CPU of configuration `name`.
pub fn breakdown_markdown(name: &str, breakdown: &Result<Vec<CpuStats>, String>) -> String {
    let mut s = String::new();
    match breakdown {
        Ok(rows) => {
            let _ = write!(
                s,
                "\nEntries into the hypervisor during the boot ({name}, accounting build, \
                 `cpu stats` at the ready line):\n\n| cpu | runs | entries (nonzero causes) | \
                 own ms | other ms |\n|---|---|---|---:|---:|\n"
            );
            for c in rows {
                let nz: Vec<String> = c
                    .entries
                    .iter()
                    .filter(|e| e.1 > 0)
                    .map(|(k, n)| format!("{k}={n}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.3} | {:.3} |",
                    c.cpu,
                    c.runs,
                    if nz.is_empty() {
                        "none".into()
                    } else {
                        nz.join(" ")
                    },
                    c.own_ns as f64 / 1e6,
                    c.other_ns as f64 / 1e6
                );
            }
        }
        Err(e) => {
            let _ = writeln!(s, "\nNo breakdown: {e}");
        }
    }
    s
}

/// The objects added to latency.json (one per configuration, `kind` "linux-boot").
pub fn json_rows(b: &LinuxBoot) -> Vec<String> {
    b.rows
        .iter()
        .map(|r| {
            let (ok, ns) = match &r.ns {
                Ok(ns) => ("true", ns.to_string()),
                Err(_) => ("false", "null".into()),
            };
            let ratio = match (r.name == BARE, b.ratio_permille(r.name)) {
                (true, _) => "1.0".to_string(),
                (false, Some(p)) => format!("{}.{:03}", p / 1000, p % 1000),
                (false, None) => "null".into(),
            };
            let mut o = format!(
                "  {{\n    \"name\": \"{}\",\n    \"kind\": \"linux-boot\",\n    \"ok\": {ok},\n    \
                 \"ready_ns\": {ns},\n    \"ratio\": {ratio},\n    \"init_ns\": {},\n    \
                 \"uptime_at_init_ms\": {}",
                r.name,
                r.init.map_or("null".into(), |i| i.ns.to_string()),
                r.init.map_or("null".into(), |i| i.uptime_ms.to_string()),
            );
            if r.name == ALONE {
                if let Ok(rows) = &b.breakdown {
                    let cpus: Vec<String> = rows
                        .iter()
                        .map(|c| {
                            let e: Vec<String> = c
                                .entries
                                .iter()
                                .map(|(k, n)| format!("\"{k}\": {n}"))
                                .collect();
                            format!(
                                "{{\"cpu\": {}, \"entries\": {{{}}}, \"own_ns\": {}, \"other_ns\": {}}}",
                                c.cpu,
                                e.join(", "),
                                c.own_ns,
                                c.other_ns
                            )
                        })
                        .collect();
                    let _ = write!(o, ",\n    \"el2_boot\": [{}]", cpus.join(", "));
                }
            }
            o += "\n  }";
            o
        })
        .collect()
}

/// `latency.json`'s array `json` with `rows` appended.
pub fn append_json(json: &str, rows: &[String]) -> String {
    if rows.is_empty() {
        return json.to_string();
    }
    let body = json.trim_end().trim_end_matches(']').trim_end();
    let sep = if body.ends_with('[') { "\n" } else { ",\n" };
    format!("{body}{sep}{}\n]\n", rows.join(",\n"))
}
