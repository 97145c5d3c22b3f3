//! T2 test of the hypervisor shell (`shell`): commands typed on the console, what a
//! terminal sends (DEL, escape sequences, a long paste), and the shell staying up
//! when the last VM is stopped.

use super::cases::{check_no_strays, check_whole_lines, wait_summaries};
use super::{guest, hv, Timeouts};
use crate::console::{Console, Pattern};
use anyhow::Result;

/// Types `line` on the console and waits for the shell to echo it.
pub(crate) fn type_line(c: &mut Console, line: &str, t: &Timeouts) -> Result<usize> {
    c.send(&format!("{line}\r"))?;
    c.expect(&Pattern::contains(format!("[rtvisor] > {line}")), t.step)
}

pub fn shell(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (rt, gp) = ("rt", "gp");
    let re = |s: &str| Pattern::regex(s);
    c.expect(&Pattern::contains("[rtvisor] shell on cpu 0"), t.boot)?;
    c.expect_all(&[guest::banner(rt), guest::banner(gp)], t.boot)?;
    type_line(c, "help", t)?;
    c.expect(&re(r"^\[rtvisor\]\s+vm restart NAME\s+\S"), t.step)?;
    c.expect(&re(r"^\[rtvisor\]\s+log level \[LEVEL\]\s+\S"), t.step)?;
    type_line(c, "vm list", t)?;
    c.expect(&re(r"^\[rtvisor\] rt\s+running\s+3\s+16M\s+0\s+-$"), t.step)?;
    c.expect(
        &re(r"^\[rtvisor\] gp\s+running\s+1,2\s+16M\s+0\s+-$"),
        t.step,
    )?;
    // The read-only views, once rt has reported its timer latency.
    let now = c.cursor();
    wait_summaries(c, rt, now, 1, t)?;
    type_line(c, "vcpu list", t)?;
    c.expect(
        &re(r"^\[rtvisor\] rt\s+0\s+3\s+0x0\s+on\s+[1-9]\d*$"),
        t.step,
    )?;
    c.expect(
        &re(r"^\[rtvisor\] gp\s+1\s+2\s+0x1\s+(?:on|off)\s+[1-9]\d*$"),
        t.step,
    )?;
    type_line(c, "mem map", t)?;
    c.expect(
        &re(r"^\[rtvisor\] rtvisor\s+memory\s+-\s+-\s+0x40200000\s+32M\s+-$"),
        t.step,
    )?;
    c.expect(
        &re(r"^\[rtvisor\] rt\s+ram\s+-\s+0x40000000\s+0x42200000\s+16M\s+rw$"),
        t.step,
    )?;
    c.expect(
        &re(r"^\[rtvisor\] rt\s+emulated\s+gicr\s+0x80a0000\s+-\s+128K\s+trap$"),
        t.step,
    )?;
    c.expect(
        &re(r"^\[rtvisor\] gp\s+ram\s+-\s+0x40000000\s+0x43200000\s+16M\s+rw$"),
        t.step,
    )?;
    c.expect(
        &re(r"^\[rtvisor\] gp\s+emulated\s+gicr\s+0x80a0000\s+-\s+256K\s+trap$"),
        t.step,
    )?;
    irq_stats(c, t)?;
    // Columns: sgi vtimer maint spi uart spurious. The shell CPU counts what was
    // typed. rt's CPU shows its row, but its timer ticks all go through the vector's
    // fast path, which `irq stats` does not count (see `IrqKind::Vtimer`).
    c.expect(
        &re(r"^\[rtvisor\] 0\s+shell\s+\d+\s+0\s+0\s+0\s+[1-9]\d*\s+\d+$"),
        t.step,
    )?;
    c.expect(&re(r"^\[rtvisor\] 3\s+rt/0(?:\s+\d+){6}$"), t.step)?;
    // `latency` shows rt's last summary (or the one before, if a new one was printed
    // but not yet kept when the shell answered).
    let latency = |c: &mut Console| -> Result<()> {
        type_line(c, "latency", t)?;
        let answer = c.expect(
            &re(concat!(
                r"^\[rtvisor\] rt\s+timer (samples=500 min_ns=(?:\d+|unavailable) avg_ns=\d+ max_ns=\d+ ",
                r"cnt_min_ns=\d+ cnt_avg_ns=\d+ cnt_max_ns=\d+)  \(age \d+\.\ds\)$"
            )),
            t.step,
        )?;
        let figures = |l: &str| l.split_once("metric=timer ").map(|(_, f)| f.to_owned());
        let shown = c
            .line(answer)
            .split_once(" timer ")
            .map(|(_, f)| f.to_owned());
        let shown = shown.and_then(|f| f.rsplit_once("  (age ").map(|(f, _)| f.to_owned()));
        let printed: Vec<String> = c.log()[..answer]
            .iter()
            .filter(|l| l.starts_with("[rt] rtbench: result metric=timer "))
            .filter_map(|l| figures(l))
            .collect();
        let recent = &printed[printed.len().saturating_sub(2)..];
        if shown.as_ref().is_none_or(|f| !recent.contains(f)) {
            let why = format!("shell showed {shown:?}, rt last printed {recent:?}");
            return Err(c.fail("`latency` shows rt's last timer summary", &why));
        }
        Ok(())
    };
    latency(c)?;
    // Stop gp: rt keeps taking its timer.
    log_level_and_stop_start(c, t, gp, guest::banner(gp), &|c: &mut Console, at| {
        wait_summaries(c, rt, at, 2, t)
    })?;
    // Restart rt from the shell; the restart is counted.
    type_line(c, "vm restart rt", t)?;
    c.expect(&hv::restarting(rt), t.step)?;
    c.expect(&guest::banner(rt), t.step)?;
    type_line(c, "vm info rt", t)?;
    c.expect(
        &Pattern::contains("[rtvisor]   restarts 1, last stop: shell"),
        t.step,
    )?;
    // The restart kicked rt's CPU with the hypervisor's SGI.
    type_line(c, "irq stats", t)?;
    c.expect(
        &re(r"^\[rtvisor\] 3\s+rt/0\s+[1-9]\d*\s+\d+\s+\d+\s+0\s+0\s+\d+$"),
        t.step,
    )?;
    latency(c)?;
    type_line(c, "vm stop nope", t)?;
    c.expect(&Pattern::contains("[rtvisor] no VM named `nope`"), t.step)?;
    console_switch(c, t)?;
    shell_typing(c, t)?;
    shell_stays_up(c, t, guest::banner)?;
    check_no_strays(c, rt)?;
    check_whole_lines(c, &[rt, gp])
}

