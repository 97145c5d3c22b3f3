//! Rules on `[[shared-memory]]` regions that need no layout: names, sizes, fixed host
//! bases, peers and the alignment of fixed guest addresses. Clashes in a VM's
//! guest-physical map, and automatic placement, are checked in `layout::shared`.

use super::vms::suggest_name;
use crate::contract::Arch;
use crate::diag::{closest, Diagnostic};
use crate::layout::guest;
use crate::layout::{hv_region, DOORBELL_GPIO_INTID, DOORBELL_TOP_INTID, MAX_SHARED_REGIONS};
use crate::load::Inputs;
use crate::schema::{AccessSpec, ModeSpec, SharedMemorySpec};
use crate::size::{align_up, hex, human, overlaps, range, within, PAGE};
use std::collections::HashMap;

pub(super) fn rules(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut fixed: Vec<(&str, u64, u64)> = Vec::new();
    for (i, r) in inp.scenario.shared_memory.iter().enumerate() {
        doorbell(inp, i, r, out);
        let n = r.name.get_ref().as_str();
        name(inp, r, &mut seen, out);
        let size_ok = size(inp, r, out);
        if let Some(base) = &r.base {
            let b = *base.get_ref();
            host_base(inp, r, b, size_ok, &fixed, out);
            if size_ok {
                fixed.push((n, b, r.size.get_ref().0));
            }
        }
        peers(inp, r, out);
    }
}

/// Region `i` has a doorbell INTID, and it is no interrupt of a peer's devices.
fn doorbell(inp: &Inputs, i: usize, r: &SharedMemorySpec, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let n = r.name.get_ref();
    if i >= MAX_SHARED_REGIONS {
        let msg = format!(
            "shared memory `{n}` is region {} of at most {MAX_SHARED_REGIONS}",
            i + 1
        );
        let hint = "each region needs its own doorbell interrupt; merge regions (one region can hold several buffers)".to_owned();
        out.push(src.diag(r.name.span(), msg, hint));
        return;
    }
    let arch = inp.board.arch();
    let doorbell = guest::doorbell(arch, i);
    let word = guest::irq_word(arch);
    physical_doorbell(inp, r, doorbell, out);
    for p in r.peers.get_ref() {
        let Some(vm) = inp
            .scenario
            .vm
            .iter()
            .find(|v| v.name.get_ref() == p.vm.get_ref())
        else {
            continue;
        };
        // Its doorbell, and the doorbell GPIO's interrupt every peer has.
        let extra = guest::doorbell_extra(arch).map(|g| ("doorbell GPIO", g));
        for (what, intid) in std::iter::once(("doorbell", doorbell)).chain(extra) {
            let clash = vm.devices.iter().find(|d| {
                inp.board.device.iter().any(|b| {
                    b.name.get_ref() == d.get_ref() && b.irqs.iter().any(|q| *q.get_ref() == intid)
                })
            });
            if let Some(d) = clash {
                let msg = format!(
                    "the {what} of shared memory `{n}` ({word} {intid}) is also the interrupt of device `{}` of VM `{}`",
                    d.get_ref(),
                    vm.name.get_ref()
                );
                let hint = match extra {
                    Some(_) => format!(
                        "region k rings INTID {DOORBELL_TOP_INTID} - k, and the doorbell GPIO uses INTID {DOORBELL_GPIO_INTID}, in every peer; move `{n}` in the list or give the device to another VM"
                    ),
                    None => format!(
                        "region k rings {word} {} - k in every peer; move `{n}` in the list or give the device to another VM",
                        guest::doorbell_top(arch)
                    ),
                };
                out.push(src.diag(p.vm.span(), msg, hint));
            }
        }
    }
}

