//! Rules a board file must satisfy on its own.

use crate::contract::aarch64::{
    HV_OFFSET, HYP_TIMER_INTID, MAINTENANCE_INTID, PTIMER_INTID, VTIMER_INTID,
};
use crate::contract::{Arch, MAX_CPUS, MAX_RAM_BANKS};
use crate::diag::{Diagnostic, Source};
use crate::schema::{BoardFile, CpuSpec, GicSpec, TimerSpec};
use crate::size::{hex, human, overlaps, range};
use std::collections::BTreeMap;

/// Where the limits are set.
const RAISE: &str = "crates/config/src/contract/mod.rs";

/// Every board rule.
pub(crate) fn rules(src: &Source, b: &BoardFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let name = b.name.get_ref();
    if b.cpu.is_empty() {
        let hint = match b.arch() {
            Arch::Aarch64 => "add one [[cpu]] table with `mpidr = ...` per CPU",
            Arch::X86_64 => "add one [[cpu]] table with `apic-id = ...` per CPU",
        }
        .to_owned();
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
        out.push(src.diag(cpu_span(b, extra), msg, hint));
    }
    let mut mpidrs = BTreeMap::new();
    for mpidr in b.cpu.iter().filter_map(|c| c.mpidr.as_ref()) {
        let m = *mpidr.get_ref();
        if mpidrs.insert(m, ()).is_some() {
            let hint = "each [[cpu]] needs its own MPIDR".to_owned();
            out.push(src.diag(
                mpidr.span(),
                format!("MPIDR {} is declared twice", hex(m)),
                hint,
            ));
        }
    }
    ram(src, b, &mut out);
    if let Some(g) = b.gic.as_ref().filter(|_| b.arch() == Arch::Aarch64) {
        gic(src, b, g, &mut out);
    }
    if let Some(t) = b.timer.as_ref().filter(|_| b.arch() == Arch::Aarch64) {
        timer(src, t, &mut out);
    }
    super::board_x86::rules(src, b, &mut out);
    super::arch::board(src, b, &mut out);
    super::mmio::rules(src, b, &mut out);
    out
}

/// Where a CPU is named: its MPIDR or APIC ID, else the board's name.
pub(super) fn cpu_span(b: &BoardFile, cpu: &CpuSpec) -> std::ops::Range<usize> {
    match (&cpu.mpidr, &cpu.apic_id) {
        (Some(m), _) => m.span(),
        (None, Some(a)) => a.span(),
        (None, None) => b.name.span(),
    }
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
    if let Some(first) = b.ram.first().filter(|_| b.arch() == Arch::Aarch64) {
        let base = *first.base.get_ref();
        if !base.is_multiple_of(HV_OFFSET) {
            let msg = format!(
                "the first RAM bank starts at {}, which is not 2 MiB aligned",
                hex(base)
            );
            let hint = format!(
                "the hypervisor is loaded {} above the 2 MiB aligned start of the first \
                 bank (arm64 Image booting) and linked there; list first a bank that \
                 starts on a 2 MiB boundary",
                human(HV_OFFSET)
            );
            out.push(src.diag(first.base.span(), msg, hint));
        }
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

fn gic(src: &Source, b: &BoardFile, g: &GicSpec, out: &mut Vec<Diagnostic>) {
    let v = *g.version.get_ref();
    if v != 3 {
        let hint = "rtvisor drives GICv3 (version = 3)".to_owned();
        out.push(src.diag(
            g.version.span(),
            format!("GIC version {v} is not supported"),
            hint,
        ));
    }
    let r = &g.redistributors;
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

fn timer(src: &Source, t: &TimerSpec, out: &mut Vec<Diagnostic>) {
    let all = [
        ("secure physical", &t.secure_physical_intid),
        ("physical", &t.physical_intid),
        ("virtual", &t.virtual_intid),
        ("hypervisor", &t.hyp_intid),
    ];
    for (k, (which, intid)) in all.iter().enumerate() {
        let i = *intid.get_ref();
        if !(16..32).contains(&i) {
            let msg = format!("{which} timer INTID {i} is not a PPI (16 to 31)");
            let hint = "INTID = 16 + PPI number; QEMU virt uses 29, 30, 27 and 26".to_owned();
            out.push(src.diag(intid.span(), msg, hint));
            continue;
        }
        if let Some((other, _)) = all[..k].iter().find(|(_, o)| *o.get_ref() == i) {
            let msg = format!("{which} timer INTID {i} is also the {other} timer's");
            let hint = "each timer has its own PPI; QEMU virt uses 29, 30, 27 and 26".to_owned();
            out.push(src.diag(intid.span(), msg, hint));
        } else if i == MAINTENANCE_INTID {
            let msg = format!("{which} timer INTID {i} is the GIC maintenance interrupt");
            let hint = "the hypervisor uses PPI 9 (INTID 25) for the GIC's maintenance \
                        interrupt, as the Arm BSA does; check the board's device tree"
                .to_owned();
            out.push(src.diag(intid.span(), msg, hint));
        }
    }
    // The hypervisor drives these itself, at the INTIDs the Arm BSA gives them.
    for (which, key, intid, want) in [
        (
            "physical",
            "physical-intid",
            &t.physical_intid,
            PTIMER_INTID,
        ),
        ("virtual", "virtual-intid", &t.virtual_intid, VTIMER_INTID),
        ("hypervisor", "hyp-intid", &t.hyp_intid, HYP_TIMER_INTID),
    ] {
        let i = *intid.get_ref();
        // One that is also another timer's was reported above.
        let shared = all.iter().filter(|(_, o)| *o.get_ref() == i).count() > 1;
        if i != want && (16..32).contains(&i) && !shared {
            let msg = format!(
                "{which} timer INTID {i} is not INTID {want}, the one the hypervisor drives"
            );
            let hint = format!(
                "rtvisor uses INTID {want} (PPI {}) for the {which} timer, as the Arm BSA \
                 assigns it: write `{key} = {want}` if the board's device tree agrees; \
                 otherwise this build cannot drive the board (the INTID is set in \
                 crates/config/src/contract/aarch64.rs)",
                want - 16
            );
            out.push(src.diag(intid.span(), msg, hint));
        }
    }
}