/// `log level` there and back, then `vm stop gp` (`alive` checks that the other VM
/// goes on after console line `at`), `vm list` saying why gp stopped, and `vm start gp`:
/// a fresh boot (`banner`, counts from 1). Shared by the aarch64 and x86 shell tests.
pub(crate) fn log_level_and_stop_start(
    c: &mut Console,
    t: &Timeouts,
    gp: &str,
    banner: Pattern,
    alive: &dyn Fn(&mut Console, usize) -> Result<()>,
) -> Result<()> {
    let re = |s: &str| Pattern::regex(s);
    for (level, was) in [("debug", "info"), ("info", "debug")] {
        type_line(c, &format!("log level {level}"), t)?;
        c.expect(
            &Pattern::contains(format!("[rtvisor] log level {level} (was {was})")),
            t.step,
        )?;
    }
    type_line(c, &format!("vm stop {gp}"), t)?;
    let stopped = c.expect(&hv::stopped(gp), t.step)?;
    alive(c, stopped)?;
    type_line(c, "vm list", t)?;
    c.expect(
        &re(&format!(
            r"^\[rtvisor\] {gp}\s+stopped\s+1,2\s+16M\s+0\s+shell$"
        )),
        t.step,
    )?;
    type_line(c, &format!("vm start {gp}"), t)?;
    c.expect(
        &Pattern::contains(format!("[rtvisor] vm {gp}: started (shell)")),
        t.step,
    )?;
    c.expect(&banner, t.step)?;
    c.expect(&guest::count(gp, 1), t.step)?;
    Ok(())
}

