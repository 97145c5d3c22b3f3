//! The x86 lifecycle system tests, on both vendors from the same ISO: one VM powers
//! off while the other runs on (`x86-off-one-*`), VMs reset each their own way and
//! only they restart (`x86-reset-one-*`), two VMs share memory (`x86-shm-*`), and the
//! hypervisor shell on COM1 (`x86-shell-*`). They check what the aarch64 tests of the
//! same names check (xtask/src/systest), with the x86 guests' banner (`el=0`, the
//! CPL) and each emulator's way of ending on the hypervisor's ACPI power-off.

use super::machine::Emulator;
use crate::console::{Console, Pattern};
use crate::systest::cases::{check_whole_lines, off_one_with, stays_up};
use crate::systest::shell::{
    console_switch, log_level_and_stop_start, shell_stays_up, shell_typing, type_line,
};
use crate::systest::{guest, hv, Timeouts};
use anyhow::Result;
use regex::escape;

/// rtbench's banner on x86: its vCPUs run at CPL 0 (`el=0`).
pub fn banner(vm: &str) -> Pattern {
    Pattern::regex(&format!(
        r"^\[{}\] rtbench: banner vcpus=\d+ el=0$",
        escape(vm)
    ))
}

/// tests/scenarios/x86-off-one.toml: `a` powers off by ACPI S5 after 3 counts, `b`
/// counts on to 10 and powers off too; the hypervisor stays up and its shell answers.
/// `a` printed a line with one REP OUTSB and read COM1's status with REP INSB as IN
/// reads it.
pub fn off_one(c: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    off_one_with(c, t, banner, &|c, t, stops| stays_up(c, t, stops))?;
    c.set_cursor(0);
    c.expect(
        &Pattern::contains("[a] rtbench: string-io rep outsb"),
        t.step,
    )?;
    c.expect(
        &Pattern::contains("[a] rtbench: string-io rep insb ok"),
        t.step,
    )?;
    Ok(())
}

/// The VMs of tests/scenarios/x86-reset-one.toml, each resetting by the method it
/// is named after.
pub const RESETTERS: &[&str] = &["cf9", "kbd", "triple"];

/// How many restarts of each VM the test waits for.
const RESTARTS: usize = 2;

/// tests/scenarios/x86-reset-one.toml: each of [`RESETTERS`] counts to 2, resets
/// and boots again from count 1, [`RESTARTS`] times; every restart of a VM is one it
/// asked for itself (a reset never restarts another VM), and between them it counts
/// 1, 2 without a break.
pub fn reset_one(c: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    // A reset method that returned instead of resetting.
    c.fail_on(Pattern::contains("did not reset"));
    let banners: Vec<Pattern> = RESETTERS.iter().map(|vm| banner(vm)).collect();
    c.expect_all(&banners, t.boot)?;
    for vm in RESETTERS {
        c.wait_for(
            |_| format!("vm {vm}'s banner after {RESTARTS} restarts"),
            t.step,
            |c| {
                let b = banner(vm);
                let boots = c.log().iter().filter(|l| b.is_match(l)).count();
                (boots > RESTARTS).then_some(())
            },
        )?;
    }
    for vm in RESETTERS {
        check_own_restarts(c, vm)?;
    }
    check_whole_lines(c, RESETTERS)?;
    check_tsc_offset(c)
}

/// `vm`'s lines and the hypervisor's restart lines of it, in order, follow the cycle
/// banner, count 1, count 2, done, restarting (the boot's `pvh version` and
/// `counter` lines aside).
fn check_own_restarts(c: &Console, vm: &str) -> Result<()> {
    let cycle = [
        banner(vm),
        guest::count(vm, 1),
        guest::count(vm, 2),
        guest::done(vm),
        hv::restarting(vm),
    ];
    let aside = Pattern::regex(&format!(
        r"^\[{}\] rtbench: (?:counter at-boot-us=|pvh version )",
        escape(vm)
    ));
    let restart_any = Pattern::regex(r"^\[rtvisor\] vm \S+: restarting");
    let mut next = 0;
    for (i, l) in c.log().iter().enumerate() {
        let own = l.starts_with(&format!("[{vm}] "));
        let its_restart = restart_any.is_match(l) && hv::restarting(vm).is_match(l);
        if !(own || its_restart) || aside.is_match(l) {
            continue;
        }
        if !cycle[next].is_match(l) {
            return Err(c.fail(
                &format!("vm {vm} restarts only when it reset itself, after counting 1, 2"),
                &format!("console line {} is {l:?}, expected {}", i + 1, cycle[next]),
            ));
        }
        next = (next + 1) % cycle.len();
    }
    Ok(())
}

