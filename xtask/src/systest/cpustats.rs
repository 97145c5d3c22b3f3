//! T2 test of `cpu stats [reset]` (`cpu-stats`) in a hypervisor built with the
//! interference accounting: the table's columns parse, the RT cores' own counts and
//! time grow while they run, a direct-mode core spends no time on anyone else's
//! behalf, and `cpu stats reset` starts every row from zero again.

use super::cases::wait_summaries;
use super::shell::type_line;
use super::{guest, Timeouts};
use crate::bench::linuxboot;
use crate::console::{Console, Pattern};
use anyhow::Result;

/// The columns after `cpu runs`, in the hypervisor's order: the owning VM's causes,
/// the bar, everyone else's, then the two times.
const OWN: [&str; 9] = [
    "call", "mmio", "sysreg", "wfx", "trap", "timer", "maint", "ipi", "spi",
];
const FOREIGN: [&str; 5] = ["kick", "bell", "shell", "wdog", "spur"];

/// One CPU's row of `cpu stats`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub cpu: u32,
    pub runs: String,
    /// Entries by cause, in [`OWN`] then [`FOREIGN`] order.
    pub counts: Vec<u64>,
    pub own_ns: u64,
    pub other_ns: u64,
}

impl Row {
    pub fn of(&self, cause: &str) -> u64 {
        let i = OWN
            .iter()
            .chain(FOREIGN.iter())
            .position(|c| *c == cause)
            .expect("a cause of the table");
        self.counts[i]
    }

    /// Entries on behalf of anyone but the VM that runs the CPU.
    pub fn foreign(&self) -> u64 {
        self.counts[OWN.len()..].iter().sum()
    }
}

/// The heading line's words (after the `[rtvisor] ` prefix).
fn heading() -> Vec<&'static str> {
    let mut h = vec!["cpu", "runs"];
    h.extend(OWN);
    h.push("|");
    h.extend(FOREIGN);
    h.extend(["own-ns", "other-ns"]);
    h
}

/// Parses one row (`[rtvisor] ` prefix included): cpu, runs, the own counts, `|`,
/// the foreign counts, own-ns, other-ns. The words are read by the benchmark's
/// parser of the same table ([`linuxboot::parse_stats`]); this test also wants the bar
/// where the heading has it.
pub(crate) fn parse_row(line: &str) -> Option<Row> {
    let w: Vec<&str> = line
        .strip_prefix("[rtvisor] ")?
        .split_whitespace()
        .collect();
    if w.len() != heading().len() || w[2 + OWN.len()] != "|" {
        return None;
    }
    let names: Vec<String> = OWN.iter().chain(&FOREIGN).map(|c| c.to_string()).collect();
    let s = linuxboot::parse_stats(&names, line)?;
    Some(Row {
        cpu: u32::try_from(s.cpu).ok()?,
        runs: s.runs,
        counts: s.entries.into_iter().map(|(_, n)| n).collect(),
        own_ns: s.own_ns,
        other_ns: s.other_ns,
    })
}

/// Types `cpu stats` and reads its table: the heading, one row per CPU (0..`cpus`),
/// the closing note.
fn cpu_stats(c: &mut Console, cpus: u32, t: &Timeouts) -> Result<Vec<Row>> {
    type_line(c, "cpu stats", t)?;
    let head = format!(
        r"^\[rtvisor\] {}$",
        heading().join(r"\s+").replace('|', r"\|")
    );
    c.expect(&Pattern::regex(&head), t.step)?;
    let mut rows = Vec::new();
    for cpu in 0..cpus {
        let i = c.expect(
            &Pattern::regex(&format!(r"^\[rtvisor\] {cpu}\s+\S+\s+\d")),
            t.step,
        )?;
        match parse_row(c.line(i)) {
            Some(r) => rows.push(r),
            None => {
                let why = format!("line {}: {:?}", i + 1, c.line(i));
                return Err(c.fail(&format!("a `cpu stats` row for cpu {cpu}"), &why));
            }
        }
    }
    c.expect(
        &Pattern::contains("[rtvisor] (entries from the guest since boot"),
        t.step,
    )?;
    Ok(rows)
}

/// What the test asks of one reading and of the one before it (None: the first).
pub(crate) fn check(now: &[Row], before: Option<&[Row]>) -> Result<(), String> {
    let runs: Vec<&str> = now.iter().map(|r| r.runs.as_str()).collect();
    if runs != ["shell", "gp/0", "rtd/0", "rt/0"] {
        return Err(format!("cpus run {runs:?}"));
    }
    let (rtd, rt) = (&now[2], &now[3]);
    // The direct-mode core: its own exits only (its console), no timer entry, and
    // nothing, in count or time, on anyone else's behalf.
    if rtd.foreign() != 0 || rtd.other_ns != 0 || rtd.of("timer") != 0 {
        return Err(format!("direct-mode cpu 2: {rtd:?}"));
    }
    // The virtual-mode core: its timer, and no one else's business either.
    if rt.foreign() != 0 || rt.other_ns != 0 {
        return Err(format!("virtual-mode cpu 3: {rt:?}"));
    }
    let Some(before) = before else {
        return Ok(());
    };
    // Both RT cores went on counting since the reading before.
    let (rtd0, rt0) = (&before[2], &before[3]);
    if rt.of("timer") <= rt0.of("timer") || rt.own_ns <= rt0.own_ns {
        return Err(format!("cpu 3 did not count on: {rt0:?} then {rt:?}"));
    }
    if rtd.of("mmio") <= rtd0.of("mmio") || rtd.own_ns <= rtd0.own_ns {
        return Err(format!("cpu 2 did not count on: {rtd0:?} then {rtd:?}"));
    }
    Ok(())
}