/// A direct-mode peer receives the doorbell as a physical SPI: then no VM at all may
/// own a device on that INTID (in virtual mode it is only each peer's virtual one).
///
/// On aarch64 that SPI is one for the region, so at most one of its peers may be in
/// direct mode: two would both own it, and either could route it to itself, disable
/// it, or (stopping) quiesce it, and the other would never hear a doorbell again.
fn physical_doorbell(inp: &Inputs, r: &SharedMemorySpec, doorbell: u32, out: &mut Vec<Diagnostic>) {
    let vms = &inp.scenario.vm;
    let mut directs = r.peers.get_ref().iter().filter_map(|p| {
        vms.iter().find(|v| {
            v.name.get_ref() == p.vm.get_ref()
                && v.interrupt_mode
                    .as_ref()
                    .is_some_and(|m| *m.get_ref() == ModeSpec::Direct)
        })
    });
    let Some(direct) = directs.next() else { return };
    if inp.board.arch() == Arch::Aarch64 {
        if let Some(second) = directs.next() {
            let msg = format!(
                "shared memory `{}` has two direct-mode peers, `{}` and `{}`: its doorbell \
                 (INTID {doorbell}) is one physical SPI, which only one VM can own",
                r.name.get_ref(),
                direct.name.get_ref(),
                second.name.get_ref()
            );
            let hint = format!(
                "give `{}` (or `{}`) interrupt-mode = \"virtual\", where the doorbell is the \
                 VM's own virtual SPI",
                second.name.get_ref(),
                direct.name.get_ref()
            );
            let at = r
                .peers
                .get_ref()
                .iter()
                .find(|p| p.vm.get_ref() == second.name.get_ref())
                .map_or(r.name.span(), |p| p.vm.span());
            out.push(inp.scenario_src.diag(at, msg, hint));
        }
    }
    let peer = |vm: &str| r.peers.get_ref().iter().any(|p| p.vm.get_ref() == vm);
    for vm in vms.iter().filter(|v| !peer(v.name.get_ref())) {
        for d in &vm.devices {
            let raises = inp.board.device.iter().any(|b| {
                b.name.get_ref() == d.get_ref() && b.irqs.iter().any(|q| *q.get_ref() == doorbell)
            });
            if raises {
                let msg = format!(
                    "device `{}` of VM `{}` raises INTID {doorbell}, the doorbell of shared \
                     memory `{}`, a physical SPI of direct-mode VM `{}`",
                    d.get_ref(),
                    vm.name.get_ref(),
                    r.name.get_ref(),
                    direct.name.get_ref()
                );
                let hint = format!(
                    "region k rings INTID {DOORBELL_TOP_INTID} - k, physically for a direct-mode \
                     peer; move `{}` in the [[shared-memory]] list or use another device",
                    r.name.get_ref()
                );
                out.push(inp.scenario_src.diag(d.span(), msg, hint));
            }
        }
    }
}

fn name<'a>(
    inp: &Inputs,
    r: &'a SharedMemorySpec,
    seen: &mut HashMap<&'a str, usize>,
    out: &mut Vec<Diagnostic>,
) {
    let src = &inp.scenario_src;
    let n = r.name.get_ref().as_str();
    if n.is_empty()
        || !n
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        let msg =
            format!("shared-memory name `{n}` is not made of lowercase letters, digits and `-`");
        let hint = format!(
            "use a name like `{}`: it names the region's device-tree node in each peer",
            suggest_name(n)
        );
        out.push(src.diag(r.name.span(), msg, hint));
    }
    if let Some(&first) = seen.get(n) {
        let (line, _) = src.line_col(first);
        let hint = format!("the first region named `{n}` is at line {line}; rename one of them");
        let msg = format!("shared-memory name `{n}` is used twice");
        out.push(src.diag(r.name.span(), msg, hint));
    } else {
        seen.insert(n, r.name.span().start);
    }
}

/// Non-zero, a multiple of 4 KiB.
fn size(inp: &Inputs, r: &SharedMemorySpec, out: &mut Vec<Diagnostic>) -> bool {
    let src = &inp.scenario_src;
    let (n, s) = (r.name.get_ref(), r.size.get_ref().0);
    if s == 0 {
        let hint = "give it at least 4 KiB, e.g. size = \"64KiB\"".to_owned();
        let msg = format!("size of shared memory `{n}` is zero");
        out.push(src.diag(r.size.span(), msg, hint));
        return false;
    }
    if !s.is_multiple_of(PAGE) {
        let up = align_up(s, PAGE).map_or_else(
            || "a smaller size".to_owned(),
            |u| format!("\"{}\"", human(u).replace(' ', "")),
        );
        let msg = format!(
            "size of shared memory `{n}` ({}) is not a multiple of 4 KiB",
            human(s)
        );
        let hint = format!("stage-2 maps whole 4 KiB pages; use {up}");
        out.push(src.diag(r.size.span(), msg, hint));
        return false;
    }
    true
}

