//! The system test functions.
//!
//! What each test assumes of its scenario (tests/scenarios/<name>.toml):
//!
//! | test      | VMs (rtbench bootargs)                                                  |
//! |-----------|-------------------------------------------------------------------------|
//! | two-vms   | `rt`, `gp`: 1 vCPU each, own cores, `count=6 then=off`                   |
//! | smp       | `smp`: 2 vCPUs, `vcpus=2 count=N then=off`                               |
//! | probe     | `probe` (the probe guest, its bootargs naming the addresses and shared regions), `victim` (rt): `mode=bench summary-every=N` (forever) |
//! | off-one   | `a`: `count=N then=off` with N small (a stops first), `b`: `count=10 then=off`; every CPU hosts a vCPU (no shell) |
//! | reset-one | `a`: `count=2 then=reset`, `b`: `count=0` (forever)                       |
//! | shell     | (systest/shell.rs) `rt` (1 vCPU): `mode=bench summary-every=N` (forever); `gp` (2 vCPUs): `count=0` (forever); CPU 0 free for the shell |
//! | cpu-stats | (systest/cpustats.rs) accounting build; `rt` (virtual) and `rtd` (direct, trusted): `mode=bench summary-every=N` (forever); `gp`: `count=0`; CPU 0 free for the shell |
//! | irq-isolation | `virt` (virtual mode) and `direct` (direct mode): `mode=bench summary-every=N` at different periods; `probe` (direct mode) floods SGIs |
//! | irq-restart | `virt`: `mode=bench samples=N hvc=0 ipi=0 then=reset`; `direct` (2 vCPUs, direct mode): `mode=bench ... ipi=N then=reset` |

use super::shell::type_line;
use super::{guest, hv, Timeouts};
use crate::console::{Console, Pattern};
use anyhow::Result;
use regex::Regex;
use std::time::Instant;

/// `(line index, n)` of every console line so far that `re` matches, `n` being its
/// `n` group.
fn numbered(c: &Console, re: &Regex) -> Vec<(usize, u64)> {
    c.log()
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            re.captures(l)
                .and_then(|m| m["n"].parse().ok())
                .map(|n| (i, n))
        })
        .collect()
}

/// `(line index, n)` of every `[vm] rtbench: count n` line so far.
fn counts(c: &Console, vm: &str) -> Vec<(usize, u64)> {
    let Pattern::Regex(re) = guest::count_any(vm) else {
        unreachable!("count_any is a regex")
    };
    numbered(c, &re)
}

/// The VM's counts are 1, 2, 3, ... without gaps (and end at `last`, if given).
pub(crate) fn check_counts(c: &Console, vm: &str, last: Option<u64>) -> Result<()> {
    let seq: Vec<u64> = counts(c, vm).into_iter().map(|(_, n)| n).collect();
    let what = format!(
        "[{vm}] counts 1, 2, 3, ...{}",
        last.map(|l| format!(" up to {l}")).unwrap_or_default()
    );
    let expected: Vec<u64> = (1..=seq.len() as u64).collect();
    if seq.is_empty() || seq != expected || last.is_some_and(|l| seq.last() != Some(&l)) {
        return Err(c.fail(&what, &format!("got {seq:?}")));
    }
    Ok(())
}

/// Every line that carries guest protocol is one whole line from one of `vms`.
pub(crate) fn check_whole_lines(c: &Console, vms: &[&str]) -> Result<()> {
    let re = Regex::new(guest::WHOLE_LINE).expect("valid protocol regex");
    for (i, l) in c.log().iter().enumerate() {
        if !(l.contains("rtbench: ") || l.contains("] probe: ")) {
            continue;
        }
        let ok = re.captures(l).is_some_and(|m| vms.contains(&&m["vm"]));
        if !ok {
            let what = format!("whole protocol lines from VMs {vms:?}");
            let n = i + 1;
            let why = format!(
                "console line {n} is not one whole protocol line of those VMs \
                 (torn, interleaved or unexpected): {l:?}"
            );
            return Err(c.fail(&what, &why));
        }
    }
    Ok(())
}

/// Fails unless line `a` comes before line `b`.
fn check_before(c: &Console, a: usize, b: usize, what: &str) -> Result<()> {
    if a < b {
        return Ok(());
    }
    Err(c.fail(
        what,
        &format!("console line {} came after line {}", a + 1, b + 1),
    ))
}

/// Without a shell: waits for the power-off line after all `stops` (the caller waits
/// for the machine to end).
fn powers_off(c: &mut Console, t: &Timeouts, stops: &[usize]) -> Result<()> {
    c.set_cursor(0);
    let off = c.expect(&hv::all_stopped(), t.step)?;
    for &s in stops {
        check_before(c, s, off, "every VM's stop line before the power-off line")?;
    }
    Ok(())
}

