//! T2 takeback: a guest tries to keep its cores from the hypervisor, and the hypervisor
//! must still stop, restart and watchdog it (or, where the GIC cannot pre-empt what the
//! guest did, say the VM is unresponsive and never start it over its running vCPU).
//!
//! | test | scenario | probe (tests/scenarios/takeback-*.toml) |
//! |---|---|---|
//! | takeback-untrusted | `direct-trust = "untrusted"` | every case contained: restart, stop, watchdog work |
//! | takeback-trusted | `direct-trust = "trusted"` | as above, except a written ICC_AP1R0_EL1: unresponsive, then stopped late when the guest lets go |
//! | takeback-virtual | virtual mode | every case contained |
//!
//! The probe takes each case from its console (`mode=takeback`, guests/probe/src/
//! takeback.rs); `victim` (rtbench) must keep reporting, with no stray interrupt.

use super::cases::{check_no_strays, wait_summaries};
use super::shell::type_line;
use super::{guest, hv, Timeouts};
use crate::console::{Console, Pattern};
use anyhow::Result;

const PROBE: &str = "probe";
const VICTIM: &str = "victim";

/// How far the probe is trusted, as its scenario says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Untrusted,
    Trusted,
    Virtual,
}

pub fn untrusted(c: &mut Console, t: &Timeouts) -> Result<()> {
    run(c, t, Mode::Untrusted)
}

pub fn trusted(c: &mut Console, t: &Timeouts) -> Result<()> {
    run(c, t, Mode::Trusted)
}

pub fn virtual_mode(c: &mut Console, t: &Timeouts) -> Result<()> {
    run(c, t, Mode::Virtual)
}

fn run(c: &mut Console, t: &Timeouts, mode: Mode) -> Result<()> {
    c.fail_on(guest::leak(PROBE));
    // A case that could not set itself up (say, a fresh instance whose timer never
    // arrives because the last one's active priority was left on the core) says so.
    c.fail_on(guest::probe_diag(PROBE));
    if mode != Mode::Trusted {
        c.fail_on(hv::unresponsive(PROBE));
    }
    c.expect_all(
        &[
            guest::banner(VICTIM),
            guest::probe_banner(PROBE),
            guest::probe_ready(PROBE),
        ],
        t.boot,
    )?;
    for case in ["bpr1", "stuck-00", "stuck-80"] {
        hold_then_restart(c, t, case)?;
    }
    if mode != Mode::Virtual {
        // Its timer moved to Group 0 and left firing (in virtual mode the group is the
        // model's, a virtual FIQ for the guest's own handler).
        hold_then_restart(c, t, "igroupr0")?;
    }
    if mode == Mode::Trusted {
        unresponsive_then_late(c, t, "ap1r 6000", &[0])?;
        unresponsive_then_late(c, t, "zombie 6000", &[0, 1])?;
    } else {
        hold_then_restart(c, t, "ap1r")?;
        hold_then_restart(c, t, "zombie")?;
    }
    // The watchdog takes a stuck core back on its own.
    command(c, t, "wd-stuck-00")?;
    c.expect(&guest::holding(PROBE, "wd-stuck-00", 0), t.step)?;
    c.expect(&hv::restarting_for(PROBE, "watchdog"), t.step)?;
    c.expect(&guest::probe_banner(PROBE), t.step)?;
    c.expect(&guest::probe_ready(PROBE), t.step)?;
    // A stop of a stuck VM is confirmed, and then it can start again.
    command(c, t, "stuck-00")?;
    c.expect(&guest::holding(PROBE, "stuck-00", 0), t.step)?;
    type_line(c, "vm stop probe", t)?;
    c.expect(&hv::stopped_for(PROBE, "shell"), t.step)?;
    type_line(c, "vm list", t)?;
    c.expect(&Pattern::regex(r"^\[rtvisor\] probe\s+stopped\s"), t.step)?;
    type_line(c, "vm start probe", t)?;
    c.expect(&guest::probe_banner(PROBE), t.step)?;
    c.expect(&guest::probe_ready(PROBE), t.step)?;
    // Accesses the GIC would take badly: refused.
    command(c, t, "gic-width")?;
    c.expect(&guest::contained(PROBE, "gic-width"), t.step)?;
    c.expect(&guest::probe_ready(PROBE), t.step)?;
    if mode != Mode::Virtual {
        // In virtual mode PPI 26 is the guest's own virtual interrupt.
        command(c, t, "gic-icfgr1")?;
        c.expect(&guest::contained(PROBE, "gic-icfgr1"), t.step)?;
        c.expect(&guest::probe_ready(PROBE), t.step)?;
    }
    let now = c.cursor();
    wait_summaries(c, VICTIM, now, 1, t)?;
    check_no_strays(c, VICTIM)
}

