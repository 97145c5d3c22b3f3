//! Rules a board file must satisfy on its own.

use crate::contract::{MAX_CPUS, MAX_RAM_BANKS};
use crate::diag::{Diagnostic, Source};
use crate::schema::BoardFile;
use crate::size::{hex, human, overlaps, range};
use std::collections::BTreeMap;
use std::ops::Range;

/// Where the limits are set.
const RAISE: &str = "crates/config/src/contract/mod.rs";

/// Every board rule.
pub(crate) fn rules(src: &Source, b: &BoardFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let name = b.name.get_ref();
    if b.cpu.is_empty() {
        let hint = "add one [[cpu]] table with `mpidr = ...` per CPU".to_owned();
        out.push(src.diag(
            b.name.span(),
            format!("board `{name}` declares no CPU"),
            hint,
        ));
    }
    if let Some(extra) = b.cpu.get(MAX_CPUS) {
        let msg = format!(
            "board `{name}` has {} CPUs; rtvisor drives at most {MAX_CPUS}",
            b.cpu.len()
        );
        let hint = format!(
            "a machine with more CPUs does not boot this build (its device tree lists them \
             all); MAX_CPUS in {RAISE} sets the limit"
        );
        out.push(src.diag(extra.mpidr.span(), msg, hint));
    }
    let mut mpidrs = BTreeMap::new();
    for cpu in &b.cpu {
        let m = *cpu.mpidr.get_ref();
        if mpidrs.insert(m, ()).is_some() {
            let hint = "each [[cpu]] needs its own MPIDR".to_owned();
            out.push(src.diag(
                cpu.mpidr.span(),
                format!("MPIDR {} is declared twice", hex(m)),
                hint,
            ));
        }
    }
    ram(src, b, &mut out);
    gic(src, b, &mut out);
    timer(src, b, &mut out);
    mmio(src, b, &mut out);
    out
}

fn ram(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    if b.ram.is_empty() {
        let hint = "add [[ram]] with `base` and `size` per RAM bank".to_owned();
        out.push(src.diag(
            b.name.span(),
            format!("board `{}` declares no RAM", b.name.get_ref()),
            hint,
        ));
    }
    if let Some(extra) = b.ram.get(MAX_RAM_BANKS) {
        let msg = format!(
            "board `{}` has {} RAM banks; rtvisor reads at most {MAX_RAM_BANKS}",
            b.name.get_ref(),
            b.ram.len()
        );
        let hint = format!(
            "a machine with more memory ranges does not boot this build; merge adjacent \
             banks, or raise MAX_RAM_BANKS in {RAISE}"
        );
        out.push(src.diag(extra.base.span(), msg, hint));
    }
    for (i, bank) in b.ram.iter().enumerate() {
        let (base, size) = (*bank.base.get_ref(), bank.size.get_ref().0);
        if size == 0 {
            let hint = "give the bank's size, e.g. size = \"2GiB\"".to_owned();
            out.push(src.diag(
                bank.size.span(),
                format!("RAM bank at {} has size zero", hex(base)),
                hint,
            ));
        } else if base.checked_add(size).is_none() {
            let msg = format!(
                "RAM bank at {} ({}) runs past the end of the address space",
                hex(base),
                human(size)
            );
            out.push(src.diag(bank.size.span(), msg, "check the bank's size".into()));
        }
        for other in &b.ram[..i] {
            let (ob, os) = (*other.base.get_ref(), other.size.get_ref().0);
            if overlaps(base, size, ob, os) {
                let msg = format!(
                    "RAM bank {} overlaps RAM bank {}",
                    range(base, size),
                    range(ob, os)
                );
                out.push(src.diag(bank.base.span(), msg, "list each RAM bank once".into()));
            }
        }
    }
}