/// With a shell: waits for the line that says no VM runs after all `stops`; the shell
/// still answers.
pub(crate) fn stays_up(c: &mut Console, t: &Timeouts, stops: &[usize]) -> Result<()> {
    stays_up_typed(c, t, stops, true)
}

/// As [`stays_up`]; the shell is asked for its version only when `typed` (a machine
/// whose console takes input).
fn stays_up_typed(c: &mut Console, t: &Timeouts, stops: &[usize], typed: bool) -> Result<()> {
    c.set_cursor(0);
    let none = c.expect(&hv::none_running(), t.step)?;
    for &s in stops {
        check_before(c, s, none, "every VM's stop line before the no-VM line")?;
    }
    if typed {
        type_line(c, "version", t)?;
        c.expect(&Pattern::regex(r"^\[rtvisor\] rtvisor \d"), t.step)?;
    }
    c.expect_not(&hv::all_stopped())
}

pub fn two_vms(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.expect_all(&[guest::banner("rt"), guest::banner("gp")], t.boot)?;
    two_vms_after_banners(c, t, true)
}

/// [`two_vms`] once both VMs printed their banner; `typed`: the console takes input
/// (the shell answers `version` at the end), else only its lines are checked.
pub fn two_vms_after_banners(c: &mut Console, t: &Timeouts, typed: bool) -> Result<()> {
    let (rt, gp) = ("rt", "gp");
    c.set_cursor(0);
    let ix = c.expect_all(
        &[
            guest::done(rt),
            guest::done(gp),
            hv::stopped(rt),
            hv::stopped(gp),
        ],
        t.step,
    )?;
    check_before(c, ix[0], ix[2], "[rt] done before its stop line")?;
    check_before(c, ix[1], ix[3], "[gp] done before its stop line")?;
    stays_up_typed(c, t, &ix[2..], typed)?;
    check_whole_lines(c, &[rt, gp])?;
    check_counts(c, rt, Some(6))?;
    check_counts(c, gp, Some(6))?;
    // They ran side by side: each VM counted before the other one finished.
    let (r, g) = (counts(c, rt), counts(c, gp));
    let (r0, rn, g0, gn) = (r[0].0, r[r.len() - 1].0, g[0].0, g[g.len() - 1].0);
    check_before(
        c,
        r0,
        gn,
        "[rt] counting before [gp] finished counting (concurrent VMs)",
    )?;
    check_before(
        c,
        g0,
        rn,
        "[gp] counting before [rt] finished counting (concurrent VMs)",
    )
}

pub fn smp(c: &mut Console, t: &Timeouts) -> Result<()> {
    let vm = "smp";
    c.expect(&guest::banner_vcpus(vm, 2), t.boot)?;
    c.set_cursor(0);
    let online = guest::online(vm, 1);
    let ix = c.expect_all(
        &[
            guest::psci_version(vm, 1, 1),
            guest::cpu_on(vm, 1, 0),
            online.clone(),
            guest::affinity(vm, 1, "off"),
            guest::done(vm),
            hv::stopped(vm),
        ],
        t.step,
    )?;
    // The secondary's virtual MPIDR: Aff0 = vCPU index, bit 31 RES1.
    let Pattern::Regex(re) = &online else {
        unreachable!("online is a regex")
    };
    let line = c.line(ix[2]);
    let mpidr = re
        .captures(line)
        .and_then(|m| u64::from_str_radix(&m["mpidr"], 16).ok());
    if mpidr.map(|m| m & 0x8000_00ff) != Some(0x8000_0001) {
        return Err(c.fail(
            "vcpu 1's MPIDR with Aff0 = 1 and bit 31 set",
            &format!("got {line:?}"),
        ));
    }
    stays_up(c, t, &ix[5..])?;
    check_whole_lines(c, &[vm])?;
    check_counts(c, vm, None)
}

