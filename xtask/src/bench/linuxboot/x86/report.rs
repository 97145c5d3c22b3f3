//! The x86 Linux boot rows' outputs: the budget table's information rows (the two
//! ratios), the markdown section of latency.md and the objects of latency.json.
//!
//! Each row splits at Linux's clock: "before" is virtual time from QEMU's start to the
//! kernel's clock starting (firmware, GRUB, the hypervisor's boot or the bzImage's
//! decompressor, the kernel's earliest setup; `InitAt::before_kernel_clock_ms`),
//! "after" the rest to the ready line (Linux's own boot).

use super::super::{LinuxBoot, Row};
use super::{ALONE, ALONE_PVH, BARE, BARE_GRUB, BOOTARGS_BARE};
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

/// A row's (before, after) Linux's clock started, in virtual ms.
pub fn split(r: &Row) -> Option<(u64, u64)> {
    let (ns, init) = (r.ns.as_ref().ok()?, r.init?);
    let before = init.before_kernel_clock_ms();
    Some((before, (ns / 1_000_000).saturating_sub(before)))
}

fn row<'a>(b: &'a LinuxBoot, name: &str) -> Option<&'a Row> {
    b.rows.iter().find(|r| r.name == name)
}

/// The ratios reported (no budget), each like for like: rtvisor / bare both by QEMU's
/// PVH loader, rtvisor / bare both from GRUB; and rtvisor through GRUB / bare by PVH.
pub fn report(b: Option<&LinuxBoot>) -> Vec<Check> {
    [
        (
            ALONE_PVH,
            BARE,
            "x86 linux boot (AMD-V), both by QEMU's PVH loader",
        ),
        (ALONE, BARE_GRUB, "x86 linux boot (AMD-V), both from GRUB"),
        (ALONE, BARE, "x86 linux boot (AMD-V), rtvisor from GRUB"),
    ]
    .into_iter()
    .map(|(alone, bare, about)| {
        let (verdict, detail) = match b.and_then(|b| b.ratio_to(alone, bare)) {
            Some(r) => (Verdict::Info, format!("{}x", permille(r))),
            None => (Verdict::Fail, "a boot failed or was not run".to_string()),
        };
        Check {
            what: format!("{about}: {alone} / {bare} virtual time to the ready line"),
            verdict,
            detail,
        }
    })
    .collect()
}

/// The markdown section: the rows, the split at Linux's clock and the breakdown.
pub fn markdown(b: &LinuxBoot) -> String {
    let mut s = format!(
        "\n## Linux boot (x86, AMD-V)\n\nDebian's amd64 kernel and the busybox initramfs, \
         command line `{BOOTARGS_BARE}` (bare through GRUB the same with `{}`, under rtvisor \
         with the measured TSC rate): virtual time from QEMU's start to `/init`'s ready line \
         (the TSC, 1 tick a virtual ns under -icount), ratio to `{BARE}` (QEMU's PVH \
         loader). `{BARE_GRUB}` boots the bzImage from a GRUB ISO on `{ALONE}`'s machine \
         (q35, 4 CPUs, 2 GiB, SeaBIOS); `{ALONE_PVH}` boots the same hypervisor ELF as \
         `{ALONE}` by QEMU's PVH loader on that machine.\n\n",
        super::bootargs_bare_grub()
            .strip_prefix(BOOTARGS_BARE)
            .unwrap_or_default()
            .trim()
    );
    let ratio_col = |name: &str| match (name == BARE, b.ratio_to(name, BARE)) {
        (true, _) => "1.000".to_string(),
        (false, Some(r)) => permille(r),
        (false, None) => "-".into(),
    };
    s += &super::super::rows_markdown(&b.rows, &ratio_col);
    s += "\nSplit at Linux's clock (virtual ms; before: firmware, GRUB, the bzImage's \
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
    let cell = |x: Option<u64>| x.map_or("-".to_string(), permille);
    for (alone, bare) in [(ALONE, BARE_GRUB), (ALONE_PVH, BARE)] {
        let (v, g) = (row(b, alone).and_then(split), row(b, bare).and_then(split));
        let _ = writeln!(
            s,
            "| {alone} / {bare} | {} | {} | {} |",
            cell(v.zip(g).and_then(|(v, g)| ratio(v.0, g.0))),
            cell(v.zip(g).and_then(|(v, g)| ratio(v.1, g.1))),
            cell(b.ratio_to(alone, bare)),
        );
    }
    s + &super::super::breakdown_markdown(ALONE, &b.breakdown)
}

