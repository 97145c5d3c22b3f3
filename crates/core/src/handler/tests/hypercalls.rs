//! rtvisor's own hypercalls (doorbell ring, watchdog arm and kick) with good and bad
//! arguments in both SMCCC conventions, and the version and feature queries.

use super::world::VIRT;
use super::*;
use crate::handler::Next;
use crate::hypercall::{self, fid64};
use crate::psci::{self, PsciError};

const ERR_PARAMS: u64 = PsciError::InvalidParameters.to_x0();
const NOT_SUPPORTED: u64 = PsciError::NotSupported.to_x0();

#[test]
fn version_and_feature_queries() {
    let w = World::one(VIRT);
    let q = |args: &[u64]| {
        let o = w.hvc(0, 0, args);
        assert_eq!(o.calls, []);
        o.x0()
    };
    assert_eq!(q(&[u64::from(psci::PSCI_VERSION)]), psci::VERSION_1_1);
    assert_eq!(q(&[u64::from(psci::SMCCC_VERSION)]), psci::VERSION_1_1);
    assert_eq!(
        q(&[u64::from(psci::PSCI_FEATURES), u64::from(psci::CPU_ON_64)]),
        0
    );
    assert_eq!(
        q(&[u64::from(psci::PSCI_FEATURES), 0x8400_0001]),
        NOT_SUPPORTED
    );
    assert_eq!(
        q(&[u64::from(psci::SMCCC_ARCH_FEATURES), 0x8000_8000]),
        NOT_SUPPORTED
    );
    assert_eq!(
        q(&[u64::from(psci::MIGRATE_INFO_TYPE)]),
        psci::MIGRATE_NOT_PRESENT
    );
    assert_eq!(q(&[fid64(0)]), hypercall::VERSION);
}

#[test]
fn rtvisor_hypercalls_with_bad_arguments() {
    let hi = 1 << 32;
    let ring32 = 0x8600_0001;
    let arm32 = 0x8600_0010;
    let (ok, denied) = (0, PsciError::Denied.to_x0());
    let ring = |index| HostCall::Ring { vm: 0, index };
    let arm = |ms| HostCall::WatchdogArm { vm: 0, me: 0, ms };
    let cases: [(&[u64], u64, &[HostCall]); 13] = [
        (&[fid64(1), 0], ok, &[ring(0)]),
        (&[fid64(1), 1], ok, &[ring(1)]),
        (&[fid64(1), 5], ERR_PARAMS, &[ring(5)]),
        (&[fid64(1), hi | 1], ERR_PARAMS, &[ring(hi | 1)]),
        (&[ring32, hi | 1], ok, &[ring(1)]),
        (&[fid64(0x10), 500], ok, &[arm(500)]),
        (
            &[fid64(0x10), hypercall::WATCHDOG_MAX_MS],
            ok,
            &[arm(60_000)],
        ),
        (
            &[fid64(0x10), hypercall::WATCHDOG_MAX_MS + 1],
            ERR_PARAMS,
            &[],
        ),
        (&[fid64(0x10), u64::MAX], ERR_PARAMS, &[]),
        (&[fid64(0x10), hi | 500], ERR_PARAMS, &[]),
        (&[arm32, hi | 500], ok, &[arm(500)]),
        (
            &[fid64(0x11)],
            denied,
            &[HostCall::WatchdogKick { vm: 0, me: 0 }],
        ),
        (&[fid64(0x10), 0], ok, &[arm(0)]),
    ];
    for (args, x0, calls) in cases {
        let w = World::one(VIRT);
        let o = w.hvc(0, 0, args);
        assert_eq!(
            (o.next, o.x0(), o.calls.as_slice()),
            (Next::Resume, x0, calls),
            "{args:x?}"
        );
        assert_eq!(o.regs.x[1..], FakeRegs::with(args).x[1..], "{args:x?}");
    }
    // A kick of an armed watchdog; after disarming, denied again.
    let w = World::one(VIRT);
    w.hvc(0, 0, &[fid64(0x10), 100]);
    assert_eq!(w.hvc(0, 0, &[fid64(0x11)]).x0(), ok);
    w.hvc(0, 0, &[fid64(0x10), 0]);
    assert_eq!(w.hvc(0, 0, &[fid64(0x11)]).x0(), denied);
}
