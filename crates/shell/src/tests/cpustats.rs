//! `cpu stats [reset]`: one column per cause, own causes left of the bar, one row per
//! CPU, the two times, and a reset that goes through the hypervisor.

use super::*;
use rtvisor_core::account::Cause;

fn words(l: &str) -> Vec<String> {
    l.split_whitespace().map(String::from).collect()
}

#[test]
fn cpu_stats_has_one_column_per_cause_and_one_row_per_cpu() {
    let m = Mock::new();
    let out = m.run("cpu stats");
    assert_eq!(out.len(), 6, "{out:?}");
    let head = words(&out[0]);
    assert_eq!(head[..2], ["cpu", "runs"]);
    let causes: Vec<_> = Cause::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(head[2..11], causes[..9], "{head:?}");
    assert_eq!(head[11], "|");
    assert_eq!(head[12..17], causes[9..], "{head:?}");
    assert_eq!(head[17..], ["own-ns", "other-ns"]);
    // CPU 3 runs rt/0: its counts in cause order, then own and other time.
    let row = words(&out[4]);
    assert_eq!(row[..2], ["3", "rt/0"]);
    let counts: Vec<String> = (300..314).map(|n: u64| n.to_string()).collect();
    assert_eq!(row[2..11], counts[..9]);
    assert_eq!(row[11], "|");
    assert_eq!(row[12..17], counts[9..]);
    assert_eq!(row[17..], ["4800", "48"]);
    assert_eq!(words(&out[1])[..3], ["0", "shell", "0"]);
    assert!(out[5].contains("own = the VM the CPU runs"), "{}", out[5]);
}

#[test]
fn without_the_accounting_built_in_cpu_stats_says_so_and_resets_nothing() {
    let m = Mock::new();
    m.accounting.set(false);
    assert_eq!(m.run("cpu stats"), [crate::cpustats::NOT_BUILT]);
    assert_eq!(m.run("cpu stats reset"), [crate::cpustats::NOT_BUILT]);
    assert!(!m.reset.get());
    assert!(crate::cpustats::NOT_BUILT.contains("not built in"));
    assert!(crate::cpustats::NOT_BUILT.contains("`[hypervisor] accounting = true`"));
}

#[test]
fn reset_asks_the_hypervisor_and_counts_start_from_zero() {
    let m = Mock::new();
    assert_eq!(
        m.run("cpu stats reset"),
        ["cpu stats: every CPU counts from zero again"]
    );
    assert!(m.reset.get());
    let row = words(&m.run("cpu stats")[4]);
    assert!(row[2..].iter().all(|w| w == "0" || w == "|"), "{row:?}");
}

#[test]
fn anything_but_reset_is_refused() {
    let m = Mock::new();
    let out = m.run("cpu stats clear");
    assert_eq!(out, ["cpu stats: `clear`? usage: cpu stats [reset]"]);
    assert!(!m.reset.get());
    assert_eq!(m.run("cpu stats reset now"), ["usage: cpu stats [reset]"]);
}