/// The objects added to latency.json (`kind` "linux-boot-x86"): `ratio` to bare (PVH),
/// the split at Linux's clock, and on the rtvisor row `ratio_to_bare_grub`.
pub fn json_rows(b: &LinuxBoot) -> Vec<String> {
    let null = || "null".to_string();
    let num = |x: Option<u64>| x.map_or_else(null, |x| x.to_string());
    b.rows
        .iter()
        .map(|r| {
            let ns = r.ns.as_ref().ok().copied();
            let rr = match r.name {
                BARE => "1.0".to_string(),
                n => b.ratio_to(n, BARE).map_or_else(null, permille),
            };
            let sp = split(r);
            let mut o = format!(
                "  {{\n    \"name\": \"{}\",\n    \"kind\": \"linux-boot-x86\",\n    \"ok\": {},\n    \
                 \"ready_ns\": {},\n    \"ratio\": {rr},\n    \"init_ns\": {},\n    \
                 \"uptime_at_init_ms\": {},\n    \"before_kernel_clock_ms\": {},\n    \
                 \"after_kernel_clock_ms\": {}",
                r.name,
                r.ns.is_ok(),
                num(ns),
                num(r.init.map(|i| i.ns)),
                num(r.init.map(|i| i.uptime_ms)),
                num(sp.map(|s| s.0)),
                num(sp.map(|s| s.1)),
            );
            if r.name == ALONE {
                let g = b.ratio_to(ALONE, BARE_GRUB).map_or_else(null, permille);
                let _ = write!(o, ",\n    \"ratio_to_bare_grub\": {g}");
            }
            o + "\n  }"
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::linuxboot::InitAt;

    fn boot(bare: u64, grub: u64, v: u64) -> LinuxBoot {
        boot_pvh(bare, grub, v, v / 2)
    }

    fn boot_pvh(bare: u64, grub: u64, v: u64, pvh: u64) -> LinuxBoot {
        let row = |name, ns: u64, up| Row {
            name,
            ns: Ok(ns),
            init: Some(InitAt {
                ns: ns.saturating_sub(100_000_000),
                uptime_ms: up,
            }),
            wall_s: 1.0,
        };
        LinuxBoot {
            rows: vec![
                row(BARE, bare, 500),
                row(BARE_GRUB, grub, 600),
                row(ALONE, v, 300),
                row(ALONE_PVH, pvh, 250),
            ],
            breakdown: Err("not run".into()),
        }
    }

    #[test]
    fn both_ratios_are_reported_and_a_failed_boot_fails() {
        let c = report(Some(&boot_pvh(
            2_000_000_000,
            4_000_000_000,
            3_000_000_000,
            2_200_000_000,
        )));
        let got: Vec<_> = c.iter().map(|c| (c.verdict, c.detail.as_str())).collect();
        assert_eq!(
            got,
            [
                (Verdict::Info, "1.100x"),
                (Verdict::Info, "0.750x"),
                (Verdict::Info, "1.500x")
            ]
        );
        assert!(c[0]
            .what
            .contains("linux-x86-rtvisor-pvh / linux-x86-bare virtual"));
        assert!(c[1]
            .what
            .contains("linux-x86-rtvisor / linux-x86-bare-grub"));
        // Each ratio fails alone when its rtvisor row did.
        let mut b = boot(1, 1, 1);
        b.rows[3].ns = Err("timed out".into());
        let v: Vec<_> = report(Some(&b)).iter().map(|c| c.verdict).collect();
        assert_eq!(v, [Verdict::Fail, Verdict::Info, Verdict::Info]);
        let mut b = boot(1, 1, 1);
        b.rows[2].ns = Err("timed out".into());
        let v: Vec<_> = report(Some(&b)).iter().map(|c| c.verdict).collect();
        assert_eq!(v, [Verdict::Info, Verdict::Fail, Verdict::Fail]);
        assert!(report(None).iter().all(|c| c.verdict == Verdict::Fail));
    }

    #[test]
    fn rows_split_at_linuxs_clock_in_json_and_markdown() {
        let b = boot(2_000_000_000, 4_000_000_000, 3_000_000_000);
        // rtvisor: /init at 2,900 ms with 300 ms of uptime: 2,600 before, 400 after.
        assert_eq!(split(&b.rows[2]), Some((2_600, 400)));
        let j = json_rows(&b).join(",");
        assert!(
            j.contains("\"ratio\": 1.500") && j.contains("\"ready_ns\": 2000000000"),
            "{j}"
        );
        assert!(j.contains("\"before_kernel_clock_ms\": 2600,\n    \"after_kernel_clock_ms\": 400"));
        assert!(j.contains("\"ratio_to_bare_grub\": 0.750"), "{j}");
        let m = markdown(&b);
        assert!(
            m.contains("| linux-x86-bare-grub | 3300 | 700 | 4000 |"),
            "{m}"
        );
        // before 2600/3300, after 400/700, ready 3000/4000.
        assert!(
            m.contains("| linux-x86-rtvisor / linux-x86-bare-grub | 0.787 | 0.571 | 0.750 |"),
            "{m}"
        );
        // pvh: /init at 1,400 ms with 250 of uptime: 1,150 before, 350 after; bare
        // 1,400 before, 600 after; ready 1,500 and 2,000.
        assert!(
            m.contains("| linux-x86-rtvisor-pvh / linux-x86-bare | 0.821 | 0.583 | 0.750 |"),
            "{m}"
        );
    }
}
