//! The x86 exit path on the host: raw exits of a fake engine, mapped by
//! [`crate::adapt`], decided by the core's exit handler (its test kit's two VMs) and
//! answered here, checked in the guest's registers.

use super::*;
use crate::adapt::{adapt, Adapted};
use crate::exit::AccessKind;
use crate::insn::{decode_mov, decode_mov32, Code};
use crate::regs::Gprs;
use rtvisor_config::guest;
use rtvisor_core::handler::Next;
use rtvisor_core::testkit::{FakeChip, Rng, World, VIRT};
use rtvisor_core::vm::{StopReason, VmState};

/// A vCPU's registers and what was injected into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FakeEngine {
    g: Gprs,
    rip: u64,
    /// 64-bit code (else 32-bit: RIP wraps at 4 GiB).
    long: bool,
    injected: Vec<(u8, Option<u32>)>,
}

impl VcpuEngine for FakeEngine {
    fn run(&mut self) -> Decoded {
        Decoded {
            exit: RawExit::Unknown { code: 0 },
            next_rip: None,
        }
    }
    fn gprs(&mut self) -> &mut Gprs {
        &mut self.g
    }
    fn rip(&self) -> u64 {
        self.rip
    }
    fn set_rip(&mut self, rip: u64) {
        self.rip = rip;
    }
    fn rflags(&self) -> u64 {
        0x2
    }
    fn code64(&self) -> bool {
        self.long
    }
    fn inject(&mut self, vector: u8, error: Option<u32>) {
        self.injected.push((vector, error));
    }
    fn raw_exit(&self) -> (u64, u64, u64) {
        (0, 0, 0)
    }
}

/// Never entered in these tests.
struct NoResume;
impl Resume for NoResume {
    type Entry = core::convert::Infallible;
    fn resume(entry: Self::Entry, _: &VcpuStart) -> ! {
        match entry {}
    }
}

const RIP: u64 = 0x10_0000;

/// Runs `exit` (next RIP `len` bytes on, or unknown) of vCPU 0 of VM 0 whose
/// registers are `g`, with 32-bit `code` at its RIP for a second-stage fault.
fn run(
    w: &World<FakeChip>,
    exit: RawExit,
    len: Option<u64>,
    g: Gprs,
    code: &[u8],
) -> (FakeEngine, Next) {
    run_at(w, exit, len, g, code, Code::Bits32, RIP)
}

/// [`run`] with `code` decoded as `mode` code and the vCPU at `rip`.
fn run_at(
    w: &World<FakeChip>,
    exit: RawExit,
    len: Option<u64>,
    g: Gprs,
    code: &[u8],
    mode: Code,
    rip: u64,
) -> (FakeEngine, Next) {
    let mut e = FakeEngine {
        g,
        rip,
        long: mode == Code::Bits64,
        injected: Vec::new(),
    };
    let d = Decoded {
        exit,
        next_rip: len.map(|l| rip + l),
    };
    let mov = decode_mov(code, mode);
    let next = match adapt(&exit, &g, mov, 0) {
        Adapted::Exit(x) => {
            let mut v: Exited<'_, FakeEngine, NoResume> = Exited::new(&mut e, d, mov);
            w.exit(0, 0, &mut v, x)
        }
        Adapted::Own(a) => panic!("answered by the backend: {a:?}"),
    };
    (e, next)
}

fn regs(rax: u64) -> Gprs {
    Gprs {
        rax,
        rbx: 0x1111_2222_3333_4444,
        rcx: 0x5555_6666_7777_8888,
        rdx: 0x9999_aaaa_bbbb_cccc,
        rdi: 7,
        ..Gprs::default()
    }
}

fn world() -> World<FakeChip> {
    World::one(VIRT)
}

