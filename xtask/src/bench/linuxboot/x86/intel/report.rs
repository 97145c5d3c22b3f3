//! The VT-x Linux boot rows' outputs: the budget table's information row (the ratio),
//! the markdown section of latency.md and the objects of latency.json, each row split
//! at Linux's clock as the AMD-V rows are.

use super::super::super::{LinuxBoot, Row};
use super::super::report::split;
use super::{bootargs_bare, tsc_hz, ALONE, BARE, BOCHS, NO_BREAKDOWN};
use crate::bench::budget::{Check, Verdict};
use std::fmt::Write as _;

/// Thousandths as `1.234`.
fn permille(p: u64) -> String {
    format!("{}.{:03}", p / 1000, p % 1000)
}

/// `a / b` in thousandths.
fn ratio(a: u64, b: u64) -> Option<u64> {
    (b > 0).then(|| a * 1000 / b)
}

fn row<'a>(b: &'a LinuxBoot, name: &str) -> Option<&'a Row> {
    b.rows.iter().find(|r| r.name == name)
}

/// The ratio reported (no budget): rtvisor / bare, both from GRUB on the same Bochs.
pub fn report(b: Option<&LinuxBoot>) -> Vec<Check> {
    let (verdict, detail) = match b.and_then(|b| b.ratio_to(ALONE, BARE)) {
        Some(r) => (Verdict::Info, format!("{}x", permille(r))),
        None => (Verdict::Fail, "a boot failed or was not run".to_string()),
    };
    vec![Check {
        what: format!(
            "x86 linux boot (VT-x, Bochs), both from GRUB: {ALONE} / {BARE} virtual time to \
             the ready line"
        ),
        verdict,
        detail,
    }]
}

/// The markdown section: the rows, and the split at Linux's clock.
pub fn markdown(b: &LinuxBoot) -> String {
    let mut s = format!(
        "\n## Linux boot (x86, VT-x, Bochs)\n\nThe AMD-V rows' kernel and initramfs on Bochs \
         2.7 (Intel VT-x; {} MiB, 4 CPUs, `ips={}`, `clock: sync=none`): virtual time from \
         Bochs' start to `/init`'s ready line (the TSC, which Bochs runs at `ips`: {} ticks a \
         virtual second), ratio to `{BARE}` (GRUB booting the bzImage, command line \
         `{}`). `{ALONE}` boots the AMD-V row's ISO (tests/bench/linux-x86.toml).\n\n",
        BOCHS.megs,
        BOCHS.ips,
        tsc_hz(),
        bootargs_bare()
    );
    let ratio_col = |name: &str| match (name == BARE, b.ratio_to(name, BARE)) {
        (true, _) => "1.000".to_string(),
        (false, Some(r)) => permille(r),
        (false, None) => "-".into(),
    };
    s += &super::super::super::rows_markdown(&b.rows, &ratio_col);
    s += "\nSplit at Linux's clock (virtual ms; before: BIOS, GRUB, the bzImage's \
          decompressor or the hypervisor's boot and copy of the VM's images, the kernel's \
          earliest setup; after: Linux's own boot to the ready line):\n\n\
          | configuration | before Linux's clock | after | ready at |\n|---|---:|---:|---:|\n";
    for r in &b.rows {
        match split(r) {
            Some((before, after)) => {
                let _ = writeln!(
                    s,
                    "| {} | {before} | {after} | {} |",
                    r.name,
                    before + after
                );
            }
            None => {
                let _ = writeln!(s, "| {} | - | - | - |", r.name);
            }
        }
    }
    let (v, g) = (row(b, ALONE).and_then(split), row(b, BARE).and_then(split));
    let cell = |x: Option<u64>| x.map_or("-".to_string(), permille);
    let _ = writeln!(
        s,
        "| {ALONE} / {BARE} | {} | {} | {} |",
        cell(v.zip(g).and_then(|(v, g)| ratio(v.0, g.0))),
        cell(v.zip(g).and_then(|(v, g)| ratio(v.1, g.1))),
        cell(b.ratio_to(ALONE, BARE)),
    );
    let _ = writeln!(s, "\nNo breakdown: {NO_BREAKDOWN}.");
    s
}

