//! How the vCPU answers: a call's code in x0 (and an SMC stepped over), a load into
//! its register, faults taken to the right EL1 vector with the right syndrome.

use super::*;
use crate::testing::{dabt, esr_sysreg, frame, FakeEl1, Syn, VBAR};
use rtvisor_core::seam::CpuPower;
use rtvisor_vdev::Width;

/// The registers of a call by HVC or (`smc`) SMC, an abort at a guest VA.
fn call(smc: bool) -> FakeEl1 {
    let ec = if smc { 0x17 } else { 0x16 };
    FakeEl1 {
        syn: Syn {
            esr: ec << 26 | 1 << 25,
            far: 0xffff_8000_0900_0000,
            hpfar: 0,
        },
        taken: std::vec::Vec::new(),
    }
}

#[test]
fn a_call_returns_in_x0_and_an_smc_is_stepped_over() {
    for smc in [false, true] {
        let mut f = frame(&[1, 2]);
        let mut el1 = call(smc);
        let mut v = Vcpu::new(&mut f, &mut el1);
        v.set_return(Err(CallError::AlreadyOn));
        let want = frame(&[(-4i64) as u64, 2]);
        let step = if smc { 4 } else { 0 };
        assert_eq!((f.x, f.elr), (want.x, want.elr + step));
        let mut f = frame(&[]);
        Vcpu::new(&mut f, &mut el1).set_return(Ok(Reply::Power(CpuPower::OnPending)));
        assert_eq!(f.x[0], 2);
        assert_eq!(el1.taken, []);
    }
}

#[test]
fn a_load_goes_to_its_register_extended_and_xzr_drops_it() {
    let mut f = frame(&[]);
    // LDRSB w7.
    let syn = dabt(0x0900_0000, Width::Byte, false, 7);
    let mut el1 = FakeEl1 {
        syn: Syn {
            esr: (syn.esr & !(1 << 15)) | 1 << 21,
            ..syn
        },
        taken: std::vec::Vec::new(),
    };
    let mut v = Vcpu::new(&mut f, &mut el1);
    v.complete_load(0x1b1);
    v.skip();
    let mut want = frame(&[]);
    want.x[7] = 0xffff_ffb1;
    want.elr += 4;
    assert_eq!((f.x, f.elr), (want.x, want.elr));
    // MRS xzr, ...: the value goes nowhere.
    el1.syn.esr = esr_sysreg((3, 0, 1, 0, 1), 31, false);
    let mut f = frame(&[]);
    Vcpu::new(&mut f, &mut el1).complete_load(5);
    assert_eq!(f.x, frame(&[]).x);
    // MRS x3, ...: all 64 bits.
    el1.syn.esr = esr_sysreg((3, 0, 1, 0, 1), 3, false);
    Vcpu::new(&mut f, &mut el1).complete_load(u64::MAX);
    assert_eq!(f.x[3], u64::MAX);
}

#[test]
fn faults_are_taken_to_the_vector_of_the_mode_that_faulted() {
    // (SPSR mode bits, vector offset, abort class from there)
    let modes = [
        (0x5, 0x200, 0x25),  // EL1h: current EL, SPx
        (0x4, 0x000, 0x25),  // EL1t: current EL, SP0
        (0x0, 0x400, 0x24),  // EL0: lower EL, AArch64
        (0x10, 0x600, 0x24), // AArch32 EL0
    ];
    for (m, offset, ec_abort) in modes {
        let faults = [
            (
                Fault::Bus { write: true },
                ec_abort << 26 | 1 << 25 | 0x10 | 1 << 6,
                true,
            ),
            (
                Fault::Bus { write: false },
                ec_abort << 26 | 1 << 25 | 0x10,
                true,
            ),
            (Fault::Fetch, (ec_abort - 4) << 26 | 1 << 25 | 0x10, true),
            (Fault::Undefined, 1 << 25, false),
        ];
        for (fault, esr, with_far) in faults {
            let mut f = frame(&[]);
            f.spsr = 0x3c0 | m;
            let before = f;
            let mut el1 = call(false);
            Vcpu::new(&mut f, &mut el1).inject(fault);
            let far = with_far.then_some(0xffff_8000_0900_0000);
            assert_eq!(
                el1.taken,
                [(esr, far, before.elr, before.spsr)],
                "{m:#x} {fault:?}"
            );
            assert_eq!((f.elr, f.spsr), (VBAR + offset, SPSR_EL1H_MASKED));
            assert_eq!(f.x, before.x);
        }
    }
}

#[test]
fn an_emulated_instruction_completes_a_guest_single_step() {
    // A stepped MMIO access traps before it completes (SPSR.SS = 1); the hypervisor
    // completes it, so the guest must take its step exception right after the return.
    let mut f = frame(&[]);
    f.spsr = 0x3c5 | SPSR_SS;
    let mut el1 = FakeEl1 {
        syn: dabt(0x0900_0000, Width::Word, false, 1),
        taken: std::vec::Vec::new(),
    };
    let elr = f.elr;
    Vcpu::new(&mut f, &mut el1).skip();
    assert_eq!((f.elr, f.spsr), (elr + 4, 0x3c5));
}
