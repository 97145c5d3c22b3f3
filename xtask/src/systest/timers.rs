//! A guest's EL1 timers, against bare QEMU: the probe's `mode=timers`
//! (guests/probe/src/arch/aarch64/timers.rs) in a virtual-mode VM and a direct-mode VM
//! prints [`LINES`], and booted bare by QEMU's own `-kernel` it prints the same.

use super::{hv, Timeouts};
use crate::console::{Console, Pattern};
use crate::qemu;
use crate::util::{out_dir, root, say};
use anyhow::Result;
use regex::escape;
use rtvisor::qemu::{Boot, ConsoleMode, QemuCommand};

/// What the probe prints, in order, bare and in each VM.
pub const LINES: &[&str] = &[
    "probe: timers: vtimer ppi-disabled ctl=0x5 gic-pending=1",
    "probe: timers: vtimer masked ctl=0x7 gic-pending=0",
    "probe: timers: vtimer stopped gic-pending=0",
    "probe: timers: ptimer counter advances=yes",
    "probe: timers: ptimer tval cval-ok=yes tval-counts-down=yes",
    "probe: timers: ptimer irq=30 ctl-in-handler=0x5",
    "probe: timers: ptimer tval-after-expiry negative=yes",
    "probe: timers: ptimer ppi-disabled ctl=0x5 gic-pending=1",
    "probe: timers: done",
];

/// The VMs of tests/scenarios/timers.toml: one per interrupt mode.
const VMS: [&str; 2] = ["virt", "direct"];

/// Waits for every line of [`LINES`] after `prefix`, in order.
fn expect_lines(c: &mut Console, prefix: &str, t: &Timeouts) -> Result<()> {
    for (i, line) in LINES.iter().enumerate() {
        let wait = if i == 0 { t.boot } else { t.step };
        c.expect(
            &Pattern::regex(&format!("^{}{}$", escape(prefix), escape(line))),
            wait,
        )?;
    }
    Ok(())
}

/// Both VMs print the lines and stop; then bare QEMU does the same.
pub fn timers(c: &mut Console, t: &Timeouts) -> Result<()> {
    for vm in VMS {
        c.set_cursor(0);
        expect_lines(c, &format!("[{vm}] "), t)?;
        c.expect(&hv::stopped(vm), t.step)?;
    }
    let bin = root().join("target/guests/probe.bin");
    let mut boot = Boot::kernel(&bin);
    boot.append = Some("mode=timers".to_owned());
    let mut q = QemuCommand::bare(1, 64, boot);
    q.console = ConsoleMode::Captured;
    say(format!("booting the probe bare: {}", q.line()));
    let mut bare = Console::spawn("timers-bare", qemu::spawn_captured(&q)?);
    bare.set_log_file(out_dir("systest")?.join("timers-bare.log"));
    expect_lines(&mut bare, "", t)?;
    bare.expect_exit(0, t.step)?;
    Ok(())
}
