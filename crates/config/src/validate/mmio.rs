//! A board's MMIO windows (the GIC, UARTs, devices): unique names, non-zero sizes,
//! disjoint from each other and from RAM, and interrupts that are SPIs owned by one
//! window each. One owner per INTID is what the hypervisor can route: the console
//! UART's interrupt is the shell's input, a device's goes to the one VM that has it.

use crate::diag::{Diagnostic, Source};
use crate::load::Inputs;
use crate::schema::BoardFile;
use crate::size::{overlaps, range};
use std::ops::Range;

/// An MMIO window of the board.
struct Window<'a> {
    /// Its name in a duplicate-name check (`None`: the GIC's, which are not named).
    name: Option<&'a str>,
    /// How a message names it: "`uart0`", "the GIC distributor".
    label: String,
    at: Range<usize>,
    base: u64,
    size: u64,
    size_span: Range<usize>,
    irqs: Vec<(u32, Range<usize>)>,
    uart: bool,
}

/// The GIC first (so a device over it is the one reported), then UARTs and devices.
fn windows(b: &BoardFile) -> Vec<Window<'_>> {
    let g = &b.gic;
    let gic = [
        (
            "the GIC distributor",
            &g.distributor.base,
            &g.distributor.size,
        ),
        (
            "the GIC redistributor region",
            &g.redistributors.base,
            &g.redistributors.size,
        ),
    ]
    .map(|(label, base, size)| Window {
        name: None,
        label: label.to_owned(),
        at: base.span(),
        base: *base.get_ref(),
        size: size.get_ref().0,
        size_span: size.span(),
        irqs: Vec::new(),
        uart: false,
    });
    let uarts = b.uart.iter().map(|u| Window {
        name: Some(u.name.get_ref()),
        label: format!("`{}`", u.name.get_ref()),
        at: u.name.span(),
        base: *u.base.get_ref(),
        size: u.size.get_ref().0,
        size_span: u.size.span(),
        irqs: vec![(*u.irq.get_ref(), u.irq.span())],
        uart: true,
    });
    let devices = b.device.iter().map(|d| Window {
        name: Some(d.name.get_ref()),
        label: format!("`{}`", d.name.get_ref()),
        at: d.name.span(),
        base: *d.base.get_ref(),
        size: d.size.get_ref().0,
        size_span: d.size.span(),
        irqs: d.irqs.iter().map(|i| (*i.get_ref(), i.span())).collect(),
        uart: false,
    });
    gic.into_iter().chain(uarts).chain(devices).collect()
}

pub(super) fn rules(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let all = windows(b);
    for (i, w) in all.iter().enumerate() {
        let earlier = &all[..i];
        if let (Some(name), Some(first)) = (
            w.name,
            earlier
                .iter()
                .find(|o| o.name.is_some() && o.name == w.name),
        ) {
            let (line, _) = src.line_col(first.at.start);
            let msg = format!("`{name}` is declared twice on board `{}`", b.name.get_ref());
            let hint = format!("UART and device names must be unique; the first is at line {line}");
            out.push(src.diag(w.at.clone(), msg, hint));
        }
        if w.size == 0 {
            let hint = "give the size of its register window, e.g. size = 0x1000".to_owned();
            let msg = format!("{} has size zero", w.label);
            out.push(src.diag(w.size_span.clone(), msg, hint));
        }
        if let Some(o) = earlier
            .iter()
            .find(|o| overlaps(w.base, w.size, o.base, o.size))
        {
            let msg = format!(
                "{} ({}) overlaps {} ({})",
                w.label,
                range(w.base, w.size),
                o.label,
                range(o.base, o.size)
            );
            let hint = "fix the base or size of one of them".to_owned();
            out.push(src.diag(w.at.clone(), msg, hint));
        }
        if let Some(bank) = b
            .ram
            .iter()
            .find(|r| overlaps(w.base, w.size, *r.base.get_ref(), r.size.get_ref().0))
        {
            let msg = format!("{} ({}) overlaps RAM", w.label, range(w.base, w.size));
            let hint = format!(
                "RAM bank: {}",
                range(*bank.base.get_ref(), bank.size.get_ref().0)
            );
            out.push(src.diag(w.at.clone(), msg, hint));
        }
        interrupts(src, w, earlier, out);
    }
}

/// Each INTID is an SPI and belongs to one window.
fn interrupts(src: &Source, w: &Window, earlier: &[Window], out: &mut Vec<Diagnostic>) {
    for (k, (irq, span)) in w.irqs.iter().enumerate() {
        if !(32..1020).contains(irq) {
            let msg = format!("INTID {irq} of {} is not an SPI (32 to 1019)", w.label);
            let hint = "device interrupts are SPIs: INTID = 32 + SPI number".to_owned();
            out.push(src.diag(span.clone(), msg, hint));
            continue;
        }
        if w.irqs[..k].iter().any(|(i, _)| i == irq) {
            let msg = format!("INTID {irq} is listed twice in {}", w.label);
            out.push(src.diag(span.clone(), msg, "remove the second one".into()));
            continue;
        }
        let Some(o) = earlier
            .iter()
            .find(|o| o.irqs.iter().any(|(i, _)| i == irq))
        else {
            continue;
        };
        let msg = format!(
            "INTID {irq} of {} is also the interrupt of {}",
            w.label, o.label
        );
        let hint = if o.uart {
            format!(
                "{} can be the hypervisor's console, whose interrupt is the shell's input; \
                 give {} the INTID its device tree node has",
                o.label, w.label
            )
        } else {
            "rtvisor routes an INTID to one owner (a device's to the VM that has it); \
             fix the irqs of one of them"
                .to_owned()
        };
        out.push(src.diag(span.clone(), msg, hint));
    }
}

/// RAM a scenario places at a fixed host address (a VM's `base`, a shared region's
/// `base`) must not cover an MMIO window, even on a board whose RAM bank wrongly does.
pub(super) fn scenario_rules(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let all = windows(&inp.board);
    let vms = inp.scenario.vm.iter().filter_map(|vm| {
        let base = vm.memory.base.as_ref()?;
        let what = format!("memory of VM `{}`", vm.name.get_ref());
        Some((what, base, vm.memory.size.get_ref().0))
    });
    let shared = inp.scenario.shared_memory.iter().filter_map(|r| {
        let base = r.base.as_ref()?;
        let what = format!("shared memory `{}`", r.name.get_ref());
        Some((what, base, r.size.get_ref().0))
    });
    for (what, base, size) in vms.chain(shared) {
        let b = *base.get_ref();
        if let Some(w) = all.iter().find(|w| overlaps(b, size, w.base, w.size)) {
            let msg = format!(
                "{what} ({}) overlaps {} ({}) of board `{}`",
                range(b, size),
                w.label,
                range(w.base, w.size),
                inp.board.name.get_ref()
            );
            let hint = "RAM and device registers never share an address; pick a `base` in a \
                        RAM bank clear of the board's MMIO windows"
                .to_owned();
            out.push(inp.scenario_src.diag(base.span(), msg, hint));
        }
    }
}
