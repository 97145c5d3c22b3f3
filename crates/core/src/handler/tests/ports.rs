//! I/O ports, on the x86_64 machine (RAM from 0, COM1 a 16550 on ports 0x3F8-0x3FF
//! with GSI 4, the power and reset ports) and on aarch64 (no ports): a port nothing
//! claims reads all ones and drops writes; COM1 is the VM's console, with the same
//! `[vm] ` lines, live partial line and input as the PL011; the power ports answer
//! what is not a request (the backend decodes those).

use super::*;
use crate::devices;
use crate::handler::{Contained, Next};
use crate::testkit::{ChipCall, VIRT, X86};
use rtvisor_config::contract::x86_64 as x86;
use rtvisor_vdev::uart16550::{ier, lsr, reg};
use Width::{Byte as B1, Half as B2, Word as B4};

const COM1: u16 = x86::COM1_PORT;

fn pio(port: u16, width: Width, write: bool, value: u64) -> VcpuExit {
    VcpuExit::Pio {
        port,
        width,
        write,
        value: if write { value } else { 0 },
    }
}

/// An OUT of `value` (a byte) to `port` by VM `vm`'s vCPU 0, emulated: stepped over,
/// nothing contained, the other VM untouched.
fn out(w: &World, vm: usize, port: u16, value: u8) -> Outcome {
    let other = w.vms[1 - vm].snapshot();
    let o = w.run(vm, 0, pio(port, B1, true, u64::from(value)));
    assert_eq!(
        (o.next, o.vcpu.skipped, o.vcpu.loaded),
        (Next::Resume, 1, None)
    );
    assert_eq!(
        (o.vcpu.injected.as_slice(), o.contained()),
        (&[][..], [].into())
    );
    assert_eq!(w.vms[1 - vm].snapshot(), other, "{port:#x}");
    o
}

/// An IN of `width` from `port` by VM `vm`'s vCPU 0, emulated: its value.
fn inb(w: &World, vm: usize, port: u16, width: Width) -> u64 {
    let o = w.run(vm, 0, pio(port, width, false, 0));
    assert_eq!((o.next, o.vcpu.skipped), (Next::Resume, 1), "{port:#x}");
    assert_eq!(
        (o.vcpu.injected.as_slice(), o.contained()),
        (&[][..], [].into())
    );
    o.vcpu.loaded.expect("a load completes")
}

#[test]
fn ports_nothing_claims_read_all_ones_and_drop_writes() {
    let cases = [
        (X86, 0x80, B1, 0xff),
        (X86, 0x2f8, B2, 0xffff),
        (X86, 0xcfc, B4, 0xffff_ffff),
        (X86, 0x3f7, B1, 0xff),
        (X86, 0x400, B2, 0xffff),
        (X86, 0xffff, B1, 0xff),
        // aarch64 has no ports at all: COM1 is nothing there.
        (VIRT, COM1, B1, 0xff),
        (VIRT, 0xcf9, B4, 0xffff_ffff),
    ];
    for (spec, port, width, ones) in cases {
        for write in [false, true] {
            let w = World::one(spec);
            let before = w.states();
            let o = w.run(0, 0, pio(port, width, write, 6));
            let what = (port, width, write);
            let mut expect = FakeVcpu::new();
            expect.skipped = 1;
            expect.loaded = (!write).then_some(ones);
            assert_eq!((o.next, &o.vcpu), (Next::Resume, &expect), "{what:x?}");
            let what = Contained::BadPort(port);
            assert_eq!(o.calls, [HostCall::Contained { vm: 0, what }]);
            assert_eq!(w.states(), before, "{port:#x}");
            assert_eq!(w.vms[0].chip.take(), []);
        }
    }
}

#[test]
fn a_com1_write_is_a_console_line_of_its_vm_only() {
    let w = World::new(X86, X86);
    w.host.take();
    for &b in b"hello" {
        assert_eq!(out(&w, 1, COM1, b).calls, []);
    }
    assert_eq!(w.vms[1].console.lock().line.pending(), b"hello");
    let o = out(&w, 1, COM1, b'\n');
    let line = b"hello".to_vec();
    assert_eq!(o.calls, [HostCall::ConsoleLine { vm: 1, line }]);
    assert_eq!(w.vms[0].console.lock().line.pending(), b"");
    // With the console input, the partial line shows as it grows.
    w.host.live.set(true);
    let o = out(&w, 1, COM1, b'$');
    let pending = b"$".to_vec();
    assert_eq!(o.calls, [HostCall::ConsolePartial { vm: 1, pending }]);
}

#[test]
fn com1_reads_as_a_16550_at_every_port_width() {
    let w = World::one(X86);
    let empty = u64::from(lsr::THRE | lsr::TEMT);
    assert_eq!(inb(&w, 0, COM1 + reg::LSR as u16, B1), empty);
    // Scratch, then a 16-bit read of LSR and MSR together (CTS, DSR, DCD).
    out(&w, 0, COM1 + reg::SCR as u16, 0x5a);
    assert_eq!(inb(&w, 0, COM1 + reg::SCR as u16, B1), 0x5a);
    assert_eq!(inb(&w, 0, COM1 + reg::LSR as u16, B2), empty | 0xb0 << 8);
    // A word from the last port reaches past the UART: its bytes there read zero.
    assert_eq!(inb(&w, 0, COM1 + reg::SCR as u16, B4) & 0xff, 0);
}

#[test]
fn typed_input_reaches_com1_and_raises_its_gsi() {
    let w = World::one(X86);
    out(&w, 0, COM1 + reg::IER as u16, ier::ERBFI);
    assert_eq!(
        w.vms[0].chip.take(),
        [ChipCall::Level {
            me: Some(0),
            line: x86::COM1_GSI,
            level: false
        }]
    );
    assert_eq!(devices::console_input(b"ok", &w.ctx(0), &w.host), 2);
    assert_eq!(
        w.vms[0].chip.take(),
        [ChipCall::Level {
            me: None,
            line: x86::COM1_GSI,
            level: true
        }]
    );
    // One holding register with the FIFOs off: the second byte waits.
    assert_eq!(w.vms[0].console.lock().input.len(), 1);
    assert_eq!(inb(&w, 0, COM1, B1), u64::from(b'o'));
    assert_eq!(inb(&w, 0, COM1, B1), u64::from(b'k'));
    let lsr = inb(&w, 0, COM1 + reg::LSR as u16, B1);
    assert_eq!(lsr & u64::from(lsr::DR | lsr::OE), 0, "{lsr:#x}");
    let calls = w.vms[0].chip.take();
    assert_eq!(
        calls.last(),
        Some(&ChipCall::Level {
            me: Some(0),
            line: 4,
            level: false
        })
    );
    // The other VM's console got nothing.
    assert_eq!(w.vms[1].console.lock().input.len(), 0);
}

#[test]
fn power_ports_answer_what_is_not_a_request() {
    for port in [
        x86::KBC_PORT,
        x86::SLEEP_CONTROL_PORT,
        x86::SLEEP_STATUS_PORT,
        x86::PM1A_CNT_PORT,
        x86::PM1A_CNT_PORT + 1,
        x86::RESET_PORT,
    ] {
        let w = World::one(X86);
        let before = w.states();
        assert_eq!(inb(&w, 0, port, B1), 0, "{port:#x}");
        assert_eq!(out(&w, 0, port, 0x02).calls, [], "{port:#x}");
        assert_eq!(w.states(), before, "{port:#x}");
    }
}
