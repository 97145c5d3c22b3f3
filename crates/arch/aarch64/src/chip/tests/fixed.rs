//! The light data-abort path (`light_offset`, the copies `Gic::copy_fixed` takes)
//! against the full exit path: every word of the emulated distributor read both ways,
//! after reset and after the guest wrote every register; the light path answers
//! exactly the fixed registers, with the model's value, and nothing in direct mode.

use super::*;
use crate::chip::{light_offset, FixedCopies};
use crate::decode::light_load;
use rtvisor_config::guest;
use rtvisor_core::testkit::{DIRECT, VIRT};
use rtvisor_vdev::vgic::dist::reg;
use std::vec::Vec;

const GICD: u64 = guest::VGIC_DIST_IPA;
const GICD_SIZE: u64 = guest::VGIC_DIST_SIZE;

/// The read-only registers of the distributor: the light path must answer each.
const READ_ONLY: [u64; 4] = [reg::TYPER, reg::IIDR, reg::TYPER2, reg::PIDR2];

/// VM `vm`'s copies, taken as when one of its vCPUs starts.
fn copies(w: &World, vm: usize) -> FixedCopies {
    let copies = FixedCopies::new();
    w.vms[vm].chip.copy_fixed(&copies, w.vms[vm].cfg);
    copies
}

/// The light path's answer from `copies` to a read at `ipa` of `width` into `xreg`.
fn light(copies: &FixedCopies, ipa: u64, width: Width, xreg: u64) -> Option<u64> {
    let syn = testing::dabt(ipa, width, false, xreg);
    let load = light_load(syn.esr)?;
    let off = light_offset(load, &syn)?;
    copies.read(load, off)
}

/// Reads every word of VM 0's distributor both ways, the light one from `copies`;
/// returns the offsets the light path answered, after checking that each answer is
/// the full path's, into x1 and into x30 (the highest register the light path saves).
fn walk(w: &World, copies: &FixedCopies) -> Vec<u64> {
    let mut answered = Vec::new();
    for off in (0..GICD_SIZE).step_by(4) {
        let ipa = GICD + off;
        let Some(fast) = light(copies, ipa, Width::Word, 1) else {
            continue;
        };
        let full = emulated(w, 0, ipa, Width::Word, false, 0).frame.x[1];
        assert_eq!(fast, full, "GICD offset {off:#x}");
        assert_eq!(light(copies, ipa, Width::Word, 30), Some(full), "{off:#x}");
        answered.push(off);
    }
    answered
}

#[test]
fn the_light_path_answers_every_read_only_register_as_the_model_does() {
    let w = World::one(VIRT);
    let copies = copies(&w, 0);
    assert!(copies.in_use());
    assert_eq!(walk(&w, &copies), READ_ONLY);
    // GICD_TYPER names the VM's vCPUs (CPUNumber, bits 7:5).
    let typer = light(&copies, GICD + reg::TYPER, Width::Word, 1).unwrap();
    assert_eq!(typer >> 5 & 7, w.vms[0].cfg.cpus.len() as u64 - 1);
}

#[test]
fn guest_writes_do_not_change_what_the_light_path_answers() {
    let w = World::one(VIRT);
    // Taken at the vCPU's start, compared after the guest wrote every word with ones,
    // then with a pattern: a register whose value a guest can change cannot be among
    // the copies.
    let copies = copies(&w, 0);
    for value in [0xffff_ffff, 0x0123_4567] {
        for off in (0..GICD_SIZE).step_by(4) {
            let syn = testing::dabt(GICD + off, Width::Word, true, 1);
            let _ = testing::run(&w, 0, 0, 8, syn, frame(&[0, value]));
        }
        assert_eq!(walk(&w, &copies), READ_ONLY, "after writing {value:#x}");
    }
}

#[test]
fn the_light_path_takes_only_32_bit_reads_into_saved_registers() {
    let w = World::one(VIRT);
    let copies = copies(&w, 0);
    let typer = GICD + reg::TYPER;
    for width in [Width::Byte, Width::Half, Width::Double] {
        assert_eq!(light(&copies, typer, width, 1), None, "{width:?}");
    }
    // Not at the register's offset, or past the distributor.
    for ipa in [
        typer + 1,
        typer + 2,
        GICD + GICD_SIZE + reg::TYPER,
        GICD - 4,
    ] {
        assert_eq!(light(&copies, ipa, Width::Word, 1), None, "{ipa:#x}");
    }
    // x19..x29 hold the guest's values, not the frame's, on the light path.
    for xreg in 19..=29 {
        let syn = testing::dabt(typer, Width::Word, false, xreg);
        assert_eq!(light_load(syn.esr), None, "x{xreg}");
    }
    // xzr: answered (the value is dropped).
    assert!(light(&copies, typer, Width::Word, 31).is_some());
    // A write is never light.
    let syn = testing::dabt(typer, Width::Word, true, 1);
    assert_eq!(light_load(syn.esr), None);
}

#[test]
fn a_direct_mode_vm_has_no_light_answers() {
    // VM 0 direct: its distributor is the physical one, on the full path; copies
    // left by a virtual-mode VM before are dropped.
    let w = World::one(DIRECT);
    let stale = copies(&w, 1);
    assert!(light(&stale, GICD + reg::TYPER, Width::Word, 1).is_some());
    w.vms[0].chip.copy_fixed(&stale, w.vms[0].cfg);
    assert!(!stale.in_use());
    for off in (0..GICD_SIZE).step_by(4) {
        assert_eq!(light(&stale, GICD + off, Width::Word, 1), None, "{off:#x}");
    }
}
