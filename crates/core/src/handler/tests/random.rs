//! Random exits for the walk (from the test kit's seeded [`Rng`]): exits of every kind
//! whose values lean towards the ones that matter (CPU ids of the VM's vCPUs, entries
//! in RAM, hypercall numbers and arguments, addresses and ports in and near the
//! emulated regions).

use super::*;
use crate::hypercall;
pub use crate::testkit::Rng;
use crate::testkit::{FakeChip, Vm, ENTRY, RAM_BASE, RAM_SIZE};

const ARGS: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    0x100,
    0x8000_0001,
    ENTRY,
    RAM_BASE + RAM_SIZE - 4,
    RAM_BASE + RAM_SIZE,
    500,
    hypercall::WATCHDOG_MAX_MS + 1,
    u64::MAX,
];

/// A value for an argument: an interesting one, or anything.
fn arg(r: &mut Rng) -> u64 {
    match r.below(4) {
        0 => r.next(),
        1 => r.below(8) | r.next() << 32,
        _ => r.pick(ARGS),
    }
}

/// Ports at and near the x86_64 machine's emulated ones (and an unclaimed one).
const PORTS: &[u16] = &[0x3f6, 0x3f8, 0x3fc, 0x3fe, 0x64, 0x600, 0x604, 0xcf8, 0x80];

const WIDTHS: [Width; 4] = [Width::Byte, Width::Half, Width::Word, Width::Double];

/// An address: in an emulated region of `vm` or near one, in its RAM, or anywhere.
fn ipa(r: &mut Rng, vm: &Vm<FakeChip>) -> u64 {
    let base = |r: &mut Rng| {
        let reg = r.pick(&vm.regions);
        // Past the first redistributor frame, on the machine that has them.
        reg.base.raw() + (r.below(2) * 0x1_0000).min(reg.size.saturating_sub(1))
    };
    let ram = vm.machine.ram_base;
    match r.below(8) {
        0 => r.next(),
        1 => ram + r.below(RAM_SIZE),
        2 => (base(r) + r.below(0x4_2000)).saturating_sub(0x1000),
        3 => base(r) + r.below(0x20) * 4 + 0x1_0000 * r.below(4),
        _ => base(r) + (r.below(0x1_0000) & !r.pick(&[0u64, 1, 3, 7])),
    }
}

/// A random exit of a vCPU of `vm`.
pub fn exit(r: &mut Rng, vm: &Vm<FakeChip>) -> VcpuExit {
    let cpu_ids = &vm.cpu_ids;
    let target = |r: &mut Rng| match r.below(2) {
        0 => r.pick(cpu_ids),
        _ => arg(r),
    };
    match r.below(200) {
        0..=19 => VcpuExit::CpuOn {
            target: target(r),
            entry: if r.below(2) == 0 {
                vm.machine.entry
            } else {
                arg(r)
            },
            arg: arg(r),
        },
        20..=27 => VcpuExit::CpuState { target: target(r) },
        28..=31 => VcpuExit::CpuOff,
        32..=33 => VcpuExit::SystemOff,
        34..=35 => VcpuExit::SystemReset,
        36..=55 => {
            let nr = r.pick(&[0, 1, 1, 0x10, 0x10, 0x11, 0x11, 0x42]);
            VcpuExit::Hypercall {
                nr: if r.below(10) == 0 { r.next() } else { nr },
                args: [arg(r), arg(r)],
            }
        }
        56..=59 => VcpuExit::UnknownCall { id: r.next() },
        60..=129 => {
            let write = r.below(2) == 0;
            VcpuExit::Mmio {
                addr: Ipa::new(ipa(r, vm)),
                width: r.pick(&WIDTHS),
                write,
                value: if write { arg(r) } else { 0 },
            }
        }
        130..=139 => VcpuExit::MemFault {
            addr: Ipa::new(ipa(r, vm)),
            write: r.below(2) == 0,
        },
        140..=169 => {
            let write = r.below(2) == 0;
            VcpuExit::SysReg {
                id: r.below(8) as u32,
                class: r.pick(&[RegClass::IrqChip, RegClass::Ignored, RegClass::Refused]),
                write,
                value: if write { arg(r) } else { 0 },
            }
        }
        170..=174 => VcpuExit::FetchFault {
            addr: Ipa::new(ipa(r, vm)),
        },
        175..=179 => {
            let write = r.below(2) == 0;
            VcpuExit::Pio {
                port: match r.below(2) {
                    0 => r.next() as u16,
                    _ => r.pick(PORTS) + r.below(3) as u16,
                },
                width: r.pick(&WIDTHS[..3]),
                write,
                value: if write { arg(r) } else { 0 },
            }
        }
        180..=186 => VcpuExit::Halt,
        187..=197 => VcpuExit::Interrupt,
        _ => VcpuExit::Fatal {
            what: "fatal",
            code: r.next(),
        },
    }
}
