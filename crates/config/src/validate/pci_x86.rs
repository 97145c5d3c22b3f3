//! Rules on the PCI functions an x86_64 VM is given (`devices = ["BRIDGE/BB:DD.F"]`,
//! a function of a board's `[[pcie]]`): each is written in one form, lies on the
//! bridge's buses, and goes to an identity-mapped VM (its DMA uses host-physical
//! addresses, with no IOMMU in between); a VM gets at most
//! [`PCI_FUNCTIONS`](crate::contract::x86_64::PCI_FUNCTIONS). A bridge is never given
//! whole on x86_64: the host's own functions (its LPC, SATA) are on it too.
//! A function's INTx line (the GSI its INTA reaches, `intx` of its bridge by the
//! standard swizzle) must be one of the VM's I/O APIC's device pins and belong to
//! one VM: a level-triggered line two VMs share would let one hold the other's
//! interrupts off (a function on another pin is checked at boot, where its pin is
//! read). Only forwarded lines are checked: a direct-mode VM's functions and those
//! off bus 0 keep INTx disabled and interrupt by MSI or MSI-X.
//! (Ownership and unknown names are checked with the other devices in `devices`.)

use crate::contract::x86_64::{DEVICE_GSIS, PCI_FUNCTIONS};
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::pcie;
use std::collections::BTreeMap;

pub(super) fn scenario(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    // INTx GSI -> (VM, function) of the first function that raises it.
    let mut lines: BTreeMap<u32, (String, String)> = BTreeMap::new();
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref();
        let mut functions = 0;
        for name in &vm.devices {
            let d = name.get_ref();
            let at = name.span();
            if let Some(p) = pcie::find(inp, d) {
                let msg = format!(
                    "VM `{n}` lists host bridge `{d}` whole; on x86_64 a VM gets functions of it"
                );
                let hint = format!(
                    "name each function as `{d}/BB:DD.F` (bus, device and function as lspci \
                     shows them, for example `{d}/00:03.0`); the host's own functions stay \
                     on the bridge{}",
                    if p.windows().is_empty() {
                        ""
                    } else {
                        " (its windows are not used on x86_64)"
                    }
                );
                out.push(src.diag(at, msg, hint));
                continue;
            }
            let Some((p, addr)) = pcie::find_function(inp, d) else {
                continue;
            };
            let b = p.name.get_ref();
            let addr = match addr {
                Ok(a) => a,
                Err(why) => {
                    let msg = format!("`{d}` is not a function address: {why}");
                    let hint = format!(
                        "write `{b}/BB:DD.F`: bus and device in two lower-case hex digits, \
                         the function from 0 to 7 (for example `{b}/00:03.0`)"
                    );
                    out.push(src.diag(at, msg, hint));
                    continue;
                }
            };
            functions += 1;
            let intx = p.intx();
            // Only a line the hypervisor forwards is checked: a direct-mode VM's
            // functions and those off bus 0 keep INTx disabled (MSI or MSI-X only).
            let forwarded = !super::vms::is_direct(vm) && addr.bus == 0;
            if let Some(&gsi) = intx
                .get(usize::from(addr.dev) % 4)
                .filter(|_| intx.len() == 4 && forwarded)
            {
                let fix = format!(
                    "INTA of device d reaches `intx[d % 4]` of `{b}` (the board's [[pcie]] \
                     `intx`)"
                );
                if gsi >= DEVICE_GSIS {
                    let msg = format!(
                        "PCI function `{d}` raises INTA on GSI {gsi}, past the device pins of \
                         VM `{n}`'s I/O APIC (GSIs below {DEVICE_GSIS})"
                    );
                    let hint = format!(
                        "the VM sees the function's INTx on the host's GSI; {fix}: give a \
                         function whose line is below {DEVICE_GSIS}, or raise DEVICE_GSIS in \
                         crates/config/src/contract/x86_64.rs"
                    );
                    out.push(src.diag(at.clone(), msg, hint));
                }
                match lines.get(&gsi) {
                    Some((other_vm, other)) if other_vm != n && other != d => {
                        let msg = format!(
                            "PCI function `{d}` of VM `{n}` raises INTA on GSI {gsi}, the line \
                             of function `{other}` of VM `{other_vm}`"
                        );
                        let hint = format!(
                            "a level-triggered INTx line cannot be shared between VMs (one \
                             guest would hold the other's interrupts off); give both functions \
                             to one VM, or plug one at a device number whose INTA reaches \
                             another GSI ({fix})"
                        );
                        out.push(src.diag(at.clone(), msg, hint));
                    }
                    Some(_) => {}
                    None => {
                        lines.insert(gsi, (n.clone(), d.clone()));
                    }
                }
            }
            let (first, last) = p.buses();
            if !(first..=last).contains(&u32::from(addr.bus)) {
                let msg = format!(
                    "function {addr} is on bus {}, outside buses {first}-{last} of `{b}`",
                    addr.bus
                );
                let hint = format!("give a function on a bus of `{b}` (its `bus-range`)");
                out.push(src.diag(at.clone(), msg, hint));
            }
            if functions == PCI_FUNCTIONS + 1 {
                let msg = format!("VM `{n}` is given more than {PCI_FUNCTIONS} PCI functions");
                let hint = "its emulated configuration space holds PCI_FUNCTIONS functions \
                            (crates/config/src/contract/x86_64.rs); give the others to \
                            another VM"
                    .to_owned();
                out.push(src.diag(at.clone(), msg, hint));
            }
            if !vm.memory.identity {
                let msg =
                    format!("PCI function `{d}` needs an identity-mapped VM; VM `{n}` is not");
                let hint = format!(
                    "the function's DMA uses host-physical addresses with no IOMMU in \
                     between, so the VM's RAM must be at its host-physical addresses: set \
                     memory = {{ ..., identity = true }} in VM `{n}` (docs/scenario.md, \
                     \"Identity-mapped x86_64 VMs\")"
                );
                out.push(src.diag(at, msg, hint));
            }
        }
    }
}
