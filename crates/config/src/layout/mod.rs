//! Memory layout resolution.
//!
//! Host-physical (QEMU virt, `-m 2G`):
//! ```text
//!   0x4000_0000 +----------------------+ first RAM bank
//!               | boot DTB (firmware)  | 2 MiB, left alone
//!   0x4020_0000 +----------------------+
//!               | hypervisor           | [hypervisor] memory.size (32 MiB)
//!               +----------------------+
//!               | colored area         | colored VMs' pages (`colored`), first
//!               |                      | fit after the fixed `base`s; the
//!               |                      | hypervisor's tables with its `colors`
//!               +----------------------+
//!               | VM RAM, first fit,   | each 2 MiB aligned and sized; fixed
//!               | in scenario order    | `base`s (VMs and shared memory) first
//!               +----------------------+
//!               | shared memory, first | 4 KiB aligned (2 MiB when the size is a
//!               | fit, declaration     | multiple of 2 MiB)
//!               | order                |
//!   0xc000_0000 +----------------------+
//! ```
//! Guest-physical, per VM (QEMU-virt shaped):
//! ```text
//!   0x0800_0000  vGIC distributor (64 KiB)
//!   0x080a_0000  vGIC redistributors (128 KiB per vCPU)
//!   0x0900_0000  emulated PL011 (4 KiB)
//!   0x0901_0000  emulated doorbell page (4 KiB; write a shared-memory region's
//!                index to the register at 0 to ring its other peers)
//!   0x0902_0000  emulated PL061, the doorbell GPIO (4 KiB, INTID 111)
//!   devices      1:1 at their host addresses, whole 4 KiB pages
//!   0x1000_0000  shared-memory window (to 0x4000_0000): each [[shared-memory]] region
//!                the VM is a peer of and gives no `ipa`, first fit in declaration
//!                order (after the regions with an `ipa`), aligned like its host copy
//!   0x4000_0000  RAM (or identity: at its host address); the kernel, initrd and
//!                device tree where QEMU's `-kernel` puts them (see `boot`):
//!     +0x8_0000  a headerless binary; an ELF at its own addresses; an arm64 Image
//!                at text_offset (+ 2 MiB below 4 KiB)
//!     +min(size/2, 128 MiB)  the initrd (or right after the image)
//!     next 2 MiB the device tree of an Image or headerless binary; an ELF's is at
//!                RAM start (the last 2 MiB when the ELF starts there)
//! ```
//! On an x86_64 board the hypervisor is at 0x20_0000 (GRUB's load address, in the
//! first RAM bank) and a VM sees the map of `crate::contract::x86_64`: RAM from 0,
//! its boot data (ACPI tables, PVH start info, [`crate::acpi`]) at 0xe_0000 instead
//! of a device tree, images at or above 1 MiB, the shared-memory window from
//! 0xc000_0000 ([`guest`] reads the contract for each architecture).

use crate::contract::Arch;
use crate::diag::{has_errors, Diagnostic};
use crate::dtgen;
use crate::fingerprint::{fnv1a64_extend, FNV1A64_INIT};
use crate::load::Inputs;
use crate::plan::{Plan, VmPlan};
use crate::size::{align_up, human, overlaps, within, MIB};
use std::path::PathBuf;

pub mod boot;
pub mod colored;
pub(crate) mod guest;
mod hv;
pub(crate) mod identity;
mod shared;
mod vm;
pub(crate) use hv::hv_region;
pub use hv::image_estimate;
use vm::place_vm;

/// The guest-physical map is the machine contract's (aarch64).
pub use crate::contract::aarch64::*;
pub use crate::contract::MAX_SHARED_REGIONS;

const BLOCK: u64 = 2 * MIB;

/// Places every VM and shared region. Rules already reported by `validate` are
/// skipped silently here; the plan (without device trees yet, see [`finish`]) comes
/// back only when nothing at all was wrong.
pub(crate) fn resolve(inp: &Inputs) -> (Option<Plan>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let Some(hv) = hv_region(&inp.board, &inp.scenario) else {
        return (None, out);
    };
    let banks: Vec<(u64, u64)> = inp
        .board
        .ram
        .iter()
        .map(|r| (*r.base.get_ref(), r.size.get_ref().0))
        .collect();
    if !within(hv.0, hv.1, banks[0].0, banks[0].1) {
        return (None, out); // reported by validate
    }
    // Taken host RAM: boot DTB + hypervisor (x86_64: GRUB's area below its default
    // load address, and the hypervisor where it is), then every fixed VM.
    let mut taken = match inp.board.arch() {
        Arch::Aarch64 => vec![(banks[0].0, hv.0 + hv.1 - banks[0].0)],
        Arch::X86_64 => {
            let grub = crate::contract::x86_64::HV_LOAD.saturating_sub(banks[0].0);
            vec![(banks[0].0, grub), hv]
        }
    };
    taken.extend(inp.scenario.vm.iter().filter_map(|vm| {
        let m = &vm.memory;
        m.base.as_ref().map(|b| (*b.get_ref(), m.size.get_ref().0))
    }));
    // An identity-mapped x86_64 VM's RAM from 1 MiB is at the same host addresses.
    taken.extend(identity::reserved(inp));
    taken.extend(shared::fixed(inp));
    let Some(colored) = colored::place(inp, &banks, &mut taken, &mut out) else {
        return (None, out);
    };
    let mut vms = Vec::new();
    let mut complete = true;
    for (vm, colored) in inp.scenario.vm.iter().zip(colored.vms) {
        match place_vm(inp, vm, colored, &banks, &mut taken, &mut out) {
            Some(p) => vms.push(p),
            None => complete = false,
        }
    }
    if !complete || has_errors(&out) {
        return (None, out);
    }
    let Some(shared) = shared::place(inp, &banks, &mut taken, &mut vms, &mut out) else {
        return (None, out);
    };
    let Some(hypervisor) = hv::hypervisor(inp, hv, colored.hv) else {
        return (None, out); // an unknown console is reported by validate
    };
    let (fingerprint, inputs) = fingerprint(inp, &vms);
    let timer_intids = inp.board.timer.as_ref().map_or([0; 4], |t| {
        [
            &t.secure_physical_intid,
            &t.physical_intid,
            &t.virtual_intid,
            &t.hyp_intid,
        ]
        .map(|i| *i.get_ref())
    });
    let plan = Plan {
        scenario: inp.scenario_src.path.clone(),
        board: inp.board_src.path.clone(),
        board_name: inp.board.name.get_ref().clone(),
        arch: inp.board.arch(),
        hypervisor,
        timer_intids,
        vms,
        shared,
        fingerprint,
        inputs,
        warnings: Vec::new(),
    };
    if has_errors(&out) {
        (None, out)
    } else {
        (Some(plan), out)
    }
}

