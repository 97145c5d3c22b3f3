//! The hello VM's exit loop, the same for both engines: each exit decoded into a
//! [`RawExit`], answered by the containment defaults or by the few services the
//! guest uses (its COM1 line, CPUID, the ping hypercall, unclaimed memory).

use super::guest;
use crate::acpi::fadt::PM_TIMER_HZ;
use crate::exit::{default_answer, Answer, RawExit, Width};
use crate::insn::decode_mov32;
use crate::vcpu::VcpuEngine;
use crate::{cpu, cpuid, timer};

/// Exits after which the VM is stopped whatever it does.
const MAX_EXITS: u32 = 10_000 + super::MAX_BENCH_CALLS;
/// Bytes of one guest console line.
const LINE: usize = 96;

struct Console {
    buf: [u8; LINE],
    len: usize,
}

impl Console {
    fn put(&mut self, b: u8) {
        if b != b'\n' {
            let printable = if (0x20..0x7F).contains(&b) { b } else { b'.' };
            self.buf[self.len] = printable;
            self.len += 1;
        }
        if b == b'\n' || self.len == LINE {
            let s = core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?");
            println!("[guest] {s}");
            self.len = 0;
        }
    }
}

/// Puts `value` into the low `width` bytes of `reg` (a 32-bit guest: a 4-byte write
/// clears the upper half, as in long mode's 32-bit moves; the guest cannot see it).
fn merge(reg: &mut u64, width: Width, value: u64) {
    *reg = match width {
        Width::B4 => value & 0xFFFF_FFFF,
        w => (*reg & !w.ones()) | (value & w.ones()),
    };
}

/// Prints the mean round trip of the timed null hypercalls.
fn report_bench(start: Option<(u32, u32)>, calls: u32) {
    let (Some((t0, mask)), Some((t1, _))) = (start, timer::ticks()) else {
        println!("[rtvisor] vm hello: {calls} null hypercalls, no timer");
        return;
    };
    let ticks = u64::from(t1.wrapping_sub(t0) & mask);
    let ns = ticks * 1_000_000_000 / PM_TIMER_HZ;
    println!(
        "[rtvisor] vm hello: {calls} null hypercalls in {ns} ns: {} ns each",
        ns / u64::from(calls.max(1))
    );
}

/// Runs `v` until it stops; `mem` is the VM's RAM (guest-physical 0 on);
/// `bench_calls` null hypercalls are timed.
pub fn drive<E: VcpuEngine>(mut v: E, mem: &mut [u8], bench_calls: u32) {
    let mut bench_start = None;
    let mut con = Console {
        buf: [0; LINE],
        len: 0,
    };
    for n in 1..=MAX_EXITS {
        let d = v.run();
        let rip = v.rip();
        let next = d.next_rip;
        match d.exit {
            RawExit::Io {
                port: 0x3F8,
                width: Width::B1,
                write: true,
                value,
            } => con.put(value as u8),
            RawExit::Cpuid { leaf, sub } => {
                let r = cpuid::for_guest(leaf, cpu::cpuid(leaf, sub));
                let g = v.gprs();
                (g.rax, g.rbx, g.rcx, g.rdx) = (r[0].into(), r[1].into(), r[2].into(), r[3].into());
            }
            RawExit::Hypercall => {
                let g = v.gprs();
                let (nr, arg) = (g.rax as u32, g.rbx as u32);
                g.rax = match nr {
                    guest::HC_NULL => 0,
                    guest::HC_PING => u64::from(!arg),
                    guest::HC_BENCH_START => {
                        bench_start = timer::ticks();
                        u64::from(bench_calls)
                    }
                    guest::HC_BENCH_END => {
                        report_bench(bench_start, bench_calls);
                        0
                    }
                    _ => u64::MAX,
                };
                if nr == guest::HC_PING {
                    println!(
                        "[rtvisor] vm hello: hypercall {nr} ({arg:#x}) answered {:#x}",
                        g.rax
                    );
                }
            }
            RawExit::Stage2Fault { gpa, access } => {
                let bytes = usize::try_from(rip)
                    .ok()
                    .and_then(|r| mem.get(r..r.saturating_add(15).min(mem.len())));
                let Some(m) = bytes.and_then(decode_mov32) else {
                    println!(
                        "[rtvisor] vm hello: {access:?} of {gpa:#x} at rip {rip:#x} not decoded: vm stopped"
                    );
                    return;
                };
                if m.write {
                    println!(
                        "[rtvisor] vm hello: write of {gpa:#x} outside ram ({} bytes): dropped",
                        m.width as u8
                    );
                } else {
                    println!(
                        "[rtvisor] vm hello: read of {gpa:#x} outside ram ({} bytes): all-ones",
                        m.width as u8
                    );
                    if let Some(r) = m.reg().and_then(|(reg, _)| v.gprs().get_mut(reg)) {
                        merge(r, m.width, u64::MAX);
                    }
                }
                v.set_rip(rip.wrapping_add(u64::from(m.len)));
                continue;
            }
            RawExit::Hlt => println!("[rtvisor] vm hello: hlt at rip {rip:#x}"),
            RawExit::TripleFault => {
                println!(
                    "[rtvisor] vm hello: triple fault at rip {rip:#x}: vm stopped after {n} exits"
                );
                return;
            }
            RawExit::ExternalInterrupt => continue,
            RawExit::Unknown { code } => {
                let (_, i1, i2) = v.raw_exit();
                println!(
                    "[rtvisor] vm hello: unhandled exit {code:#x} ({i1:#x}, {i2:#x}) at rip {rip:#x}: vm stopped"
                );
                return;
            }
            e => match default_answer(&e) {
                Answer::Complete { value } => {
                    if let RawExit::Io {
                        port,
                        width,
                        write: false,
                        ..
                    } = e
                    {
                        println!(
                            "[rtvisor] vm hello: read of unclaimed port {port:#x} ({} bytes): all-ones",
                            width as u8
                        );
                        merge(&mut v.gprs().rax, width, value);
                    }
                }
                Answer::Inject { vector, error } => {
                    let what = match e {
                        RawExit::Msr { write: false, .. } => "rdmsr of unknown msr",
                        RawExit::Msr { write: true, .. } => "wrmsr of unknown msr",
                        _ => "vmx/svm instruction",
                    };
                    match e {
                        RawExit::Msr { id, .. } => println!(
                            "[rtvisor] vm hello: {what} {id:#x} at rip {rip:#x}: exception {vector} injected"
                        ),
                        _ => println!(
                            "[rtvisor] vm hello: {what} at rip {rip:#x}: exception {vector} injected"
                        ),
                    }
                    v.inject(vector, error);
                    continue;
                }
                Answer::Caller => {
                    println!("[rtvisor] vm hello: {e:?} at rip {rip:#x}: vm stopped");
                    return;
                }
            },
        }
        match next {
            Some(r) => v.set_rip(r),
            None => {
                println!(
                    "[rtvisor] vm hello: no next rip after {:?}: vm stopped",
                    d.exit
                );
                return;
            }
        }
    }
    println!("[rtvisor] vm hello: {MAX_EXITS} exits: vm stopped");
}