pub fn cpu_stats_test(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (rt, rtd, gp) = ("rt", "rtd", "gp");
    c.expect(&Pattern::contains("[rtvisor] shell on cpu 0"), t.boot)?;
    c.expect_all(
        &[guest::banner(rt), guest::banner(rtd), guest::banner(gp)],
        t.boot,
    )?;
    let now = c.cursor();
    wait_summaries(c, rt, now, 1, t)?;
    wait_summaries(c, rtd, now, 1, t)?;
    let verify = |c: &Console, what: &str, now: &[Row], before: Option<&[Row]>| {
        check(now, before).map_err(|why| c.fail(what, &why))
    };
    let first = cpu_stats(c, 4, t)?;
    verify(c, "`cpu stats` after the first summaries", &first, None)?;
    // One more summary of each: the RT cores' own counts and time grew.
    let now = c.cursor();
    wait_summaries(c, rt, now, 1, t)?;
    wait_summaries(c, rtd, now, 1, t)?;
    let second = cpu_stats(c, 4, t)?;
    verify(c, "`cpu stats` counts on", &second, Some(&first))?;
    // Reset: the next reading starts again from (nearly) zero.
    type_line(c, "cpu stats reset", t)?;
    c.expect(
        &Pattern::contains("[rtvisor] cpu stats: every CPU counts from zero again"),
        t.step,
    )?;
    let reset = cpu_stats(c, 4, t)?;
    verify(c, "`cpu stats` after `cpu stats reset`", &reset, None)?;
    let (r, s) = (&reset[3], &second[3]);
    if r.of("timer") >= s.of("timer") || r.own_ns >= s.own_ns {
        return Err(c.fail(
            "`cpu stats reset` starts cpu 3 from zero",
            &format!("before {s:?}, after {r:?}"),
        ));
    }
    let now = c.cursor();
    wait_summaries(c, rt, now, 1, t)?;
    wait_summaries(c, rtd, now, 1, t)?;
    let after = cpu_stats(c, 4, t)?;
    verify(
        c,
        "`cpu stats` counts on after the reset",
        &after,
        Some(&reset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = "[rtvisor] 3    rt/0              0      2      0      1      0    500      0      0      0 |      0      0      0      0      0        20000            0";

    fn rows(rt_timer: u64, rtd_mmio: u64) -> Vec<Row> {
        let row = |cpu: u32, runs: &str| Row {
            cpu,
            runs: runs.into(),
            counts: vec![0; 14],
            own_ns: 0,
            other_ns: 0,
        };
        let mut v = vec![
            row(0, "shell"),
            row(1, "gp/0"),
            row(2, "rtd/0"),
            row(3, "rt/0"),
        ];
        v[3].counts[5] = rt_timer;
        v[3].own_ns = rt_timer * 40;
        v[2].counts[1] = rtd_mmio;
        v[2].own_ns = rtd_mmio * 300;
        v
    }

    #[test]
    fn rows_parse_and_malformed_ones_do_not() {
        let r = parse_row(ROW).unwrap();
        assert_eq!((r.cpu, r.runs.as_str()), (3, "rt/0"));
        assert_eq!((r.of("timer"), r.of("mmio"), r.of("wfx")), (500, 2, 1));
        assert_eq!((r.own_ns, r.other_ns, r.foreign()), (20000, 0, 0));
        assert!(parse_row(&ROW.replace(" | ", "   ")).is_none());
        assert!(parse_row(&ROW.replace("500", "x")).is_none());
        assert!(parse_row(&ROW.replace("  20000", "")).is_none());
        assert!(parse_row(ROW.strip_prefix("[rtvisor] ").unwrap()).is_none());
    }

    #[test]
    fn counting_rows_pass_and_stopped_or_disturbed_ones_fail() {
        let (a, b) = (rows(1000, 50), rows(1500, 60));
        assert_eq!(check(&a, None), Ok(()));
        assert_eq!(check(&b, Some(&a)), Ok(()));
        // Counters that stopped counting.
        assert!(check(&a, Some(&a)).is_err());
        let mut still = rows(1500, 50);
        still[2].own_ns = 60 * 300;
        assert!(check(&still, Some(&a)).is_err());
        // Anyone else's business on an RT core, or a timer entry in direct mode.
        let mut kicked = b.clone();
        kicked[2].counts[9] = 1;
        assert!(check(&kicked, Some(&a)).is_err());
        let mut other = b.clone();
        other[3].other_ns = 16;
        assert!(check(&other, Some(&a)).is_err());
        let mut timer = b.clone();
        timer[2].counts[5] = 1;
        assert!(check(&timer, Some(&a)).is_err());
        let mut swapped = b;
        swapped.swap(2, 3);
        assert!(check(&swapped, Some(&a)).is_err());
    }
}
