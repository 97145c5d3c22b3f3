use super::*;
use crate::exit::Width as W;
use crate::insn::{decode_mov, decode_mov32, Code};
use rtvisor_core::testkit::Rng;

fn exit(e: RawExit) -> VcpuExit {
    exit_with(e, &Gprs::default(), None)
}

fn exit_with(e: RawExit, g: &Gprs, mov: Option<MemMov>) -> VcpuExit {
    match adapt(&e, g, mov, 2) {
        Adapted::Exit(x) => x,
        Adapted::Own(a) => panic!("{e:?} answered by the backend: {a:?}"),
    }
}

fn out(port: u16, width: W, value: u32) -> RawExit {
    RawExit::Io {
        port,
        width,
        write: true,
        value,
    }
}

fn wrmsr(id: u32, value: u64) -> RawExit {
    RawExit::Msr {
        id,
        write: true,
        value,
    }
}

#[test]
fn hypercalls_take_xen_registers() {
    let call = |rax, rdi, rsi| {
        let g = Gprs {
            rax,
            rdi,
            rsi,
            rbx: 0x11,
            rcx: 0x22,
            rdx: 0x33,
            ..Gprs::default()
        };
        exit_with(RawExit::Hypercall, &g, None)
    };
    assert_eq!(
        call(0xc600_0001, 0x1_0000_0002, 3),
        VcpuExit::Hypercall {
            nr: 1,
            args: [0x1_0000_0002, 3]
        }
    );
    // The 32-bit form: arguments are their low halves.
    assert_eq!(
        call(0x8600_0010, 0x1_0000_0002, u64::MAX),
        VcpuExit::Hypercall {
            nr: 0x10,
            args: [2, 0xffff_ffff]
        }
    );
    // Any other id: nobody's call.
    for id in [0, 1, 0xc600_0100, 0x8400_0000, 0x1_c600_0000, u64::MAX] {
        assert_eq!(call(id, 0, 0), VcpuExit::UnknownCall { id }, "{id:#x}");
    }
}

#[test]
fn power_ports() {
    // PM1a control: SLP_TYP 5 with SLP_EN (what the generated FADT and DSDT say).
    let s5 = (5 << 10) | (1 << 13);
    assert_eq!(exit(out(0x604, W::B2, s5)), VcpuExit::SystemOff);
    // Without SLP_EN, or another sleep type: a plain port write.
    for v in [5 << 10, (1 << 10) | (1 << 13), 0] {
        assert!(
            matches!(exit(out(0x604, W::B2, v)), VcpuExit::Pio { .. }),
            "{v:#x}"
        );
    }
    // The hardware-reduced sleep control register.
    assert_eq!(
        exit(out(0x600, W::B1, (5 << 2) | (1 << 5))),
        VcpuExit::SystemOff
    );
    assert!(matches!(
        exit(out(0x600, W::B1, 5 << 2)),
        VcpuExit::Pio { .. }
    ));
    // Reset control: the FADT's RESET_VALUE, and any write with RST_CPU.
    assert_eq!(exit(out(0xcf9, W::B1, 0x06)), VcpuExit::SystemReset);
    assert_eq!(exit(out(0xcf9, W::B1, 0x0e)), VcpuExit::SystemReset);
    assert!(matches!(
        exit(out(0xcf9, W::B1, 0x02)),
        VcpuExit::Pio { .. }
    ));
    // The keyboard controller's reset pulse.
    assert_eq!(exit(out(0x64, W::B1, 0xfe)), VcpuExit::SystemReset);
    assert_eq!(exit(out(0x64, W::B1, 0xf0)), VcpuExit::SystemReset);
    assert!(matches!(exit(out(0x64, W::B1, 0xff)), VcpuExit::Pio { .. }));
    assert!(matches!(exit(out(0x64, W::B1, 0xd1)), VcpuExit::Pio { .. }));
    // Reads of the same ports are never power requests.
    let rd = RawExit::Io {
        port: 0xcf9,
        width: W::B1,
        write: false,
        value: 0,
    };
    assert!(matches!(exit(rd), VcpuExit::Pio { write: false, .. }));
    assert_eq!(exit(RawExit::TripleFault), VcpuExit::SystemReset);
}

#[test]
fn ports_keep_their_width_and_value() {
    assert_eq!(
        exit(out(0x3f8, W::B1, 0x41)),
        VcpuExit::Pio {
            port: 0x3f8,
            width: Width::Byte,
            write: true,
            value: 0x41
        }
    );
    assert_eq!(
        exit(RawExit::Io {
            port: 0x510,
            width: W::B4,
            write: false,
            value: 0,
        }),
        VcpuExit::Pio {
            port: 0x510,
            width: Width::Word,
            write: false,
            value: 0
        }
    );
    assert!(matches!(
        exit(out(0x3f8, W::B2, 0x4142)),
        VcpuExit::Pio {
            width: Width::Half,
            value: 0x4142,
            ..
        }
    ));
}

