//! `x86-demo-linux-amd`: the x86 demo's own scenario (scenarios/x86-demo.toml, what
//! `cargo xtask demo --arch x86_64` runs) on QEMU q35 (AMD-V). It differs from
//! `linux-x86`'s in what a newcomer meets first: `rt` has its local APIC passed
//! through (direct mode) and publishes a summary every second, Linux has 512 MiB and
//! its two PCI functions. Checked: Linux's shell, `nproc` = 2, `rtstats -w 2` showing
//! two newer summaries that `rt` printed, the disk's file and its MSI-X interrupts, a
//! ping through the NIC, and `poweroff -f` stopping only Linux while `rt` reports on.

use super::linux::{pci, poweroff_leaves_rt, rt_stats, shell, PANICS};
use super::machine::Emulator;
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::Result;

pub fn run(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    con.fail_on(crate::systest::hv::restarting("rt"));
    con.fail_on(crate::systest::hv::stopped("rt"));
    for p in PANICS {
        con.fail_on(Pattern::contains(*p));
    }
    shell(con, t, emu)?;
    con.send("nproc\n")?;
    con.expect(&Pattern::regex(r"^\[linux\] 2\s*$"), t.step)?;
    rt_stats(con, t)?;
    pci(con, t)?;
    poweroff_leaves_rt(con, t)
}
