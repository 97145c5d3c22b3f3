//! The x86 paths through the core's generic exit handler, on the x86_64-shaped VMs of
//! its test kit (RAM from 0, COM1 and the power ports in the port table): raw exits of
//! the fake engine, mapped by [`crate::adapt`], decided by the handler and answered in
//! the guest's registers. A start-up IPI starts the other vCPU at its vector's page,
//! COM1 prints `[vm] ` lines, S5 stops and 0xCF9 restarts only the VM that asked, and
//! a port nothing claims reads all ones.

use super::*;
use rtvisor_config::contract::x86_64 as x86;
use rtvisor_core::handler::Contained;
use rtvisor_core::ids::VcpuId;
use rtvisor_core::testkit::{HostCall, X86};

/// Runs `exit` of vCPU `vcpu` of VM `vm` (APIC id = vCPU index) whose registers are
/// `g`, its next RIP `len` bytes on: the engine after it, what the handler decided,
/// and the host's calls.
fn run_on(
    w: &World<FakeChip>,
    (vm, vcpu): (usize, usize),
    exit: RawExit,
    len: u64,
    g: Gprs,
) -> (FakeEngine, Next, Vec<HostCall>) {
    w.host.take();
    let mut e = FakeEngine {
        g,
        rip: RIP,
        long: false,
        injected: Vec::new(),
    };
    let d = Decoded {
        exit,
        next_rip: Some(RIP + len),
    };
    let next = match adapt(&exit, &g, None, vcpu as u32) {
        Adapted::Exit(x) => {
            let mut v: Exited<'_, FakeEngine, NoResume> = Exited::new(&mut e, d, None);
            w.exit(vm, vcpu, &mut v, x)
        }
        Adapted::Own(a) => panic!("answered by the backend: {a:?}"),
    };
    (e, next, w.host.take())
}

fn io(port: u16, width: Width, write: bool, value: u32) -> RawExit {
    RawExit::Io {
        port,
        width,
        write,
        value,
    }
}

/// An OUT of byte `value` to `port`.
fn outb(port: u16, value: u8) -> RawExit {
    io(port, Width::B1, true, value.into())
}

/// A WRMSR of the x2APIC ICR with `value` (EDX:EAX).
fn icr(value: u64) -> RawExit {
    RawExit::Msr {
        id: crate::adapt::X2APIC_ICR,
        write: true,
        value,
    }
}

/// ICR delivery modes: INIT (level assert), start-up.
const INIT_ASSERT: u64 = (5 << 8) | (1 << 14);
const SIPI: u64 = 6 << 8;

fn x86_world() -> World<FakeChip> {
    World::new(X86, X86)
}

#[test]
fn the_machine_is_x86_shaped() {
    let w = x86_world();
    let vm = &w.vms[0];
    assert_eq!(vm.cfg.ram.ipa.raw(), 0);
    let ports: Vec<_> = vm.ports.iter().map(|p| (p.base, p.size, p.line)).collect();
    let com1 = (x86::COM1_PORT, 8, Some(x86::COM1_GSI));
    assert!(ports.contains(&com1), "{ports:x?}");
    assert_eq!(vm.cpu_ids, [0, 1]);
}

#[test]
fn a_startup_ipi_starts_vcpu_1_at_its_vector_page() {
    let w = x86_world();
    let before = w.vms[1].snapshot();
    // INIT to APIC 1 goes to the interrupt controller; the start-up IPI with vector
    // 0x08 starts vCPU 1 at 0x8000 (in RAM, which starts at 0).
    let (e, next, _) = run_on(&w, (0, 0), icr(INIT_ASSERT | 1 << 32), 2, regs(0));
    assert_eq!((e.rip, next, e.injected), (RIP + 2, Next::Resume, vec![]));
    let (e, next, calls) = run_on(&w, (0, 0), icr(SIPI | 0x08 | 1 << 32), 2, regs(0));
    assert_eq!((e.rip, next, e.injected), (RIP + 2, Next::Resume, vec![]));
    assert_eq!(e.g, regs(0), "a WRMSR has no result register");
    assert_eq!(calls, [HostCall::Kick { vm: 0, vcpu: 1 }]);
    let start = w.vms[0].life.take_start(VcpuId::new(1));
    let start = start.expect("vCPU 1 starts");
    assert_eq!(
        (start.entry, start.context, start.fresh_boot()),
        (0x8000, 0, false)
    );
    assert_eq!(w.vms[1].snapshot(), before, "the other VM is untouched");
    // A second start-up IPI finds it on: nothing changes.
    let (_, _, calls) = run_on(&w, (0, 0), icr(SIPI | 0x08 | 1 << 32), 2, regs(0));
    assert_eq!(calls, []);
}

#[test]
fn a_startup_ipi_to_an_apic_id_outside_the_vm_starts_nothing() {
    let w = x86_world();
    let before = w.states();
    for dest in [2u64, 0xff, 0xffff_ffff] {
        let sipi = icr(SIPI | 0x08 | dest << 32);
        let (e, next, calls) = run_on(&w, (0, 0), sipi, 2, regs(0));
        assert_eq!((e.rip, next, calls), (RIP + 2, Next::Resume, vec![]));
        assert_eq!(w.states(), before, "{dest:#x}");
    }
}

