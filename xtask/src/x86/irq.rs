//! The x86 system tests of interrupts into guests, on both vendors:
//! - `x86-smp-*` (tests/scenarios/x86-smp.toml): a VM with two vCPUs takes its
//!   TSC-deadline timer interrupt on vCPU 0 and exchanges IPI round trips between
//!   its vCPUs (rtbench bench mode), with no stray interrupt, then stops;
//! - `x86-watchdog-*` (tests/scenarios/x86-watchdog.toml): the watchdog of `wd`
//!   expires on the hypervisor's own APIC timer and `wd` restarts while `other`
//!   counts on (the twin of aarch64's `watchdog`).

use super::cases::line;
use super::machine::Emulator;
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::Result;

/// The x86 interrupt scenarios.
pub const SMP: &str = "tests/scenarios/x86-smp.toml";
pub const WATCHDOG: &str = "tests/scenarios/x86-watchdog.toml";

/// `[vm] <rest>` as a whole line (`rest` a regex).
fn vm_line(vm: &str, rest: &str) -> Pattern {
    Pattern::regex(&format!(r"^\[{}\] {rest}$", regex::escape(vm)))
}

/// rtbench's banner at CPL 0 (x86's "el=0").
fn banner(vm: &str, vcpus: &str) -> Pattern {
    vm_line(vm, &format!(r"rtbench: banner vcpus={vcpus} el=0"))
}

fn result(vm: &str, metric: &str, samples: u32) -> Pattern {
    vm_line(
        vm,
        &format!(
            r"rtbench: result metric={metric} samples={samples} min_ns=\d+ avg_ns=\d+ max_ns=\d+.*"
        ),
    )
}

/// Timer interrupts and IPIs inside one VM: every sample is taken, no vector
/// reaches the guest that it did not expect, vCPU 1 starts and answers every IPI.
pub fn smp(c: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    let vm = "smp";
    for diag in [
        "ipi timeout",
        "never came online",
        "setup failed",
        "cpu_on vcpu 1 failed",
    ] {
        c.fail_on(Pattern::contains(format!("[{vm}] rtbench-diag: {diag}")));
    }
    c.fail_on(vm_line(vm, r"rtbench: stray irqs=[1-9]\d*"));
    c.expect(&line::hv_vendor(emu.vendor()), t.boot)?;
    c.expect(&banner(vm, "2"), t.step)?;
    c.expect_all(
        &[
            vm_line(vm, r"rtbench: stray irqs=0"),
            result(vm, "timer", 20),
            result(vm, "hvc", 5),
            result(vm, "ipi", 20),
            vm_line(vm, "rtbench: bench done"),
            crate::systest::hv::stopped(vm),
        ],
        t.step,
    )?;
    Ok(())
}

/// The watchdog of `wd` (1000 ms, kicked on counts 1-3 only) expires and restarts
/// it; `other` is not touched and counts on. On QEMU the shell's `vm list` shows the
/// restart and its reason (Bochs' COM1 is a file: no shell there).
pub fn watchdog(c: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    let (wd, other) = ("wd", "other");
    c.fail_on(crate::systest::hv::restarting(other));
    c.fail_on(crate::systest::hv::stopped(other));
    c.expect(&line::hv_vendor(emu.vendor()), t.boot)?;
    c.expect(
        &vm_line(wd, r"rtbench: watchdog armed ms=1000 -> 0"),
        t.step,
    )?;
    c.expect(&vm_line(wd, "rtbench: count 3"), t.step)?;
    c.expect(
        &Pattern::contains("[rtvisor] vm wd: restarting (watchdog)"),
        t.step,
    )?;
    c.expect(&banner(wd, r"\d+"), t.step)?;
    c.expect(&vm_line(wd, "rtbench: count 1"), t.step)?;
    c.expect(&vm_line(other, r"rtbench: count \d+"), t.step)?;
    if emu == Emulator::Qemu {
        c.send("vm list\r")?;
        c.expect(&Pattern::contains("[rtvisor] > vm list"), t.step)?;
        c.expect(
            &Pattern::regex(r"^\[rtvisor\] wd\s+running\s+1\s+16M\s+[1-9]\d*\s+watchdog$"),
            t.step,
        )?;
        c.expect(
            &Pattern::regex(r"^\[rtvisor\] other\s+running\s+3\s+16M\s+0\s+-$"),
            t.step,
        )?;
    }
    Ok(())
}
