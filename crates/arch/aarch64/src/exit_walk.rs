//! A deterministic random walk over the whole aarch64 exit path: random exceptions
//! (syndromes of every class, SMCCC calls in both conventions, trapped registers,
//! aborts with and without a syndrome) with random registers from the vCPUs of two
//! VMs, one per interrupt mode, decoded here and handled by the core. After every
//! step: nothing panicked; the other VM, its GIC and its hardware are untouched;
//! registers changed only as an answer may change them (x0 for a call, the load's
//! register, the return address by a step or a fault taken to EL1); every call that
//! returns left an architectural code in x0.

use crate::decode::{self, Decoded};
use crate::psci;
use crate::testing::{self, esr_sysreg, frame, Syn, World, VBAR};
use rtvisor_config::guest;
use rtvisor_config::tables::RestartPolicy;
use rtvisor_core::handler::Next;
use rtvisor_core::ids::VcpuId;
use rtvisor_core::testkit::{Rng, Spec, DIRECT, ENTRY, RAM_BASE, RAM_SIZE, VIRT};
use rtvisor_core::vm::VmState;
use rtvisor_vdev::Width;

const FIDS: &[u32] = &[
    psci::PSCI_VERSION,
    psci::PSCI_FEATURES,
    psci::CPU_ON_32,
    psci::CPU_ON_64,
    psci::CPU_ON_64,
    psci::CPU_OFF,
    psci::AFFINITY_INFO_32,
    psci::AFFINITY_INFO_64,
    psci::MIGRATE_INFO_TYPE,
    psci::SYSTEM_OFF,
    psci::SYSTEM_RESET,
    psci::SMCCC_VERSION,
    psci::SMCCC_ARCH_FEATURES,
    psci::CPU_SUSPEND_32,
    0xc600_0000,
    0xc600_0001,
    0x8600_0001,
    0xc600_0010,
    0x8600_0010,
    0xc600_0011,
    0xc600_0042,
];

const SYSREGS: &[(u64, u64, u64, u64, u64)] = &[
    (3, 0, 12, 11, 5), // ICC_SGI1R_EL1
    (3, 0, 12, 11, 5),
    (3, 0, 12, 11, 5),
    (3, 0, 12, 11, 6),
    (3, 0, 12, 12, 0), // ICC_IAR1_EL1
    (3, 0, 12, 9, 0),  // ICC_AP1R0_EL1
    (3, 0, 1, 0, 1),
    (2, 0, 0, 2, 2),
    (3, 3, 14, 2, 1),
    (3, 1, 15, 2, 0),
];

/// An argument: one that matters, or anything.
fn arg(r: &mut Rng) -> u64 {
    match r.below(4) {
        0 => r.next(),
        1 => r.below(8) | r.next() << 32,
        _ => r.pick(&[0, 1, 2, 3, 0x100, ENTRY, RAM_BASE + RAM_SIZE, 500, u64::MAX]),
    }
}

/// An address: in an emulated region or near one, or anywhere.
fn ipa(r: &mut Rng) -> u64 {
    let bases = [
        guest::VGIC_DIST_IPA,
        guest::VGIC_REDIST_IPA,
        guest::VGIC_REDIST_IPA + 0x1_0000,
        guest::VUART_IPA,
        guest::DOORBELL_IPA,
        guest::DOORBELL_GPIO_IPA,
    ];
    match r.below(6) {
        0 => r.next() & 0xff_ffff_ffff,
        1 => r.pick(&bases) + r.below(0x4_2000) - 0x1000,
        _ => r.pick(&bases) + (r.below(0x1_0000) & !r.pick(&[0u64, 1, 3, 7])),
    }
}

/// A random exception (vector kind and syndrome) and the registers it comes with.
fn exception(r: &mut Rng, cpu_ids: &[u64]) -> (u64, Syn, crate::frame::GuestRegs) {
    let mut regs = frame(&[]);
    for x in regs.x.iter_mut() {
        *x = arg(r);
    }
    let kind = match r.below(40) {
        0 => 9,
        1 => 10,
        2 => 11,
        _ => 8,
    };
    let syn = match r.below(10) {
        0..=2 => {
            regs.x[0] = match r.below(8) {
                0 => r.next(),
                1 => u64::from(r.pick(FIDS)) | r.next() << 32,
                _ => u64::from(r.pick(FIDS)),
            };
            if r.below(2) == 0 {
                regs.x[1] = r.pick(cpu_ids);
                regs.x[2] = ENTRY;
            }
            let ec = r.pick(&[0x16u64, 0x17]);
            let imm = if r.below(10) == 0 {
                r.next() & 0xffff
            } else {
                0
            };
            Syn {
                esr: ec << 26 | 1 << 25 | imm,
                ..Syn::default()
            }
        }
        3..=6 => {
            let ipa = ipa(r);
            let width = r.pick(&[Width::Byte, Width::Half, Width::Word, Width::Double]);
            let mut s = testing::dabt(ipa, width, r.below(2) == 0, r.below(32));
            // Sign extension, a `w` register, or no valid syndrome, now and then.
            s.esr ^= r.pick(&[0, 0, 1 << 21, 1 << 15, 1 << 24]);
            s
        }
        7 => Syn {
            esr: esr_sysreg(r.pick(SYSREGS), r.below(32), r.below(2) == 0),
            ..Syn::default()
        },
        8 => Syn {
            esr: 0x20 << 26 | 1 << 25 | 0x10,
            far: r.next(),
            hpfar: r.next() & 0xff_ffff_fff0,
        },
        _ => Syn {
            esr: r.pick(&[0x01u64, 0x01, 0x00, 0x07, 0x3f]) << 26 | (r.next() & 0x1ff_ffff),
            ..Syn::default()
        },
    };
    (kind, syn, regs)
}

