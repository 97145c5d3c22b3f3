//! `linux-x86-intx`: Debian's amd64 Linux with `pci=nomsi` (tests/scenarios/
//! x86-linux-intx.toml) on QEMU q35 (AMD-V), whose passed-through functions interrupt
//! by INTx, forwarded level-triggered from the host's I/O APIC: the virtio-blk-pci
//! disk (00:03.0, q35's GSI 23) is mounted by `/init` and its interrupt line of
//! /proc/interrupts is an IO-APIC line, GSI 23, whose count goes up with each read
//! that misses the page cache (each one ended by the guest's EOI and the host's pin
//! unmasked again); the virtio-net-pci NIC (00:04.0, GSI 20) answers a ping on its
//! own line; after `reboot -f` (the functions reset, their lines masked and lowered)
//! the disk mounts and interrupts again, and the NIC answers a ping on its line.

use super::linux::shell;
use super::machine::Emulator;
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::{ensure, Context, Result};

pub const SCENARIO: &str = "tests/scenarios/x86-linux-intx.toml";

/// The `(GSI, count)` of the IO-APIC line of the virtio device of function `bdf`, as
/// `awk` prints it from /proc/interrupts (`intx 23 17`: the I/O APIC pin of its
/// `23-fasteoi` column, a level-triggered line, and both CPUs' counts added; Linux
/// numbers its IRQs apart from the GSIs).
fn intx_line(con: &mut Console, t: &Timeouts, bdf: &str) -> Result<(u32, u64)> {
    con.send(&format!(
        "v=$(basename /sys/bus/pci/devices/0000:{bdf}/virtio*); \
         awk -v v=\"$v\" '$NF == v && /IO-APIC/ {{for (i = 4; i < NF; i++) \
         if ($i ~ /^[0-9]+-fasteoi$/) {{sub(\"-fasteoi\", \"\", $i); \
         print \"intx\", $i, $2 + $3}}}}' /proc/interrupts\n"
    ))?;
    let i = con.expect(&Pattern::regex(r"^\[linux\] intx \d+ \d+\s*$"), t.step)?;
    let mut n = con.line(i).split_whitespace().skip(2);
    let gsi = n.next().and_then(|g| g.parse().ok()).context("no GSI")?;
    let count = n.next().and_then(|c| c.parse().ok()).context("no count")?;
    Ok((gsi, count))
}

/// The disk's file read once more from the device (the page cache dropped first).
fn read_disk(con: &mut Console, t: &Timeouts) -> Result<()> {
    con.send("echo 3 > /proc/sys/vm/drop_caches; cat /mnt/hello.txt\n")?;
    con.expect(
        &Pattern::regex(&format!(r"^\[linux\] {}\s*$", crate::linux::HELLO)),
        t.step,
    )?;
    Ok(())
}

/// The disk's INTx: GSI 23, counting up with a read.
fn disk(con: &mut Console, t: &Timeouts) -> Result<u64> {
    let (gsi, a) = intx_line(con, t, "00:03.0")?;
    ensure!(
        gsi == 23,
        "the disk's INTx is on IO-APIC line {gsi}, not 23"
    );
    ensure!(a > 0, "the disk's INTx line has not counted");
    read_disk(con, t)?;
    let (_, b) = intx_line(con, t, "00:03.0")?;
    ensure!(b > a, "a read of the disk did not interrupt: {a} then {b}");
    Ok(b)
}

pub fn run(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    con.fail_on(Pattern::contains("[linux] Kernel panic"));
    con.fail_on(Pattern::contains("rtvisor-linux: disk mount failed"));
    con.fail_on(Pattern::contains("PCI INT A: not connected"));
    shell(con, t, emu)?;
    let n = disk(con, t)?;
    super::linux::ping(con, t)?;
    let (gsi, nic) = intx_line(con, t, "00:04.0")?;
    ensure!(
        gsi == 20 && nic > 0,
        "the NIC's INTx: line {gsi}, count {nic} (want line 20, counting)"
    );
    con.send("reboot -f\n")?;
    con.expect(&crate::systest::hv::restarting("linux"), t.step * 4)?;
    shell(con, t, emu)?;
    let again = disk(con, t)?;
    super::linux::ping(con, t)?;
    let (_, nic_again) = intx_line(con, t, "00:04.0")?;
    ensure!(
        nic_again > 0,
        "the NIC's INTx line did not count after the restart"
    );
    crate::util::say(format!(
        "linux-x86-intx: disk on INTx GSI 23 ({n} interrupts), NIC on GSI 20 ({nic}), \
         both again after a restart ({again}, {nic_again})"
    ));
    Ok(())
}
