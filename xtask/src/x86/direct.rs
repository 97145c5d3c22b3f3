//! `x86-direct-*` (tests/scenarios/x86-direct.toml): LAPIC pass-through on both
//! vendors. Every VM is direct: `rt` takes its timer interrupts on its core's own
//! APIC (rtbench's timer phase, no stray vector), resets and takes them again; the
//! probe's INIT-SIPI and IPI/NMI flood to every foreign APIC id is dropped (all its
//! cases contained; `rt` would count a foreign vector as a stray), and its COM1
//! interrupt, routed by its emulated I/O APIC, reaches its own core once as a
//! physical fixed IPI; it powers off with an interrupt on vector 18 (the machine
//! check's) pending at its core, which the hypervisor drops; `wd`'s watchdog,
//! watched by the boot CPU, expires and the hypervisor takes its core back with an
//! NMI and restarts it; the shell stops `rt` in the middle of its work and starts it
//! again.

use super::cases::line;
use super::machine::Emulator;
use crate::console::{Console, Pattern};
use crate::systest::{hv, Timeouts};
use anyhow::Result;

/// The scenario.
pub const DIRECT: &str = "tests/scenarios/x86-direct.toml";

fn vm_line(vm: &str, rest: &str) -> Pattern {
    Pattern::regex(&format!(r"^\[{}\] {rest}$", regex::escape(vm)))
}

/// rtbench's timer result with all of its 50 samples.
fn timer(vm: &str) -> Pattern {
    vm_line(
        vm,
        r"rtbench: result metric=timer samples=50 min_ns=\d+ avg_ns=\d+ max_ns=\d+.*",
    )
}

pub fn direct(c: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    let (rt, wd, probe) = ("rt", "wd", "probe");
    c.fail_on(vm_line(rt, r"rtbench: stray irqs=[1-9]\d*"));
    c.fail_on(Pattern::contains(
        "rtbench-diag: interrupt controller setup failed",
    ));
    c.fail_on(Pattern::contains("unexpected exception"));
    c.fail_on(Pattern::regex(r"^\[probe\] probe: .*LEAK"));
    c.fail_on(Pattern::contains("FATAL"));
    c.fail_on(Pattern::contains("unresponsive"));
    c.expect(&line::hv_vendor(emu.vendor()), t.boot)?;
    // The three VMs run side by side: their lines come in any order.
    c.expect_all(
        &[
            vm_line(rt, "rtbench: stray irqs=0"),
            timer(rt),
            vm_line(rt, "rtbench: bench done"),
            hv::restarting(rt),
            // Its cases with the keys given here, every one contained.
            vm_line(probe, r"probe: done cases=18 contained=18"),
            // COM1's interrupt through its emulated I/O APIC, as a physical IPI.
            vm_line(probe, r"probe: ioapic-com1: contained \(.*taken once.*\)"),
            // An interrupt on the machine check's vector left pending at its core:
            // the hypervisor takes the core back and drops it (no FATAL).
            vm_line(probe, "probe: vector 0x12 left pending at power-off: true"),
            hv::stopped(probe),
            Pattern::contains("[rtvisor] vm wd: restarting (watchdog)"),
        ],
        t.step,
    )?;
    // After the reset: the core is the guest's again, its timer too.
    c.expect_all(&[timer(rt), vm_line(rt, "rtbench: bench done")], t.step)?;
    c.expect(&vm_line(wd, r"rtbench: banner vcpus=1 el=0"), t.step)?;
    c.expect(&vm_line(wd, "rtbench: count 1"), t.step)?;
    // The shell takes rt's core back wherever its guest is, and gives it back.
    c.expect(&vm_line(rt, r"rtbench: banner vcpus=1 el=0"), t.step)?;
    c.send("vm stop rt\r")?;
    c.expect(&hv::stopped(rt), t.step)?;
    c.send("vm start rt\r")?;
    c.expect_all(
        &[
            vm_line(rt, r"rtbench: banner vcpus=1 el=0"),
            vm_line(rt, "rtbench: stray irqs=0"),
            timer(rt),
        ],
        t.step,
    )?;
    Ok(())
}