fn gic(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let v = *b.gic.version.get_ref();
    if v != 3 {
        let hint = "rtvisor drives GICv3 (version = 3)".to_owned();
        out.push(src.diag(
            b.gic.version.span(),
            format!("GIC version {v} is not supported"),
            hint,
        ));
    }
    let r = &b.gic.redistributors;
    let (size, stride) = (r.size.get_ref().0, r.stride.get_ref().0);
    let n = b.cpu.len() as u64;
    if stride == 0 || !stride.is_power_of_two() {
        let hint = "GICv3 redistributors are 0x2_0000 (128 KiB) apart".to_owned();
        let msg = format!("redistributor stride {} is not a power of two", hex(stride));
        out.push(src.diag(r.stride.span(), msg, hint));
    } else if size / stride < n {
        let msg = format!(
            "the redistributor region ({}) holds {} frame{} of {}, but the board has {n} CPUs",
            human(size),
            size / stride,
            if size / stride == 1 { "" } else { "s" },
            human(stride)
        );
        let hint = format!(
            "one frame per CPU: size = {}",
            hex(stride.saturating_mul(n))
        );
        out.push(src.diag(r.size.span(), msg, hint));
    }
}

fn timer(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let t = &b.timer;
    let all = [
        ("secure physical", &t.secure_physical_intid),
        ("physical", &t.physical_intid),
        ("virtual", &t.virtual_intid),
        ("hypervisor", &t.hyp_intid),
    ];
    for (which, intid) in all {
        let i = *intid.get_ref();
        if !(16..32).contains(&i) {
            let msg = format!("{which} timer INTID {i} is not a PPI (16 to 31)");
            let hint = "INTID = 16 + PPI number; QEMU virt uses 29, 30, 27 and 26".to_owned();
            out.push(src.diag(intid.span(), msg, hint));
        }
    }
}

/// An MMIO window of the board: a UART or a device.
struct Window<'a> {
    name: &'a str,
    name_span: Range<usize>,
    base: u64,
    size: u64,
    size_span: Range<usize>,
    irqs: Vec<(u32, Range<usize>)>,
}

fn mmio(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let uarts = b.uart.iter().map(|u| Window {
        name: u.name.get_ref(),
        name_span: u.name.span(),
        base: *u.base.get_ref(),
        size: u.size.get_ref().0,
        size_span: u.size.span(),
        irqs: vec![(*u.irq.get_ref(), u.irq.span())],
    });
    let devices = b.device.iter().map(|d| Window {
        name: d.name.get_ref(),
        name_span: d.name.span(),
        base: *d.base.get_ref(),
        size: d.size.get_ref().0,
        size_span: d.size.span(),
        irqs: d.irqs.iter().map(|i| (*i.get_ref(), i.span())).collect(),
    });
    let all: Vec<Window> = uarts.chain(devices).collect();
    for (i, w) in all.iter().enumerate() {
        if let Some(first) = all[..i].iter().find(|o| o.name == w.name) {
            let (line, _) = src.line_col(first.name_span.start);
            let msg = format!(
                "`{}` is declared twice on board `{}`",
                w.name,
                b.name.get_ref()
            );
            let hint = format!("UART and device names must be unique; the first is at line {line}");
            out.push(src.diag(w.name_span.clone(), msg, hint));
        }
        if w.size == 0 {
            let hint = "give the size of its register window, e.g. size = 0x1000".to_owned();
            out.push(src.diag(
                w.size_span.clone(),
                format!("`{}` has size zero", w.name),
                hint,
            ));
        }
        if let Some(o) = all[..i]
            .iter()
            .find(|o| overlaps(w.base, w.size, o.base, o.size))
        {
            let msg = format!(
                "`{}` ({}) overlaps `{}` ({})",
                w.name,
                range(w.base, w.size),
                o.name,
                range(o.base, o.size)
            );
            out.push(src.diag(
                w.name_span.clone(),
                msg,
                "fix the base or size of one of them".into(),
            ));
        }
        if let Some(bank) = b
            .ram
            .iter()
            .find(|r| overlaps(w.base, w.size, *r.base.get_ref(), r.size.get_ref().0))
        {
            let msg = format!("`{}` ({}) overlaps RAM", w.name, range(w.base, w.size));
            let hint = format!(
                "RAM bank: {}",
                range(*bank.base.get_ref(), bank.size.get_ref().0)
            );
            out.push(src.diag(w.name_span.clone(), msg, hint));
        }
        for (irq, span) in &w.irqs {
            if !(32..1020).contains(irq) {
                let msg = format!("INTID {irq} of `{}` is not an SPI (32 to 1019)", w.name);
                let hint = "device interrupts are SPIs: INTID = 32 + SPI number".to_owned();
                out.push(src.diag(span.clone(), msg, hint));
            }
        }
    }
}
