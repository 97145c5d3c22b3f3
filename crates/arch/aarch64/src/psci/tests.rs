//! The SMCCC ABI: each PSCI function in both conventions, rtvisor's hypercalls, the
//! queries answered here, immediates, unknown function ids, and the encoding of every
//! answer.

use super::*;

const ERR_PARAMS: u64 = PsciError::InvalidParameters.to_x0();
const NOT_SUPPORTED: u64 = PsciError::NotSupported.to_x0();

fn exit(x: [u64; 4]) -> VcpuExit {
    match call(0, x) {
        Call::Exit(e) => e,
        other => panic!("{x:x?}: {other:?}"),
    }
}

fn answer(imm: u16, x: [u64; 4]) -> u64 {
    match call(imm, x) {
        Call::Answer(v) => v,
        other => panic!("{x:x?}: {other:?}"),
    }
}

#[test]
fn functions_decode_in_both_widths() {
    assert_eq!(
        function(CPU_ON_32 as u64, 0xffff_ffff_0000_0001, 0x4008_0000, 7),
        Function::CpuOn {
            target: 1,
            entry: 0x4008_0000,
            context: 7
        }
    );
    assert_eq!(
        function(CPU_ON_64 as u64, 1, 0x1_4008_0000, 7),
        Function::CpuOn {
            target: 1,
            entry: 0x1_4008_0000,
            context: 7
        }
    );
    assert_eq!(function(0xdead_0000_8400_0000, 0, 0, 0), Function::Version);
    assert_eq!(
        function(0x8600_ff01, 0, 0, 0),
        Function::Unknown(0x8600_ff01)
    );
}

#[test]
fn cpu_calls_become_exits_with_the_affinity_only() {
    let upper = 0xdead_beef_0000_0000;
    let on = |target, entry, arg| VcpuExit::CpuOn { target, entry, arg };
    // SMC32: the upper halves are not part of the call; SMC64: they are.
    assert_eq!(
        exit([CPU_ON_32 as u64, upper | 1, upper | 0x4008_0000, upper | 7]),
        on(1, 0x4008_0000, 7)
    );
    assert_eq!(
        exit([CPU_ON_64 as u64, 1, upper | 0x4008_0000, upper | 7]),
        on(1, upper | 0x4008_0000, upper | 7)
    );
    // Bit 31 of an MPIDR (RES1) and bits 24..31 are not affinity.
    assert_eq!(exit([CPU_ON_64 as u64, 0x8000_0003, 0, 0]), on(3, 0, 0));
    assert_eq!(
        exit([CPU_ON_64 as u64, 0x1_0000_0001, 0, 0]),
        on(0x1_0000_0001, 0, 0)
    );
    assert_eq!(exit([CPU_ON_64 as u64, u64::MAX, 0, 0]), on(AFF_MASK, 0, 0));
    // AFFINITY_INFO at level 0 only; the level's upper half in SMC32.
    let state = |target| VcpuExit::CpuState { target };
    assert_eq!(exit([AFFINITY_INFO_64 as u64, 0x8000_0001, 0, 0]), state(1));
    assert_eq!(exit([AFFINITY_INFO_32 as u64, 1, upper, 0]), state(1));
    for level in [1, 2, 3, 4, u64::MAX, upper] {
        assert_eq!(
            answer(0, [AFFINITY_INFO_64 as u64, 1, level, 0]),
            ERR_PARAMS
        );
    }
    assert_eq!(exit([CPU_OFF as u64, 9, 9, 9]), VcpuExit::CpuOff);
    assert_eq!(exit([SYSTEM_OFF as u64, 0, 0, 0]), VcpuExit::SystemOff);
    // The function id is W0.
    assert_eq!(
        exit([upper | SYSTEM_RESET as u64, 0, 0, 0]),
        VcpuExit::SystemReset
    );
}

