//! Rules on passed-through devices: they exist, belong to one VM, share no 4 KiB page
//! with another VM's device, and DMA only into identity-mapped RAM (a PCIe host
//! bridge's own rules are in `pcie`). (No two board
//! devices share an INTID: a board rule, see `mmio`.)

use crate::diag::{closest, Diagnostic};
use crate::load::Inputs;
use crate::schema::DeviceSpec;
use crate::size::{hex, PAGE};
use std::collections::HashMap;

/// A device as a VM names it.
struct Use<'a> {
    vm: &'a str,
    dev: &'a DeviceSpec,
}

pub(super) fn rules(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let board = inp.board.name.get_ref();
    let by_name: HashMap<&str, &DeviceSpec> = inp
        .board
        .device
        .iter()
        .map(|d| (d.name.get_ref().as_str(), d))
        .collect();
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut used: Vec<Use> = Vec::new();
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref().as_str();
        let identity = &vm.memory.identity;
        for name in &vm.devices {
            let d = name.get_ref().as_str();
            let at = name.span();
            let dev = by_name.get(d);
            let bridge =
                crate::pcie::find(inp, d).is_some() || crate::pcie::find_function(inp, d).is_some();
            if dev.is_none() && !bridge {
                let msg = format!("device `{d}` is not on board `{board}`");
                out.push(src.diag(at, msg, unknown_hint(inp, d)));
                continue;
            }
            match owner.get(d) {
                Some(&first) if first == n => {
                    let msg = format!("device `{d}` is listed twice in VM `{n}`");
                    out.push(src.diag(at, msg, "remove one of them".into()));
                    continue;
                }
                Some(&first) => {
                    let msg = format!("device `{d}` is given to both VM `{first}` and VM `{n}`");
                    let hint = "a device belongs to one VM; remove it from one of them".to_owned();
                    out.push(src.diag(at, msg, hint));
                    continue;
                }
                None => {
                    owner.insert(d, n);
                }
            }
            let Some(dev) = dev else {
                continue; // a PCIe host bridge or one of its functions: rules in `pcie`
            };
            if dev.dma && !identity {
                let msg = format!("device `{d}` can do DMA but VM `{n}` is not identity-mapped");
                let hint = format!(
                    "without an IOMMU the device uses host addresses; set memory = {{ ..., identity = true }} in VM `{n}`"
                );
                out.push(src.diag(at.clone(), msg, hint));
            }
            for other in used.iter().filter(|u| u.vm != n) {
                if let Some(page) = shared_page(dev, other.dev) {
                    let msg = format!(
                        "device `{d}` of VM `{n}` shares the 4 KiB page {} with device `{}` of VM `{}`",
                        hex(page),
                        other.dev.name.get_ref(),
                        other.vm
                    );
                    let hint = "stage-2 maps whole pages, so each VM could reach both devices; \
                                give them to the same VM or use devices in other pages"
                        .to_owned();
                    out.push(src.diag(at.clone(), msg, hint));
                }
            }
            used.push(Use { vm: n, dev });
        }
    }
}

/// The first 4 KiB page both devices' register windows touch.
fn shared_page(a: &DeviceSpec, b: &DeviceSpec) -> Option<u64> {
    let pages = |d: &DeviceSpec| {
        let base = *d.base.get_ref();
        let last = base.saturating_add(d.size.get_ref().0.max(1) - 1);
        (base / PAGE, last / PAGE)
    };
    let ((a0, a1), (b0, b1)) = (pages(a), pages(b));
    let first = a0.max(b0);
    (first <= a1.min(b1)).then_some(first * PAGE)
}

fn unknown_hint(inp: &Inputs, name: &str) -> String {
    let x86 = inp.board.arch() == crate::contract::Arch::X86_64;
    if inp.board.uart.iter().any(|u| u.name.get_ref() == name) {
        let emulated = if x86 {
            "a 16550 at COM1"
        } else {
            "an emulated PL011"
        };
        return format!(
            "`{name}` is a UART: the hypervisor owns UARTs and gives each VM {emulated}"
        );
    }
    if x86 && name.starts_with("virtio-mmio@") {
        return "virtio-mmio transports are devices of an aarch64 board (QEMU `virt`); this \
                board is x86_64, whose VMs are given PCI functions instead: devices = \
                [\"BRIDGE/BB:DD.F\"] (docs/x86.md, \"PCI pass-through\")"
            .to_owned();
    }
    let names: Vec<&str> = inp
        .board
        .device
        .iter()
        .map(|d| d.name.get_ref().as_str())
        .chain(inp.board.pcie.iter().map(|p| p.name.get_ref().as_str()))
        .collect();
    if let Some(best) = closest(name, names.iter().copied()) {
        return format!("did you mean `{best}`?");
    }
    match names.len() {
        0 => "the board declares no passthrough device".to_owned(),
        n if n <= 4 => format!("board devices: {}", names.join(", ")),
        n => format!("board devices: {}, ... ({n} in all)", names[..4].join(", ")),
    }
}
