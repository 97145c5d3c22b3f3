//! Host tests of [`handle_exit`](super::handle_exit): every exit kind against a fake
//! vCPU and a fake host that records every call, in two VMs built from real
//! configuration tables. The fakes and the world sit behind small helpers
//! ([`World::exit`], the exit constructors below) so that a change of the handler's
//! signature touches only them.

extern crate std;

mod calls;
mod direct;
mod fakes;
mod hypercalls;
mod lifecycle;
mod mmio;
mod random;
mod sysregs;
mod walk;
mod world;

use crate::exit::{AccessWidth, Conduit, MmioAccess, SysRegAccess, SysRegId, VcpuExit};
use fakes::{FakeRegs, HostCall, Injected};
use rtvisor_addr::Ipa;
use world::World;

/// The guest virtual address of a faulting access at `ipa` (any value will do: the
/// handler passes it back in the injected abort).
fn far_of(ipa: u64) -> u64 {
    0xffff_8000_0000_0000 | ipa
}

/// A load or store of `width` at `ipa` through register `reg` (x registers, no sign
/// extension), with a valid syndrome.
fn mmio(ipa: u64, width: AccessWidth, write: bool, reg: u8) -> VcpuExit {
    mmio_with(
        ipa,
        Some(MmioAccess {
            write,
            width,
            reg,
            sign_extend: false,
            reg64: true,
        }),
        write,
    )
}

/// A data abort at `ipa` with the syndrome `access` (`None`: not valid).
fn mmio_with(ipa: u64, access: Option<MmioAccess>, write: bool) -> VcpuExit {
    VcpuExit::DataAbort {
        ipa: Ipa::new(ipa),
        far: far_of(ipa),
        access,
        write,
    }
}

/// An SMCCC call through `conduit` with immediate 0.
fn call(conduit: Conduit) -> VcpuExit {
    VcpuExit::Call { conduit, imm: 0 }
}

const HVC: VcpuExit = VcpuExit::Call {
    conduit: Conduit::Hvc,
    imm: 0,
};

/// A trapped MRS (`read`) or MSR of `id` with register `rt`.
fn sysreg(id: SysRegId, rt: u8, read: bool) -> VcpuExit {
    VcpuExit::SysReg(SysRegAccess { reg: id, rt, read })
}

/// What one exit did.
#[derive(Debug)]
struct Outcome {
    next: super::Next,
    regs: FakeRegs,
    calls: std::vec::Vec<HostCall>,
}

impl World {
    /// Runs `exit` of vCPU `vcpu` of VM `vm` with registers `regs`; returns what it did
    /// (the host's record is emptied first).
    fn run(&self, vm: usize, vcpu: usize, mut regs: FakeRegs, exit: VcpuExit) -> Outcome {
        self.host.take();
        let next = self.exit(vm, vcpu, &mut regs, exit);
        Outcome {
            next,
            regs,
            calls: self.host.take(),
        }
    }

    /// An SMCCC call by HVC from vCPU `vcpu` of VM `vm` with x0.. = `args`.
    fn hvc(&self, vm: usize, vcpu: usize, args: &[u64]) -> Outcome {
        self.run(vm, vcpu, FakeRegs::with(args), HVC)
    }
}

impl Outcome {
    /// The value the call left in x0.
    fn x0(&self) -> u64 {
        self.regs.x[0]
    }

    /// The calls of kind `Contained`.
    fn contained(&self) -> std::vec::Vec<super::Contained> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                HostCall::Contained { what, .. } => Some(*what),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_booted_world_resumes_a_wfi() {
    let w = World::new(world::VIRT, world::DIRECT);
    let o = w.run(0, 0, FakeRegs::new(), VcpuExit::Wfx);
    assert_eq!(o.next, super::Next::Resume);
    assert_eq!(o.regs.skipped, 1);
    assert!(o.calls.is_empty(), "{:?}", o.calls);
    assert_eq!(o.regs.injected, []);
}

#[test]
fn the_world_is_built_as_specified() {
    use rtvisor_config::tables::RestartPolicy;
    let w = World::new(world::VIRT.restart(RestartPolicy::Always), world::DIRECT);
    assert_eq!(w.vms[0].cfg.restart, RestartPolicy::Always);
    assert_eq!(w.vms[1].cfg.restart, RestartPolicy::Never);
    assert_eq!(
        (w.vms[0].mpidrs.as_slice(), w.vms[1].mpidrs.as_slice()),
        (&[0, 1][..], &[2, 3][..])
    );
    assert_eq!(
        w.states().map(|s| s.power),
        [[Some(0), Some(1)], [Some(0), Some(1)]].map(|p| p.to_vec())
    );
}
