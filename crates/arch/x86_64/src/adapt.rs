//! The x86 exit in the core's terms: [`adapt`] maps one decoded [`RawExit`] (either
//! engine's) to the semantic [`VcpuExit`] the arch-neutral exit handler decides on,
//! or to an answer the backend gives itself because the x86 ABI alone knows it.
//!
//! The guest ABI decoded here (docs/architecture.md, the exit table):
//! - VMCALL/VMMCALL with Xen's registers (the x86 test guests' ABI,
//!   docs/interfaces-draft.md): RAX the function id, arguments in RDI and RSI, the
//!   result in RAX. rtvisor's ids are those of aarch64, `0xC600_00nn` (or
//!   `0x8600_00nn`, arguments then 32-bit), and are [`VcpuExit::Hypercall`] number
//!   `nn`; any other id is [`VcpuExit::UnknownCall`] (answered NOT_SUPPORTED, -1);
//! - power: a write of sleep type S5 with SLP_EN to PM1a control or to the
//!   hardware-reduced sleep control register (the ports the generated FADT names)
//!   is [`VcpuExit::SystemOff`]; a write with RST_CPU (bit 2) to the reset control
//!   port 0xCF9, a pulse-output command with the reset line (0xF0-0xFF, bit 0 clear,
//!   0xFE the usual one) to the keyboard controller, and a triple fault are
//!   [`VcpuExit::SystemReset`];
//! - the x2APIC ICR (MSR 0x830): a start-up IPI to one APIC id is
//!   [`VcpuExit::CpuOn`] at the vector's page, an INIT a vCPU sends itself is
//!   [`VcpuExit::CpuOff`]; every other ICR write (fixed IPIs, an INIT to another
//!   vCPU, shorthands) is the interrupt controller's;
//! - MSRs by [`msr_class`]: the x2APIC range, the APIC base and the TSC deadline are
//!   the interrupt controller's, a few read-as-zero identification and cache-control
//!   MSRs are ignored, everything else is refused (#GP);
//! - a second-stage fault on a load or store is [`VcpuExit::Mmio`] when the
//!   instruction at RIP decoded ([`crate::insn`]), else [`VcpuExit::MemFault`]; on a
//!   fetch [`VcpuExit::FetchFault`];
//! - every other port is [`VcpuExit::Pio`]; HLT [`VcpuExit::Halt`]; physical
//!   interrupts, NMIs, INIT and SIPI signals and the interrupt window
//!   [`VcpuExit::Interrupt`]; an exit reason nobody knows [`VcpuExit::Fatal`].
//!
//! CPUID, VMX/SVM instructions, INVD and WBINVD never reach the core: the backend
//! answers them ([`Adapted::Own`]).

use crate::exit::{self, AccessKind, Answer, RawExit};
use crate::insn::{MemMov, Operand};
use crate::regs::Gprs;
use rtvisor_addr::Ipa;
use rtvisor_config::contract::x86_64 as contract;
use rtvisor_core::exit::{RegClass, VcpuExit};
use rtvisor_vdev::Width;

/// What to do with one exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapted {
    /// The core's exit handler decides.
    Exit(VcpuExit),
    /// The backend answers by itself (CPUID: `Caller`, its CPUID policy; a VMX or SVM
    /// instruction: #UD; INVD and WBINVD: `Complete`, stepped over).
    Own(Answer),
}

/// The x2APIC MSRs (0x800-0x8FF).
pub const X2APIC_FIRST: u32 = 0x800;
/// The last x2APIC MSR.
pub const X2APIC_LAST: u32 = 0x8ff;
/// The x2APIC interrupt command register.
pub const X2APIC_ICR: u32 = 0x830;
/// IA32_APIC_BASE.
pub const APIC_BASE: u32 = 0x1b;
/// IA32_TSC_DEADLINE.
pub const TSC_DEADLINE: u32 = 0x6e0;

/// MSRs that read as zero and ignore writes, sorted ranges (first, last): platform
/// identification, the microcode signature, the MTRRs (guest memory types come from
/// the second stage and PAT) and the miscellaneous-enable register; and AMD's
/// system and hardware configuration, interrupt-pending message and decode
/// configuration registers, which Linux reads on every AMD CPU (SYSCFG and HWCR with
/// its safe accessors, the interrupt-pending message without one on the families
/// its erratum 400 names, QEMU's default model among them: a read that faults is a
/// warning with a stack trace in its log) and which say nothing a VM can use (0:
/// no memory encryption, no C1E, no LFENCE setting of the host's).
const IGNORED: &[(u32, u32, &str)] = &[
    (0x17, 0x17, "IA32_PLATFORM_ID"),
    (0x8b, 0x8b, "IA32_BIOS_SIGN_ID"),
    (0xfe, 0xfe, "IA32_MTRRCAP"),
    (0x1a0, 0x1a0, "IA32_MISC_ENABLE"),
    (0x200, 0x21f, "IA32_MTRR_PHYSBASE/MASK"),
    (0x250, 0x250, "IA32_MTRR_FIX64K"),
    (0x258, 0x259, "IA32_MTRR_FIX16K"),
    (0x268, 0x26f, "IA32_MTRR_FIX4K"),
    (0x2ff, 0x2ff, "IA32_MTRR_DEF_TYPE"),
    (0xc001_0010, 0xc001_0010, "AMD SYSCFG"),
    (0xc001_0015, 0xc001_0015, "AMD HWCR"),
    (0xc001_0055, 0xc001_0055, "AMD INT_PENDING_MSG"),
    (0xc001_1029, 0xc001_1029, "AMD DE_CFG"),
];

