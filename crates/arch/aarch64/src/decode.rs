//! Decoding an exception from a guest: ESR_EL2 (with FAR_EL2, HPFAR_EL2 and the saved
//! registers) into the [`VcpuExit`] the exit handler gets. What answering it needs
//! (where a load goes, whether a call came by SMC, the faulting address) is read from
//! the same registers again when it is answered ([`load_of`], `crate::vcpu`), which
//! still hold it: nothing else takes an exception to EL2 on this CPU meanwhile. Plain
//! code over values, tested on the host; the exception entry reads the registers
//! (`SyndromeRegs`) only where a decode needs them.

use crate::psci::{self, Call};
use crate::sysregs;
use rtvisor_addr::Ipa;
use rtvisor_core::exit::VcpuExit;
use rtvisor_vdev::Width;

/// The syndrome registers of the exception being decoded (the hardware's, or a
/// test's values). Each is read only when the exception class needs it.
pub trait SyndromeRegs {
    /// ESR_EL2.
    fn esr(&self) -> u64;
    /// FAR_EL2.
    fn far(&self) -> u64;
    /// HPFAR_EL2.
    fn hpfar(&self) -> u64;
}

/// Where a load completes: the transfer register and how the value is extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Transfer register (31 = xzr/wzr: the value is dropped).
    pub reg: u8,
    /// Access width.
    pub width: Width,
    /// Sign-extend into the register.
    pub sign_extend: bool,
    /// The register is 64-bit (`x`); otherwise 32-bit (`w`), upper half zeroed.
    pub reg64: bool,
}

impl Load {
    /// A system-register read into `rt` (MRS: all 64 bits).
    pub const fn sysreg(rt: u8) -> Self {
        Self {
            reg: rt,
            width: Width::Double,
            sign_extend: false,
            reg64: true,
        }
    }

    /// The value the register gets: truncated to the access width, then sign
    /// extended if asked, and limited to 32 bits for a `w` register.
    pub fn value(&self, raw: u64) -> u64 {
        let bits = self.width.bytes() * 8;
        let mut v = raw & self.width.mask();
        if self.sign_extend && bits < 64 {
            let shift = 64 - bits;
            v = (((v << shift) as i64) >> shift) as u64;
        }
        if !self.reg64 {
            v &= 0xffff_ffff;
        }
        v
    }
}

/// What an exception from a guest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// An exit for the handler.
    Exit(VcpuExit),
    /// An SMCCC call the ABI answers alone: the value for x0.
    Answer(u64),
}

const EC_WFX: u64 = 0x01;
const EC_HVC64: u64 = 0x16;
/// A trapped SMC (AArch64).
pub const EC_SMC64: u64 = 0x17;
const EC_SYSREG: u64 = 0x18;
const EC_IABT_LOWER: u64 = 0x20;
const EC_DABT_LOWER: u64 = 0x24;

/// The exception class of `esr`.
#[inline(always)]
pub const fn class(esr: u64) -> u64 {
    esr >> 26 & 0x3f
}

/// Where the load of the exception `esr` completes: for a data abort with a valid
/// syndrome its transfer register, width and extension; for an MRS its `Rt`, all 64
/// bits; otherwise nowhere (xzr).
#[inline(always)]
pub fn load_of(esr: u64) -> Load {
    let iss = esr & 0x1ff_ffff;
    let field = |shift: u32, bits: u32| ((iss >> shift) & ((1 << bits) - 1)) as u8;
    match class(esr) {
        EC_DABT_LOWER if iss >> 24 & 1 == 1 => Load {
            reg: field(16, 5),
            width: match field(22, 2) {
                0 => Width::Byte,
                1 => Width::Half,
                2 => Width::Word,
                _ => Width::Double,
            },
            sign_extend: iss >> 21 & 1 == 1,
            reg64: iss >> 15 & 1 == 1,
        },
        EC_SYSREG => Load::sysreg(field(5, 5)),
        _ => Load::sysreg(31),
    }
}