/// Console switch and back: input goes to gp (which does not read it) until Ctrl-];
/// a shell command typed meanwhile is not run.
pub(crate) fn console_switch(c: &mut Console, t: &Timeouts) -> Result<()> {
    let versions = |c: &Console| {
        c.log()
            .iter()
            .filter(|l| l.starts_with("[rtvisor] rtvisor "))
            .count()
    };
    let before = versions(c);
    type_line(c, "vm console gp", t)?;
    c.expect(
        &Pattern::contains("[rtvisor] console input goes to vm gp; Ctrl-] returns to the shell"),
        t.step,
    )?;
    c.send("version\r")?;
    c.send("\x1d")?;
    c.expect(
        &Pattern::contains("[rtvisor] console input back to the shell"),
        t.step,
    )?;
    type_line(c, "version", t)?;
    c.expect(&Pattern::regex(r"^\[rtvisor\] rtvisor \d"), t.step)?;
    let answers = versions(c) - before;
    if answers != 1 {
        return Err(c.fail(
            "`version` typed while gp had the console is not run by the shell",
            &format!("{answers} `version` answers since `vm console gp`"),
        ));
    }
    Ok(())
}

/// What a terminal sends: DEL erases, escape sequences (an arrow key, a window-title
/// OSC) go whole, an overlong paste is refused whole with one message.
pub(crate) fn shell_typing(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.send("vm lisx\x7ft\r")?;
    c.expect(&Pattern::regex(r"^\[rtvisor\] > vm list$"), t.step)?;
    c.send("\x1b[A\x1b]0;a title\x07vers\x1b[Dion\r")?;
    c.expect(&Pattern::regex(r"^\[rtvisor\] > version$"), t.step)?;
    let paste = c.cursor();
    c.send(&format!("{}\r", "x".repeat(5000)))?;
    c.expect(
        &Pattern::contains("[rtvisor] line too long (5000 bytes, at most 200): ignored"),
        t.step,
    )?;
    type_line(c, "version", t)?;
    let pieces = c.log()[paste..]
        .iter()
        .filter(|l| l.starts_with("[rtvisor] > x") || l.contains("unknown command"))
        .count();
    if pieces != 0 {
        return Err(c.fail(
            "a 5,000-byte line refused whole, no piece of it run",
            &format!("{pieces} echoes or answers of pieces"),
        ));
    }
    Ok(())
}

/// `vm stop` of the last running VM: the hypervisor says no VM runs and the shell
/// answers on; `vm start` boots a VM again (its banner is `banner`).
pub(crate) fn shell_stays_up(
    c: &mut Console,
    t: &Timeouts,
    banner: fn(&str) -> Pattern,
) -> Result<()> {
    let (rt, gp) = ("rt", "gp");
    type_line(c, "vm stop gp", t)?;
    c.expect(&hv::stopped(gp), t.step)?;
    type_line(c, "vm stop rt", t)?;
    c.expect(&hv::stopped(rt), t.step)?;
    c.expect(&hv::none_running(), t.step)?;
    type_line(c, "vm list", t)?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] rt\s+stopped\s+3\s+16M\s+1\s+shell$"),
        t.step,
    )?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] gp\s+stopped\s+1,2\s+16M\s+0\s+shell$"),
        t.step,
    )?;
    type_line(c, "vm start rt", t)?;
    c.expect(&banner(rt), t.step)?;
    c.expect_not(&hv::all_stopped())
}

/// Types `irq stats` and waits for its header line (the CPUs' rows follow).
pub(crate) fn irq_stats(c: &mut Console, t: &Timeouts) -> Result<()> {
    type_line(c, "irq stats", t)?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] cpu\s+runs\s+sgi\s+vtimer\s+maint\s+spi\s+uart\s+spurious$"),
        t.step,
    )
    .map(drop)
}