#[test]
fn icr_start_up_and_init() {
    // SIPI to APIC id 3, vector 0x9a: start at page 0x9a.
    let sipi = (3u64 << 32) | (6 << 8) | 0x9a;
    assert_eq!(
        exit(wrmsr(0x830, sipi)),
        VcpuExit::CpuOn {
            target: 3,
            entry: 0x9a000,
            arg: 0
        }
    );
    // INIT (assert) to itself, by shorthand or by its own id (2 in these tests).
    let init = (5 << 8) | (1 << 14);
    assert_eq!(exit(wrmsr(0x830, init | (1 << 18))), VcpuExit::CpuOff);
    assert_eq!(exit(wrmsr(0x830, init | (2 << 32))), VcpuExit::CpuOff);
    // INIT to another vCPU, the de-assert form, a SIPI by shorthand and a fixed IPI:
    // the interrupt controller's.
    for v in [
        init | (3 << 32),
        (5 << 8) | (2 << 32),
        (6 << 8) | (3 << 18) | 0x9a,
        (1 << 32) | 0x40,
    ] {
        assert_eq!(
            exit(wrmsr(0x830, v)),
            VcpuExit::SysReg {
                id: 0x830,
                class: RegClass::IrqChip,
                write: true,
                value: v
            },
            "{v:#x}"
        );
    }
    // A read of the ICR is a register read.
    assert!(matches!(
        exit(RawExit::Msr {
            id: 0x830,
            write: false,
            value: 0x1234
        }),
        VcpuExit::SysReg {
            write: false,
            value: 0,
            ..
        }
    ));
}

#[test]
fn msr_classes() {
    for id in [0x800, 0x802, 0x80b, 0x8ff, 0x1b, 0x6e0] {
        assert_eq!(msr_class(id), RegClass::IrqChip, "{id:#x}");
    }
    for id in [
        0x17,
        0x8b,
        0xfe,
        0x1a0,
        0x200,
        0x21f,
        0x250,
        0x259,
        0x26f,
        0x2ff,
        0xc001_0010,
        0xc001_0015,
        0xc001_0055,
        0xc001_1029,
    ] {
        assert_eq!(msr_class(id), RegClass::Ignored, "{id:#x}");
    }
    // EFER, SYSENTER/STAR, the VMX and SVM control MSRs, the host save area,
    // anything unknown: refused.
    for id in [
        0xc000_0080,
        0x174,
        0xc000_0081,
        0x480,
        0x48d,
        0x3a,
        0xc001_0114,
        0xc001_0117,
        0xc001_0011,
        0xc001_1028,
        0x7ff,
        0x900,
        0x220,
        0xc001_dead,
        u32::MAX,
    ] {
        assert_eq!(msr_class(id), RegClass::Refused, "{id:#x}");
    }
    assert_eq!(msr_name(0x830), "x2APIC ICR");
    assert_eq!(msr_name(0x201), "IA32_MTRR_PHYSBASE/MASK");
    assert_eq!(msr_name(0xc000_0080), "unknown MSR");
    // An MSR read carries no value; a write its EDX:EAX.
    assert_eq!(
        exit(wrmsr(0xc000_0080, 0x500)),
        VcpuExit::SysReg {
            id: 0xc000_0080,
            class: RegClass::Refused,
            write: true,
            value: 0x500
        }
    );
}