#[test]
fn hypercalls_answer_in_rax_and_step() {
    let w = world();
    let (e, next) = run(&w, RawExit::Hypercall, Some(3), regs(0xc600_0000), &[]);
    assert_eq!((e.g.rax, e.rip, next), (1 << 16, RIP + 3, Next::Resume));
    assert_eq!(e.g.rbx, regs(0).rbx, "only RAX answers");
    // rtvisor's range, an unknown number; and someone else's id.
    let (e, _) = run(&w, RawExit::Hypercall, Some(3), regs(0xc600_0042), &[]);
    assert_eq!((e.g.rax, e.rip), (u64::MAX, RIP + 3));
    let (e, _) = run(&w, RawExit::Hypercall, Some(3), regs(0x4000_0000), &[]);
    assert_eq!((e.g.rax, e.rip), (u64::MAX, RIP + 3));
    // Ring a doorbell of a region VM 0 is no peer of: -2 (INVALID_PARAMETERS).
    let (e, _) = run(
        &w,
        RawExit::Hypercall,
        Some(3),
        Gprs {
            rdi: 99,
            ..regs(0xc600_0001)
        },
        &[],
    );
    assert_eq!(e.g.rax, (-2i64) as u64);
}

/// OUT of 0x41 to an unclaimed port.
fn out_0x41() -> RawExit {
    RawExit::Io {
        port: 0x510,
        width: Width::B1,
        write: true,
        value: 0x41,
    }
}

#[test]
fn unclaimed_ports_read_all_ones() {
    let w = world();
    let inw = RawExit::Io {
        port: 0x510,
        width: Width::B2,
        write: false,
        value: 0,
    };
    let (e, _) = run(&w, inw, Some(2), regs(0x1234_5678_9abc_def0), &[]);
    assert_eq!(e.g.rax, 0x1234_5678_9abc_ffff, "AX all ones, the rest kept");
    assert_eq!(e.rip, RIP + 2);
    let ind = RawExit::Io {
        port: 0x510,
        width: Width::B4,
        write: false,
        value: 0,
    };
    let (e, _) = run(&w, ind, Some(1), regs(0x1234_5678_9abc_def0), &[]);
    assert_eq!(e.g.rax, 0xffff_ffff, "EAX all ones, upper half cleared");
    let out = out_0x41();
    let (e, _) = run(&w, out, Some(1), regs(0x41), &[]);
    assert_eq!((e.g, e.rip), (regs(0x41), RIP + 1), "a write is dropped");
}

#[test]
fn rip_wraps_at_4_gib_outside_64_bit_code() {
    let w = world();
    let out = out_0x41();
    let top = 0xffff_ffff;
    let (e, _) = run_at(&w, out, Some(2), regs(0x41), &[], Code::Bits32, top);
    assert_eq!(e.rip, 1, "32-bit code: past 4 GiB is 0");
    let (e, _) = run_at(&w, out, Some(2), regs(0x41), &[], Code::Bits64, top);
    assert_eq!(e.rip, top + 2, "64-bit code: RIP is 64 bits wide");
    // A store the backend decodes (the exit gives no length), at the top of 4 GiB.
    let (e, _) = run_at(
        &w,
        RawExit::Stage2Fault {
            gpa: guest::VUART_IPA,
            access: AccessKind::Write,
        },
        None,
        regs(0x41),
        &[0x88, 0x03],
        Code::Bits32,
        top,
    );
    assert_eq!(e.rip, 1, "the decoded MOV's length wraps too");
}

#[test]
fn msrs() {
    let w = world();
    let rd = |id| RawExit::Msr {
        id,
        write: false,
        value: 0,
    };
    // Unknown: #GP(0), RIP stays.
    let (e, _) = run(&w, rd(0xc001_dead), Some(2), regs(0), &[]);
    assert_eq!(e.injected, [(GP, Some(0))]);
    assert_eq!(e.rip, RIP);
    // Ignored: EDX:EAX = 0.
    let (e, _) = run(&w, rd(0xfe), Some(2), regs(5), &[]);
    assert_eq!((e.g.rax, e.g.rdx, e.rip), (0, 0, RIP + 2));
    assert!(e.injected.is_empty());
    // The interrupt controller's: the fake chip's pattern, split into EDX:EAX.
    let (e, _) = run(&w, rd(0x808), Some(2), regs(5), &[]);
    let p = rtvisor_core::testkit::CHIP_PATTERN;
    assert_eq!((e.g.rax, e.g.rdx), (p & 0xffff_ffff, p >> 32));
    // A start-up IPI outside RAM: refused by the core, the WRMSR only stepped over.
    let sipi = RawExit::Msr {
        id: 0x830,
        write: true,
        value: (1 << 32) | (6 << 8) | 0x08,
    };
    let (e, _) = run(&w, sipi, Some(2), regs(0x608), &[]);
    assert_eq!((e.g, e.rip), (regs(0x608), RIP + 2));
    assert_eq!(
        w.vms[0].life.cpu_state(rtvisor_core::ids::VcpuId::new(1)),
        Ok(CpuPower::Off)
    );
}

