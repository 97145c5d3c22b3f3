//! rtvisor's own hypercalls (version, doorbell ring, watchdog arm and kick) with good
//! and bad arguments, and numbers that do not exist.

use super::*;
use crate::handler::{Contained, Next};
use crate::hypercall::{self, NR_DOORBELL_RING, NR_WATCHDOG_ARM, NR_WATCHDOG_KICK};
use crate::testkit::VIRT;

const OK: Result<Reply, CallError> = Ok(Reply::Value(0));
const ERR_PARAMS: Result<Reply, CallError> = Err(CallError::InvalidParameters);

#[test]
fn version() {
    let o = one(VIRT).run(0, 0, hypercall(hypercall::NR_VERSION, 7));
    assert_eq!(o.vcpu, answered(Ok(Reply::Value(hypercall::VERSION))));
    assert_eq!(o.calls, []);
}

#[test]
fn rtvisor_hypercalls_with_bad_arguments() {
    let hi = 1 << 32;
    let denied = Err(CallError::Denied);
    let ring = |index| HostCall::Ring { vm: 0, index };
    let arm = |ms| HostCall::WatchdogArm { vm: 0, me: 0, ms };
    let max = hypercall::WATCHDOG_MAX_MS;
    type Case<'a> = (u64, u64, Result<Reply, CallError>, &'a [HostCall]);
    let cases: [Case<'_>; 10] = [
        (NR_DOORBELL_RING, 0, OK, &[ring(0)]),
        (NR_DOORBELL_RING, 1, OK, &[ring(1)]),
        (NR_DOORBELL_RING, 5, ERR_PARAMS, &[ring(5)]),
        (NR_DOORBELL_RING, hi | 1, ERR_PARAMS, &[ring(hi | 1)]),
        (NR_WATCHDOG_ARM, 500, OK, &[arm(500)]),
        (NR_WATCHDOG_ARM, max, OK, &[arm(60_000)]),
        (NR_WATCHDOG_ARM, max + 1, ERR_PARAMS, &[]),
        (NR_WATCHDOG_ARM, u64::MAX, ERR_PARAMS, &[]),
        (
            NR_WATCHDOG_KICK,
            0,
            denied,
            &[HostCall::WatchdogKick { vm: 0, me: 0 }],
        ),
        (NR_WATCHDOG_ARM, 0, OK, &[arm(0)]),
    ];
    for (nr, a0, r, calls) in cases {
        let w = one(VIRT);
        let o = w.run(0, 0, hypercall(nr, a0));
        assert_eq!(
            (o.next, &o.vcpu, o.calls.as_slice()),
            (Next::Resume, &answered(r), calls),
            "{nr:#x} {a0:#x}"
        );
    }
    // A kick of an armed watchdog; after disarming, denied again.
    let w = one(VIRT);
    w.run(0, 0, hypercall(NR_WATCHDOG_ARM, 100));
    assert_eq!(
        returned(&w.run(0, 0, hypercall(NR_WATCHDOG_KICK, 0))),
        Some(OK)
    );
    w.run(0, 0, hypercall(NR_WATCHDOG_ARM, 0));
    let o = w.run(0, 0, hypercall(NR_WATCHDOG_KICK, 0));
    assert_eq!(returned(&o), Some(denied));
}

#[test]
fn numbers_that_do_not_exist_are_not_supported_and_reported() {
    for nr in [0x02, 0x12, 0xff, 1 << 32, u64::MAX] {
        let w = one(VIRT);
        let before = w.states();
        let o = w.run(0, 0, hypercall(nr, 1));
        let what = Contained::UnknownHypercall(nr);
        assert_eq!(o.vcpu, answered(Err(CallError::NotSupported)), "{nr:#x}");
        assert_eq!(o.calls, [HostCall::Contained { vm: 0, what }], "{nr:#x}");
        assert_eq!(w.states(), before, "{nr:#x}");
    }
}
