//! SVM exit codes and EXITINFO1/2 decoded into the vendor-neutral [`RawExit`] (AMD
//! APM volume 2, appendix C and section 15.10), with the address of the next
//! instruction where the hardware gives it or the instruction's length is fixed.

use crate::exit::{AccessKind, Decoded, RawExit, Regs3, Width};

pub mod code {
    /// MOV from CR0..CR15: the register.
    pub const READ_CR0: u64 = 0x00;
    pub const READ_CR15: u64 = 0x0F;
    /// MOV to CR0..CR15: 0x10 + the register.
    pub const WRITE_CR0: u64 = 0x10;
    pub const WRITE_CR15: u64 = 0x1F;
    pub const INTR: u64 = 0x60;
    pub const NMI: u64 = 0x61;
    pub const INIT: u64 = 0x63;
    pub const VINTR: u64 = 0x64;
    pub const CPUID: u64 = 0x72;
    pub const INVD: u64 = 0x76;
    pub const HLT: u64 = 0x78;
    pub const INVLPGA: u64 = 0x7A;
    pub const IOIO: u64 = 0x7B;
    pub const MSR: u64 = 0x7C;
    pub const SHUTDOWN: u64 = 0x7F;
    pub const VMRUN: u64 = 0x80;
    pub const VMMCALL: u64 = 0x81;
    pub const VMLOAD: u64 = 0x82;
    pub const VMSAVE: u64 = 0x83;
    pub const STGI: u64 = 0x84;
    pub const CLGI: u64 = 0x85;
    pub const SKINIT: u64 = 0x86;
    pub const WBINVD: u64 = 0x89;
    pub const XSETBV: u64 = 0x8D;
    pub const NPF: u64 = 0x400;
    /// VMRUN refused the VMCB (a consistency check failed).
    pub const INVALID: u64 = u64::MAX;
}

/// What the exit left in the VMCB and the guest's registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitState {
    pub code: u64,
    pub info1: u64,
    pub info2: u64,
    pub rip: u64,
    /// The VMCB's next-RIP field, when the CPU has NRIPS (else 0).
    pub next_rip: u64,
    pub regs: Regs3,
}

/// Bytes of the fixed-length instructions the intercepts catch (without prefixes).
fn fixed_len(code: u64) -> Option<u64> {
    Some(match code {
        code::CPUID | code::MSR | code::INVD | code::WBINVD => 2,
        code::HLT => 1,
        code::XSETBV => 3,
        code::VMRUN..=code::SKINIT | code::INVLPGA => 3,
        _ => return None,
    })
}