/// The objects added to latency.json (`kind` "linux-boot-x86-intel"): `ratio` to bare,
/// the split at Linux's clock and the TSC rate the ticks were read at.
pub fn json_rows(b: &LinuxBoot) -> Vec<String> {
    let null = || "null".to_string();
    let num = |x: Option<u64>| x.map_or_else(null, |x| x.to_string());
    b.rows
        .iter()
        .map(|r| {
            let rr = match r.name {
                BARE => "1.0".to_string(),
                n => b.ratio_to(n, BARE).map_or_else(null, permille),
            };
            let sp = split(r);
            format!(
                "  {{\n    \"name\": \"{}\",\n    \"kind\": \"linux-boot-x86-intel\",\n    \
                 \"ok\": {},\n    \"ready_ns\": {},\n    \"ratio\": {rr},\n    \"init_ns\": {},\n    \
                 \"uptime_at_init_ms\": {},\n    \"before_kernel_clock_ms\": {},\n    \
                 \"after_kernel_clock_ms\": {},\n    \"tsc_hz\": {},\n    \"wall_s\": {:.1}\n  }}",
                r.name,
                r.ns.is_ok(),
                num(r.ns.as_ref().ok().copied()),
                num(r.init.map(|i| i.ns)),
                num(r.init.map(|i| i.uptime_ms)),
                num(sp.map(|s| s.0)),
                num(sp.map(|s| s.1)),
                tsc_hz(),
                r.wall_s,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::linuxboot::{parse_init_at, InitAt};

    fn boot(bare: u64, v: u64) -> LinuxBoot {
        let row = |name, ns: u64, up| Row {
            name,
            ns: Ok(ns),
            init: Some(InitAt {
                ns: ns.saturating_sub(1_000_000_000),
                uptime_ms: up,
            }),
            wall_s: 600.0,
        };
        LinuxBoot {
            rows: vec![row(BARE, bare, 20_000), row(ALONE, v, 30_000)],
            breakdown: Err(NO_BREAKDOWN.into()),
        }
    }

    /// vclock's ticks are read at Bochs' `ips`: 20 million ticks a virtual second.
    #[test]
    fn the_tsc_is_read_at_bochs_ips() {
        let l = "[linux] rtvisor-linux: init vclock ticks=000000006c167b89 \
                 hz=0000000000000000 uptime=32.31 28.42";
        let at = parse_init_at(l, Some(tsc_hz())).unwrap();
        // 0x6c167b89 = 1,813,412,745 ticks at 20 MHz.
        assert_eq!(at.ns, 90_670_637_250);
        assert_eq!(at.uptime_ms, 32_310);
        assert_eq!(at.before_kernel_clock_ms(), 58_360);
    }

    #[test]
    fn the_ratio_is_reported_and_a_failed_boot_fails() {
        let c = report(Some(&boot(40_000_000_000, 50_000_000_000)));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].verdict, c[0].detail.as_str()),
            (Verdict::Info, "1.250x")
        );
        assert!(c[0]
            .what
            .contains("linux-x86-intel-rtvisor / linux-x86-intel-bare"));
        for failed in [0, 1] {
            let mut b = boot(1, 1);
            b.rows[failed].ns = Err("timed out".into());
            assert_eq!(report(Some(&b))[0].verdict, Verdict::Fail);
            let m = markdown(&b);
            assert!(m.contains("failed: timed out"), "{m}");
            assert!(!m.contains("| 1.000 |\n| linux-x86-intel-rtvisor"), "{m}");
            assert!(json_rows(&b)[failed].contains("\"ok\": false,\n    \"ready_ns\": null"));
        }
        assert_eq!(report(None)[0].verdict, Verdict::Fail);
    }

    #[test]
    fn rows_split_at_linuxs_clock_in_json_and_markdown() {
        let b = boot(40_000_000_000, 50_000_000_000);
        // bare: /init at 39,000 ms with 20,000 ms of uptime: 19,000 before, 21,000 after.
        assert_eq!(split(&b.rows[0]), Some((19_000, 21_000)));
        // rtvisor: /init at 49,000 ms with 30,000 ms of uptime: 19,000 before, 31,000 after.
        assert_eq!(split(&b.rows[1]), Some((19_000, 31_000)));
        let j = json_rows(&b).join(",");
        assert!(j.contains("\"kind\": \"linux-boot-x86-intel\""), "{j}");
        assert!(j.contains("\"ratio\": 1.250") && j.contains("\"ready_ns\": 40000000000"));
        assert!(
            j.contains("\"before_kernel_clock_ms\": 19000,\n    \"after_kernel_clock_ms\": 31000")
        );
        assert!(j.contains("\"tsc_hz\": 20000000"), "{j}");
        let m = markdown(&b);
        assert!(m.contains("## Linux boot (x86, VT-x, Bochs)"), "{m}");
        assert!(
            m.contains("| linux-x86-intel-bare | 19000 | 21000 | 40000 |"),
            "{m}"
        );
        assert!(
            m.contains(
                "| linux-x86-intel-rtvisor / linux-x86-intel-bare | 1.000 | 1.476 | 1.250 |"
            ),
            "{m}"
        );
        assert!(m.contains("`ips=20000000`"), "{m}");
    }
}