#[test]
fn rtvisor_hypercalls_take_their_number_and_arguments() {
    let hc = |nr, a0, a1| VcpuExit::Hypercall { nr, args: [a0, a1] };
    assert_eq!(exit([hypercall_fid(0), 5, 6, 7]), hc(0, 5, 6));
    assert_eq!(exit([hypercall_fid(1), 3, 0, 0]), hc(1, 3, 0));
    assert_eq!(
        exit([0x8600_0001, 0xffff_ffff_0000_0002, 1 << 32, 0]),
        hc(1, 2, 0)
    );
    assert_eq!(
        exit([hypercall_fid(0x10), 1 << 40, 0, 0]),
        hc(0x10, 1 << 40, 0)
    );
    assert_eq!(exit([hypercall_fid(0x42), 0, 0, 0]), hc(0x42, 0, 0));
    assert_eq!(exit([0xffff_ffff_c600_0001, 4, 0, 0]), hc(1, 4, 0));
    // Other owners are not rtvisor's.
    for x0 in [0xc400_0003u64, 0xc500_0001, 0xc700_0001, 0x8600_ff01, 0] {
        assert!(
            !matches!(exit([x0, 0, 0, 0]), VcpuExit::Hypercall { .. }),
            "{x0:#x}"
        );
        assert_eq!(hypercall(x0, 1, 2), None, "{x0:#x}");
    }
    // The light path's decode (a doorbell ring is answered from it) is the exit's.
    for x in [
        [hypercall_fid(1), 3, 9, 0],
        [0x8600_0001, 0xffff_ffff_0000_0002, 1 << 32, 0],
        [0xffff_ffff_c600_0001, 4, 0, 0],
        [hypercall_fid(0x10), 1 << 40, 0, 0],
    ] {
        let (nr, args) = hypercall(x[0], x[1], x[2]).expect("an rtvisor call");
        assert_eq!(exit(x), VcpuExit::Hypercall { nr, args }, "{x:#x?}");
    }
}

#[test]
fn unknown_function_ids_go_to_the_handler_by_their_w0() {
    let fids: [u64; 6] = [
        0xffff_ffff_8400_0005,
        0x8400_0005, // MIGRATE
        0x8400_000e, // SYSTEM_SUSPEND and beyond
        0x8300_0000, // SiP
        0xc500_0001, // OEM
        0x0000_0000, // not a fast call
    ];
    for fid in fids {
        let id = fid & 0xffff_ffff;
        assert_eq!(
            exit([fid, 1, 2, 3]),
            VcpuExit::UnknownCall { id },
            "{fid:#x}"
        );
    }
}

#[test]
fn queries_are_answered_here_and_nonzero_immediates_are_not_smccc() {
    let q = |x0: u32, x1: u64| answer(0, [u64::from(x0), x1, 0, 0]);
    assert_eq!(q(PSCI_VERSION, 0), VERSION_1_1);
    assert_eq!(q(SMCCC_VERSION, 0), VERSION_1_1);
    assert_eq!(q(PSCI_FEATURES, u64::from(CPU_ON_64)), 0);
    assert_eq!(q(PSCI_FEATURES, u64::from(CPU_SUSPEND_32)), 0);
    assert_eq!(q(PSCI_FEATURES, u64::from(CPU_SUSPEND_64)), 0);
    assert_eq!(q(PSCI_FEATURES, 0x8400_000e), NOT_SUPPORTED); // SYSTEM_SUSPEND
                                                              // CPU_SUSPEND, in any power state, returns SUCCESS to its caller.
    for fid in [CPU_SUSPEND_32, CPU_SUSPEND_64] {
        for state in [0, 1 << 16, 1 << 30] {
            assert_eq!(q(fid, state), 0);
        }
    }
    assert_eq!(q(SMCCC_ARCH_FEATURES, 0x8000_8000), NOT_SUPPORTED);
    assert_eq!(q(SMCCC_ARCH_FEATURES, u64::from(SMCCC_ARCH_FEATURES)), 0);
    assert_eq!(q(MIGRATE_INFO_TYPE, 0), MIGRATE_NOT_PRESENT);
    for (imm, fid) in [(1, SYSTEM_OFF), (0xffff, SYSTEM_RESET), (2, CPU_ON_64)] {
        assert_eq!(answer(imm, [u64::from(fid), 1, 0, 0]), NOT_SUPPORTED);
    }
}