/// Types `cmd` on the probe's console and gives the console back to the shell; the
/// next waits start from where the command was typed (the probe may answer before the
/// shell says it has the console back).
fn command(c: &mut Console, t: &Timeouts, cmd: &str) -> Result<()> {
    type_line(c, "vm console probe", t)?;
    let typed = c.expect(&Pattern::contains("console input goes to vm probe"), t.step)?;
    c.send(&format!("{cmd}\r\x1d"))?;
    c.expect(
        &Pattern::contains("[rtvisor] console input back to the shell"),
        t.step,
    )?;
    c.set_cursor(typed + 1);
    Ok(())
}

/// The probe holds its core(s) after `case`; `vm restart` must still bring it back.
fn hold_then_restart(c: &mut Console, t: &Timeouts, case: &str) -> Result<()> {
    command(c, t, case)?;
    let mut holding = vec![guest::holding(PROBE, case, 0)];
    if case == "zombie" {
        holding.push(guest::holding(PROBE, case, 1));
    }
    c.expect_all(&holding, t.step)?;
    type_line(c, "vm restart probe", t)?;
    c.expect(&hv::restarting_for(PROBE, "shell"), t.step)?;
    c.expect(&guest::probe_banner(PROBE), t.step)?;
    c.expect(&guest::probe_ready(PROBE), t.step)?;
    Ok(())
}

/// Trusted direct mode: after `cmd` (a written ICC_AP1R0_EL1, held for 6 s; `vcpus`
/// announce their hold) a restart cannot take the core back: the VM must be reported
/// unresponsive and not start again, then be reported stopped once the guest lets go
/// (or its zombie vCPU calls SYSTEM_OFF); only then may it start.
fn unresponsive_then_late(c: &mut Console, t: &Timeouts, cmd: &str, vcpus: &[u32]) -> Result<()> {
    let case = cmd.split_whitespace().next().unwrap_or(cmd);
    command(c, t, cmd)?;
    let holding: Vec<Pattern> = vcpus
        .iter()
        .map(|&v| guest::holding(PROBE, case, v))
        .collect();
    c.expect_all(&holding, t.step)?;
    let asked = type_line(c, "vm restart probe", t)?;
    c.expect(&hv::unresponsive(PROBE), t.step)?;
    type_line(c, "vm list", t)?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] probe\s+unresponsive\s"),
        t.step,
    )?;
    type_line(c, "vm start probe", t)?;
    c.expect(&Pattern::contains("vm probe is unresponsive"), t.step)?;
    let late = c.expect(&hv::stopped_late(PROBE), t.step)?;
    // Nothing of a new instance ran over the stuck vCPU.
    if let Some(i) = c
        .find_from(asked, &guest::probe_banner(PROBE))
        .filter(|&i| i < late)
    {
        return Err(c.fail(
            "no new instance of probe while a vCPU of the old one runs",
            &format!("console line {} is a probe banner", i + 1),
        ));
    }
    type_line(c, "vm start probe", t)?;
    c.expect(&guest::probe_banner(PROBE), t.step)?;
    c.expect(&guest::probe_ready(PROBE), t.step)?;
    Ok(())
}
