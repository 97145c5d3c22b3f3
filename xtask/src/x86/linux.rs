//! T3 `linux-x86`: Debian's amd64 Linux (`cargo xtask linux --x86`) in a 2-vCPU VM
//! beside `rt` on QEMU q35 (AMD-V), scenarios/x86-linux.toml. As the aarch64 T3 as far
//! as it goes on x86 today: the busybox shell, `nproc` = 2, the local timer line of
//! /proc/interrupts counting on both CPUs, `poweroff -f` stopping only Linux while
//! `rt` counts on. Not yet `reboot -f`: Linux prints `reboot: machine restart` and
//! then never exits to the hypervisor again (docs/x86.md).

use super::machine::Emulator;
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::{ensure, Context, Result};

pub const SCENARIO: &str = "scenarios/x86-linux.toml";

/// Linux's boot to its shell is slow under nested TCG: this many boot timeouts.
const BOOT_FACTOR: u32 = 4;

/// The two per-CPU counts of the `LOC:` (local timer interrupts) line.
fn loc_counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.split("LOC:").nth(1)?;
    let mut n = rest.split_whitespace().map(str::parse::<u64>);
    Some((n.next()?.ok()?, n.next()?.ok()?))
}

/// Types `grep LOC: /proc/interrupts` and returns the two counts it prints.
fn read_loc(con: &mut Console, t: &Timeouts) -> Result<(u64, u64)> {
    let from = con.cursor();
    con.send("grep LOC: /proc/interrupts\n")?;
    let pat = Pattern::regex(r"^\[linux\]\s+LOC:\s+\d+\s+\d+");
    let i = con.expect(&pat, t.step)?;
    ensure!(i >= from, "the LOC line came before it was asked for");
    loc_counts(con.line(i)).context("parsing the LOC line")
}

/// Waits for Linux's `/init` to hand over to the shell, and for the shell to answer.
fn shell(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.expect(
        &Pattern::contains("[linux] rtvisor-linux: ready"),
        t.boot * BOOT_FACTOR,
    )?;
    con.expect(&Pattern::contains("built-in shell (ash)"), t.step)?;
    // The shell is at its prompt once a builtin's output comes back.
    con.send("echo shell-up\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] shell-up\s*$"), t.step)?;
    Ok(())
}

pub fn run(con: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    shell(con, t)?;
    con.send("nproc\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] 2\s*$"), t.step)?;
    let (a0, a1) = read_loc(con, t)?;
    con.send("sleep 2\n")?;
    let (b0, b1) = read_loc(con, t)?;
    ensure!(
        b0 > a0 && b1 > a1,
        "the local timer did not count on both CPUs: LOC {a0} {a1}, then {b0} {b1}"
    );
    con.send("poweroff -f\n")?;
    let off = con.expect(
        &Pattern::regex(r"^\[rtvisor\] vm linux: stopped \(system-off\)"),
        t.step,
    )?;
    // rt counts on after Linux stopped.
    con.set_cursor(off);
    con.expect(&Pattern::regex(r"^\[rt\] rtbench: count \d+"), t.step)?;
    con.expect(&Pattern::regex(r"^\[rt\] rtbench: count \d+"), t.step)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_local_timer_line() {
        let l = "[linux]  LOC:       1234        567   Local timer interrupts";
        assert_eq!(loc_counts(l), Some((1234, 567)));
        assert_eq!(loc_counts("[linux]  LOC:       12"), None);
        assert_eq!(loc_counts("[linux] NMI: 0 0"), None);
    }
}