/// Every probe case is contained; `victim` (rtbench `mode=bench summary-every=N`)
/// keeps printing timer summaries, with no stray interrupt, while the probe attacks
/// (its `sustained-storm` lasts seconds) and after it is done; the probe stops alone.
pub fn probe(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (probe, victim) = ("probe", "victim");
    c.fail_on(guest::leak(probe));
    c.fail_on(hv::stopped(victim));
    c.fail_on(hv::restarting(victim));
    c.expect_all(&[guest::probe_banner(probe), guest::banner(victim)], t.boot)?;
    // The storm follows sgi-flood; time it as its lines arrive.
    c.set_cursor(0);
    let storm_from = c.expect(&guest::contained(probe, "sgi-flood"), t.step)?;
    let started = Instant::now();
    let storm_to = c.expect(&guest::contained(probe, "sustained-storm"), t.step)?;
    let took = started.elapsed();
    c.set_cursor(0);
    let cases: Vec<Pattern> = guest::PROBE_CASES
        .iter()
        .map(|k| guest::contained(probe, k))
        .collect();
    c.expect_all(&cases, t.step)?;
    let done_pat = guest::probe_done(probe);
    let done = c.expect(&done_pat, t.step)?;
    let Pattern::Regex(re) = &done_pat else {
        unreachable!("probe_done is a regex")
    };
    let m = re.captures(c.line(done)).expect("matched before");
    // The probe may try more cases than the documented ones; all must be contained.
    let (cases, contained) = (m["cases"].parse::<usize>(), m["contained"].parse::<usize>());
    let min = guest::PROBE_CASES.len();
    if !matches!((cases, contained), (Ok(n), Ok(k)) if n == k && n >= min) {
        return Err(c.fail(
            &format!("probe: done cases=N contained=N with N >= {min}"),
            &format!("got {:?}", c.line(done)),
        ));
    }
    // During the storm: the victim summarises every 0.5 s (500 x 1 ms); ask for one
    // per 1.5 s, so a stall or a starved victim fails without timing noise doing so.
    let during = strays(c, victim)
        .into_iter()
        .filter(|&(i, _)| i > storm_from && i < storm_to)
        .count();
    let needed = (took.as_secs_f64() / 1.5).floor() as usize;
    if during < needed {
        return Err(c.fail(
            &format!("[{victim}] keeps summarising its timer during probe's storm"),
            &format!(
                "{during} summaries between console lines {} and {} ({:.1} s), expected at least {needed}",
                storm_from + 1,
                storm_to + 1,
                took.as_secs_f64()
            ),
        ));
    }
    // After it: more summaries, and the probe stops alone.
    wait_summaries(c, victim, done, 2, t)?;
    c.set_cursor(done);
    c.expect(&hv::stopped(probe), t.step)?;
    c.expect_not(&guest::leak(probe))?;
    faults_logged_once(c, probe)?;
    check_no_strays(c, victim)?;
    check_whole_lines(c, &[probe, victim])
}

/// The hundreds of faults the probe makes are logged at `warn`: the first in full,
/// exactly once, the rest as counts, far fewer lines than faults.
fn faults_logged_once(c: &Console, vm: &str) -> Result<()> {
    let count = |p: &Pattern| c.log().iter().filter(|l| p.is_match(l)).count();
    let (first, more) = (count(&hv::first_fault(vm)), count(&hv::more_faults(vm)));
    if first != 1 || more == 0 || more > 60 {
        return Err(c.fail(
            &format!("[rtvisor] vm {vm}: one first-fault line, then 1 to 60 count lines"),
            &format!("{first} first-fault lines, {more} count lines"),
        ));
    }
    Ok(())
}

pub fn off_one(c: &mut Console, t: &Timeouts) -> Result<()> {
    off_one_with(c, t, guest::banner, &|c, t, stops| {
        powers_off(c, t, stops)?;
        c.expect_exit(0, t.step)
    })
}

/// What follows the stop lines (at these line indexes) of a lifecycle test.
pub(crate) type AfterStops = dyn Fn(&mut Console, &Timeouts, &[usize]) -> Result<()>;

/// [`off_one`] for guests whose banner is `banner`; `end` checks what follows both
/// stops (given their line indexes): without a shell the power-off, with one the
/// shell staying up.
pub(crate) fn off_one_with(
    c: &mut Console,
    t: &Timeouts,
    banner: fn(&str) -> Pattern,
    end: &AfterStops,
) -> Result<()> {
    let (a, b) = ("a", "b");
    c.expect_all(&[banner(a), banner(b)], t.boot)?;
    c.set_cursor(0);
    let a_stop = c.expect(&hv::stopped(a), t.step)?;
    // b goes on counting after a stopped, up to its last count.
    c.expect_n_since(a_stop, &guest::count_any(b), 1, t.step)?;
    c.set_cursor(0);
    let b10 = c.expect(&guest::count(b, 10), t.step)?;
    check_before(c, a_stop, b10, "[b] count 10 after vm a stopped")?;
    let b_stop = c.expect(&hv::stopped(b), t.step)?;
    end(c, t, &[a_stop, b_stop])?;
    check_whole_lines(c, &[a, b])?;
    check_counts(c, a, None)?;
    check_counts(c, b, Some(10))
}

