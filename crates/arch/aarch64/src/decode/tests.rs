//! ESR_EL2 syndromes of every class this backend handles, decoded: what the handler
//! gets, what the vCPU keeps to answer, and which syndrome registers are read.

use super::*;
use crate::testing::{dabt, esr_sysreg, frame, Syn};
use rtvisor_core::exit::RegClass;
use std::cell::Cell;

/// A syndrome that counts which registers the decode read.
#[derive(Default)]
struct Counted {
    syn: Syn,
    reads: Cell<[u32; 3]>,
}

impl SyndromeRegs for Counted {
    fn esr(&self) -> u64 {
        self.bump(0);
        self.syn.esr
    }
    fn far(&self) -> u64 {
        self.bump(1);
        self.syn.far
    }
    fn hpfar(&self) -> u64 {
        self.bump(2);
        self.syn.hpfar
    }
}

impl Counted {
    fn bump(&self, i: usize) {
        let mut r = self.reads.get();
        r[i] += 1;
        self.reads.set(r);
    }
}

fn sync(esr: u64, x: &[u64]) -> Decoded {
    let syn = Syn {
        esr,
        ..Syn::default()
    };
    decode(8, &syn, &frame(x).x)
}

fn exit_of(d: Decoded) -> VcpuExit {
    match d {
        Decoded::Exit(e) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn interrupts_read_no_syndrome_and_serrors_are_fatal() {
    for kind in [9, 10, 13, 14] {
        let c = Counted::default();
        let d = decode(kind, &c, &frame(&[]).x);
        assert_eq!(d, Decoded::Exit(VcpuExit::Interrupt));
        assert_eq!(c.reads.get(), [0, 0, 0], "kind {kind}");
    }
    let c = Counted {
        syn: Syn {
            esr: 0xbe00_0002,
            ..Syn::default()
        },
        ..Counted::default()
    };
    let d = decode(11, &c, &frame(&[]).x);
    let fatal = VcpuExit::Fatal {
        what: "serror esr",
        code: 0xbe00_0002,
    };
    assert_eq!(d, Decoded::Exit(fatal));
}

#[test]
fn calls_by_hvc_and_smc() {
    let hvc = |imm: u64| 0x16 << 26 | 1 << 25 | imm;
    let smc = |imm: u64| 0x17 << 26 | 1 << 25 | imm;
    let off = u64::from(crate::psci::SYSTEM_OFF);
    assert_eq!(sync(hvc(0), &[off]), Decoded::Exit(VcpuExit::SystemOff));
    assert_eq!(sync(smc(0), &[off]), Decoded::Exit(VcpuExit::SystemOff));
    assert_eq!((class(hvc(0)), class(smc(0))), (0x16, EC_SMC64));
    // A query is answered by the ABI; an immediate other than 0 is not SMCCC.
    let version = u64::from(crate::psci::PSCI_VERSION);
    assert_eq!(sync(hvc(0), &[version]), Decoded::Answer(0x1_0001));
    assert_eq!(sync(smc(7), &[off]), Decoded::Answer(u64::MAX));
    // A call completes nowhere but x0.
    assert_eq!(load_of(smc(0)), Load::sysreg(31));
}

#[test]
fn system_registers_by_their_encoding_and_class() {
    // MSR ICC_SGI1R_EL1, x2 (write): the value of x2.
    let esr = esr_sysreg((3, 0, 12, 11, 5), 2, true);
    let d = sync(esr, &[0, 0, 0x0300_0003]);
    let sgi1r = VcpuExit::SysReg {
        id: crate::sysregs::ICC_SGI1R_EL1,
        class: RegClass::IrqChip,
        write: true,
        value: 0x0300_0003,
    };
    assert_eq!(d, Decoded::Exit(sgi1r));
    assert_eq!(load_of(esr), Load::sysreg(2));
    // MRS x30 of an IMPLEMENTATION DEFINED register: a read is 0 and loads into x30.
    let esr = esr_sysreg((3, 0, 15, 0, 0), 30, false);
    let d = sync(esr, &[]);
    match d {
        Decoded::Exit(VcpuExit::SysReg {
            class,
            write,
            value,
            ..
        }) => assert_eq!((class, write, value), (RegClass::Refused, false, 0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(load_of(esr).reg, 30);
    // MSR ACTLR_EL1, xzr: writes zero.
    let e = exit_of(sync(esr_sysreg((3, 0, 1, 0, 1), 31, true), &[]));
    assert!(matches!(
        e,
        VcpuExit::SysReg {
            class: RegClass::Ignored,
            write: true,
            value: 0,
            ..
        }
    ));
}

#[test]
fn the_light_path_takes_only_sgi1r_writes_from_saved_registers() {
    let mut x = [0u64; 31];
    for (i, r) in x.iter_mut().enumerate() {
        *r = 0x100 + i as u64;
    }
    let sgi1r = (3, 0, 12, 11, 5);
    for rt in 0..=18 {
        assert_eq!(
            sgi1r_write(esr_sysreg(sgi1r, rt, true), &x),
            Some(0x100 + rt)
        );
    }
    assert_eq!(sgi1r_write(esr_sysreg(sgi1r, 30, true), &x), Some(0x11e));
    assert_eq!(sgi1r_write(esr_sysreg(sgi1r, 31, true), &x), Some(0));
    // x19..x29 are not saved on the light path: the full path takes them.
    for rt in 19..=29 {
        assert_eq!(sgi1r_write(esr_sysreg(sgi1r, rt, true), &x), None, "x{rt}");
    }
    // A read, another register of the same group, another class.
    assert_eq!(sgi1r_write(esr_sysreg(sgi1r, 2, false), &x), None);
    for other in [
        (3, 0, 12, 11, 6),
        (3, 0, 12, 12, 5),
        (3, 1, 12, 11, 5),
        (3, 0, 1, 0, 1),
    ] {
        assert_eq!(
            sgi1r_write(esr_sysreg(other, 2, true), &x),
            None,
            "{other:?}"
        );
    }
    let hvc = 0x16 << 26 | 1 << 25;
    assert_eq!(sgi1r_write(hvc, &x), None);
}

#[test]
fn data_aborts_with_and_without_a_syndrome() {
    let ipa = 0x0900_0018;
    // STRH w5 (a 64-bit source register's low half is what is stored).
    let s = dabt(ipa, Width::Half, true, 5);
    let d = decode(8, &s, &frame(&[0, 0, 0, 0, 0, 0x1234_5678]).x);
    let store = VcpuExit::Mmio {
        addr: Ipa::new(ipa),
        width: Width::Half,
        write: true,
        value: 0x5678,
    };
    assert_eq!(d, Decoded::Exit(store));
    // LDRSB w7: sign-extended into a 32-bit register.
    let ldrsb = Syn {
        esr: (s.esr & !(3 << 22 | 0x1f << 16 | 1 << 15 | 1 << 6)) | 1 << 21 | 7 << 16,
        ..s
    };
    let d = decode(8, &ldrsb, &frame(&[]).x);
    let load = VcpuExit::Mmio {
        addr: Ipa::new(ipa),
        width: Width::Byte,
        write: false,
        value: 0,
    };
    assert_eq!(d, Decoded::Exit(load));
    let want = Load {
        reg: 7,
        width: Width::Byte,
        sign_extend: true,
        reg64: false,
    };
    assert_eq!(load_of(ldrsb.esr), want);
    // No valid syndrome (ISV clear): never emulated.
    let no_isv = Syn {
        esr: s.esr & !(1 << 24),
        ..s
    };
    let e = exit_of(decode(8, &no_isv, &frame(&[]).x));
    let fault = VcpuExit::MemFault {
        addr: Ipa::new(ipa),
        write: true,
    };
    assert_eq!(e, fault);
    // The IPA takes its page from HPFAR_EL2 and its offset from FAR_EL2.
    let high = Syn {
        hpfar: 0x12_3456_789a << 4,
        far: 0xabc,
        ..s
    };
    let e = exit_of(decode(8, &high, &frame(&[]).x));
    assert!(matches!(e, VcpuExit::Mmio { addr, .. } if addr == Ipa::new(0x0001_2345_6789_aabc)));
}

#[test]
fn instruction_aborts_waits_and_unknown_classes() {
    let s = Syn {
        esr: 0x20 << 26 | 1 << 25 | 0x10,
        far: 0xffff_0000_4000_1234,
        hpfar: 0x0004_0001 << 4,
    };
    let d = decode(8, &s, &frame(&[]).x);
    let fetch = VcpuExit::FetchFault {
        addr: Ipa::new(0x4000_1234),
    };
    assert_eq!(d, Decoded::Exit(fetch));
    assert_eq!(exit_of(sync(0x01 << 26 | 1 << 25, &[])), VcpuExit::Halt);
    for ec in [0x00u64, 0x07, 0x15, 0x3f] {
        let esr = ec << 26 | 1 << 25 | 0x42;
        let fatal = VcpuExit::Fatal {
            what: "unhandled exit esr",
            code: esr,
        };
        assert_eq!(exit_of(sync(esr, &[])), fatal, "{ec:#x}");
    }
}

#[test]
fn loads_are_extended_as_the_syndrome_says() {
    let load = |width, sign_extend, reg64| Load {
        reg: 0,
        width,
        sign_extend,
        reg64,
    };
    assert_eq!(load(Width::Byte, false, true).value(0x1_80), 0x80);
    assert_eq!(
        load(Width::Byte, true, true).value(0x80),
        0xffff_ffff_ffff_ff80
    );
    assert_eq!(load(Width::Byte, true, false).value(0x80), 0xffff_ff80);
    assert_eq!(load(Width::Half, true, true).value(0x7fff), 0x7fff);
    assert_eq!(load(Width::Word, false, false).value(u64::MAX), 0xffff_ffff);
    assert_eq!(load(Width::Double, true, true).value(u64::MAX), u64::MAX);
}

#[test]
fn light_loads_are_reads_with_a_syndrome_into_saved_registers() {
    use rtvisor_vdev::Width::{Byte, Double, Word};
    for (reg, light) in [(0, true), (18, true), (19, false), (29, false), (30, true)] {
        for width in [Byte, Word, Double] {
            let esr = dabt(0x0800_0004, width, false, reg).esr;
            let want = light.then(|| load_of(esr));
            assert_eq!(light_load(esr), want, "x{reg} {width:?}");
        }
    }
    // xzr: the load completes nowhere.
    let esr = dabt(0x0800_0004, Word, false, 31).esr;
    assert_eq!(light_load(esr).map(|l| l.reg), Some(31));
    // A write, an abort without a valid syndrome, an instruction abort, an HVC.
    let write = dabt(0x0800_0004, Word, true, 1).esr;
    let no_isv = write & !(1 << 24) & !(1 << 6);
    let fetch = 0x20 << 26 | 1 << 25;
    let hvc = 0x16 << 26 | 1 << 25;
    for esr in [write, no_isv, fetch, hvc] {
        assert_eq!(light_load(esr), None, "{esr:#x}");
    }
}

#[test]
fn light_accesses_are_the_full_decode_of_the_same_abort() {
    use rtvisor_vdev::Width::{Byte, Double, Half, Word};
    let mut x = [0u64; 31];
    for (i, r) in x.iter_mut().enumerate() {
        *r = 0x1122_3344_5566_7700 | i as u64;
    }
    for reg in 0..=31u64 {
        for width in [Byte, Half, Word, Double] {
            for write in [false, true] {
                let syn = dabt(0x0900_0000, width, write, reg);
                let got = light_access(syn.esr, &x);
                let saved = matches!(reg, 0..=18 | 30 | 31);
                assert_eq!(got.is_some(), saved, "x{reg} {width:?} write={write}");
                let Some(a) = got else { continue };
                assert_eq!(a.load, load_of(syn.esr));
                // The value the full path's exit carries.
                let Decoded::Exit(VcpuExit::Mmio {
                    value, write: w, ..
                }) = decode(0, &syn, &x)
                else {
                    panic!("not an MMIO exit");
                };
                assert_eq!(w, write);
                assert_eq!(a.store, write.then_some(value), "x{reg} {width:?}");
            }
        }
    }
    // An abort without a valid syndrome, an instruction abort, an HVC.
    let no_isv = dabt(0x0900_0000, Word, true, 1).esr & !(1 << 24);
    let fetch = 0x20 << 26 | 1 << 25;
    let hvc = 0x16 << 26 | 1 << 25;
    for esr in [no_isv, fetch, hvc] {
        assert_eq!(light_access(esr, &x), None, "{esr:#x}");
    }
}
