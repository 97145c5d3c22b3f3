//! VMX exit reasons and qualifications decoded into the vendor-neutral [`RawExit`]
//! (Intel SDM volume 3, appendix C and section 28.2), with the next RIP from the
//! exit's instruction length where the exit reports one.

use crate::exit::{AccessKind, Decoded, RawExit, Regs3, Width};

pub mod reason {
    pub const EXCEPTION_NMI: u32 = 0;
    pub const EXTERNAL_INTERRUPT: u32 = 1;
    pub const TRIPLE_FAULT: u32 = 2;
    pub const INIT: u32 = 3;
    pub const SIPI: u32 = 4;
    pub const INTERRUPT_WINDOW: u32 = 7;
    pub const CPUID: u32 = 10;
    pub const HLT: u32 = 12;
    pub const INVD: u32 = 13;
    pub const CR_ACCESS: u32 = 28;
    pub const VMCALL: u32 = 18;
    pub const VMCLEAR: u32 = 19;
    pub const VMXON: u32 = 27;
    pub const IO: u32 = 30;
    pub const RDMSR: u32 = 31;
    pub const WRMSR: u32 = 32;
    pub const EPT_VIOLATION: u32 = 48;
    pub const INVEPT: u32 = 50;
    /// EOI virtualization retired a vector whose EOI-exit bitmap bit is set.
    pub const VIRTUALIZED_EOI: u32 = 45;
    pub const INVVPID: u32 = 53;
    pub const WBINVD: u32 = 54;
    pub const XSETBV: u32 = 55;
    pub const VMFUNC: u32 = 59;
    pub const PREEMPTION_TIMER: u32 = 52;
}

/// Bit 31 of the exit reason: the VM entry failed.
pub const ENTRY_FAILED: u32 = 1 << 31;

/// What the exit left in the VMCS and the guest's registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitState {
    pub reason: u32,
    pub qualification: u64,
    /// VM-exit interruption information (for exception/NMI exits).
    pub intr_info: u32,
    pub gpa: u64,
    pub rip: u64,
    pub instruction_len: u32,
    /// VM-exit instruction information (for INS/OUTS: the address size).
    pub insn_info: u32,
    pub regs: Regs3,
}

/// Whether the exit reason is a VMX instruction in the guest (VMCLEAR..VMXON,
/// INVEPT, INVVPID, VMFUNC).
fn vmx_instruction(r: u32) -> bool {
    matches!(
        r,
        reason::VMCLEAR..=reason::VMXON | reason::INVEPT | reason::INVVPID | reason::VMFUNC
    )
}