#[test]
fn memory_outside_ram() {
    let w = world();
    let fault = |access| RawExit::Stage2Fault {
        gpa: 0x7000_0000,
        access,
    };
    // mov dh, [esi+0x10]: all ones into DH only.
    let (e, _) = run(
        &w,
        fault(AccessKind::Read),
        None,
        regs(0),
        &[0x8a, 0x76, 0x10],
    );
    assert_eq!(e.g.rdx, 0x9999_aaaa_bbbb_ffcc);
    assert_eq!(e.rip, RIP + 3);
    // mov [0x70000000], eax: dropped.
    let (e, _) = run(
        &w,
        fault(AccessKind::Write),
        None,
        regs(9),
        &[0xa3, 0, 0, 0, 0x70],
    );
    assert_eq!((e.g, e.rip), (regs(9), RIP + 5));
    // Not decoded (register to register): #GP(0), nothing else.
    let (e, _) = run(&w, fault(AccessKind::Read), None, regs(9), &[0x8b, 0xc1]);
    assert_eq!(
        (e.g, e.rip, e.injected.as_slice()),
        (regs(9), RIP, &[(GP, Some(0))][..])
    );
    // 64-bit code: mov r9, [rbx] loads 8 bytes of all ones into R9; mov [rdi], r9 is
    // dropped; mov [rax], sil stores SIL, not DH.
    let (e, _) = run_at(
        &w,
        fault(AccessKind::Read),
        None,
        regs(9),
        &[0x4c, 0x8b, 0x0b],
        Code::Bits64,
        RIP,
    );
    assert_eq!((e.g.r9, e.rip), (u64::MAX, RIP + 3));
    assert_eq!(
        Gprs {
            r9: regs(9).r9,
            ..e.g
        },
        regs(9)
    );
    let (e, _) = run_at(
        &w,
        fault(AccessKind::Write),
        None,
        regs(9),
        &[0x4c, 0x89, 0x0f],
        Code::Bits64,
        RIP,
    );
    assert_eq!((e.g, e.rip), (regs(9), RIP + 3));
    assert!(e.injected.is_empty());
    // A REX byte in 32-bit code is no prefix: not decoded, #GP(0).
    let (e, _) = run(
        &w,
        fault(AccessKind::Read),
        None,
        regs(9),
        &[0x4c, 0x8b, 0x0b],
    );
    assert_eq!(e.injected, [(GP, Some(0))]);
    // A fetch: #GP(0).
    let (e, _) = run(&w, fault(AccessKind::Fetch), None, regs(9), &[]);
    assert_eq!(e.injected, [(GP, Some(0))]);
}

#[test]
fn emulated_device_loads_into_the_register() {
    let w = world();
    // mov ecx, [ebx]: the UART's flag register (TX and RX FIFOs empty).
    let fr = RawExit::Stage2Fault {
        gpa: guest::VUART_IPA + 0x18,
        access: AccessKind::Read,
    };
    let (e, _) = run(&w, fr, None, regs(0), &[0x8b, 0x0b]);
    assert_eq!(e.g.rcx, 0x97, "TXFE, RXFE, DCD, DSR, CTS");
    assert_eq!(e.rip, RIP + 2);
}

#[test]
fn halt_steps_and_triple_fault_stops() {
    let w = world();
    let (e, next) = run(&w, RawExit::Hlt, Some(1), regs(0), &[]);
    assert_eq!((e.rip, next), (RIP + 1, Next::Resume));
    let (e, next) = run(&w, RawExit::TripleFault, None, regs(0), &[]);
    assert_eq!((e.g, e.rip, next), (regs(0), RIP, Next::Park));
    // A reset restarts the VM (whatever its policy), the other runs on untouched.
    let (_, restarts, last) = w.vms[0].life.status();
    assert_eq!((restarts, last), (1, Some(StopReason::SystemReset)));
    assert_eq!(w.vms[1].life.status(), (VmState::Running, 0, None));
}

