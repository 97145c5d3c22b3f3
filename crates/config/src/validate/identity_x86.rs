//! Identity-mapped x86_64 VMs and where the hypervisor goes to make room for them.
//!
//! An identity-mapped x86_64 VM sees its RAM from guest-physical 0 as any x86_64 VM
//! does, but from 1 MiB (`tables::LOW_PRIVATE`) on its guest addresses are host
//! addresses: DMA by a passed-through device then reaches the right bytes without an
//! IOMMU. Its first MiB (real-mode memory, its boot data and ACPI tables) is in private
//! host pages instead, since the host's own first MiB is the firmware's. Its host RAM is
//! therefore fixed, from 1 MiB up, and the hypervisor (at 2 MiB by default) has to be
//! moved out of the way with `[hypervisor] memory.base`.

use crate::contract::x86_64::HV_LOAD;
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::schema::VmSpec;
use crate::size::{align_up, hex, overlaps, range, within, MIB};
use crate::tables::LOW_PRIVATE;

const BLOCK: u64 = 2 * MIB;
/// The hypervisor's boot page tables map the first 4 GiB (crates/arch/x86_64 boot.rs).
const BOOT_MAPPED: u64 = 1 << 32;

/// `[hypervisor] memory.base` on x86_64: where its ELF is linked and GRUB loads it.
/// 2 MiB aligned, at or above the default load address, inside the first 4 GiB.
pub(super) fn hv_base(
    base: u64,
    size: u64,
    span: std::ops::Range<usize>,
    inp: &Inputs,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let src = &inp.scenario_src;
    if !super::vms::hv_base_aligned(base, span.clone(), inp, out) {
        return false;
    }
    if base < HV_LOAD {
        let msg = format!(
            "hypervisor memory base {} is below {}",
            hex(base),
            hex(HV_LOAD)
        );
        let hint = format!(
            "below {} is the firmware's and GRUB's memory; use {} or higher",
            hex(HV_LOAD),
            hex(HV_LOAD)
        );
        out.push(src.diag(span, msg, hint));
        return false;
    }
    if base.saturating_add(size) > BOOT_MAPPED {
        let msg = format!("hypervisor memory ({}) ends above 4 GiB", range(base, size));
        let hint = "the hypervisor starts with the first 4 GiB mapped and must run from \
                    there; give it a lower base"
            .to_owned();
        out.push(src.diag(span, msg, hint));
        return false;
    }
    true
}

/// An identity-mapped x86_64 VM: no `base`, its host RAM from 1 MiB in the board's RAM,
/// clear of the hypervisor and of every VM placed so far (`fixed`, which it joins).
pub(super) fn vm<'a>(
    inp: &Inputs,
    vm: &'a VmSpec,
    hv: Option<(u64, u64)>,
    banks: &[(u64, u64)],
    fixed: &mut Vec<(&'a str, u64, u64)>,
    out: &mut Vec<Diagnostic>,
) {
    let src = &inp.scenario_src;
    let n = vm.name.get_ref();
    let mem = &vm.memory;
    let size = mem.size.get_ref().0;
    if let Some(b) = &mem.base {
        let msg = format!("identity-mapped x86_64 VM `{n}` has a memory `base`");
        let hint = format!(
            "remove base: an identity-mapped x86_64 VM's RAM is at host {} (its guest \
             addresses), its first MiB in private pages",
            range(LOW_PRIVATE, size.saturating_sub(LOW_PRIVATE))
        );
        out.push(src.diag(b.span(), msg, hint));
        return;
    }
    if size <= LOW_PRIVATE {
        return; // the size rules report it
    }
    let (base, len) = (LOW_PRIVATE, size - LOW_PRIVATE);
    let at = mem.size.span();
    if !banks.iter().any(|&(b, s)| within(base, len, b, s)) {
        let msg = format!(
            "identity-mapped VM `{n}` needs host RAM {}, which is not inside the board's RAM",
            range(base, len)
        );
        let hint = format!(
            "its guest addresses from 1 MiB are host addresses; board `{}` must list RAM \
             from 1 MiB that holds them, or give the VM less memory",
            inp.board.name.get_ref()
        );
        out.push(src.diag(at.clone(), msg, hint));
    }
    if let Some((hb, hs)) = hv.filter(|&(hb, hs)| overlaps(base, len, hb, hs)) {
        let msg = format!(
            "identity-mapped VM `{n}` needs host RAM {}, where the hypervisor is ({})",
            range(base, len),
            range(hb, hs)
        );
        let above = align_up(size, BLOCK).unwrap_or(size);
        let hint = format!(
            "move the hypervisor above it: [hypervisor] memory = {{ ..., base = {} }} (or \
             higher)",
            hex(above)
        );
        out.push(src.diag(at.clone(), msg, hint));
    }
    for &(other, ob, os) in fixed.iter() {
        if overlaps(base, len, ob, os) {
            let msg = format!(
                "identity-mapped VM `{n}` needs host RAM {}, which VM `{other}` has ({})",
                range(base, len),
                range(ob, os)
            );
            let hint = format!(
                "only one x86_64 VM can be identity-mapped, and a fixed `base` must leave \
                 its RAM alone: if VM `{other}` is identity-mapped too, make one of them \
                 identity = false; if it has a `base`, move it clear of {}",
                range(base, len)
            );
            out.push(src.diag(at.clone(), msg, hint));
        }
    }
    fixed.push((n, base, len));
}