pub fn decode(s: &ExitState) -> Decoded {
    let r = s.reason & 0xFFFF;
    let q = s.qualification;
    let exit = if s.reason & ENTRY_FAILED != 0 {
        RawExit::Unknown {
            code: u64::from(s.reason),
        }
    } else {
        match r {
            reason::IO => match (Width::from_bytes((q & 7) as u8 + 1), q & (3 << 4)) {
                (Some(width), 0) => RawExit::io((q >> 16) as u16, width, q & (1 << 3) == 0, s.regs),
                _ => crate::strio::from_vmx(q, s.insn_info)
                    .map_or(RawExit::Unknown { code: r.into() }, RawExit::StringIo),
            },
            reason::RDMSR | reason::WRMSR => RawExit::msr(r == reason::WRMSR, s.regs),
            reason::CPUID => RawExit::cpuid(s.regs),
            reason::XSETBV => RawExit::xsetbv(s.regs),
            reason::HLT => RawExit::Hlt,
            reason::INVD | reason::WBINVD => RawExit::CacheFlush,
            // MOV to CR (access type 0): the CR in bits 3:0, the register in 11:8.
            reason::CR_ACCESS if q >> 4 & 3 == 0 => RawExit::CrWrite {
                cr: (q & 0xF) as u8,
                gpr: Some((q >> 8 & 0xF) as u8),
            },
            // MOV from CR (access type 1).
            reason::CR_ACCESS if q >> 4 & 3 == 1 => RawExit::CrRead {
                cr: (q & 0xF) as u8,
                gpr: Some((q >> 8 & 0xF) as u8),
            },
            reason::VMCALL => RawExit::Hypercall,
            reason::EPT_VIOLATION => RawExit::Stage2Fault {
                gpa: s.gpa,
                access: if q & 4 != 0 {
                    AccessKind::Fetch
                } else if q & 2 != 0 {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                },
            },
            reason::TRIPLE_FAULT => RawExit::TripleFault,
            reason::INIT => RawExit::Init,
            reason::SIPI => RawExit::Sipi { vector: q as u8 },
            reason::INTERRUPT_WINDOW => RawExit::InterruptWindow,
            reason::VIRTUALIZED_EOI => RawExit::VirtualEoi { vector: q as u8 },
            // The preemption timer stands for the hypervisor's own timer.
            reason::EXTERNAL_INTERRUPT | reason::PREEMPTION_TIMER => RawExit::ExternalInterrupt,
            // An NMI (interruption type 2) that hit the guest.
            reason::EXCEPTION_NMI if s.intr_info >> 8 & 7 == 2 => RawExit::ExternalInterrupt,
            r if vmx_instruction(r) => RawExit::VirtInstruction,
            r => RawExit::Unknown { code: r.into() },
        }
    };
    let next_rip = match exit {
        RawExit::Io { .. }
        | RawExit::StringIo(_)
        | RawExit::Msr { .. }
        | RawExit::Cpuid { .. }
        | RawExit::Hlt
        | RawExit::Hypercall
        | RawExit::CrWrite { .. }
        | RawExit::CrRead { .. }
        | RawExit::CacheFlush
        | RawExit::Xsetbv { .. }
        | RawExit::VirtInstruction => Some(s.rip.wrapping_add(u64::from(s.instruction_len))),
        _ => None,
    };
    Decoded { exit, next_rip }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(reason: u32, qualification: u64) -> ExitState {
        ExitState {
            reason,
            qualification,
            rip: 0x1000,
            instruction_len: 2,
            regs: Regs3 {
                rax: 0xFFFF_FF41,
                rcx: 0xC001_DEAD,
                rdx: 1,
            },
            gpa: 0x4000_0000,
            ..ExitState::default()
        }
    }

    #[test]
    fn io_and_msrs() {
        // OUT dx, al to 0x3F8: size 0 (1 byte), direction 0 (out).
        let d = decode(&st(reason::IO, 0x03F8_0000));
        assert_eq!(
            d.exit,
            RawExit::Io {
                port: 0x3F8,
                width: Width::B1,
                write: true,
                value: 0x41
            }
        );
        assert_eq!(d.next_rip, Some(0x1002));
        // IN eax, dx: size 3 (4 bytes), direction 1.
        let d = decode(&st(reason::IO, 0x0510_0000 | 8 | 3));
        assert!(matches!(
            d.exit,
            RawExit::Io {
                port: 0x510,
                width: Width::B4,
                write: false,
                ..
            }
        ));
        // String I/O (OUTSB; no instruction information: 16-bit addresses).
        let d = decode(&st(reason::IO, 0x03F8_0010));
        assert!(matches!(
            d.exit,
            RawExit::StringIo(crate::strio::StringIo {
                port: 0x3f8,
                write: true,
                rep: false,
                addr_bytes: Some(2),
                ..
            })
        ));
        assert_eq!(d.next_rip, Some(0x1002));
        // Size 2 (3 bytes) does not exist.
        assert!(matches!(
            decode(&st(reason::IO, 0x03F8_0002)).exit,
            RawExit::Unknown { .. }
        ));
        assert_eq!(
            decode(&st(reason::WRMSR, 0)).exit,
            RawExit::Msr {
                id: 0xC001_DEAD,
                write: true,
                value: 0x1_FFFF_FF41
            }
        );
    }

    #[test]
    fn the_rest() {
        let d = decode(&st(reason::EPT_VIOLATION, 0x82));
        assert_eq!(
            d.exit,
            RawExit::Stage2Fault {
                gpa: 0x4000_0000,
                access: AccessKind::Write
            }
        );
        assert_eq!(d.next_rip, None);
        assert_eq!(
            decode(&st(reason::VMCALL, 0)).next_rip,
            Some(0x1002),
            "VMCALL's length comes from the exit"
        );
        assert_eq!(
            decode(&st(reason::TRIPLE_FAULT, 0)).exit,
            RawExit::TripleFault
        );
        assert_eq!(
            decode(&st(reason::SIPI, 0x9E)).exit,
            RawExit::Sipi { vector: 0x9E }
        );
        assert_eq!(
            decode(&st(reason::VIRTUALIZED_EOI, 0x61)).exit,
            RawExit::VirtualEoi { vector: 0x61 }
        );
        for r in [19, 24, 27, reason::INVEPT, reason::VMFUNC] {
            assert_eq!(decode(&st(r, 0)).exit, RawExit::VirtInstruction);
        }
        for r in [reason::INVD, reason::WBINVD] {
            let d = decode(&st(r, 0));
            assert_eq!((d.exit, d.next_rip), (RawExit::CacheFlush, Some(0x1002)));
        }
        // XSETBV: ECX names the register, EDX:EAX the value (upper halves dropped).
        let mut s = st(reason::XSETBV, 0);
        s.instruction_len = 3;
        s.regs.rdx = 0xFFFF_FFFF_0000_0002;
        let d = decode(&s);
        assert_eq!(
            (d.exit, d.next_rip),
            (
                RawExit::Xsetbv {
                    xcr: 0xC001_DEAD,
                    value: 0x2_FFFF_FF41
                },
                Some(0x1003)
            )
        );
        // mov cr4, r9; mov rdx, cr8 (type 1); CLTS (type 2) is not one the controls
        // trap.
        let d = decode(&st(reason::CR_ACCESS, 0x904));
        assert_eq!(
            d.exit,
            RawExit::CrWrite {
                cr: 4,
                gpr: Some(9)
            }
        );
        assert_eq!(d.next_rip, Some(0x1002));
        let d = decode(&st(reason::CR_ACCESS, 0x218));
        assert_eq!(
            d.exit,
            RawExit::CrRead {
                cr: 8,
                gpr: Some(2)
            }
        );
        assert_eq!(d.next_rip, Some(0x1002));
        assert!(matches!(
            decode(&st(reason::CR_ACCESS, 0x20)).exit,
            RawExit::Unknown { code: 28 }
        ));
        let mut nmi = st(reason::EXCEPTION_NMI, 0);
        nmi.intr_info = 0x8000_0202;
        assert_eq!(decode(&nmi).exit, RawExit::ExternalInterrupt);
        nmi.intr_info = 0x8000_030D;
        assert_eq!(decode(&nmi).exit, RawExit::Unknown { code: 0 });
        assert_eq!(
            decode(&st(ENTRY_FAILED | 33, 0)).exit,
            RawExit::Unknown { code: 0x8000_0021 }
        );
    }
}
