//! Host tests of [`handle_exit`](super::handle_exit): every exit kind against the
//! testkit's fake vCPU, fake host and fake interrupt controller, in two VMs built from
//! real configuration tables. The exits are the semantic ones a backend decodes; how
//! the aarch64 backend decodes its ABI into them, and its interrupt controller, are
//! tested in that crate with the same world.

extern crate std;

mod calls;
mod hypercalls;
mod lifecycle;
mod mmio;
mod ports;
mod random;
mod sysregs;
mod walk;

use crate::exit::{RegClass, VcpuExit};
use crate::seam::{CallError, Reply};
use crate::testkit::{FakeChip, FakeVcpu, HostCall, Outcome, Spec};
use rtvisor_addr::Ipa;
use rtvisor_vdev::Width;

/// The world of these tests: the fake interrupt controller.
type World = crate::testkit::World<FakeChip>;

/// A fully decoded load or store of `width` at `ipa` (a store writes `value`).
fn mmio(ipa: u64, width: Width, write: bool, value: u64) -> VcpuExit {
    VcpuExit::Mmio {
        addr: Ipa::new(ipa),
        width,
        write,
        value: if write { value } else { 0 },
    }
}

/// A trapped register `id` of `class`, read or written with `value`.
fn sysreg(id: u32, class: RegClass, write: bool, value: u64) -> VcpuExit {
    VcpuExit::SysReg {
        id,
        class,
        write,
        value,
    }
}

/// A hypercall `nr` with argument `a0`.
fn hypercall(nr: u64, a0: u64) -> VcpuExit {
    VcpuExit::Hypercall { nr, args: [a0, 0] }
}

/// The answer a call returned.
fn returned(o: &Outcome) -> Option<Result<Reply, CallError>> {
    o.vcpu.returned
}

/// A vCPU answered with `r` and nothing else.
fn answered(r: Result<Reply, CallError>) -> FakeVcpu {
    FakeVcpu {
        returned: Some(r),
        ..FakeVcpu::new()
    }
}

/// A world with VM 0 per `spec` and VM 1 in the other interrupt mode.
fn one(spec: Spec) -> World {
    World::one(spec)
}

#[test]
fn a_booted_world_resumes_a_halt() {
    let w = World::new(crate::testkit::VIRT, crate::testkit::DIRECT);
    let o = w.run(0, 0, VcpuExit::Halt);
    assert_eq!(o.next, super::Next::Resume);
    assert_eq!(o.vcpu.skipped, 1);
    assert!(o.calls.is_empty(), "{:?}", o.calls);
    assert_eq!(o.vcpu.injected, []);
}

#[test]
fn the_world_is_built_as_specified() {
    use crate::seam::CpuPower::{Off, On};
    use rtvisor_config::tables::RestartPolicy;
    let w = World::new(
        crate::testkit::VIRT.restart(RestartPolicy::Always),
        crate::testkit::DIRECT,
    );
    assert_eq!(w.vms[0].cfg.restart, RestartPolicy::Always);
    assert_eq!(w.vms[1].cfg.restart, RestartPolicy::Never);
    assert_eq!(
        (w.vms[0].cpu_ids.as_slice(), w.vms[1].cpu_ids.as_slice()),
        (&[0, 1][..], &[2, 3][..])
    );
    assert_eq!(
        w.states().map(|s| s.power),
        [[Some(On), Some(Off)], [Some(On), Some(Off)]].map(|p| p.to_vec())
    );
    // The machine's regions, in address order, with their lines.
    let kinds: std::vec::Vec<_> = w.vms[0].regions.iter().map(|r| (r.kind, r.line)).collect();
    use crate::mmio::DeviceKind::*;
    assert_eq!(
        kinds,
        [
            (CfiFlash, None),
            (GicDist, None),
            (GicRedist, None),
            (Pl011, Some(33)),
            (Doorbell, None),
            (DoorbellGpio, Some(111))
        ]
    );
}