/// `cf9` (counter offset `vm-start`) read its TSC near 0 at each boot so far (at least
/// its first and the one after its first restart), far below the
/// host's TSC that `kbd` (offset zero) read at its first boot.
fn check_tsc_offset(c: &Console) -> Result<()> {
    let at_boot = |vm: &str| -> Vec<u64> {
        let re = regex::Regex::new(&format!(r"^\[{vm}\] rtbench: counter at-boot-us=(\d+)$"))
            .expect("valid regex");
        c.log()
            .iter()
            .filter_map(|l| re.captures(l).and_then(|m| m[1].parse().ok()))
            .collect()
    };
    let (own, host) = (at_boot("cf9"), at_boot("kbd"));
    let what = "[cf9]'s TSC starts near 0 at each boot, below the host's TSC [kbd] read";
    match host.first() {
        Some(&h) if own.len() >= RESTARTS && own.iter().all(|&u| u < MAX_AT_BOOT_US && u < h) => {
            Ok(())
        }
        _ => Err(c.fail(
            what,
            &format!("cf9 read {own:?} us at its boots, kbd read {host:?} us"),
        )),
    }
}

/// How far into its run a guest may be when `main` reads the counter: its boot
/// (PVH entry, long mode, the TSC calibration) takes a few virtual milliseconds.
const MAX_AT_BOOT_US: u64 = 1_000_000;

/// tests/scenarios/x86-shm.toml: `ping` and `pong` exchange 50 values through `chan`,
/// each one rung and taken as its doorbell interrupt (I/O APIC pin 47, which each
/// guest routes to vector 0x5f): every round
/// answered, 50 doorbells on each side, none missed or late (the guest's 1 s wait
/// per doorbell prints an `rtbench-diag: shm timeout` line, which fails the test);
/// `pong`'s write to its read-only `stats` mapping does not land.
pub fn shm(c: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    c.fail_on(Pattern::contains("rtbench-diag: shm"));
    c.fail_on(Pattern::contains("ro-write ALLOWED"));
    c.expect(
        &Pattern::regex(r"^\[pong\] rtbench: shm ro-write (?:refused|dropped)$"),
        t.boot,
    )?;
    c.expect_all(
        &[
            Pattern::contains("[ping] rtbench: shm ready role=ping"),
            Pattern::contains("[pong] rtbench: shm ready role=pong"),
        ],
        t.boot,
    )?;
    c.expect_all(
        &[
            Pattern::regex(r"^\[ping\] rtbench: result metric=doorbell samples=50 "),
            Pattern::regex(r"^\[ping\] rtbench: shm done role=ping rounds=50 ok=50 doorbells=50$"),
            Pattern::regex(r"^\[pong\] rtbench: shm done role=pong rounds=50 ok=50 doorbells=50$"),
        ],
        t.step,
    )?;
    c.set_cursor(0);
    c.expect_all(&[hv::stopped("ping"), hv::stopped("pong")], t.step)?;
    c.expect(&hv::none_running(), t.step)?;
    type_line(c, "version", t)?;
    c.expect(&Pattern::regex(r"^\[rtvisor\] rtvisor \d"), t.step)?;
    Ok(())
}

/// tests/scenarios/x86-shell.toml: the shell on CPU 0 answers the commands the
/// aarch64 `shell` test types that mean the same on x86 (no timer latency yet:
/// both VMs count), stops, starts and restarts VMs, switches the console to a VM and
/// back with Ctrl-], copes with what a terminal sends, and stays up when no VM runs.
pub fn shell(c: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    let (rt, gp) = ("rt", "gp");
    let re = |s: &str| Pattern::regex(s);
    c.expect(&Pattern::contains("[rtvisor] shell on cpu 0"), t.boot)?;
    c.expect_all(&[banner(rt), banner(gp)], t.boot)?;
    type_line(c, "help", t)?;
    c.expect(&re(r"^\[rtvisor\]\s+vm restart NAME\s+\S"), t.step)?;
    c.expect(&re(r"^\[rtvisor\]\s+log level \[LEVEL\]\s+\S"), t.step)?;
    type_line(c, "vm list", t)?;
    c.expect(&re(r"^\[rtvisor\] rt\s+running\s+3\s+16M\s+0\s+-$"), t.step)?;
    c.expect(
        &re(r"^\[rtvisor\] gp\s+running\s+1,2\s+16M\s+0\s+-$"),
        t.step,
    )?;
    // vCPU ids are the virtual APIC ids. gp's vCPU 1 is listed once it has run (its
    // affinity line): typed earlier, it may be on without an exit yet.
    c.expect_n_since(
        0,
        &Pattern::contains("[gp] rtbench: vcpu 1 affinity"),
        1,
        t.boot,
    )?;
    type_line(c, "vcpu list", t)?;
    c.expect(
        &re(r"^\[rtvisor\] rt\s+0\s+3\s+0x0\s+on\s+[1-9]\d*$"),
        t.step,
    )?;
    c.expect(
        &re(r"^\[rtvisor\] gp\s+1\s+2\s+0x1\s+(?:on\s+[1-9]\d*|off\s+\d+)$"),
        t.step,
    )?;
    type_line(c, "mem map", t)?;
    for l in mem_map_lines() {
        c.expect(&l, t.step)?;
    }
    // The shell's CPU polls COM1: what was typed counts as its receive interrupts
    // (`uart`), the polling itself as no interrupt at all (not `spurious`).
    crate::systest::shell::irq_stats(c, t)?;
    c.expect(
        &re(r"^\[rtvisor\] 0\s+shell(?:\s+\d+){4}\s+[1-9]\d*\s+\d{1,2}$"),
        t.step,
    )?;
    // Stop gp: rt counts on.
    log_level_and_stop_start(c, t, gp, banner(gp), &|c: &mut Console, at| {
        c.expect_n_since(at, &guest::count_any(rt), 2, t.step)
            .map(drop)
    })?;
    // Restart rt from the shell; the restart is counted.
    type_line(c, "vm restart rt", t)?;
    c.expect(&hv::restarting(rt), t.step)?;
    c.expect(&banner(rt), t.step)?;
    c.expect(&guest::count(rt, 1), t.step)?;
    type_line(c, "vm info rt", t)?;
    c.expect(
        &Pattern::contains("[rtvisor]   restarts 1, last stop: shell"),
        t.step,
    )?;
    type_line(c, "vm stop nope", t)?;
    c.expect(&Pattern::contains("[rtvisor] no VM named `nope`"), t.step)?;
    console_switch(c, t)?;
    shell_typing(c, t)?;
    shell_stays_up(c, t, banner)?;
    check_whole_lines(c, &[rt, gp])
}

