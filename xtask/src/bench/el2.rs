//! The hypervisor's interference accounting of the RT core during rtbench's timer
//! window, and its budgets.
//!
//! Under rtvisor built with the accounting (`[hypervisor] accounting = true`, the
//! bench's second run of each rtvisor configuration), rtbench (`el2-window=1`) brackets its timer samples with the
//! EL2_WINDOW hypercall; closing it makes the hypervisor print, on its own console
//! line, what it did on that CPU in between (neither call included):
//!
//! ```text
//! [rtvisor] el2 window vm rt vcpu 0 cpu 2 timed=1: entries=1000 call=0 ... spur=0 own_ns=32000 other_ns=0
//! ```
//!
//! Budgets, for every rtvisor configuration that ran:
//! - direct mode: 0 entries and 0 ns in the hypervisor (`direct-trust = "untrusted"`
//!   traps the guest's acknowledges and ends by design: it gets the virtual-mode rule);
//! - virtual mode: entries only for the VM's own timer and its own exits (calls,
//!   device and register traps, WFI/WFE), and 0 ns on behalf of anyone else.

use super::budget::{Check, Verdict};
use super::Outcome;
use anyhow::{bail, Context, Result};

/// What marks the window line (after the hypervisor's prefix).
pub const MARK: &str = "el2 window ";

/// The causes a virtual-mode RT core may enter the hypervisor for during the window.
pub const VIRTUAL_ALLOWED: [&str; 6] = ["call", "mmio", "sysreg", "wfx", "trap", "timer"];

/// One window, as the hypervisor reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The physical CPU.
    pub cpu: u64,
    /// Whether the hypervisor measured time (always, in an accounting build).
    pub timed: bool,
    /// Entries by cause, in the hypervisor's order.
    pub entries: Vec<(String, u64)>,
    pub own_ns: u64,
    pub other_ns: u64,
    /// The accounting build's timer latency (avg, max ns) and null call (avg ns) in
    /// the run that gave the window: what the accounting costs.
    pub build_timer: Option<(u64, u64)>,
    pub build_hvc: Option<u64>,
}

impl Window {
    pub fn total(&self) -> u64 {
        self.entries.iter().map(|e| e.1).sum()
    }

    /// `cause=n` for every cause with entries, or `none`.
    pub fn nonzero(&self) -> String {
        let v: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.1 > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(" ")
        }
    }
}

/// The window line of VM `vm` among `lines` (the first): another VM's windows, such
/// as a storming neighbour's fuzzed EL2_WINDOW calls, are not the rt core's.
pub fn find<'a>(lines: &'a [String], vm: &str) -> Option<&'a String> {
    let mark = format!("{MARK}vm {vm} ");
    lines.iter().find(|l| l.contains(&mark))
}

/// Parses the window line (any prefix before [`MARK`]).
pub fn parse(line: &str) -> Result<Window> {
    let rest = &line[line.find(MARK).context("no window mark")? + MARK.len()..];
    let (head, counts) = rest
        .split_once(": ")
        .with_context(|| format!("no `: ` in {line:?}"))?;
    let word_after = |key: &str| -> Option<&str> {
        let mut w = head.split_whitespace();
        w.position(|x| x == key)?;
        w.next()
    };
    let cpu = word_after("cpu")
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no cpu in {line:?}"))?;
    let timed = match head
        .split_whitespace()
        .find_map(|w| w.strip_prefix("timed="))
    {
        Some("1") => true,
        Some("0") => false,
        _ => bail!("no timed=0|1 in {line:?}"),
    };
    let mut w = Window {
        cpu,
        timed,
        entries: Vec::new(),
        own_ns: 0,
        other_ns: 0,
        build_timer: None,
        build_hvc: None,
    };
    let (mut own, mut other, mut total) = (None, None, None);
    for word in counts.split_whitespace() {
        let (k, v) = word
            .split_once('=')
            .with_context(|| format!("{word:?} is not key=value in {line:?}"))?;
        let n: u64 = v
            .parse()
            .with_context(|| format!("{k}={v:?} is not a number"))?;
        match k {
            "entries" => total = Some(n),
            "own_ns" => own = Some(n),
            "other_ns" => other = Some(n),
            _ => w.entries.push((k.to_string(), n)),
        }
    }
    w.own_ns = own.context("no own_ns=")?;
    w.other_ns = other.context("no other_ns=")?;
    if total != Some(w.total()) {
        bail!("entries={total:?} is not the sum of the causes in {line:?}");
    }
    Ok(w)
}

