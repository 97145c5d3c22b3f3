//! T2: a boot-time FATAL ends QEMU with the failure status.
//!
//! `fatal-exit` boots tests/scenarios/two-vms.toml (VM `rt` on CPU 3) on a QEMU with
//! two CPUs: the hypervisor's check of the scenario against the machine fails, it
//! prints the FATAL line and, the board offering semihosting, ends QEMU with
//! `FATAL_EXIT_STATUS`: it must not sit at `all CPUs halted` until a timeout.

use super::{hv, Timeouts};
use crate::console::{Console, Pattern};
use anyhow::Result;
use rtvisor_config::tables::FATAL_EXIT_STATUS;

pub fn fatal_exit(c: &mut Console, t: &Timeouts) -> Result<()> {
    // This test wants the FATAL line the other tests fail on.
    c.clear_fail_on();
    let what = "vm rt: cpu 3 does not exist here (2 CPUs); fix: start QEMU with more CPUs \
                (-smp) or change [[vm]] cpus";
    c.expect(&hv::fatal(what), t.boot)?;
    c.expect(&Pattern::contains("[rtvisor] all CPUs halted"), t.step)?;
    c.expect_exit(FATAL_EXIT_STATUS as i32, t.step)
}

/// `fatal-nested`: the same boot on a QEMU without semihosting, whose board says it
/// has it. The exit call is an undefined instruction at EL2; its exception comes back
/// into the FATAL path, which must report it once and halt, not recurse.
pub fn fatal_nested(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.clear_fail_on();
    let nested = Pattern::regex(
        r"^\[rtvisor\] fault inside the FATAL path: hypervisor synchronous exception on cpu \d+: ESR=0x2000000 ",
    );
    c.fail_on(Pattern::contains("[rtvisor] panic"));
    c.expect(&Pattern::contains("[rtvisor] FATAL: vm rt: cpu 3"), t.boot)?;
    c.expect(&Pattern::contains("[rtvisor] all CPUs halted"), t.step)?;
    c.expect(&nested, t.step)?;
    // One FATAL report, then the nested one: no recursion.
    let fatal = Pattern::contains("[rtvisor] FATAL");
    let n = c.log().iter().filter(|l| fatal.is_match(l)).count();
    if n != 1 {
        return Err(c.fail("one FATAL line", &format!("{n} FATAL lines")));
    }
    Ok(())
}