/// What the walk reached, so a walk that stops exercising the path fails.
#[derive(Debug, Default)]
struct Reached {
    answered_here: u32,
    calls: u32,
    emulated: u32,
    faults: u32,
    parked: u32,
}

fn walk(seed: u64, steps: u32, modes: [Spec; 2]) -> Reached {
    let mut r = Rng(seed);
    let policies = [
        RestartPolicy::Never,
        RestartPolicy::OnCrash,
        RestartPolicy::Always,
    ];
    let spec = |s: Spec, r: &mut Rng| s.restart(r.pick(&policies));
    let w = World::new(spec(modes[0], &mut r), spec(modes[1], &mut r));
    let mut seen = Reached::default();
    let codes: std::vec::Vec<u64> = [0, 1, 2, 0x1_0000, 0x1_0001]
        .into_iter()
        .chain((1..=9).map(|c: i64| (-c) as u64))
        .collect();
    for _ in 0..steps {
        let vm = r.below(2) as usize;
        let me = r.below(2) as usize;
        if !w.vms[vm].life.should_run(VcpuId::new(me)) {
            if w.vms[vm].life.status().0 == VmState::Stopped && r.below(10) == 0 {
                rtvisor_core::handler::shell_start(&w.ctx(vm), &w.host);
            }
            w.park(vm, me);
            w.vms[vm].take_start(me);
            continue;
        }
        let (kind, syn, regs) = exception(&mut r, &w.vms[vm].cpu_ids);
        let other = w.vms[1 - vm].snapshot();
        let out = testing::run(&w, vm, me, kind, syn, regs);
        let what = (vm, me, kind, syn);
        assert!(
            out.calls.iter().all(|c| c.vm() == vm),
            "{what:x?}: {:?}",
            out.calls
        );
        assert_eq!(out.hw[1 - vm], [], "{what:x?}");
        assert!(out.hw[vm].iter().all(|c| c.vm().is_none_or(|v| v == vm)));
        assert_eq!(w.vms[1 - vm].snapshot(), other, "{what:x?}");
        let changed: std::vec::Vec<usize> =
            (0..31).filter(|&i| out.frame.x[i] != regs.x[i]).collect();
        let decoded = decode::decode(kind, &syn, &regs.x);
        let smc = decode::class(syn.esr) == decode::EC_SMC64;
        match (decoded, out.next) {
            (Decoded::Answer(x0), None) => {
                seen.answered_here += 1;
                assert!(codes.contains(&x0), "{what:x?}: x0 {x0:#x}");
                assert!(changed.iter().all(|&i| i == 0), "{what:x?}");
            }
            (Decoded::Exit(_), Some(Next::Park)) => {
                seen.parked += 1;
                assert_eq!(
                    (out.frame.x, out.frame.elr),
                    (regs.x, regs.elr),
                    "{what:x?}"
                );
            }
            (Decoded::Exit(_), Some(Next::Resume)) => {
                let step = out.frame.elr.wrapping_sub(regs.elr);
                let call = syn.esr >> 26 & 0x3e == 0x16 && kind == 8;
                if !out.el1.taken.is_empty() {
                    seen.faults += 1;
                    assert_eq!(out.el1.taken.len(), 1, "{what:x?}");
                    assert!(out.frame.elr >= VBAR && out.frame.elr < VBAR + 0x800);
                    assert!(changed.is_empty(), "{what:x?}: {changed:?}");
                } else if call {
                    seen.calls += 1;
                    assert!(codes.contains(&out.frame.x[0]), "{what:x?}");
                    assert!(changed.iter().all(|&i| i == 0), "{what:x?}");
                    assert_eq!(step, if smc { 4 } else { 0 }, "{what:x?}");
                } else {
                    seen.emulated += u32::from(step == 4);
                    assert!(step == 0 || step == 4, "{what:x?}");
                    let load = usize::from(decode::load_of(syn.esr).reg);
                    assert!(changed.iter().all(|&i| i == load), "{what:x?}: {changed:?}");
                }
            }
            other => panic!("{what:x?}: {other:?}"),
        }
        assert_eq!(
            w.vms[vm].life.should_run(VcpuId::new(me)),
            out.next != Some(Next::Park),
            "{what:x?}"
        );
    }
    seen
}

#[test]
fn random_exceptions_keep_every_invariant() {
    let runs = [
        (0x9e37_79b9_7f4a_7c15, [VIRT, DIRECT]),
        (0x0123_4567_89ab_cdef, [DIRECT, VIRT]),
        (0x5eed_5eed_5eed_5eed, [DIRECT, DIRECT]),
    ];
    for (seed, modes) in runs {
        let seen = walk(seed, 10_000, modes);
        let reached = [
            seen.answered_here,
            seen.calls,
            seen.emulated,
            seen.faults,
            seen.parked,
        ];
        assert!(
            reached.iter().all(|&n| n >= 50),
            "{seed:#x}: the walk must reach every path: {seen:?}"
        );
    }
}
