//! `x86-pci-direct-amd` (tests/scenarios/x86-pci-direct.toml): a virtio-blk-pci
//! function given to the hostile probe in a direct-mode VM. Every PCI case is
//! contained: foreign functions and the host bridge through 0xCF8/0xCFC and ECAM, odd
//! widths at the ports, the function's BARs and command register, MSI-X entry 0
//! aimed at other cores, NMI, SMI, INIT, ExtINT, a low vector, a logical destination
//! and the broadcast id (no interrupt anywhere), then at its own core, where three
//! sector reads raise three interrupts in its own IDT; then its disk is asked to read
//! into the hypervisor's image and the other VMs' RAM, which VT-d blocks (the device
//! asks for a reset), to write an interrupt message aimed at `rt`'s core, which
//! interrupt remapping blocks, and into its own buffer, which works. `rt` (direct) counts no stray
//! vector through its timer phase, which spans the attack; `victim` counts on. The
//! probe powers off (the hypervisor resets the function), the shell starts it again
//! and it gets all of it once more; the shell answers.

use super::cases::line;
use super::machine::{Emulator, CPUS};
use crate::console::{Console, Pattern};
use crate::systest::cases::check_whole_lines;
use crate::systest::{guest, hv, Timeouts};
use anyhow::Result;
use regex::escape;

/// The scenario.
pub const SCENARIO: &str = "tests/scenarios/x86-pci-direct.toml";

const PROBE: &str = "probe";
const RT: &str = "rt";
const VICTIM: &str = "victim";

/// The probe's cases with `cases=pci`, in order.
const CASES: [&str; 5] = [
    "pci-foreign-config",
    "pci-config-ports",
    "pci-bar-command",
    "pci-msix",
    "pci-dma",
];

fn vm_line(vm: &str, rest: &str) -> Pattern {
    Pattern::regex(&format!(r"^\[{}\] {rest}$", escape(vm)))
}

fn failures() -> Vec<Pattern> {
    vec![
        guest::leak(PROBE),
        vm_line(RT, r"rtbench: stray irqs=[1-9]\d*"),
        Pattern::contains("unexpected exception"),
        Pattern::contains("unexpected interrupt"),
        Pattern::contains("FATAL"),
        Pattern::contains("unresponsive"),
        Pattern::contains("not given"),
        hv::stopped(VICTIM),
        hv::restarting(VICTIM),
        hv::restarting(PROBE),
    ]
}

/// The interrupt case: no interrupt from any hostile entry, three from the valid one
/// in the probe's own IDT, the sector's signature.
fn msix_delivered() -> Pattern {
    vm_line(
        PROBE,
        r"probe: pci-msix: contained \(\d+ hostile entries: no interrupt; 0x61 to APIC id 2: 3 reads, each woke HLT by 1 IDT interrupt \(\d pending\); sector 0 0x4b44494350565452; entry 0x61\)",
    )
}

/// The probe's cases, each contained, then its `done` line; returns that line.
fn probe_round(c: &mut Console, t: &Timeouts) -> Result<usize> {
    c.expect(&guest::probe_banner(PROBE), t.step)?;
    for case in &CASES[..3] {
        c.expect(&guest::contained(PROBE, case), t.step)?;
    }
    c.expect(&msix_delivered(), t.step)?;
    c.expect(&dma_blocked(), t.step)?;
    c.expect(&vm_line(PROBE, r"probe: done cases=5 contained=5"), t.step)
}

/// The DMA case: the disk's reads aimed at the hypervisor's image and the other two
/// VMs' RAM, then at a page the probe may only read, which stays as it was (VT-d
/// blocks the write), and a read into the probe's own buffer that works.
fn dma_blocked() -> Pattern {
    vm_line(
        PROBE,
        r"probe: pci-dma: contained \(3 reads aimed at foreign memory, one at the interrupt range \(0xfee01010\); the read-only page at 0x10000000 kept 0x0; into its own buffer: sector 0 0x4b44494350565452\)",
    )
}

pub fn run(c: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    for f in failures() {
        c.fail_on(f);
    }
    c.expect(&line::hv_vendor(emu.vendor()), t.boot)?;
    c.expect(&line::hv_starting(CPUS, 3), t.step)?;
    c.expect(
        &Pattern::contains("[rtvisor] vm probe: PCI function pcie@b0000000/00:03.0 given"),
        t.step,
    )?;
    let from = c.cursor();
    let done = probe_round(c, t)?;
    // rt's timer phase spanned the attack: its stray count comes after.
    c.set_cursor(from);
    let stray = c.expect(&vm_line(RT, "rtbench: stray irqs=0"), t.step)?;
    c.set_cursor(done + 1);
    if stray < done {
        return Err(c.fail(
            "[rt] rtbench: stray irqs=0 after the probe's cases",
            &format!("line {} before the probe's done at {}", stray + 1, done + 1),
        ));
    }
    c.expect(&hv::stopped(PROBE), t.step)?;
    // Started again: its function was reset and works again.
    c.send("vm start probe\r")?;
    probe_round(c, t)?;
    c.expect(&hv::stopped(PROBE), t.step)?;
    c.expect_n_since(c.cursor(), &guest::count_any(VICTIM), 2, t.step)?;
    c.send("version\r")?;
    c.expect(&Pattern::contains("[rtvisor] > version"), t.step)?;
    c.expect(&Pattern::regex(r"^\[rtvisor\] rtvisor \d"), t.step)?;
    c.expect_n_since(c.cursor(), &guest::count_any(VICTIM), 2, t.step)?;
    check_whole_lines(c, &[PROBE, RT, VICTIM])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_what_the_guests_print() {
        assert!(msix_delivered().is_match(
            "[probe] probe: pci-msix: contained (12 hostile entries: no interrupt; 0x61 to APIC id 2: 3 reads, each woke HLT by 1 IDT interrupt (1 pending); sector 0 0x4b44494350565452; entry 0x61)"
        ));
        assert!(!msix_delivered().is_match(
            "[probe] probe: pci-msix: contained (12 hostile entries: no interrupt; 0x61 to APIC id 2: 2 reads, each woke HLT by 1 IDT interrupt (1 pending); sector 0 0x4b44494350565452; entry 0x61)"
        ));
        let f = failures();
        assert!(f.iter().any(|p| p.is_match("[rt] rtbench: stray irqs=3")));
        assert!(!f.iter().any(|p| p.is_match("[rt] rtbench: stray irqs=0")));
        assert!(f
            .iter()
            .any(|p| p.is_match("[probe] probe: pci-msix: LEAK (NMI: 1 interrupts here)")));
    }
}
