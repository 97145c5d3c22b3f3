//! The GIC of a VM, the whole exit path (syndrome, decode, handler, answer) in the
//! test world: the vGIC's registers at every width in virtual mode (`vgic.rs`), the
//! filtered physical GIC in direct mode (`direct.rs`), SGIs and the CPU interface
//! registers in both modes (`sgi.rs`).

mod bell;
mod direct;
mod fixed;
mod sgi;
mod vgic;

use crate::testing::{self, frame, HwCall, Raw, Syn, World, VBAR};
use rtvisor_core::handler::{Contained, Next};
use rtvisor_core::testkit::HostCall;
use rtvisor_vdev::Width;

/// Runs one data abort of vCPU 0 of VM `vm` at `ipa` through x1 (= `x1` for a store)
/// and checks it was emulated: stepped over, nothing injected, only VM `vm` named, the
/// other VM untouched, no register but x1 changed.
fn emulated(w: &World, vm: usize, ipa: u64, width: Width, write: bool, x1: u64) -> Raw {
    let other = w.vms[1 - vm].snapshot();
    let regs = frame(&[0, x1]);
    let r = testing::run(w, vm, 0, 8, testing::dabt(ipa, width, write, 1), regs);
    let what = (ipa, width, write, x1);
    assert_eq!(r.next, Some(Next::Resume), "{what:x?}");
    assert_eq!(r.frame.elr, regs.elr + 4, "{what:x?}: stepped over");
    assert_eq!(r.el1.taken, [], "{what:x?}");
    assert!(
        r.calls.iter().all(|c| c.vm() == vm),
        "{what:x?}: {:?}",
        r.calls
    );
    assert_eq!(r.hw[1 - vm], [], "{what:x?}");
    assert!(r.hw[vm].iter().all(|c| c.vm().is_none_or(|v| v == vm)));
    assert_eq!(w.vms[1 - vm].snapshot(), other, "{what:x?}");
    let mut unchanged = regs;
    unchanged.elr += 4;
    unchanged.x[1] = r.frame.x[1];
    assert_eq!(r.frame.x, unchanged.x, "{what:x?}: only x1 may change");
    if write {
        assert_eq!(r.frame.x[1], x1, "{what:x?}");
    }
    r
}

/// Runs the exception `syn` of VM `vm`'s vCPU 0 and checks that a synchronous
/// external abort was injected at the access and nothing else happened.
fn aborted(w: &World, vm: usize, syn: Syn) {
    let before = w.states();
    let regs = frame(&[0, 7]);
    let r = testing::run(w, vm, 0, 8, syn, regs);
    assert_eq!(r.next, Some(Next::Resume), "{syn:x?}");
    let write = syn.esr >> 6 & 1 == 1;
    // EC 0x25: data abort from the same EL (EL1h); DFSC 0x10; WnR.
    let esr = 0x25 << 26 | 1 << 25 | 0x10 | u64::from(write) << 6;
    assert_eq!(r.el1.taken, [(esr, Some(syn.far), regs.elr, regs.spsr)]);
    assert_eq!((r.frame.elr, r.frame.x), (VBAR + 0x200, regs.x), "{syn:x?}");
    let ipa = testing::ipa_of(&syn);
    let contained = HostCall::Contained {
        vm,
        what: Contained::BadAccess(ipa),
    };
    assert_eq!(r.calls, [contained], "{syn:x?}");
    assert_eq!(r.hw, [[], []].map(|h: [HwCall; 0]| h.to_vec()), "{syn:x?}");
    assert_eq!(w.states(), before, "{syn:x?}");
}