/// The last step, on a plan from a scenario without errors: each VM's device tree
/// (boot data on x86_64), then the check that the hypervisor image (which embeds
/// them) fits its memory.
pub(crate) fn finish(inp: &Inputs, mut plan: Plan, out: &mut Vec<Diagnostic>) -> Option<Plan> {
    if plan.arch == Arch::X86_64 {
        x86_boot_data(inp, &mut plan, out);
        hv::image_fits(inp, &plan, out);
        return (!has_errors(out)).then_some(plan);
    }
    for i in 0..plan.vms.len() {
        let dtb = dtgen::generate(&plan, &plan.vms[i]);
        let vm = &mut plan.vms[i];
        match dtb {
            Ok(dtb) => vm.dtb = dtb,
            Err(e) => {
                // Validation refuses every input the generator cannot write.
                let msg = format!("cannot build the device tree of VM `{}`: {e}", vm.name);
                let hint = "this is a bug in rtvisor-config: please report it with this \
                            scenario and board";
                out.push(at_name(inp, i, msg, hint));
            }
        }
        let room = vm.dtb_room.min(DTB_MAX);
        if vm.dtb.len() as u64 > room {
            let msg = format!(
                "the device tree of VM `{}` ({}) is larger than its {} slot",
                vm.name,
                human(vm.dtb.len() as u64),
                human(room)
            );
            out.push(at_name(
                inp,
                i,
                msg,
                "shorten `bootargs` or pass fewer devices",
            ));
        }
    }
    hv::image_fits(inp, &plan, out);
    (!has_errors(out)).then_some(plan)
}

/// Each x86_64 VM's boot data, checked as a guest reads it, within its slot.
fn x86_boot_data(inp: &Inputs, plan: &mut Plan, out: &mut Vec<Diagnostic>) {
    use crate::contract::x86_64::{BOOT_DATA_GPA, BOOT_DATA_MAX};
    for i in 0..plan.vms.len() {
        let blob = crate::acpi::boot_data(&crate::acpi::BootInfo::of(plan, &plan.vms[i]));
        let vm = &mut plan.vms[i];
        if let Err(e) = crate::acpi::read::check(&blob, BOOT_DATA_GPA) {
            let msg = format!("the boot data of VM `{}` do not check: {e}", vm.name);
            let hint = "this is a bug in rtvisor-config: please report it with this \
                        scenario and board";
            out.push(at_name(inp, i, msg, hint));
        }
        if blob.len() as u64 > BOOT_DATA_MAX {
            let msg = format!(
                "the boot data of VM `{}` ({}) are larger than their {} slot",
                vm.name,
                human(blob.len() as u64),
                human(BOOT_DATA_MAX)
            );
            out.push(at_name(
                inp,
                i,
                msg,
                "shorten `bootargs` or pass fewer devices",
            ));
        }
        vm.dtb = blob;
    }
}

/// FNV-1a 64 over scenario, board, then each VM's kernel and initrd blobs (see
/// [`crate::fingerprint`]), and the files those came from.
fn fingerprint(inp: &Inputs, vms: &[VmPlan]) -> (u64, Vec<PathBuf>) {
    let mut fp = fnv1a64_extend(FNV1A64_INIT, inp.scenario_src.text.as_bytes());
    fp = fnv1a64_extend(fp, inp.board_src.text.as_bytes());
    let mut inputs = vec![inp.scenario_src.path.clone(), inp.board_src.path.clone()];
    for vm in vms {
        let flash = vm.flash.iter().flatten();
        for img in std::iter::once(&vm.kernel)
            .chain(vm.initrd.as_ref())
            .chain(flash)
        {
            fp = fnv1a64_extend(fp, &img.bytes);
            inputs.push(img.path.clone());
        }
    }
    (fp, inputs)
}

fn at_name(inp: &Inputs, i: usize, msg: String, hint: &str) -> Diagnostic {
    inp.scenario_src
        .diag(inp.scenario.vm[i].name.span(), msg, hint.to_owned())
}

/// First fit: the lowest `align` aligned gap of `size` bytes in `banks`.
pub(crate) fn first_fit(
    banks: &[(u64, u64)],
    taken: &[(u64, u64)],
    size: u64,
    align: u64,
) -> Option<u64> {
    for &(bank, bank_size) in banks {
        let mut at = align_up(bank, align)?;
        while within(at, size, bank, bank_size) {
            match taken.iter().find(|&&(b, s)| overlaps(at, size, b, s)) {
                Some(&(b, s)) => at = align_up(b.checked_add(s)?, align)?,
                None => return Some(at),
            }
        }
    }
    None
}