/// Decodes the exception behind vector `kind` (`kind % 4`: 0 sync, 1 IRQ, 2 FIQ,
/// 3 SError) with the guest's registers `x` (x0..x30). Inlined into the exception
/// entry, so that the exit is built in place on the way to the handler.
#[inline(always)]
pub fn decode(kind: u64, regs: &impl SyndromeRegs, x: &[u64; 31]) -> Decoded {
    let exit = match kind % 4 {
        1 | 2 => VcpuExit::Interrupt,
        3 => VcpuExit::Fatal {
            what: "serror esr",
            code: regs.esr(),
        },
        _ => {
            let esr = regs.esr();
            let iss = esr & 0x1ff_ffff;
            let field = |shift: u32, bits: u32| ((iss >> shift) & ((1 << bits) - 1)) as u8;
            let reg = |n: u8| x.get(usize::from(n)).copied().unwrap_or(0);
            match class(esr) {
                EC_HVC64 | EC_SMC64 => {
                    let args = [x[0], x[1], x[2], x[3]];
                    match psci::call(iss as u16, args) {
                        Call::Answer(v) => return Decoded::Answer(v),
                        Call::Exit(e) => e,
                    }
                }
                EC_SYSREG => {
                    let id = sysregs::pack(sysregs::SysRegId::new(
                        field(20, 2),
                        field(14, 3),
                        field(10, 4),
                        field(1, 4),
                        field(17, 3),
                    ));
                    let rt = field(5, 5);
                    let write = iss & 1 == 0;
                    VcpuExit::SysReg {
                        id,
                        class: sysregs::class(id).0,
                        write,
                        value: if write { reg(rt) } else { 0 },
                    }
                }
                EC_DABT_LOWER => {
                    let addr = fault_ipa(regs.hpfar(), regs.far());
                    let write = iss >> 6 & 1 == 1;
                    if iss >> 24 & 1 == 1 {
                        let load = load_of(esr);
                        let width = load.width;
                        let value = if write {
                            reg(load.reg) & width.mask()
                        } else {
                            0
                        };
                        VcpuExit::Mmio {
                            addr,
                            width,
                            write,
                            value,
                        }
                    } else {
                        VcpuExit::MemFault { addr, write }
                    }
                }
                EC_IABT_LOWER => VcpuExit::FetchFault {
                    addr: fault_ipa(regs.hpfar(), regs.far()),
                },
                EC_WFX => VcpuExit::Halt,
                _ => VcpuExit::Fatal {
                    what: "unhandled exit esr",
                    code: esr,
                },
            }
        }
    };
    Decoded::Exit(exit)
}

/// The value of a trapped write of ICC_SGI1R_EL1 (exception `esr`), when its source
/// register is among `saved` (x0..x18 and x30 on the light paths; xzr reads 0).
/// `None` for any other exception, or a source register the light path did not save.
#[inline(always)]
pub fn sgi1r_write(esr: u64, saved: &[u64; 31]) -> Option<u64> {
    // ISS of a trapped MSR/MRS: Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10],
    // Rt [9:5], CRm [4:1], direction [0] (0: write).
    const ID_MASK: u64 = 0x3f_fc1f;
    const SGI1R_WRITE: u64 = 3 << 20 | 5 << 17 | 12 << 10 | 11 << 1;
    if class(esr) != EC_SYSREG || esr & ID_MASK != SGI1R_WRITE {
        return None;
    }
    match (esr >> 5 & 0x1f) as usize {
        31 => Some(0),
        rt @ (0..=18 | 30) => saved.get(rt).copied(),
        _ => None,
    }
}

/// A load the light data-abort path may complete (exception `esr`): a data abort with
/// a valid syndrome, a read, into a register the light paths save (x0..x18, x30) or
/// xzr. `None` for anything else: the full path decodes it.
#[inline(always)]
pub fn light_load(esr: u64) -> Option<Load> {
    const ISV: u64 = 1 << 24;
    const WNR: u64 = 1 << 6;
    if class(esr) != EC_DABT_LOWER || esr & (ISV | WNR) != ISV {
        return None;
    }
    let load = load_of(esr);
    matches!(load.reg, 0..=18 | 30 | 31).then_some(load)
}

/// A data access the light data-abort path may complete: where a read completes,
/// and for a write the value written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LightAccess {
    /// The transfer register, width and extension (of a read; a write's source).
    pub load: Load,
    /// The value a write stores, truncated to its width; `None` for a read.
    pub store: Option<u64>,
}

/// [`light_load`] for reads and writes (exception `esr`, with the registers `saved`
/// of a light save): a data abort with a valid syndrome whose transfer register the
/// light paths save (x0..x18, x30) or is xzr (a write of it stores 0). `None` for
/// anything else: the full path decodes it, as [`decode`] does the same access.
#[inline(always)]
pub fn light_access(esr: u64, saved: &[u64; 31]) -> Option<LightAccess> {
    const ISV: u64 = 1 << 24;
    const WNR: u64 = 1 << 6;
    if class(esr) != EC_DABT_LOWER || esr & ISV == 0 {
        return None;
    }
    let load = load_of(esr);
    if !matches!(load.reg, 0..=18 | 30 | 31) {
        return None;
    }
    let source = saved.get(usize::from(load.reg)).copied().unwrap_or(0);
    let store = (esr & WNR != 0).then_some(source & load.width.mask());
    Some(LightAccess { load, store })
}

/// The faulting IPA of the data or instruction abort in `regs`.
#[inline(always)]
pub fn abort_ipa(regs: &impl SyndromeRegs) -> Ipa {
    fault_ipa(regs.hpfar(), regs.far())
}

/// The faulting IPA: page from HPFAR_EL2.FIPA, offset from FAR_EL2.
fn fault_ipa(hpfar: u64, far: u64) -> Ipa {
    Ipa::new(((hpfar >> 4) & 0xff_ffff_ffff) << 12 | (far & 0xfff))
}

#[cfg(test)]
mod tests;
