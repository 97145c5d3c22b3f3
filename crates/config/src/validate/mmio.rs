//! A board's MMIO windows (the GIC or the APICs, UARTs, devices): unique names,
//! non-zero sizes, disjoint from each other and from RAM, and interrupts (SPIs on
//! aarch64, GSIs on x86_64) owned by one window each. One owner per interrupt is what
//! the hypervisor can route: the console UART's interrupt is the shell's input, a
//! device's goes to the one VM that has it. An x86 UART is at I/O ports, not in
//! memory: only its name and interrupt are checked here (its ports in `board_x86`).

use crate::contract::Arch;
use crate::diag::{Diagnostic, Source};
use crate::load::Inputs;
use crate::schema::BoardFile;
use crate::size::{overlaps, range, PAGE};
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
    /// At I/O ports (an x86 UART): no memory window.
    io: bool,
}

/// The interrupt controllers first (so a device over one is the one reported), then
/// UARTs and devices.
fn windows(b: &BoardFile) -> Vec<Window<'_>> {
    // A foreign architecture's controllers are refused at their key (`arch`), once.
    let (arm, x86) = match b.arch() {
        Arch::Aarch64 => (b.gic.as_ref(), None),
        Arch::X86_64 => (None, Some(b)),
    };
    let mut fixed = Vec::new();
    if let Some(g) = arm {
        fixed.push((
            "the GIC distributor".to_owned(),
            &g.distributor.base,
            g.distributor.size.get_ref().0,
            g.distributor.size.span(),
        ));
        fixed.push((
            "the GIC redistributor region".to_owned(),
            &g.redistributors.base,
            g.redistributors.size.get_ref().0,
            g.redistributors.size.span(),
        ));
    }
    if let Some(l) = x86.and_then(|b| b.local_apic.as_ref()) {
        fixed.push(("the local APIC".to_owned(), &l.base, PAGE, l.base.span()));
    }
    for io in x86.map_or(&[][..], |b| &b.io_apic) {
        let label = format!("I/O APIC {}", io.id.get_ref());
        fixed.push((label, &io.base, PAGE, io.base.span()));
    }
    let controllers = fixed
        .into_iter()
        .map(|(label, base, size, size_span)| Window {
            name: None,
            label,
            at: base.span(),
            base: *base.get_ref(),
            size,
            size_span,
            irqs: Vec::new(),
            uart: false,
            io: false,
        });
    let uarts = b.uart.iter().map(|u| {
        let mmio = arm.and(u.base.as_ref().zip(u.size.as_ref()));
        Window {
            name: Some(u.name.get_ref()),
            label: format!("`{}`", u.name.get_ref()),
            at: u.name.span(),
            base: mmio.map_or(0, |(b, _)| *b.get_ref()),
            size: mmio.map_or(0, |(_, s)| s.get_ref().0),
            size_span: mmio.map_or(u.name.span(), |(_, s)| s.span()),
            irqs: vec![(*u.irq.get_ref(), u.irq.span())],
            uart: true,
            io: mmio.is_none(),
        }
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
        io: false,
    });
    let intx_lines = match b.arch() {
        crate::contract::Arch::X86_64 => 16..=255,
        _ => 32..=1019,
    };
    let bridges = b.pcie.iter().flat_map(move |p| {
        let ecam = Window {
            name: Some(p.name.get_ref()),
            label: format!("the ECAM window of `{}`", p.name.get_ref()),
            at: p.ecam.base.span(),
            base: *p.ecam.base.get_ref(),
            size: p.ecam.size.get_ref().0,
            size_span: p.ecam.size.span(),
            // One owner per INTx line; that each is an SPI (a PCI GSI on x86_64) is a
            // `pcie` rule.
            irqs: p
                .intx
                .get_ref()
                .iter()
                .filter(|i| intx_lines.contains(i.get_ref()))
                .map(|i| (*i.get_ref(), i.span()))
                .collect(),
            uart: false,
            io: false,
        };
        let windows = p.windows().into_iter().map(move |(w, spec)| Window {
            name: None,
            label: format!("the {} of `{}`", w.space.label(), p.name.get_ref()),
            at: spec.base.span(),
            base: w.cpu,
            size: w.size,
            size_span: spec.size.span(),
            irqs: Vec::new(),
            uart: false,
            io: false,
        });
        std::iter::once(ecam).chain(windows)
    });
    controllers
        .chain(uarts)
        .chain(devices)
        .chain(bridges)
        .collect()
}

pub(super) fn rules(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let all = windows(b);
    let word = irq_word(b.arch());
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
        let earlier: Vec<&Window> = earlier.iter().filter(|o| !o.io).collect();
        if w.io {
            interrupts(src, w, &all[..i], word, out);
            continue;
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
        interrupts(src, w, &all[..i], word, out);
    }
}

/// How a board's interrupts are numbered.
fn irq_word(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "INTID",
        Arch::X86_64 => "GSI",
    }
}

/// Each interrupt belongs to one window; on aarch64 it is an SPI.
fn interrupts(src: &Source, w: &Window, earlier: &[Window], word: &str, out: &mut Vec<Diagnostic>) {
    for (k, (irq, span)) in w.irqs.iter().enumerate() {
        if word == "INTID" && !(32..1020).contains(irq) {
            let msg = format!("INTID {irq} of {} is not an SPI (32 to 1019)", w.label);
            let hint = "device interrupts are SPIs: INTID = 32 + SPI number".to_owned();
            out.push(src.diag(span.clone(), msg, hint));
            continue;
        }
        if w.irqs[..k].iter().any(|(i, _)| i == irq) {
            let msg = format!("{word} {irq} is listed twice in {}", w.label);
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
            "{word} {irq} of {} is also the interrupt of {}",
            w.label, o.label
        );
        let hint = if o.uart {
            format!(
                "{} can be the hypervisor's console, whose interrupt is the shell's input; \
                 give {} the {word} its {} has",
                o.label,
                w.label,
                match word {
                    "INTID" => "device tree node",
                    _ => "ACPI description",
                }
            )
        } else {
            format!(
                "rtvisor routes an {word} to one owner (a device's to the VM that has it); \
                 fix the irqs of one of them"
            )
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
        let mmio = all.iter().filter(|w| !w.io);
        if let Some(w) = mmio.clone().find(|w| overlaps(b, size, w.base, w.size)) {
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