/// What MSR `id` is to the hypervisor.
pub fn msr_class(id: u32) -> RegClass {
    if (X2APIC_FIRST..=X2APIC_LAST).contains(&id) || id == APIC_BASE || id == TSC_DEADLINE {
        RegClass::IrqChip
    } else if IGNORED.iter().any(|&(a, b, _)| (a..=b).contains(&id)) {
        RegClass::Ignored
    } else {
        RegClass::Refused
    }
}

/// The name of MSR `id`, for logs.
pub fn msr_name(id: u32) -> &'static str {
    match id {
        APIC_BASE => "IA32_APIC_BASE",
        TSC_DEADLINE => "IA32_TSC_DEADLINE",
        X2APIC_ICR => "x2APIC ICR",
        X2APIC_FIRST..=X2APIC_LAST => "x2APIC",
        _ => IGNORED
            .iter()
            .find(|&&(a, b, _)| (a..=b).contains(&id))
            .map_or("unknown MSR", |t| t.2),
    }
}

/// ICR delivery modes (bits 10:8).
const ICR_MODE_INIT: u64 = 5;
const ICR_MODE_SIPI: u64 = 6;
/// ICR destination shorthand (bits 19:18): none, self.
const ICR_SHORT_NONE: u64 = 0;
const ICR_SHORT_SELF: u64 = 1;
/// ICR level (bit 14): an INIT with it clear is the legacy de-assert, a no-op.
const ICR_LEVEL_ASSERT: u64 = 1 << 14;

/// An ICR write, as the core's CPU power calls; `None` for the interrupt controller.
fn icr(value: u64, me: u32) -> Option<VcpuExit> {
    let mode = (value >> 8) & 7;
    let short = (value >> 18) & 3;
    let dest = value >> 32;
    match (mode, short) {
        (ICR_MODE_SIPI, ICR_SHORT_NONE) => Some(VcpuExit::CpuOn {
            target: dest,
            entry: (value & 0xff) << 12,
            arg: 0,
        }),
        (ICR_MODE_INIT, s)
            if value & ICR_LEVEL_ASSERT != 0
                && (s == ICR_SHORT_SELF || (s == ICR_SHORT_NONE && dest == u64::from(me))) =>
        {
            Some(VcpuExit::CpuOff)
        }
        _ => None,
    }
}

/// The guest-physical address of the xAPIC page's ICR_LOW (the page at its reset base).
const XAPIC_ICR_LOW: u64 = contract::LAPIC_GPA + 0x300;

/// A MOV that writes the xAPIC page's ICR_LOW (`e` its second-stage fault, `mov` the
/// decoded MOV, `icr_high` the vCPU's ICR_HIGH), as the core's CPU power calls: a
/// start-up IPI starts the vCPU ICR_HIGH names, as the x2APIC ICR's does
/// ([`icr`]); `None` for anything else (the interrupt controller's).
pub fn xapic_icr(
    e: &RawExit,
    g: &Gprs,
    mov: Option<MemMov>,
    icr_high: u32,
    me: u32,
) -> Option<VcpuExit> {
    let RawExit::Stage2Fault {
        gpa: XAPIC_ICR_LOW,
        access: AccessKind::Write,
    } = *e
    else {
        return None;
    };
    let m = mov?;
    let low = stored(&m, g) & 0xffff_ffff;
    icr(low | u64::from(icr_high >> 24) << 32, me)
}

fn width(w: exit::Width) -> Width {
    match w {
        exit::Width::B1 => Width::Byte,
        exit::Width::B2 => Width::Half,
        exit::Width::B4 => Width::Word,
        exit::Width::B8 => Width::Double,
    }
}

/// A port write that is a power request, if it is one.
fn power(port: u16, value: u32) -> Option<VcpuExit> {
    let s5 = u32::from(contract::SLP_TYP_S5);
    let pm1 = u32::from(contract::PM1_CNT_SLP_EN);
    let sleep_en = u32::from(contract::SLEEP_CONTROL_SLP_EN);
    match port {
        contract::PM1A_CNT_PORT
            if value & pm1 != 0 && (value >> contract::PM1_CNT_SLP_TYP_SHIFT) & 7 == s5 =>
        {
            Some(VcpuExit::SystemOff)
        }
        contract::SLEEP_CONTROL_PORT
            if value & sleep_en != 0
                && (value >> contract::SLEEP_CONTROL_SLP_TYP_SHIFT) & 7 == s5 =>
        {
            Some(VcpuExit::SystemOff)
        }
        contract::RESET_PORT if value & 0x04 != 0 => Some(VcpuExit::SystemReset),
        contract::KBC_PORT if value & 0xf1 == 0xf0 => Some(VcpuExit::SystemReset),
        _ => None,
    }
}