#[test]
fn register_merges() {
    assert_eq!(merge(u64::MAX, Width::B4, 5, false), 5);
    assert_eq!(merge(0x1234, Width::B2, 0xabcd_5678, false), 0x5678);
    assert_eq!(merge(0xffff, Width::B1, 0x12, true), 0x12ff);
    assert_eq!(merge(0xffff, Width::B1, 0x12, false), 0xff12);
    assert_eq!(encode(Err(CallError::InvalidAddress)), (-9i64) as u64);
    assert_eq!(encode(Ok(Reply::Power(CpuPower::OnPending))), 2);
}

/// Random exits of both VMs' vCPUs through the whole path: nothing panics, the other
/// VM is untouched, registers change only as an answer may change them (RAX, RDX, the
/// decoded MOV's register), RIP moves only to the next instruction, and only #GP(0)
/// and #UD are injected.
#[test]
fn random_walk() {
    let w = world();
    let mut r = Rng(0x86_5eed);
    let ports = [0x3f8, 0x510, 0x604, 0xcf9, 0x64, 0x70];
    let msrs = [
        0x800,
        0x808,
        0x830,
        0xfe,
        0x1b,
        0x6e0,
        0xc000_0080,
        0x174,
        0x480,
    ];
    let codes: [&[u8]; 5] = [
        &[0x8b, 0x0b],
        &[0x88, 0x76, 0x10],
        &[0xa1, 0, 0, 0, 9],
        &[0x8b, 0x04, 0x24],
        &[0x0f, 0xa2],
    ];
    let widths = [Width::B1, Width::B2, Width::B4];
    for step in 0..20_000 {
        let vm = (step % 2) as usize;
        if w.vms[vm].life.status().0 != VmState::Running {
            continue;
        }
        let exit = match r.below(6) {
            0 => RawExit::Io {
                port: r.pick(&ports),
                width: r.pick(&widths),
                write: r.below(2) == 0,
                value: r.next() as u32,
            },
            1 => RawExit::Msr {
                id: r.pick(&msrs),
                write: r.below(2) == 0,
                value: r.next(),
            },
            2 => RawExit::Stage2Fault {
                gpa: r.pick(&[guest::VUART_IPA, 0x7000_0000, guest::DOORBELL_IPA]) + r.below(0x40),
                access: r.pick(&[AccessKind::Read, AccessKind::Write, AccessKind::Fetch]),
            },
            3 => RawExit::Hypercall,
            4 => RawExit::Hlt,
            _ => RawExit::ExternalInterrupt,
        };
        let any = r.next();
        let g = Gprs {
            rax: r.pick(&[0xc600_0000, 0xc600_0002, 0x8600_0003, any]),
            rbx: r.next(),
            rcx: r.next(),
            rdx: r.next(),
            rsi: r.next(),
            rdi: r.below(4),
            ..Gprs::default()
        };
        let code = r.pick(&codes);
        let other = w.vms[1 - vm].snapshot();
        let mut e = FakeEngine {
            g,
            rip: RIP,
            long: false,
            injected: Vec::new(),
        };
        let mov = decode_mov32(code);
        let d = Decoded {
            exit,
            next_rip: Some(RIP + 2),
        };
        if let Adapted::Exit(x) = adapt(&exit, &g, mov, 0) {
            let mut v: Exited<'_, FakeEngine, NoResume> = Exited::new(&mut e, d, mov);
            let _ = w.exit(vm, 0, &mut v, x);
        }
        assert_eq!(
            w.vms[1 - vm].snapshot(),
            other,
            "step {step}: the other VM changed"
        );
        let mut allowed = g;
        allowed.rax = e.g.rax;
        allowed.rdx = e.g.rdx;
        if let Some((reg, _)) = mov.and_then(|m| m.reg()) {
            if let (Some(a), Some(b)) = (allowed.get_mut(reg), e.g.clone().get_mut(reg)) {
                *a = *b;
            }
        }
        assert_eq!(e.g, allowed, "step {step}: {exit:?}");
        let moved = e.rip - RIP;
        assert!(moved == 0 || moved == 2 || mov.is_some_and(|m| u64::from(m.len) == moved));
        assert!(e
            .injected
            .iter()
            .all(|&i| i == (GP, Some(0)) || i == (UD, None)));
    }
}

mod x86vm;