#[test]
fn second_stage_faults() {
    let g = Gprs {
        rax: 0x1122_3344,
        rbx: 0xaabb,
        rdx: 0x55_66,
        ..Gprs::default()
    };
    let fault = |access| RawExit::Stage2Fault {
        gpa: 0xfee0_0300,
        access,
    };
    let addr = Ipa::new(0xfee0_0300);
    // mov [moffs], eax
    let m = decode_mov32(&[0xa3, 0, 3, 0xe0, 0xfe]);
    assert_eq!(
        exit_with(fault(AccessKind::Write), &g, m),
        VcpuExit::Mmio {
            addr,
            width: Width::Word,
            write: true,
            value: 0x1122_3344
        }
    );
    // mov [esi+0x10], dh: a high byte register.
    let m = decode_mov32(&[0x88, 0x76, 0x10]);
    assert_eq!(
        exit_with(fault(AccessKind::Write), &g, m),
        VcpuExit::Mmio {
            addr,
            width: Width::Byte,
            write: true,
            value: 0x55
        }
    );
    // mov bx, [ebx]: a load carries no value.
    let m = decode_mov32(&[0x66, 0x8b, 0x1b]);
    assert_eq!(
        exit_with(fault(AccessKind::Read), &g, m),
        VcpuExit::Mmio {
            addr,
            width: Width::Half,
            write: false,
            value: 0
        }
    );
    // 64-bit code: mov [rdi], r9 stores all 8 bytes of R9; mov [rax], sil stores SIL.
    let g64 = Gprs {
        r9: 0x0102_0304_0506_0708,
        rsi: 0x77,
        ..g
    };
    let m = decode_mov(&[0x4c, 0x89, 0x0f], Code::Bits64);
    assert_eq!(
        exit_with(fault(AccessKind::Write), &g64, m),
        VcpuExit::Mmio {
            addr,
            width: Width::Double,
            write: true,
            value: 0x0102_0304_0506_0708
        }
    );
    let m = decode_mov(&[0x40, 0x88, 0x30], Code::Bits64);
    assert_eq!(
        exit_with(fault(AccessKind::Write), &g64, m),
        VcpuExit::Mmio {
            addr,
            width: Width::Byte,
            write: true,
            value: 0x77
        }
    );
    // Stores of an immediate carry the immediate, not a register's value:
    // mov dword [rax], 0 (an EOI), mov word [rbx+0x10], 0x1234, mov byte [rsi], 0x80,
    // and mov qword [rdi], -16 (REX.W: sign-extended to 8 bytes).
    let imm = [
        (
            decode_mov(&[0xc7, 0x00, 0, 0, 0, 0], Code::Bits64),
            Width::Word,
            0,
        ),
        (
            decode_mov32(&[0x66, 0xc7, 0x43, 0x10, 0x34, 0x12]),
            Width::Half,
            0x1234,
        ),
        (decode_mov32(&[0xc6, 0x06, 0x80]), Width::Byte, 0x80),
        (
            decode_mov(&[0x48, 0xc7, 0x07, 0xf0, 0xff, 0xff, 0xff], Code::Bits64),
            Width::Double,
            0xffff_ffff_ffff_fff0,
        ),
    ];
    for (m, width, value) in imm {
        assert!(m.is_some_and(|m| m.reg().is_none()), "{m:?}");
        assert_eq!(
            exit_with(fault(AccessKind::Write), &g64, m),
            VcpuExit::Mmio {
                addr,
                width,
                write: true,
                value
            }
        );
    }
    // Not decoded: a memory fault, never emulated.
    assert_eq!(
        exit_with(fault(AccessKind::Write), &g, None),
        VcpuExit::MemFault { addr, write: true }
    );
    assert_eq!(
        exit_with(fault(AccessKind::Read), &g, None),
        VcpuExit::MemFault { addr, write: false }
    );
    assert_eq!(
        exit_with(fault(AccessKind::Fetch), &g, m),
        VcpuExit::FetchFault { addr }
    );
}

#[test]
fn the_rest() {
    assert_eq!(exit(RawExit::Hlt), VcpuExit::Halt);
    for e in [
        RawExit::Init,
        RawExit::Sipi { vector: 3 },
        RawExit::InterruptWindow,
        RawExit::ExternalInterrupt,
    ] {
        assert_eq!(exit(e), VcpuExit::Interrupt, "{e:?}");
    }
    assert_eq!(
        exit(RawExit::Unknown { code: 0x7b }),
        VcpuExit::Fatal {
            what: "unhandled exit",
            code: 0x7b
        }
    );
    let g = Gprs::default();
    assert_eq!(
        adapt(&RawExit::Cpuid { leaf: 1, sub: 0 }, &g, None, 0),
        Adapted::Own(Answer::Caller)
    );
    assert_eq!(
        adapt(&RawExit::VirtInstruction, &g, None, 0),
        Adapted::Own(Answer::Inject {
            vector: exit::UD,
            error: None
        })
    );
}