/// Whether configuration `name` runs its RT VM in direct mode with the CPU interface
/// trusted to it: then no entry at all. `direct-trust = "untrusted"` traps every
/// acknowledge and end of interrupt by design (two `sysreg` entries per sample): it
/// is held to the virtual-mode budget, own exits only. So is AMD-V's pass-through
/// under QEMU ([`svm_direct`]).
fn direct(name: &str) -> bool {
    name.contains("-direct") && !name.contains("-untrusted") && !svm_direct(name)
}

/// AMD-V's LAPIC pass-through on QEMU: its TCG APIC has neither x2APIC nor the
/// TSC-deadline mode, so the core's xAPIC page is mapped read-only (each write, the
/// EOI among them, is an exit that the hypervisor performs) and IA32_TSC_DEADLINE is
/// the hypervisor's (docs/x86.md, "Direct mode"). Its window may hold only those, the
/// guest's own register writes (`mmio`, `sysreg`): no timer entry, nothing for
/// anyone else.
fn svm_direct(name: &str) -> bool {
    name.starts_with("rtvisor-svm-direct")
}

/// The causes [`svm_direct`] rows may enter the hypervisor for.
const SVM_DIRECT_ALLOWED: [&str; 2] = ["mmio", "sysreg"];

/// The budgets on every rtvisor configuration of `outcomes`, x86 rows included.
pub fn evaluate(outcomes: &[Outcome]) -> Vec<Check> {
    let mut out = Vec::new();
    for o in outcomes.iter().filter(|o| o.name.starts_with("rtvisor-")) {
        let what = if direct(o.name) {
            format!("{}: 0 EL2 entries and 0 ns on the rt core", o.name)
        } else if svm_direct(o.name) {
            format!(
                "{}: EL2 only for own APIC and deadline writes (no timer), 0 ns for others",
                o.name
            )
        } else {
            format!(
                "{}: EL2 only for own timer and calls, 0 ns for others",
                o.name
            )
        };
        let w = match &o.result {
            Ok(r) => r.el2.as_ref(),
            Err(_) => {
                out.push(check(what, Verdict::Fail, format!("{} failed", o.name)));
                continue;
            }
        };
        out.push(match w {
            None => check(
                what,
                Verdict::Fail,
                "no `el2 window` line from the hypervisor",
            ),
            Some(w) => verdict(o.name, what, w),
        });
    }
    out
}

fn verdict(name: &str, what: String, w: &Window) -> Check {
    let detail = format!(
        "cpu {}: {} entries ({}), own {} ns, other {} ns",
        w.cpu,
        w.total(),
        w.nonzero(),
        w.own_ns,
        w.other_ns
    );
    if !w.timed {
        return check(
            what,
            Verdict::Fail,
            format!("{detail}; time not measured (no accounting build)"),
        );
    }
    let allowed: &[&str] = match svm_direct(name) {
        true => &SVM_DIRECT_ALLOWED,
        false => &VIRTUAL_ALLOWED,
    };
    let ok = if direct(name) {
        w.total() == 0 && w.own_ns == 0 && w.other_ns == 0
    } else {
        let foreign = w
            .entries
            .iter()
            .any(|(k, n)| *n > 0 && !allowed.contains(&k.as_str()));
        !foreign && w.other_ns == 0
    };
    check(what, if ok { Verdict::Pass } else { Verdict::Fail }, detail)
}

fn check(what: String, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        what,
        verdict,
        detail: detail.into(),
    }
}

/// The `el2` object of a configuration in latency.json (`null` without a window).
pub fn json(w: Option<&Window>) -> String {
    let Some(w) = w else {
        return "null".into();
    };
    let entries: Vec<String> = w
        .entries
        .iter()
        .map(|(k, n)| format!("\"{k}\": {n}"))
        .collect();
    let opt = |v: Option<u64>| v.map_or("null".to_string(), |n| n.to_string());
    format!(
        "{{\"cpu\": {}, \"timed\": {}, \"entries\": {}, \"by_cause\": {{{}}}, \"own_ns\": {}, \"other_ns\": {}, \"timer_avg_ns\": {}, \"timer_max_ns\": {}, \"hvc_ns\": {}}}",
        w.cpu,
        w.timed,
        w.total(),
        entries.join(", "),
        w.own_ns,
        w.other_ns,
        opt(w.build_timer.map(|t| t.0)),
        opt(w.build_timer.map(|t| t.1)),
        opt(w.build_hvc),
    )
}

