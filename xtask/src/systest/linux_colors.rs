//! T3 test of cache coloring with Linux (`linux-colors`): Debian's stock kernel in a
//! VM whose RAM is made of host pages of colors 8-31, beside rtbench in colors 2-7,
//! the hypervisor's tables in colors 0-1 (tests/scenarios/linux-colors.toml).
//!
//! From the host side: the hypervisor walks each colored VM's stage-2 tables at boot
//! and reports that every RAM page maps to a host page of the VM's colors (and every
//! table page it handed out is of its own colors); `mem map` shows the colors, and
//! each colored region starts at a color-0 page (a period), so the colors it names are
//! those of the host addresses. Linux reaches its shell and sees its RAM, `rt`
//! reports throughout, and `poweroff -f` stops Linux alone.

use super::cases::{check_no_strays, wait_summaries};
use super::linux::{boot_timeout, exact, linux_line, type_cmd};
use super::{hv, Timeouts};
use crate::console::{Console, Pattern};
use crate::linux;
use anyhow::Result;
use regex::Regex;

/// Pages of one LLC color period on the board (32 colors of 4 KiB).
const PERIOD: u64 = 32 * 4096;

pub fn linux_colors(c: &mut Console, t: &Timeouts) -> Result<()> {
    for bad in [
        "Kernel panic",
        "rtvisor-linux: insmod",
        "do not partition it",
    ] {
        c.fail_on(Pattern::contains(bad));
    }
    c.expect_all(
        &[
            Pattern::regex(
                r"^\[rtvisor\] vm rt: stage-2 checked: 4096 RAM pages, all of colors 2-7 of 32$",
            ),
            Pattern::regex(
                r"^\[rtvisor\] vm linux: stage-2 checked: 49152 RAM pages, all of colors 8-31 of 32$",
            ),
            Pattern::regex(
                r"^\[rtvisor\] hypervisor: tables in colors 0-1 of 32 \(host 0x[0-9a-f]+\.\.0x[0-9a-f]+\): [1-9]\d* of 256 pages used, all of its colors",
            ),
            Pattern::contains("[rtvisor] console input goes to vm linux"),
        ],
        t.boot,
    )?;
    c.expect(&linux_line(linux::NO_DISK), boot_timeout(t))?;
    c.expect(&linux_line(linux::READY), t.step)?;
    wait_summaries(c, "rt", 0, 1, t)?;
    type_cmd(c, "nproc")?;
    c.expect(&exact("2"), t.step)?;
    // Linux sees its 192 MiB as one region (less what the kernel reserves).
    type_cmd(c, "grep MemTotal /proc/meminfo")?;
    let re = Regex::new(r"^\[linux\] MemTotal:\s+(?P<kb>\d+) kB$").expect("valid regex");
    let at = c.expect(&Pattern::Regex(re.clone()), t.step)?;
    let kb: u64 = re.captures(c.line(at)).expect("matched")["kb"].parse()?;
    if !(128 * 1024..=192 * 1024).contains(&kb) {
        return Err(c.fail(
            "Linux's MemTotal between 128 and 192 MiB (its colored 192 MiB)",
            &format!("{kb} kB"),
        ));
    }
    // Use much of it: a 32 MiB file in the root file system (RAM: its limit is half
    // of MemTotal), its size read back.
    type_cmd(
        c,
        "dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; wc -c </big; rm /big",
    )?;
    c.expect(&exact("33554432"), t.step)?;

    // The hypervisor shell's view.
    c.send("\x1d")?;
    c.expect(
        &Pattern::contains("[rtvisor] console input back to the shell"),
        t.step,
    )?;
    c.send("mem map\r")?;
    let lines = [
        r"^\[rtvisor\] rtvisor +tables +colors=0-1/32 +- +(?P<hpa>0x[0-9a-f]+) +1M +-",
        r"^\[rtvisor\] rt +ram +colors=2-7/32 +0x40000000 +(?P<hpa>0x[0-9a-f]+) +16M +rw",
        r"^\[rtvisor\] linux +ram +colors=8-31/32 +0x40000000 +(?P<hpa>0x[0-9a-f]+) +192M +rw",
    ];
    for l in lines {
        let re = Regex::new(l).expect("valid regex");
        let at = c.expect(&Pattern::Regex(re.clone()), t.step)?;
        let hpa = &re.captures(c.line(at)).expect("matched")["hpa"];
        let hpa = u64::from_str_radix(hpa.trim_start_matches("0x"), 16)?;
        if hpa % PERIOD != 0 {
            return Err(c.fail(
                "each colored region starting at a color-0 host page",
                &format!("{hpa:#x} is color {}", (hpa / 4096) % 32),
            ));
        }
    }
    c.send("vm console linux\r")?;
    c.expect(
        &Pattern::contains("[rtvisor] console input goes to vm linux"),
        t.step,
    )?;

    // poweroff -f: only Linux stops; rt keeps reporting.
    type_cmd(c, "poweroff -f")?;
    let off = c.expect(&hv::stopped("linux"), t.step)?;
    wait_summaries(c, "rt", off, 2, t)?;
    c.expect_not(&hv::all_stopped())?;
    check_no_strays(c, "rt")
}