pub fn decode(s: &ExitState) -> Decoded {
    let exit = match s.code {
        code::IOIO => {
            let info = s.info1;
            let width = if info & (1 << 4) != 0 {
                Some(Width::B1)
            } else if info & (1 << 5) != 0 {
                Some(Width::B2)
            } else if info & (1 << 6) != 0 {
                Some(Width::B4)
            } else {
                None
            };
            match width {
                Some(width) if info & (3 << 2) == 0 => {
                    RawExit::io((info >> 16) as u16, width, info & 1 == 0, s.regs)
                }
                // String and REP forms.
                _ => crate::strio::from_svm(info)
                    .map_or(RawExit::Unknown { code: s.code }, RawExit::StringIo),
            }
        }
        code::MSR => RawExit::msr(s.info1 & 1 != 0, s.regs),
        code::CPUID => RawExit::cpuid(s.regs),
        code::XSETBV => RawExit::xsetbv(s.regs),
        code::HLT => RawExit::Hlt,
        code::INVD | code::WBINVD => RawExit::CacheFlush,
        code::VMMCALL => RawExit::Hypercall,
        code::NPF => RawExit::Stage2Fault {
            gpa: s.info2,
            access: if s.info1 & (1 << 4) != 0 {
                AccessKind::Fetch
            } else if s.info1 & (1 << 1) != 0 {
                AccessKind::Write
            } else {
                AccessKind::Read
            },
        },
        // With decode assists EXITINFO1 bit 63 says bits 3:0 name the register.
        code::WRITE_CR0..=code::WRITE_CR15 => RawExit::CrWrite {
            cr: (s.code - code::WRITE_CR0) as u8,
            gpr: (s.info1 >> 63 != 0).then_some((s.info1 & 0xF) as u8),
        },
        code::READ_CR0..=code::READ_CR15 => RawExit::CrRead {
            cr: (s.code - code::READ_CR0) as u8,
            gpr: (s.info1 >> 63 != 0).then_some((s.info1 & 0xF) as u8),
        },
        code::INIT => RawExit::Init,
        code::SHUTDOWN => RawExit::TripleFault,
        code::VINTR => RawExit::InterruptWindow,
        code::INTR | code::NMI => RawExit::ExternalInterrupt,
        code::VMRUN..=code::SKINIT | code::INVLPGA => RawExit::VirtInstruction,
        c => RawExit::Unknown { code: c },
    };
    let next_rip = match exit {
        // The I/O intercept always gives the next RIP in EXITINFO2.
        RawExit::Io { .. } | RawExit::StringIo(_) => Some(s.info2),
        _ if s.next_rip != 0 => Some(s.next_rip),
        _ => fixed_len(s.code).map(|n| s.rip.wrapping_add(n)),
    };
    Decoded { exit, next_rip }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(code: u64, info1: u64, info2: u64) -> ExitState {
        ExitState {
            code,
            info1,
            info2,
            rip: 0x1000,
            regs: Regs3 {
                rax: 0x1_2345_6741,
                rcx: 0xC000_0080,
                rdx: 0xAB,
            },
            ..ExitState::default()
        }
    }

    #[test]
    fn io() {
        // OUT dx, al to 0x3F8: type 0 (out), SZ8, port in 31:16; next RIP in info2.
        let d = decode(&st(code::IOIO, 0x03F8_0000 | 1 << 4, 0x1001));
        assert_eq!(
            d.exit,
            RawExit::Io {
                port: 0x3F8,
                width: Width::B1,
                write: true,
                value: 0x41
            }
        );
        assert_eq!(d.next_rip, Some(0x1001));
        // IN eax, dx from 0x510.
        let d = decode(&st(code::IOIO, 0x0510_0000 | 1 << 6 | 1, 0x1002));
        assert_eq!(
            d.exit,
            RawExit::Io {
                port: 0x510,
                width: Width::B4,
                write: false,
                value: 0
            }
        );
        // REP OUTSB with 64-bit addresses; the next RIP from EXITINFO2.
        let d = decode(&st(
            code::IOIO,
            0x03F8_0000 | 1 << 4 | 1 << 3 | 1 << 2 | 1 << 9,
            0x1001,
        ));
        assert!(matches!(
            d.exit,
            RawExit::StringIo(crate::strio::StringIo {
                port: 0x3f8,
                write: true,
                rep: true,
                addr_bytes: Some(8),
                ..
            })
        ));
        assert_eq!(d.next_rip, Some(0x1001));
        // A string form without a size is not decoded.
        let d = decode(&st(code::IOIO, 0x03F8_0000 | 1 << 2 | 1 << 9, 0x1001));
        assert_eq!(d.exit, RawExit::Unknown { code: code::IOIO });
    }

    #[test]
    fn msr_cpuid_hlt_hypercall() {
        let d = decode(&st(code::MSR, 1, 0));
        assert_eq!(
            d.exit,
            RawExit::Msr {
                id: 0xC000_0080,
                write: true,
                value: 0xAB_2345_6741
            }
        );
        assert_eq!(d.next_rip, Some(0x1002));
        let d = decode(&st(code::CPUID, 0, 0));
        assert_eq!(
            d.exit,
            RawExit::Cpuid {
                leaf: 0x2345_6741,
                sub: 0xC000_0080
            }
        );
        assert_eq!(decode(&st(code::HLT, 0, 0)).next_rip, Some(0x1001));
        for c in [code::INVD, code::WBINVD] {
            let d = decode(&st(c, 0, 0));
            assert_eq!((d.exit, d.next_rip), (RawExit::CacheFlush, Some(0x1002)));
        }
        // XSETBV (0F 01 D1): three bytes without NRIPS.
        let d = decode(&st(code::XSETBV, 0, 0));
        assert!(matches!(
            d.exit,
            RawExit::Xsetbv {
                xcr: 0xC000_0080,
                ..
            }
        ));
        assert_eq!(d.next_rip, Some(0x1003));
        let d = decode(&st(code::VMMCALL, 0, 0));
        assert_eq!((d.exit, d.next_rip), (RawExit::Hypercall, Some(0x1003)));
        // NRIPS wins over the fixed length (a prefixed instruction).
        let mut s = st(code::CPUID, 0, 0);
        s.next_rip = 0x1003;
        assert_eq!(decode(&s).next_rip, Some(0x1003));
    }

    #[test]
    fn faults_and_events() {
        let d = decode(&st(code::NPF, 0x4, 0x4000_0000));
        assert_eq!(
            d.exit,
            RawExit::Stage2Fault {
                gpa: 0x4000_0000,
                access: AccessKind::Read
            }
        );
        assert_eq!(d.next_rip, None);
        let w = decode(&st(code::NPF, 0x6, 0x8)).exit;
        assert!(matches!(
            w,
            RawExit::Stage2Fault {
                access: AccessKind::Write,
                ..
            }
        ));
        let f = decode(&st(code::NPF, 0x14, 0x8)).exit;
        assert!(matches!(
            f,
            RawExit::Stage2Fault {
                access: AccessKind::Fetch,
                ..
            }
        ));
        assert_eq!(decode(&st(code::SHUTDOWN, 0, 0)).exit, RawExit::TripleFault);
        // A CR4 write: without decode assists no register and no next RIP.
        let d = decode(&st(0x14, 0, 0));
        assert_eq!(d.exit, RawExit::CrWrite { cr: 4, gpr: None });
        assert_eq!(d.next_rip, None);
        let d = decode(&st(0x14, 1 << 63 | 11, 0));
        assert_eq!(
            d.exit,
            RawExit::CrWrite {
                cr: 4,
                gpr: Some(11)
            }
        );
        assert_eq!(decode(&st(code::INIT, 0, 0)).exit, RawExit::Init);
        assert_eq!(
            decode(&st(code::INTR, 0, 0)).exit,
            RawExit::ExternalInterrupt
        );
        for c in [code::VMRUN, code::VMLOAD, code::CLGI, code::SKINIT] {
            assert_eq!(decode(&st(c, 0, 0)).exit, RawExit::VirtInstruction);
        }
        assert_eq!(
            decode(&st(code::INVALID, 0, 0)).exit,
            RawExit::Unknown {
                code: code::INVALID
            }
        );
    }
}
