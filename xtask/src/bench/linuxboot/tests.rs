use super::*;

const HEAD: &str = "[rtvisor] cpu  runs           call   mmio sysreg    wfx   trap  timer  maint    ipi    spi | kick   bell  shell  wdog   spur       own-ns     other-ns";

fn names() -> Vec<String> {
    parse_heading(HEAD).expect("heading")
}

#[test]
fn cpu_stats_lines_parse_under_their_heading() {
    let n = names();
    assert_eq!(n.len(), 14);
    assert_eq!((n[0].as_str(), n[13].as_str()), ("call", "spur"));
    let line = "[rtvisor] 1    linux/0         12   3400     55      0      1    800     20     30      0 |      0      0      0      0      2      1234567            9";
    let c = parse_stats(&n, line).expect("row");
    assert_eq!((c.cpu, c.runs.as_str()), (1, "linux/0"));
    assert_eq!(c.entries[1], ("mmio".to_string(), 3400));
    assert_eq!(c.entries[13], ("spur".to_string(), 2));
    assert_eq!((c.own_ns, c.other_ns), (1_234_567, 9));
    // Not a row: the heading, the closing note, a guest line, a short row.
    assert!(parse_stats(&n, HEAD).is_none());
    assert!(parse_stats(&n, "[rtvisor] (entries from the guest since boot)").is_none());
    assert!(parse_stats(&n, "[linux] 1 2 3").is_none());
    assert!(parse_stats(&n, "[rtvisor] 1 linux/0 1 2 3").is_none());
    assert!(parse_heading("[rtvisor] cpu runs call own-ns").is_none());
}

fn boot(bare: u64, alone: u64) -> LinuxBoot {
    LinuxBoot {
        rows: vec![
            Row {
                name: BARE,
                ns: Ok(bare),
                init: Some(InitAt {
                    ns: 950_000_000,
                    uptime_ms: 850,
                }),
                wall_s: 1.0,
            },
            Row {
                name: ALONE,
                ns: Ok(alone),
                init: None,
                wall_s: 1.0,
            },
            Row {
                name: "linux-rtvisor-rt",
                ns: Err("timed out".into()),
                init: None,
                wall_s: 1.0,
            },
        ],
        breakdown: Ok(vec![CpuStats {
            cpu: 1,
            runs: "linux/0".into(),
            entries: vec![("mmio".into(), 7), ("timer".into(), 0)],
            own_ns: 5,
            other_ns: 0,
        }]),
    }
}

#[test]
fn the_ratio_budget_passes_at_and_fails_above_one_point_ten() {
    assert_eq!(budget(Some(&boot(1000, 1100))).verdict, Verdict::Pass);
    assert_eq!(budget(Some(&boot(1000, 1101))).verdict, Verdict::Fail);
    let c = budget(Some(&boot(2_000_000_000, 2_500_000_000)));
    assert_eq!((c.verdict, c.detail.as_str()), (Verdict::Fail, "1.250x"));
    assert_eq!(budget(None).verdict, Verdict::Fail);
    let mut failed = boot(1000, 1000);
    failed.rows[0].ns = Err("no".into());
    assert_eq!(budget(Some(&failed)).verdict, Verdict::Fail);
}

#[test]
fn json_rows_append_to_the_array() {
    let b = boot(2_000_000_000, 2_100_000_000);
    let rows = json_rows(&b);
    assert_eq!(rows.len(), 3);
    let all = append_json("[\n  {\n    \"name\": \"bare\"\n  }\n]\n", &rows);
    assert!(
        all.starts_with("[\n  {\n    \"name\": \"bare\"\n  },\n  {\n    \"name\": \"linux-bare\"")
    );
    assert!(all.ends_with("  }\n]\n"), "{all}");
    assert!(all.contains("\"ratio\": 1.050"), "{all}");
    assert!(all.contains("\"el2_boot\": [{\"cpu\": 1, \"entries\": {\"mmio\": 7, \"timer\": 0}"));
    assert!(all.contains("\"ready_ns\": null"));
    assert!(
        all.contains("\"init_ns\": 950000000,\n    \"uptime_at_init_ms\": 850"),
        "{all}"
    );
    assert_eq!(
        append_json("[\n]\n", &rows[..1])
            .matches("linux-bare")
            .count(),
        1
    );
    assert!(append_json("[\n]\n", &rows[..1]).starts_with("[\n  {"));
}

#[test]
fn markdown_shows_ratio_and_breakdown() {
    let md = markdown(&boot(2_000_000_000, 2_100_000_000));
    assert!(
        md.contains("| linux-rtvisor | 2100.000 | 1.050 | - |"),
        "{md}"
    );
    assert!(
        md.contains("| linux-bare | 2000.000 | 1.000 | 950 | 850 | 100 |"),
        "{md}"
    );
    assert!(
        md.contains("| linux-rtvisor-rt | failed: timed out | - |"),
        "{md}"
    );
    assert!(md.contains("| 1 | linux/0 | mmio=7 |"), "{md}");
}

#[test]
fn the_scenarios_boot_the_bare_command_line() {
    for s in SETUPS {
        if let Some(f) = s.scenario {
            let text = std::fs::read_to_string(root().join("tests/bench").join(f)).unwrap();
            assert!(
                text.contains(&format!("bootargs = \"{BOOTARGS}\"")),
                "{f} boots Linux with another command line"
            );
            assert!(text.contains("memory = { size = \"512MiB\" }"), "{f}");
            assert!(text.contains("cpus = [1, 2]"), "{f}");
            assert!(
                !text.contains("console-input"),
                "{f}: the shell must get input"
            );
        }
    }
}

#[test]
fn the_init_line_gives_virtual_time_and_uptime() {
    let at = parse_init_at(
        "[linux] rtvisor-linux: init vclock ticks=00000000039423f7 hz=0000000003b9aca0 uptime=0.85 0.80",
        None,
    )
    .expect("init line");
    assert_eq!(at.ns, 0x39423f7 * 16);
    // x86's vclock prints no rate (hz 0): the caller's rate counts then.
    let x86 =
        "rtvisor-linux: init vclock ticks=0000000040000000 hz=0000000000000000 uptime=0.85 0.80";
    assert!(parse_init_at(x86, None).is_none());
    assert_eq!(
        parse_init_at(x86, Some(1_000_000_000)).map(|a| a.ns),
        Some(0x4000_0000)
    );
    assert_eq!(at.uptime_ms, 850);
    assert_eq!(at.before_kernel_clock_ms(), 960 - 850);
    assert!(parse_init_at(
        "rtvisor-linux: vclock ticks=00000000039423f7 hz=0000000003b9aca0",
        None
    )
    .is_none());
    assert_eq!(
        parse_init_at("rtvisor-linux: init vclock ticks=0000000000000000 hz=0000000003b9aca0 uptime=12.34 1.00", None)
            .map(|a| a.uptime_ms),
        Some(12_340)
    );
}