/// rtvisor's function ids: `0x8600_00nn` or `0xC600_00nn` (bit 30 the 64-bit form).
const HYP_OWNER_MASK: u64 = 0xffff_ffff_bfff_ff00;
const HYP_OWNER: u64 = 0x8600_0000;
const HYP_64: u64 = 0x4000_0000;

/// A VMCALL/VMMCALL.
fn hypercall(g: &Gprs) -> VcpuExit {
    let id = g.rax;
    if id & HYP_OWNER_MASK != HYP_OWNER {
        return VcpuExit::UnknownCall { id };
    }
    let w = |v: u64| if id & HYP_64 == 0 { v & 0xffff_ffff } else { v };
    VcpuExit::Hypercall {
        nr: id & 0xff,
        args: [w(g.rdi), w(g.rsi)],
    }
}

/// The value a decoded MOV stores: its immediate, or its register, narrowed (AH-BH:
/// bits 15:8).
fn stored(m: &MemMov, g: &Gprs) -> u64 {
    let (reg, high) = match m.operand {
        Operand::Imm(v) => return v & m.width.ones(),
        Operand::Reg { reg, high } => (reg, high),
    };
    let mut g = *g;
    let shift = if high { 8 } else { 0 };
    g.get_mut(reg).map_or(0, |r| (*r >> shift) & m.width.ones())
}

/// Maps exit `e` of a vCPU whose APIC id is `me`, with its registers `g` and, for a
/// second-stage fault, the MOV decoded at its RIP (`None`: not decodable).
pub fn adapt(e: &RawExit, g: &Gprs, mov: Option<MemMov>, me: u32) -> Adapted {
    let exit = match *e {
        // The backend steps string I/O element by element (`strio`) before it adapts
        // anything; one that reaches here is refused.
        RawExit::StringIo(_) => {
            return Adapted::Own(Answer::Inject {
                vector: exit::GP,
                error: Some(0),
            })
        }
        RawExit::Io {
            port,
            width: w,
            write,
            value,
        } => match write.then(|| power(port, value)).flatten() {
            Some(p) => p,
            None => VcpuExit::Pio {
                port,
                width: width(w),
                write,
                value: u64::from(value),
            },
        },
        RawExit::Msr { id, write, value } => {
            match (write && id == X2APIC_ICR)
                .then(|| icr(value, me))
                .flatten()
            {
                Some(p) => p,
                None => VcpuExit::SysReg {
                    id,
                    class: msr_class(id),
                    write,
                    value: if write { value } else { 0 },
                },
            }
        }
        RawExit::Cpuid { .. } => return Adapted::Own(Answer::Caller),
        RawExit::VirtInstruction | RawExit::CacheFlush => {
            return Adapted::Own(exit::default_answer(e))
        }
        RawExit::Hlt => VcpuExit::Halt,
        RawExit::Hypercall => hypercall(g),
        RawExit::Stage2Fault { gpa, access } => {
            let addr = Ipa::new(gpa);
            match (access, mov) {
                (AccessKind::Fetch, _) => VcpuExit::FetchFault { addr },
                (_, Some(m)) => VcpuExit::Mmio {
                    addr,
                    width: width(m.width),
                    write: m.write,
                    value: if m.write { stored(&m, g) } else { 0 },
                },
                (a, None) => VcpuExit::MemFault {
                    addr,
                    write: a == AccessKind::Write,
                },
            }
        }
        RawExit::TripleFault => VcpuExit::SystemReset,
        // The backend answers CR4 writes itself (`crate::cr`); any other trapped
        // control register write is not one the engines ask for.
        RawExit::CrWrite { cr, .. } => VcpuExit::Fatal {
            what: "control register write",
            code: u64::from(cr),
        },
        RawExit::CrRead { cr, .. } => VcpuExit::Fatal {
            what: "control register read",
            code: u64::from(cr),
        },
        // The backend answers XSETBV itself (`crate::xcr`), as it does CR4 writes.
        RawExit::Xsetbv { xcr, .. } => VcpuExit::Fatal {
            what: "xsetbv",
            code: u64::from(xcr),
        },
        RawExit::Init
        | RawExit::Sipi { .. }
        | RawExit::InterruptWindow
        | RawExit::VirtualEoi { .. }
        | RawExit::ExternalInterrupt => VcpuExit::Interrupt,
        RawExit::Unknown { code } => VcpuExit::Fatal {
            what: "unhandled exit",
            code,
        },
    };
    Adapted::Exit(exit)
}

#[cfg(test)]
mod tests;
