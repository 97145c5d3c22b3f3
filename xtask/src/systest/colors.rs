//! T2 test of cache coloring (`colors`): two VMs whose RAM is built from host pages
//! of disjoint LLC colors each check their RAM, side by side; the hypervisor's tables
//! come from pages of a third set of colors, which it checks at boot with each
//! colored VM's stage-2; `mem map` shows all their colors.

use super::cases::stays_up;
use super::shell::type_line;
use super::{guest, hv, Timeouts};
use crate::console::{Console, Pattern};
use anyhow::Result;

/// `rt` (colors 2-7) and `gp` (colors 8-31, 2 vCPUs) fill their RAM past the device
/// tree with words of their own, count, and read it back; the word past each VM's RAM
/// faults. Both fill guest addresses 0x40a0_0000..0x4100_0000, so RAM that the two
/// VMs shared would show the other's words.
pub fn colors(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.fail_on(Pattern::contains("rtbench: memtest FAIL"));
    c.expect_all(
        &[
            Pattern::regex(r"^\[rtvisor\] llc: L\d+ \d+ KiB, \d+ ways, \d+-byte lines: 32 colors"),
            Pattern::regex(r"^\[rtvisor\] vm rt: stage-2 checked: 4096 RAM pages, all of colors 2-7 of 32$"),
            Pattern::regex(r"^\[rtvisor\] vm gp: stage-2 checked: 8192 RAM pages, all of colors 8-31 of 32$"),
            Pattern::regex(
                r"^\[rtvisor\] hypervisor: tables in colors 0-1 of 32 \(host 0x[0-9a-f]+\.\.0x[0-9a-f]+\): [1-9]\d* of 256 pages used, all of its colors",
            ),
            Pattern::regex(r"^\[rtvisor\] vm rt: .*\(host 0x[0-9a-f]+, colors 2-7 of 32\)"),
            Pattern::regex(r"^\[rtvisor\] vm gp: .*\(host 0x[0-9a-f]+, colors 8-31 of 32\)"),
        ],
        t.boot,
    )?;
    c.expect_all(
        &[
            Pattern::contains("[rt] rtbench: memtest written base=0x40a00000 size=0x600000"),
            Pattern::contains("[gp] rtbench: memtest written base=0x40a00000 size=0x600000"),
            Pattern::contains("[gp] rtbench: memtest written base=0x41200000 size=0xe00000"),
        ],
        t.boot,
    )?;
    c.set_cursor(0);
    let ix = c.expect_all(
        &[
            Pattern::contains(
                "[rt] rtbench: memtest ok base=0x40a00000 size=0x600000 beyond=fault",
            ),
            Pattern::contains(
                "[gp] rtbench: memtest ok base=0x40a00000 size=0x600000 beyond=readable",
            ),
            Pattern::contains(
                "[gp] rtbench: memtest ok base=0x41200000 size=0xe00000 beyond=fault",
            ),
            guest::done("rt"),
            guest::done("gp"),
            hv::stopped("rt"),
            hv::stopped("gp"),
        ],
        t.step,
    )?;
    stays_up(c, t, &ix[5..])?;
    type_line(c, "mem map", t)?;
    c.expect_all(
        &[
            Pattern::regex(r"^\[rtvisor\] rtvisor +tables +colors=0-1/32 +- +0x[0-9a-f]+ +1M +-"),
            Pattern::regex(
                r"^\[rtvisor\] rt +ram +colors=2-7/32 +0x40000000 +0x[0-9a-f]+ +16M +rw",
            ),
            Pattern::regex(
                r"^\[rtvisor\] gp +ram +colors=8-31/32 +0x40000000 +0x[0-9a-f]+ +32M +rw",
            ),
        ],
        t.step,
    )?;
    c.expect_not(&Pattern::contains("do not partition it"))
}
