//! Random exits for the walk: a seeded xorshift generator and exits of every kind
//! whose registers and addresses lean towards the values that matter (function ids,
//! affinities of the VM's vCPUs, entries in RAM, addresses in and near the emulated
//! regions).

use super::world::{ENTRY, RAM_BASE, RAM_SIZE};
use super::*;
use crate::hypercall;
use crate::psci;
use rtvisor_config::guest;

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

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

/// A value for a register: an interesting argument, or anything.
fn arg(r: &mut Rng) -> u64 {
    match r.below(4) {
        0 => r.next(),
        1 => r.below(8) | r.next() << 32,
        _ => r.pick(ARGS),
    }
}

const WIDTHS: [AccessWidth; 4] = [
    AccessWidth::B1,
    AccessWidth::B2,
    AccessWidth::B4,
    AccessWidth::B8,
];

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
    match r.below(8) {
        0 => r.next(),
        1 => RAM_BASE + r.below(RAM_SIZE),
        2 => r.pick(&bases) + r.below(0x4_2000) - 0x1000,
        3 => r.pick(&bases) + r.below(0x20) * 4 + 0x1_0000 * r.below(4),
        _ => r.pick(&bases) + (r.below(0x1_0000) & !r.pick(&[0u64, 1, 3, 7])),
    }
}

const SYSREGS: &[SysRegId] = &[
    SysRegId::new(3, 0, 12, 11, 5), // ICC_SGI1R_EL1
    SysRegId::new(3, 0, 12, 11, 5),
    SysRegId::new(3, 0, 12, 11, 5),
    SysRegId::new(3, 0, 12, 11, 6),
    SysRegId::new(3, 0, 12, 11, 7),
    SysRegId::new(3, 0, 1, 0, 1),
    SysRegId::new(2, 0, 0, 2, 2),
    SysRegId::new(3, 3, 14, 2, 1),
    SysRegId::new(3, 1, 15, 2, 0),
];

/// A random exit of a vCPU of a VM whose vCPUs have the affinities `mpidrs`, with
/// the registers it is made with.
pub fn exit(r: &mut Rng, mpidrs: &[u64]) -> (VcpuExit, FakeRegs) {
    let mut regs = FakeRegs::new();
    for x in regs.x.iter_mut() {
        *x = arg(r);
    }
    let exit = match r.below(200) {
        0..=59 => {
            regs.x[0] = match r.below(8) {
                0 => r.next(),
                1 => u64::from(r.pick(FIDS)) | r.next() << 32,
                _ => u64::from(r.pick(FIDS)),
            };
            if r.below(2) == 0 {
                // Arguments that make sense: a vCPU of the VM, an entry in RAM.
                regs.x[1] = r.pick(mpidrs);
                regs.x[2] = ENTRY;
            }
            let conduit = r.pick(&[Conduit::Hvc, Conduit::Smc]);
            let imm = if r.below(10) == 0 { r.next() as u16 } else { 0 };
            VcpuExit::Call { conduit, imm }
        }
        60..=139 => {
            let write = r.below(2) == 0;
            let access = (r.below(8) != 0).then(|| MmioAccess {
                write,
                width: r.pick(&WIDTHS),
                reg: r.below(32) as u8,
                sign_extend: r.below(4) == 0,
                reg64: r.below(2) == 0,
            });
            mmio_with(ipa(r), access, write)
        }
        140..=169 => {
            let sgi = r.next() & 0x00ff_f1ff_0fff_ffff;
            let rt = r.below(32) as u8;
            if rt < 31 && r.below(2) == 0 {
                regs.x[usize::from(rt)] = sgi;
            }
            let id = if r.below(8) == 0 {
                let b = r.next();
                SysRegId::new(
                    b as u8 & 3,
                    b as u8 >> 2 & 7,
                    b as u8 >> 5,
                    (b >> 8) as u8 & 15,
                    (b >> 12) as u8 & 7,
                )
            } else {
                r.pick(SYSREGS)
            };
            sysreg(id, rt, r.below(2) == 0)
        }
        170..=174 => VcpuExit::InstructionAbort {
            ipa: Ipa::new(ipa(r)),
            far: r.next(),
        },
        175..=184 => VcpuExit::Wfx,
        185..=197 => VcpuExit::Interrupt,
        _ if r.below(2) == 0 => VcpuExit::SError { syndrome: r.next() },
        _ => VcpuExit::Unknown { syndrome: r.next() },
    };
    (exit, regs)
}