pub fn reset_one(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (a, b) = ("a", "b");
    let ix = c.expect_all(&[guest::banner(a), guest::banner(b)], t.boot)?;
    c.set_cursor(ix[0] + 1);
    c.expect(&guest::count(a, 2), t.step)?;
    let restart = c.expect(&hv::restarting(a), t.step)?;
    let b_before = counts(c, b)
        .into_iter()
        .filter(|&(i, _)| i < restart)
        .map(|(_, n)| n)
        .max()
        .unwrap_or(0);
    let banner2 = c.expect(&guest::banner(a), t.step)?;
    c.expect(&guest::count(a, 1), t.step)?;
    // b's counts go on increasing across a's restart.
    c.wait_for(
        |_| format!("a [b] count above {b_before} after vm a's second banner"),
        t.step,
        |c| {
            counts(c, b)
                .into_iter()
                .find(|&(i, n)| i > banner2 && n > b_before)
        },
    )?;
    c.expect_not(&hv::stopped(b))?;
    check_whole_lines(c, &[a, b])?;
    check_counts(c, b, None)
}

/// `[vm] rtbench: stray irqs=N` lines: (line index, N).
pub(super) fn strays(c: &Console, vm: &str) -> Vec<(usize, u64)> {
    let re = Regex::new(&format!(
        r"^\[{}\] rtbench: stray irqs=(?P<n>\d+)$",
        regex::escape(vm)
    ))
    .expect("valid regex");
    numbered(c, &re)
}

/// Fails if any timer summary of `vm` reported an interrupt it never enabled.
pub(super) fn check_no_strays(c: &Console, vm: &str) -> Result<()> {
    match strays(c, vm).into_iter().find(|&(_, n)| n != 0) {
        Some((i, n)) => Err(c.fail(
            &format!("[{vm}] never receives an interrupt it did not enable"),
            &format!("console line {} reports {n} stray interrupts", i + 1),
        )),
        None => Ok(()),
    }
}

/// Waits until `vm` has printed at least `n` stray-count summaries after line `after`.
pub(super) fn wait_summaries(
    c: &mut Console,
    vm: &str,
    after: usize,
    n: usize,
    t: &Timeouts,
) -> Result<()> {
    c.wait_for(
        |_| {
            format!(
                "{n} timer summaries of [{vm}] after console line {}",
                after + 1
            )
        },
        t.step,
        |c| {
            let k = strays(c, vm)
                .into_iter()
                .filter(|&(i, _)| i > after)
                .count();
            (k >= n).then_some(())
        },
    )
}

pub fn irq_isolation(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (virt, direct, probe) = ("virt", "direct", "probe");
    c.expect_all(&[guest::banner(virt), guest::banner(direct)], t.boot)?;
    c.set_cursor(0);
    let flood = c.expect(
        &Pattern::regex(r"^\[probe\] probe: sgi-flood: contained \(.*\)$"),
        t.step,
    )?;
    let done = c.expect(
        &Pattern::regex(r"^\[probe\] probe: done cases=\d+ contained=\d+$"),
        t.step,
    )?;
    let re = Regex::new(r"cases=(?P<a>\d+) contained=(?P<b>\d+)$").expect("valid regex");
    let all_contained = re.captures(c.line(done)).is_some_and(|m| m["a"] == m["b"]);
    if !all_contained {
        let line = c.line(done).to_owned();
        return Err(c.fail("every probe case contained", &line));
    }
    // Both VMs keep taking their timer at their own rates, after the flood too.
    wait_summaries(c, virt, flood, 2, t)?;
    wait_summaries(c, direct, flood, 2, t)?;
    check_no_strays(c, virt)?;
    check_no_strays(c, direct)?;
    c.expect_not(&Pattern::regex(r"^\[probe\] probe: .*LEAK"))?;
    check_whole_lines(c, &[virt, direct, probe])
}

pub fn irq_restart(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (virt, direct) = ("virt", "direct");
    c.expect_all(&[guest::banner(virt), guest::banner(direct)], t.boot)?;
    for vm in [virt, direct] {
        let done = c.expect(
            &Pattern::contains(format!("[{vm}] rtbench: bench done")),
            t.step,
        )?;
        c.set_cursor(done);
        c.expect(&hv::restarting(vm), t.step)?;
        c.expect(&guest::banner(vm), t.step)?;
        // After the restart the timer runs again and nothing stale arrives.
        let again = c.expect(
            &Pattern::contains(format!("[{vm}] rtbench: bench done")),
            t.step,
        )?;
        c.set_cursor(again);
        c.set_cursor(0);
    }
    check_no_strays(c, virt)?;
    check_no_strays(c, direct)?;
    check_whole_lines(c, &[virt, direct])
}