/// The markdown table of the windows (one row per rtvisor configuration with one).
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from(
        "| configuration | rt cpu | EL2 entries | by cause | own ns | other ns | timer avg/max ns | hvc ns |\n|---|---:|---:|---|---:|---:|---:|---:|\n",
    );
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
    for o in outcomes {
        if let Some(w) = o.result.as_ref().ok().and_then(|r| r.el2.as_ref()) {
            s += &format!(
                "| `{}` | {} | {} | {} | {} | {} | {}/{} | {} |\n",
                o.name,
                w.cpu,
                w.total(),
                w.nonzero(),
                w.own_ns,
                w.other_ns,
                opt(w.build_timer.map(|t| t.0)),
                opt(w.build_timer.map(|t| t.1)),
                opt(w.build_hvc),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::canned;
    use super::*;

    const LINE: &str = "[rtvisor] el2 window vm rt vcpu 0 cpu 2 timed=1: entries=1001 call=0 mmio=0 sysreg=0 wfx=1 trap=0 timer=1000 maint=0 ipi=0 spi=0 kick=0 bell=0 shell=0 wdog=0 spur=0 own_ns=32000 other_ns=0";

    fn with(name: &'static str, line: &str) -> Outcome {
        let mut o = canned(name, 40, 40, 60, None);
        if let Ok(r) = o.result.as_mut() {
            r.el2 = Some(parse(line).unwrap());
        }
        o
    }

    #[test]
    fn parses_the_hypervisors_line() {
        let w = parse(LINE).unwrap();
        assert_eq!((w.cpu, w.timed, w.total()), (2, true, 1001));
        assert_eq!(w.entries.len(), 14);
        assert_eq!((w.own_ns, w.other_ns), (32000, 0));
        assert_eq!(w.nonzero(), "wfx=1 timer=1000");
        assert!(parse(&LINE.replace("entries=1001", "entries=7")).is_err());
        assert!(parse(&LINE.replace("timed=1", "timed=x")).is_err());
        assert!(parse("[rt] rtbench: bench done").is_err());
    }

    #[test]
    fn the_rt_vms_window_is_found_among_a_neighbours() {
        let theirs = LINE.replace("vm rt vcpu 0 cpu 2", "vm probe vcpu 1 cpu 1");
        let lines = vec![
            "[probe] probe: storming vcpus=2".to_string(),
            theirs,
            LINE.into(),
        ];
        assert_eq!(find(&lines, "rt"), Some(&lines[2]));
        assert_eq!(find(&lines[..2], "rt"), None);
        assert_eq!(find(&lines, "probe"), Some(&lines[1]));
    }

    #[test]
    fn virtual_mode_passes_on_own_timer_and_calls_only() {
        let c = evaluate(&[with("rtvisor-virtual", LINE)]);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
        // A kick from another VM, or time on its behalf, fails it.
        let kicked = LINE
            .replace("entries=1001", "entries=1002")
            .replace("kick=0", "kick=1");
        let c = evaluate(&[with("rtvisor-virtual-noisy", &kicked)]);
        assert_eq!(c[0].verdict, Verdict::Fail, "{c:?}");
        assert!(c[0].detail.contains("kick=1"), "{}", c[0].detail);
        let other = LINE.replace("other_ns=0", "other_ns=16");
        assert_eq!(
            evaluate(&[with("rtvisor-virtual", &other)])[0].verdict,
            Verdict::Fail
        );
        // So does the maintenance interrupt: it is not the VM's timer or call.
        let maint = LINE
            .replace("entries=1001", "entries=1002")
            .replace("maint=0", "maint=1");
        assert_eq!(
            evaluate(&[with("rtvisor-virtual", &maint)])[0].verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn direct_mode_needs_no_entry_and_no_time() {
        let zero = "[rtvisor] el2 window vm rt vcpu 0 cpu 2 timed=1: entries=0 call=0 timer=0 own_ns=0 other_ns=0";
        let c = evaluate(&[with("rtvisor-direct", zero)]);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
        // Untrusted direct mode traps its own acknowledges and ends: own exits only.
        let traps = "[rtvisor] el2 window vm rt vcpu 0 cpu 2 timed=1: entries=2000 sysreg=2000 kick=0 own_ns=560000 other_ns=0";
        let c = evaluate(&[with("rtvisor-direct-untrusted", traps)]);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
        assert!(c[0].what.contains("own timer and calls"), "{}", c[0].what);
        assert_eq!(
            evaluate(&[with("rtvisor-direct", traps)])[0].verdict,
            Verdict::Fail
        );
        let one = zero
            .replace("entries=0", "entries=1")
            .replace("timer=0", "timer=1");
        assert_eq!(
            evaluate(&[with("rtvisor-direct-noisy", &one)])[0].verdict,
            Verdict::Fail
        );
        let own = zero.replace("own_ns=0", "own_ns=16");
        assert_eq!(
            evaluate(&[with("rtvisor-direct", &own)])[0].verdict,
            Verdict::Fail
        );
        let untimed = zero.replace("timed=1", "timed=0");
        let c = evaluate(&[with("rtvisor-direct", &untimed)]);
        assert_eq!(c[0].verdict, Verdict::Fail, "untimed cannot show 0 ns");
    }

    #[test]
    fn x86_rows_are_checked_and_amd_pass_through_allows_only_its_own_writes() {
        let writes = "[rtvisor] el2 window vm rt vcpu 0 cpu 2 timed=1: entries=5000 mmio=3000 sysreg=2000 timer=0 own_ns=2449646 other_ns=0";
        let c = evaluate(&[with("rtvisor-svm-direct-x86", writes)]);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
        assert!(c[0].what.contains("no timer"), "{}", c[0].what);
        let timer = writes
            .replace("entries=5000", "entries=6000")
            .replace("timer=0", "timer=1000");
        let c = evaluate(&[with("rtvisor-svm-direct-x86", &timer)]);
        assert_eq!(c[0].verdict, Verdict::Fail, "a timer entry: {c:?}");
        let other = writes.replace("other_ns=0", "other_ns=48");
        let c = evaluate(&[with("rtvisor-svm-direct-x86", &other)]);
        assert_eq!(c[0].verdict, Verdict::Fail, "time for others: {c:?}");
        // VT-x's pass-through has x2APIC and TSC deadline: no entry at all.
        let c = evaluate(&[with("rtvisor-vmx-direct-x86", writes)]);
        assert_eq!(c[0].verdict, Verdict::Fail, "{c:?}");
        let virt = "[rtvisor] el2 window vm rt vcpu 0 cpu 2 timed=1: entries=6000 sysreg=5000 wfx=1000 own_ns=101084492 other_ns=0";
        let c = evaluate(&[with("rtvisor-svm-x86", virt)]);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
        let kicked = virt
            .replace("entries=6000", "entries=6001")
            .replace("wfx=1000", "wfx=1000 kick=1");
        let c = evaluate(&[with("rtvisor-vmx-x86", &kicked)]);
        assert_eq!(c[0].verdict, Verdict::Fail, "{c:?}");
    }

    #[test]
    fn a_missing_window_fails_and_bare_rows_are_not_checked() {
        let c = evaluate(&[
            canned("bare", 4, 4, 2, None),
            canned("rtvisor-direct", 4, 4, 55, None),
        ]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert!(c[0].detail.contains("no `el2 window`"), "{}", c[0].detail);
    }

    #[test]
    fn json_and_table_carry_every_cause() {
        let mut o = with("rtvisor-virtual", LINE);
        let j = json(o.result.as_ref().unwrap().el2.as_ref());
        assert!(
            j.ends_with("\"timer_avg_ns\": null, \"timer_max_ns\": null, \"hvc_ns\": null}"),
            "{j}"
        );
        if let Some(w) = o.result.as_mut().unwrap().el2.as_mut() {
            w.build_timer = Some((44, 52));
            w.build_hvc = Some(67);
        }
        let j = json(o.result.as_ref().unwrap().el2.as_ref());
        assert!(
            j.starts_with(
                "{\"cpu\": 2, \"timed\": true, \"entries\": 1001, \"by_cause\": {\"call\": 0,"
            ),
            "{j}"
        );
        assert!(
            j.ends_with(
                "\"spur\": 0}, \"own_ns\": 32000, \"other_ns\": 0, \"timer_avg_ns\": 44, \
                 \"timer_max_ns\": 52, \"hvc_ns\": 67}"
            ),
            "{j}"
        );
        assert_eq!(json(None), "null");
        let t = table(&[o]);
        assert!(
            t.contains(
                "| `rtvisor-virtual` | 2 | 1001 | wfx=1 timer=1000 | 32000 | 0 | 44/52 | 67 |"
            ),
            "{t}"
        );
    }
}