#[test]
fn com1_output_is_a_console_line_of_that_vm() {
    let w = x86_world();
    let mut lines = Vec::new();
    for &b in b"hi\r\n" {
        let g = regs(b.into());
        let (e, next, calls) = run_on(&w, (1, 0), outb(x86::COM1_PORT, b), 1, g);
        assert_eq!((e.rip, next, e.g), (RIP + 1, Next::Resume, g));
        lines.extend(calls);
    }
    let line = b"hi".to_vec();
    assert_eq!(lines, [HostCall::ConsoleLine { vm: 1, line }]);
    // LSR: the transmitter is empty, no data waits.
    let lsr = io(x86::COM1_PORT + 5, Width::B1, false, 0);
    let (e, _, calls) = run_on(&w, (1, 0), lsr, 1, regs(0x1234));
    assert_eq!((e.g.rax, calls), (0x1260, vec![]));
}

#[test]
fn s5_stops_only_the_vm_that_asked() {
    let pm1a = io(x86::PM1A_CNT_PORT, Width::B2, true, (5 << 10) | (1 << 13));
    let sleep = outb(x86::SLEEP_CONTROL_PORT, (5 << 2) | (1 << 5));
    for s5 in [pm1a, sleep] {
        let w = x86_world();
        let other = w.vms[0].snapshot();
        let (_, next, calls) = run_on(&w, (1, 0), s5, 1, regs(0));
        assert_eq!(next, Next::Park, "{s5:?}");
        let reason = StopReason::SystemOff;
        let stopped = HostCall::VmStopped {
            vm: 1,
            reason,
            late: false,
        };
        assert!(calls.contains(&stopped), "{calls:?}");
        assert!(calls.iter().all(|c| c.vm() == 1), "{calls:?}");
        assert_eq!(w.vms[1].life.status(), (VmState::Stopped, 0, Some(reason)));
        assert_eq!(w.vms[0].snapshot(), other, "the other VM runs on untouched");
    }
    // Another sleep type, or no SLP_EN: the port only takes the write.
    let w = x86_world();
    let not_s5 = io(x86::PM1A_CNT_PORT, Width::B2, true, 5 << 10);
    let (e, next, calls) = run_on(&w, (1, 0), not_s5, 2, regs(0));
    assert_eq!((e.rip, next, calls), (RIP + 2, Next::Resume, vec![]));
    assert_eq!(w.vms[1].life.status(), (VmState::Running, 0, None));
}

#[test]
fn a_reset_restarts_only_the_vm_that_asked() {
    for reset in [outb(x86::RESET_PORT, 0x06), outb(x86::KBC_PORT, 0xfe)] {
        let w = x86_world();
        let other = w.vms[1].snapshot();
        let (_, next, calls) = run_on(&w, (0, 0), reset, 1, regs(0));
        assert_eq!(next, Next::Park, "{reset:?}");
        let reason = StopReason::SystemReset;
        let restarting = HostCall::VmRestarting { vm: 0, reason };
        assert!(calls.contains(&restarting), "{calls:?}");
        assert!(calls.iter().all(|c| c.vm() == 0), "{calls:?}");
        assert_eq!(w.vms[0].life.status(), (VmState::Running, 1, Some(reason)));
        // vCPU 0 boots again at the PVH entry with its start info.
        let start = w.vms[0].life.take_start(VcpuId::new(0)).expect("restarted");
        let expect = (x86::KERNEL_MIN_GPA, x86::BOOT_DATA_GPA, true);
        assert_eq!((start.entry, start.context, start.fresh_boot()), expect);
        assert_eq!(w.vms[1].snapshot(), other, "the other VM runs on untouched");
    }
    // 0x02 to 0xCF9 (SYS_RST without RST_CPU, which Linux writes first) resets
    // nothing.
    let w = x86_world();
    let (e, next, _) = run_on(&w, (0, 0), outb(x86::RESET_PORT, 0x02), 1, regs(0));
    assert_eq!((e.rip, next), (RIP + 1, Next::Resume));
    assert_eq!(w.vms[0].life.status(), (VmState::Running, 0, None));
}

#[test]
fn an_unclaimed_port_reads_all_ones() {
    let w = x86_world();
    let before = w.states();
    let inb = io(0x2f8, Width::B1, false, 0);
    let (e, next, calls) = run_on(&w, (0, 0), inb, 1, regs(0x1234));
    assert_eq!((e.g.rax, e.rip, next), (0x12ff, RIP + 1, Next::Resume));
    assert_eq!(e.injected, []);
    let what = Contained::BadPort(0x2f8);
    assert_eq!(calls, [HostCall::Contained { vm: 0, what }]);
    let (e, _, _) = run_on(&w, (0, 0), outb(0x80, 0x55), 1, regs(0x55));
    assert_eq!((e.g, e.rip), (regs(0x55), RIP + 1), "a write goes nowhere");
    assert_eq!(w.states(), before);
}