#[test]
fn stateless_calls_need_no_vm() {
    assert_eq!(stateless(PSCI_VERSION as u64, 0), Some(VERSION_1_1));
    assert_eq!(stateless(PSCI_FEATURES as u64, CPU_ON_64 as u64), Some(0));
    assert_eq!(
        stateless(MIGRATE_INFO_TYPE as u64, 0),
        Some(MIGRATE_NOT_PRESENT)
    );
    assert_eq!(stateless(CPU_ON_64 as u64, 1), None);
    assert_eq!(stateless(SYSTEM_OFF as u64, 0), None);
    assert_eq!(stateless(0x8600_ff01, 0), None);
}

#[test]
fn the_first_look_answers_refuses_or_hands_on() {
    assert_eq!(quick(PSCI_VERSION as u64, 0), Quick::Answer(VERSION_1_1));
    assert_eq!(
        quick(PSCI_FEATURES as u64, CPU_ON_64 as u64),
        Quick::Answer(0)
    );
    // MIGRATE, a SiP call, an unknown PSCI id: refused.
    for fid in [0x8400_0005u64, 0x8200_0000, 0xc400_001f] {
        assert_eq!(quick(fid, 0), Quick::Unknown, "{fid:#x}");
        assert_eq!(
            stateful_call(0, [fid, 0, 0, 0]),
            Call::Exit(VcpuExit::UnknownCall { id: fid })
        );
    }
    // rtvisor's own calls and the PSCI calls with state go to the handler.
    for fid in [
        0xc600_0001u64,
        0x8600_00ff,
        CPU_ON_64 as u64,
        SYSTEM_OFF as u64,
    ] {
        assert_eq!(quick(fid, 0), Quick::Handler, "{fid:#x}");
    }
    for &fid in IMPLEMENTED {
        assert_ne!(quick(u64::from(fid), 0), Quick::Unknown, "{fid:#x}");
    }
    // Whatever the first look refuses, the full decode refuses too.
    let owners = [
        0x8000_0000u32,
        0x8200_0000,
        0x8400_0000,
        0x8600_0000,
        0xbf00_0000,
    ];
    for fid in owners
        .iter()
        .flat_map(|&o| (0..0x40).flat_map(move |n| [o | n, o | SMC64 | n]))
    {
        let x = [u64::from(fid), 0, 0, 0];
        if quick(x[0], 0) == Quick::Unknown {
            assert_eq!(
                stateful_call(0, x),
                Call::Exit(VcpuExit::UnknownCall { id: x[0] }),
                "{fid:#x}"
            );
        }
    }
}

#[test]
fn answers_encode_as_psci_says() {
    assert_eq!(encode(Ok(Reply::Value(0x1_0000))), 0x1_0000);
    assert_eq!(encode(Ok(Reply::Power(CpuPower::On))), 0);
    assert_eq!(encode(Ok(Reply::Power(CpuPower::Off))), 1);
    assert_eq!(encode(Ok(Reply::Power(CpuPower::OnPending))), 2);
    let codes = [
        (CallError::NotSupported, -1i64),
        (CallError::InvalidParameters, -2),
        (CallError::Denied, -3),
        (CallError::AlreadyOn, -4),
        (CallError::OnPending, -5),
        (CallError::InvalidAddress, -9),
    ];
    for (e, code) in codes {
        assert_eq!(encode(Err(e)), code as u64, "{e:?}");
    }
    assert_eq!(PsciError::NotSupported.to_x0(), u64::MAX);
}

#[test]
fn features_lists_only_implemented() {
    assert_eq!(features(SYSTEM_RESET), 0);
    assert_eq!(features(0x8400_0005), PsciError::NotSupported.to_x0()); // MIGRATE
}