/// What `mem map` shows for tests/scenarios/x86-shell.toml, in order: the image at
/// its link address, each VM's RAM from 0 (rt's host copy first) and its emulated
/// doorbell page, I/O APIC and local APIC.
fn mem_map_lines() -> Vec<Pattern> {
    let re = |s: &str| Pattern::regex(s);
    let emulated = |vm: &str, name: &str, ipa: &str| {
        re(&format!(
            r"^\[rtvisor\] {vm}\s+emulated\s+{name}\s+{ipa}\s+-\s+4K\s+trap$"
        ))
    };
    let mut l = vec![re(
        r"^\[rtvisor\] rtvisor\s+memory\s+-\s+-\s+0x200000\s+\d+M\s+-$",
    )];
    for (vm, hpa) in [("rt", "0x2200000"), ("gp", "0x3200000")] {
        l.push(re(&format!(
            r"^\[rtvisor\] {vm}\s+ram\s+-\s+0x0\s+{hpa}\s+16M\s+rw$"
        )));
        l.push(emulated(vm, "doorbell", "0xfeb00000"));
        l.push(emulated(vm, "ioapic", "0xfec00000"));
        l.push(emulated(vm, "lapic", "0xfee00000"));
    }
    l
}

/// The x86 demo's scenario (`cargo xtask demo --arch x86_64`), typed at as a person
/// would: the shell on CPU 0, both VMs counting, `vm list`, and the console to `gp`
/// and back with Ctrl-].
pub fn demo(c: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    let (rt, gp) = ("rt", "gp");
    c.expect(&Pattern::contains("[rtvisor] shell on cpu 0"), t.boot)?;
    c.expect_all(&[banner(rt), banner(gp)], t.boot)?;
    c.expect_all(&[guest::count(rt, 2), guest::count(gp, 1)], t.step)?;
    type_line(c, "vm list", t)?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] rt\s+running\s+3\s+16M\s+0\s+-$"),
        t.step,
    )?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] gp\s+running\s+1,2\s+16M\s+0\s+-$"),
        t.step,
    )?;
    console_switch(c, t)?;
    check_whole_lines(c, &[rt, gp])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_what_the_hypervisor_and_the_guests_print() {
        assert!(banner("cf9").is_match("[cf9] rtbench: banner vcpus=1 el=0"));
        assert!(!banner("cf9").is_match("[cf9] rtbench: banner vcpus=1 el=1"));
        assert!(!banner("cf9").is_match("[kbd] rtbench: banner vcpus=1 el=0"));
        let shown = [
            "[rtvisor] rtvisor memory   -        -          0x200000   32M  -",
            "[rtvisor] rt      ram      -        0x0        0x2200000  16M  rw",
            "[rtvisor] rt      emulated doorbell 0xfeb00000 -           4K  trap",
            "[rtvisor] rt      emulated ioapic   0xfec00000 -           4K  trap",
            "[rtvisor] rt      emulated lapic    0xfee00000 -           4K  trap",
            "[rtvisor] gp      ram      -        0x0        0x3200000  16M  rw",
            "[rtvisor] gp      emulated doorbell 0xfeb00000 -           4K  trap",
            "[rtvisor] gp      emulated ioapic   0xfec00000 -           4K  trap",
            "[rtvisor] gp      emulated lapic    0xfee00000 -           4K  trap",
        ];
        let want = mem_map_lines();
        assert_eq!(want.len(), shown.len());
        for (p, l) in want.iter().zip(shown) {
            assert!(p.is_match(l), "{p} against {l:?}");
        }
        // A VM's RAM mapped writable elsewhere is not what the scenario says.
        assert!(
            !want[1].is_match("[rtvisor] rt      ram      -        0x0        0x3200000  16M  rw")
        );
    }
}