/// Random raw exits: the map never panics, a core exit keeps the guest's port, MSR
/// and address, and power and CPU calls come only from their ports and the ICR.
#[test]
fn random_exits() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let widths = [W::B1, W::B2, W::B4];
    for _ in 0..100_000 {
        let r = rng.next();
        let v = rng.next();
        let port = match r % 4 {
            0 => [0x64, 0x600, 0x604, 0xcf9, 0x3f8][(v % 5) as usize],
            _ => (v >> 8) as u16,
        };
        let e = match (r >> 8) % 8 {
            0 | 1 => RawExit::Io {
                port,
                width: widths[(v % 3) as usize],
                write: r & 1 << 20 != 0,
                value: (v >> 16) as u32,
            },
            2 | 3 => RawExit::Msr {
                id: if r & 1 << 21 != 0 {
                    0x830
                } else {
                    (v >> 32) as u32
                },
                write: r & 1 << 20 != 0,
                value: rng.next(),
            },
            4 => RawExit::Stage2Fault {
                gpa: v,
                access: [AccessKind::Read, AccessKind::Write, AccessKind::Fetch]
                    [(r >> 24) as usize % 3],
            },
            5 => RawExit::Unknown { code: v },
            6 => RawExit::Hypercall,
            _ => RawExit::Sipi { vector: v as u8 },
        };
        let bytes = rng.next().to_le_bytes();
        let mov = decode_mov32(&bytes);
        let g = Gprs {
            rax: if r & 1 << 22 != 0 {
                0x8600_0000 | (v & 0x4000_00ff)
            } else {
                rng.next()
            },
            rbx: rng.next(),
            rcx: rng.next(),
            rdx: rng.next(),
            ..Gprs::default()
        };
        let Adapted::Exit(x) = adapt(&e, &g, mov, (r >> 32) as u32) else {
            panic!("{e:?}");
        };
        match (e, x) {
            (RawExit::Io { port: p, .. }, VcpuExit::Pio { port: q, .. }) => assert_eq!(p, q),
            (
                RawExit::Io {
                    port, write: true, ..
                },
                VcpuExit::SystemOff | VcpuExit::SystemReset,
            ) => assert!([0x64, 0x600, 0x604, 0xcf9].contains(&port)),
            (
                RawExit::Msr { id, write, value },
                VcpuExit::SysReg {
                    id: j, value: w, ..
                },
            ) => {
                assert_eq!(id, j);
                assert_eq!(w, if write { value } else { 0 });
            }
            (
                RawExit::Msr {
                    id: 0x830,
                    write: true,
                    ..
                },
                VcpuExit::CpuOn { .. } | VcpuExit::CpuOff,
            ) => {}
            (
                RawExit::Stage2Fault { gpa, .. },
                VcpuExit::Mmio {
                    addr, width, value, ..
                },
            ) => {
                assert_eq!(addr, Ipa::new(gpa));
                assert_eq!(value & !width.mask(), 0, "a store fits its width");
            }
            (
                RawExit::Stage2Fault { gpa, .. },
                VcpuExit::MemFault { addr, .. } | VcpuExit::FetchFault { addr },
            ) => assert_eq!(addr, Ipa::new(gpa)),
            (RawExit::Unknown { code }, VcpuExit::Fatal { code: c, .. }) => assert_eq!(code, c),
            (RawExit::Hypercall, VcpuExit::Hypercall { nr, .. }) => assert_eq!(nr, g.rax & 0xff),
            (RawExit::Hypercall, VcpuExit::UnknownCall { id }) => assert_eq!(id, g.rax),
            (RawExit::Sipi { .. }, VcpuExit::Interrupt) => {}
            (e, x) => panic!("{e:?} became {x:?}"),
        }
    }
}

#[test]
fn a_start_up_ipi_through_the_xapic_page_starts_the_named_vcpu() {
    let fault = |gpa, access| RawExit::Stage2Fault { gpa, access };
    let icr_low = 0xfee0_0300;
    // mov [rax], r9d with r9 = SIPI (mode 6), vector 0x9a; ICR_HIGH names APIC id 1.
    let m = crate::insn::decode_mov(&[0x44, 0x89, 0x08], Code::Bits64);
    let g = Gprs {
        r9: 0x0000_069a,
        ..Gprs::default()
    };
    let w = AccessKind::Write;
    assert_eq!(
        xapic_icr(&fault(icr_low, w), &g, m, 1 << 24, 0),
        Some(VcpuExit::CpuOn {
            target: 1,
            entry: 0x9a000,
            arg: 0
        })
    );
    // A fixed IPI, a read, another register or no decoded MOV: the chip's.
    let fixed = Gprs {
        r9: 0x0000_0030,
        ..Gprs::default()
    };
    assert_eq!(xapic_icr(&fault(icr_low, w), &fixed, m, 1 << 24, 0), None);
    let r = AccessKind::Read;
    assert_eq!(xapic_icr(&fault(icr_low, r), &g, m, 1 << 24, 0), None);
    assert_eq!(xapic_icr(&fault(0xfee0_0310, w), &g, m, 1 << 24, 0), None);
    assert_eq!(xapic_icr(&fault(icr_low, w), &g, None, 1 << 24, 0), None);
}
