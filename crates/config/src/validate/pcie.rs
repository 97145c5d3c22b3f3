//! Rules on PCIe host bridges (`[[pcie]]`, see `crate::pcie`): on the board, four
//! INTx lines (SPIs on aarch64, PCI GSIs on x86_64) and an ECAM window that holds its
//! buses; in an aarch64 scenario, a bridge goes whole to an identity-mapped VM whose
//! guest-physical space and emulated GIC reach it (x86_64 VMs get functions of a
//! bridge: `pci_x86`).
//! (Ownership and unknown names are checked with the other devices in `devices`; the
//! windows' overlaps with each other and the board's MMIO in `mmio`.)

use crate::contract::aarch64::{IPA_LIMIT, VGIC_INTIDS};
use crate::contract::Arch;
use crate::diag::{Diagnostic, Source};
use crate::load::Inputs;
use crate::pcie::{self, PcieSpec};
use crate::schema::{BoardFile, ModeSpec};
use crate::size::{hex, range};

/// Configuration space of one bus.
const ECAM_BUS: u64 = 1 << 20;
/// The GIC's last SPI.
const LAST_SPI: u32 = 1019;
/// The first GSI past the ISA IRQs, and the last an I/O APIC redirection can name.
const FIRST_PCI_GSI: u32 = 16;
const LAST_GSI: u32 = 255;

pub(super) fn board(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    for p in &b.pcie {
        let n = p.name.get_ref();
        let intx = p.intx.get_ref();
        if intx.len() != 4 {
            let msg = format!(
                "PCIe host bridge `{n}` lists {} INTx interrupts; it has 4",
                intx.len()
            );
            let hint = "give the INTIDs of INTA, INTB, INTC and INTD of device 0".to_owned();
            out.push(src.diag(p.intx.span(), msg, hint));
        }
        let x86 = b.arch() == Arch::X86_64;
        let (lines, what, hint) = if x86 {
            (
                FIRST_PCI_GSI..=LAST_GSI,
                "a PCI GSI",
                "on x86_64 INTx lines are the I/O APIC's PCI inputs, GSIs 16 to 255 (q35: \
                 its devices 0 to 24 reach PIRQE-H, GSIs 20 to 23)",
            )
        } else {
            (
                32..=LAST_SPI,
                "an SPI",
                "INTx lines are SPIs: INTIDs 32 to 1019 (SPI n is INTID 32 + n)",
            )
        };
        for i in intx.iter().filter(|i| !lines.contains(i.get_ref())) {
            let msg = format!("INTx interrupt {} of `{n}` is not {what}", i.get_ref());
            out.push(src.diag(i.span(), msg, hint.to_owned()));
        }
        let (ecam, size) = p.ecam();
        let (first, last) = p.buses();
        if size == 0 || !size.is_multiple_of(ECAM_BUS) || !ecam.is_multiple_of(ECAM_BUS) {
            let msg = format!(
                "the ECAM window of `{n}` ({}) is not whole buses",
                range(ecam, size)
            );
            let hint =
                "ECAM gives each bus 1 MiB: base and size must be multiples of 1 MiB".to_owned();
            out.push(src.diag(p.ecam.size.span(), msg, hint));
        } else if first > last || u64::from(last - first) >= size / ECAM_BUS {
            let msg = format!(
                "bus-range {first}-{last} of `{n}` does not fit its ECAM window of {} buses",
                size / ECAM_BUS
            );
            let hint = "give a bus-range [first, last] with last - first below the number of \
                        1 MiB buses in `ecam`"
                .to_owned();
            let at = p
                .bus_range
                .as_ref()
                .map_or(p.ecam.size.span(), |r| r.span());
            out.push(src.diag(at, msg, hint));
        }
    }
}

pub(super) fn scenario(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    if inp.board.arch() == Arch::X86_64 {
        return super::pci_x86::scenario(inp, out);
    }
    let src = &inp.scenario_src;
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref();
        for name in &vm.devices {
            if let Some((p, _)) = pcie::find_function(inp, name.get_ref()) {
                let b = p.name.get_ref();
                let msg = format!(
                    "VM `{n}` names a function of host bridge `{b}`; on aarch64 a VM gets a \
                     whole bridge"
                );
                let hint = format!(
                    "functions are given one by one on x86_64 boards only; list `{b}` to give \
                     VM `{n}` the whole bridge"
                );
                out.push(src.diag(name.span(), msg, hint));
                continue;
            }
            let Some(p) = pcie::find(inp, name.get_ref()) else {
                continue;
            };
            let b = p.name.get_ref();
            if !vm.memory.identity {
                let msg =
                    format!("PCIe host bridge `{b}` needs an identity-mapped VM; VM `{n}` is not");
                let hint = format!(
                    "the guest gives its devices' BARs host-physical addresses and the devices \
                     DMA to host-physical addresses, with no SMMU in between; set memory = \
                     {{ ..., identity = true }} in VM `{n}`"
                );
                out.push(src.diag(name.span(), msg, hint));
            }
            beyond_ipa(inp, n, name.span(), p, out);
            let virtual_mode = vm
                .interrupt_mode
                .as_ref()
                .is_none_or(|m| *m.get_ref() == ModeSpec::Virtual);
            let high: Vec<String> = p
                .intx()
                .into_iter()
                .filter(|&i| i >= VGIC_INTIDS)
                .map(|i| i.to_string())
                .collect();
            if virtual_mode && !high.is_empty() {
                let msg = format!(
                    "INTx INTID {} of `{b}` is beyond what the emulated GIC of VM `{n}` models \
                     (INTIDs below {VGIC_INTIDS})",
                    high.join(", ")
                );
                let hint = "the guest would never see these interrupts; use interrupt-mode = \
                            \"direct\", or raise VGIC_INTIDS in crates/config/src/contract/aarch64.rs"
                    .to_owned();
                out.push(src.diag(name.span(), msg, hint));
            }
        }
    }
}

/// The ECAM and the I/O and 32-bit windows must lie in the guest-physical space; a
/// 64-bit window beyond it is left out of the VM (its guest puts 64-bit BARs in the
/// 32-bit window), which `check`'s map shows.
fn beyond_ipa(
    inp: &Inputs,
    vm: &str,
    at: std::ops::Range<usize>,
    p: &PcieSpec,
    out: &mut Vec<Diagnostic>,
) {
    let (ecam, ecam_size) = p.ecam();
    let needed = std::iter::once(("ECAM window", ecam, ecam_size)).chain(
        p.windows()
            .into_iter()
            .filter(|(w, _)| w.space != pcie::Space::Mem64)
            .map(|(w, _)| (w.space.label(), w.cpu, w.size)),
    );
    for (what, base, size) in needed.filter(|&(_, b, s)| !pcie::fits(b, s)) {
        let msg = format!(
            "the {what} of `{}` ({}) is beyond the guest-physical address space of VM `{vm}`",
            p.name.get_ref(),
            range(base, size)
        );
        let hint = format!(
            "host bridges are mapped at their host addresses and stage-2 translates {} bits \
             (below {}); this bridge cannot be passed through",
            IPA_LIMIT.trailing_zeros(),
            hex(IPA_LIMIT)
        );
        out.push(inp.scenario_src.diag(at.clone(), msg, hint));
    }
}
