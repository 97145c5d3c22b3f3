//! Decoding an exception from a guest into a [`VcpuExit`].

use rtvisor_addr::Ipa;
use rtvisor_core::exit::{AccessWidth, Conduit, MmioAccess, SysRegAccess, SysRegId, VcpuExit};

/// Vector offsets grouped as the assembly numbers them: `kind / 4` is the source
/// (0 current EL SP0, 1 current EL SPx, 2 lower AArch64, 3 lower AArch32), `kind % 4`
/// the type (0 sync, 1 IRQ, 2 FIQ, 3 SError).
pub fn from_guest(kind: u64) -> bool {
    kind >= 8
}

/// Human name of a vector kind, for fatal reports.
pub fn kind_name(kind: u64) -> &'static str {
    const NAMES: [&str; 4] = ["synchronous", "irq", "fiq", "serror"];
    NAMES[(kind % 4) as usize]
}

/// Decodes the exit behind vector `kind` from ESR_EL2, FAR_EL2 and HPFAR_EL2.
pub fn decode(kind: u64) -> VcpuExit {
    match kind % 4 {
        1 | 2 => return VcpuExit::Interrupt,
        3 => {
            return VcpuExit::SError {
                syndrome: read_sysreg!(esr_el2),
            }
        }
        _ => {}
    }
    let esr = read_sysreg!(esr_el2);
    let iss = esr & 0x1ff_ffff;
    let field = |shift: u32, bits: u32| ((iss >> shift) & ((1 << bits) - 1)) as u8;
    match esr >> 26 & 0x3f {
        0x16 => VcpuExit::Call {
            conduit: Conduit::Hvc,
            imm: iss as u16,
        },
        0x17 => VcpuExit::Call {
            conduit: Conduit::Smc,
            imm: iss as u16,
        },
        0x18 => VcpuExit::SysReg(SysRegAccess {
            reg: SysRegId::new(
                field(20, 2),
                field(14, 3),
                field(10, 4),
                field(1, 4),
                field(17, 3),
            ),
            rt: field(5, 5),
            read: iss & 1 == 1,
        }),
        0x24 => {
            let far = read_sysreg!(far_el2);
            let access = (iss >> 24 & 1 == 1).then(|| MmioAccess {
                write: iss >> 6 & 1 == 1,
                width: [
                    AccessWidth::B1,
                    AccessWidth::B2,
                    AccessWidth::B4,
                    AccessWidth::B8,
                ][field(22, 2) as usize],
                reg: field(16, 5),
                sign_extend: iss >> 21 & 1 == 1,
                reg64: iss >> 15 & 1 == 1,
            });
            VcpuExit::DataAbort {
                ipa: fault_ipa(far),
                far,
                access,
                write: iss >> 6 & 1 == 1,
            }
        }
        0x20 => {
            let far = read_sysreg!(far_el2);
            VcpuExit::InstructionAbort {
                ipa: fault_ipa(far),
                far,
            }
        }
        0x01 => VcpuExit::Wfx,
        _ => VcpuExit::Unknown { syndrome: esr },
    }
}

/// The faulting IPA: page from HPFAR_EL2.FIPA, offset from FAR_EL2.
fn fault_ipa(far: u64) -> Ipa {
    let hpfar = read_sysreg!(hpfar_el2);
    Ipa::new(((hpfar >> 4) & 0xff_ffff_ffff) << 12 | (far & 0xfff))
}
