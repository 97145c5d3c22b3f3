//! Placing `[[shared-memory]]` regions: host RAM first (fixed `base`s are taken before
//! any VM is placed; the others first fit after the VMs), then each peer's guest
//! address (a fixed `ipa` is checked against the VM's map; otherwise the lowest free
//! address in the VM's shared-memory window).
//!
//! Alignment, host and guest alike: 2 MiB when the size is a multiple of 2 MiB (so
//! stage-2 can use block mappings), 4 KiB otherwise.

use super::vm::emulated;
use super::{first_fit, guest, BLOCK};
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::plan::{SharedMapPlan, SharedRegionPlan, VmPlan};
use crate::schema::{AccessSpec, PeerSpec, SharedMemorySpec};
use crate::size::{hex, human, overlaps, range, PAGE};
use rtvisor_addr::{Hpa, Ipa};

fn align_of(size: u64) -> u64 {
    if size.is_multiple_of(BLOCK) {
        BLOCK
    } else {
        PAGE
    }
}

/// A size the rules accept (else the region was reported by validate).
fn valid_size(r: &SharedMemorySpec) -> Option<u64> {
    let s = r.size.get_ref().0;
    (s != 0 && s.is_multiple_of(PAGE)).then_some(s)
}

/// Host RAM taken by regions with a fixed `base`.
pub(super) fn fixed(inp: &Inputs) -> Vec<(u64, u64)> {
    inp.scenario
        .shared_memory
        .iter()
        .filter_map(|r| Some((*r.base.as_ref()?.get_ref(), valid_size(r)?)))
        .collect()
}

/// Places every region and maps it into its peers (`vms[i].shared`). `None` when
/// something did not fit or was already reported by validate.
pub(super) fn place(
    inp: &Inputs,
    banks: &[(u64, u64)],
    taken: &mut Vec<(u64, u64)>,
    vms: &mut [VmPlan],
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<SharedRegionPlan>> {
    let src = &inp.scenario_src;
    let mut regions = Vec::new();
    let mut complete = true;
    for r in &inp.scenario.shared_memory {
        let n = r.name.get_ref();
        let Some(size) = valid_size(r) else {
            complete = false;
            continue;
        };
        let hpa = match &r.base {
            Some(b) if b.get_ref().is_multiple_of(PAGE) => *b.get_ref(),
            Some(_) => {
                complete = false;
                continue;
            }
            None => match first_fit(banks, taken, size, align_of(size)) {
                Some(at) => {
                    taken.push((at, size));
                    at
                }
                None => {
                    let msg = format!(
                        "no room for the {} of shared memory `{n}` in the board's RAM",
                        human(size)
                    );
                    let hint = "make it smaller, or give the VMs less memory; `rtvisor check` \
                                prints the map"
                        .to_owned();
                    out.push(src.diag(r.size.span(), msg, hint));
                    complete = false;
                    continue;
                }
            },
        };
        let peers = r
            .peers
            .get_ref()
            .iter()
            .map(|p| {
                let w = *p.access.get_ref() == AccessSpec::Rw;
                (p.vm.get_ref().clone(), w)
            })
            .collect();
        regions.push((r, hpa, size, peers));
    }
    if !complete {
        return None;
    }
    for vm in vms.iter_mut() {
        if !map_into(inp, vm, &regions, out) {
            complete = false;
        }
    }
    complete.then(|| {
        regions
            .into_iter()
            .map(|(r, hpa, size, peers)| SharedRegionPlan {
                name: r.name.get_ref().clone(),
                hpa: Hpa::new(hpa),
                size,
                peers,
            })
            .collect()
    })
}

type Placed<'a> = (&'a SharedMemorySpec, u64, u64, Vec<(String, bool)>);

/// Gives `vm` its guest address of every region it is a peer of: fixed `ipa`s first
/// (checked against everything else in its map), then the window, first fit.
fn map_into(inp: &Inputs, vm: &mut VmPlan, regions: &[Placed], out: &mut Vec<Diagnostic>) -> bool {
    let src = &inp.scenario_src;
    let mine: Vec<(usize, &SharedMemorySpec, &PeerSpec, u64, u64)> = regions
        .iter()
        .enumerate()
        .filter_map(|(i, (r, hpa, size, _))| {
            // The first entry naming this VM; a second one is reported by validate.
            let p = r
                .peers
                .get_ref()
                .iter()
                .find(|p| *p.vm.get_ref() == vm.name)?;
            Some((i, *r, p, *hpa, *size))
        })
        .collect();
    if mine.is_empty() {
        return true;
    }
    let arch = inp.board.arch();
    let (window_base, window_size) = guest::shm_window(arch);
    let mut used: Vec<(String, u64, u64)> = emulated(arch, vm.cpus.len() as u64);
    used.push(("its RAM".to_owned(), vm.ram.ipa.raw(), vm.ram.size));
    for d in &vm.devices {
        let what = format!("device `{}`", d.name);
        used.push((what, d.page_base.raw(), d.page_size));
    }
    let mut ipas = vec![0u64; regions.len()];
    let mut ok = true;
    for &(i, r, p, _, size) in &mine {
        let Some(ipa_s) = &p.ipa else { continue };
        let ipa = *ipa_s.get_ref();
        if !ipa.is_multiple_of(PAGE) {
            ok = false; // reported by validate
            continue;
        }
        let n = r.name.get_ref();
        if let Some((what, b, _)) = used.iter().find(|&&(_, b, s)| overlaps(ipa, size, b, s)) {
            let msg = format!(
                "shared memory `{n}` in VM `{}` (IPA {}) overlaps {what} at {}",
                vm.name,
                range(ipa, size),
                hex(*b)
            );
            let hint = format!(
                "pick another `ipa`, or leave it out to use the free space in {}",
                range(window_base, window_size)
            );
            out.push(src.diag(ipa_s.span(), msg, hint));
            ok = false;
            continue;
        }
        used.push((format!("shared memory `{n}`"), ipa, size));
        ipas[i] = ipa;
    }
    let window = [(window_base, window_size)];
    for &(i, r, p, _, size) in &mine {
        if p.ipa.is_some() {
            continue;
        }
        let taken: Vec<(u64, u64)> = used.iter().map(|&(_, b, s)| (b, s)).collect();
        let Some(ipa) = first_fit(&window, &taken, size, align_of(size)) else {
            let msg = format!(
                "no room for shared memory `{}` ({}) in the shared-memory window of VM `{}` ({})",
                r.name.get_ref(),
                human(size),
                vm.name,
                range(window[0].0, window[0].1)
            );
            let hint = "give this peer an `ipa` outside the VM's RAM and devices".to_owned();
            out.push(src.diag(p.vm.span(), msg, hint));
            ok = false;
            continue;
        };
        used.push((format!("shared memory `{}`", r.name.get_ref()), ipa, size));
        ipas[i] = ipa;
    }
    if ok {
        vm.shared = mine
            .iter()
            .map(|&(i, r, p, hpa, size)| SharedMapPlan {
                name: r.name.get_ref().clone(),
                ipa: Ipa::new(ipas[i]),
                hpa: Hpa::new(hpa),
                size,
                writable: *p.access.get_ref() == AccessSpec::Rw,
                index: i,
                doorbell: guest::doorbell(arch, i),
            })
            .collect();
    }
    ok
}