/// A fixed host base: aligned, in board RAM, clear of the hypervisor, of VMs with a
/// fixed base and of earlier regions with a fixed base.
fn host_base(
    inp: &Inputs,
    r: &SharedMemorySpec,
    base: u64,
    size_ok: bool,
    fixed: &[(&str, u64, u64)],
    out: &mut Vec<Diagnostic>,
) {
    let src = &inp.scenario_src;
    let n = r.name.get_ref();
    let at = r.base.as_ref().map_or(0..0, |b| b.span());
    if !base.is_multiple_of(PAGE) {
        let msg = format!(
            "base {} of shared memory `{n}` is not 4 KiB aligned",
            hex(base)
        );
        let up = align_up(base, PAGE).map(hex).unwrap_or_default();
        let hint = format!("use {} or {up}", hex(base & !(PAGE - 1)));
        out.push(src.diag(at.clone(), msg, hint));
    }
    if !size_ok {
        return;
    }
    let size = r.size.get_ref().0;
    let here = range(base, size);
    let banks: Vec<(u64, u64)> = inp
        .board
        .ram
        .iter()
        .map(|b| (*b.base.get_ref(), b.size.get_ref().0))
        .collect();
    if !banks.iter().any(|&(b, s)| within(base, size, b, s)) {
        let list: Vec<String> = banks.iter().map(|&(b, s)| range(b, s)).collect();
        let msg = format!("shared memory `{n}` ({here}) is not inside the board's RAM");
        let hint = format!(
            "board `{}` RAM: {}",
            inp.board.name.get_ref(),
            list.join(", ")
        );
        out.push(src.diag(at.clone(), msg, hint));
    }
    let auto = "move one of them, or leave out `base` to place the region automatically";
    if let Some((hb, hs)) = hv_region(&inp.board, &inp.scenario) {
        if overlaps(base, size, hb, hs) {
            let msg = format!(
                "shared memory `{n}` ({here}) overlaps the hypervisor ({})",
                range(hb, hs)
            );
            let hint = format!(
                "use a base of {} or above, or leave out `base` to place the region automatically",
                hex(hb.saturating_add(hs))
            );
            out.push(src.diag(at.clone(), msg, hint));
        }
    }
    for vm in &inp.scenario.vm {
        let Some(vb) = &vm.memory.base else { continue };
        let (vb, vs) = (*vb.get_ref(), vm.memory.size.get_ref().0);
        if overlaps(base, size, vb, vs) {
            let msg = format!(
                "shared memory `{n}` ({here}) overlaps the memory of VM `{}` ({})",
                vm.name.get_ref(),
                range(vb, vs)
            );
            out.push(src.diag(at.clone(), msg, auto.to_owned()));
        }
    }
    for &(other, ob, os) in fixed {
        if overlaps(base, size, ob, os) {
            let msg = format!(
                "shared memory `{n}` ({here}) overlaps shared memory `{other}` ({})",
                range(ob, os)
            );
            out.push(src.diag(at.clone(), msg, auto.to_owned()));
        }
    }
}

/// At least one peer, each a VM of the scenario listed once, one of them writable,
/// fixed guest addresses aligned and inside the guest-physical space.
fn peers(inp: &Inputs, r: &SharedMemorySpec, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let n = r.name.get_ref();
    let list = r.peers.get_ref();
    if list.is_empty() {
        let msg = format!("shared memory `{n}` has no peers");
        let hint = "list the VMs that map it, e.g. peers = [{ vm = \"rt\", access = \"rw\" }]";
        out.push(src.diag(r.peers.span(), msg, hint.to_owned()));
        return;
    }
    let vms: Vec<&str> = inp
        .scenario
        .vm
        .iter()
        .map(|v| v.name.get_ref().as_str())
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    for p in list {
        let vm = p.vm.get_ref().as_str();
        if !vms.contains(&vm) {
            let msg = format!("peer `{vm}` of shared memory `{n}` is not a VM of this scenario");
            let names = if vms.is_empty() {
                "none".to_owned()
            } else {
                vms.join(", ")
            };
            let hint = match closest(vm, vms.iter().copied()) {
                Some(best) => format!("did you mean `{best}`? (VMs: {names})"),
                None => format!("name a [[vm]] of this scenario (VMs: {names})"),
            };
            out.push(src.diag(p.vm.span(), msg, hint));
        } else if seen.contains(&vm) {
            let msg = format!("VM `{vm}` is listed twice in the peers of shared memory `{n}`");
            let hint =
                "a VM maps a region once; keep one entry (with access = \"rw\" if it writes)";
            out.push(src.diag(p.vm.span(), msg, hint.to_owned()));
        } else {
            seen.push(vm);
        }
        if let Some(ipa) = &p.ipa {
            guest_base(inp, r, vm, *ipa.get_ref(), ipa.span(), out);
        }
    }
    if list.iter().all(|p| *p.access.get_ref() == AccessSpec::Ro) {
        let msg = format!("no peer of shared memory `{n}` can write it");
        let hint = "give at least one peer access = \"rw\"; a region nobody writes stays zero";
        out.push(src.diag(r.peers.span(), msg, hint.to_owned()));
    }
}

fn guest_base(
    inp: &Inputs,
    r: &SharedMemorySpec,
    vm: &str,
    ipa: u64,
    at: std::ops::Range<usize>,
    out: &mut Vec<Diagnostic>,
) {
    let src = &inp.scenario_src;
    let n = r.name.get_ref();
    if !ipa.is_multiple_of(PAGE) {
        let msg = format!(
            "IPA {} of shared memory `{n}` in VM `{vm}` is not 4 KiB aligned",
            hex(ipa)
        );
        let up = align_up(ipa, PAGE).map(hex).unwrap_or_default();
        let hint = format!("use {} or {up}", hex(ipa & !(PAGE - 1)));
        out.push(src.diag(at, msg, hint));
        return;
    }
    let size = r.size.get_ref().0;
    let limit = guest::addr_limit(inp.board.arch());
    if !within(ipa, size, 0, limit) {
        let msg = format!(
            "shared memory `{n}` in VM `{vm}` (IPA {}) is beyond the guest-physical address space",
            range(ipa, size)
        );
        let hint = format!(
            "stage-2 translates {} bits of guest-physical address: keep it below {}",
            limit.trailing_zeros(),
            hex(limit)
        );
        out.push(src.diag(at, msg, hint));
    }
}
