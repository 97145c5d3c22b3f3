//! String port I/O: INS and OUTS, with or without a REP prefix, decoded from either
//! vendor's exit information into one [`StringIo`], then stepped element by element
//! by the backend, each element one port access through the VM's port table.
//!
//! Per element, OUTS reads `width` bytes at RSI (in DS) and writes them to the port;
//! INS reads the port and stores at RDI (in ES). After each, RSI or RDI moves by the
//! width, up when RFLAGS.DF is clear and down when set; with REP, RCX counts the
//! elements left and the instruction ends when it reaches 0 (0 at the start: nothing
//! is done). Only the low `addr_bytes` of RSI, RDI and RCX take part and change, as
//! the address size says. An exit does at most `max` elements ([`plan`]); when more
//! are left the backend leaves RIP on the instruction, so the guest runs it again and
//! exits again (interrupts and stops are taken in between, as between two exits).
//!
//! Addresses are the guest's linear ones; the backend takes them as guest-physical,
//! as it does RIP (the guests run with paging off or on an identity map), with the
//! segment base 0 (long mode, or the flat segments of the PVH entry).
//!
//! Encodings (tables below): Intel SDM vol. 3, table 28-5 (the I/O exit
//! qualification: bits 2:0 size - 1, bit 3 IN, bit 4 string, bit 5 REP, bits 31:16
//! the port) and table 28-8 (the VM-exit instruction information of INS/OUTS: bits
//! 9:7 the address size, 0 16-bit, 1 32-bit, 2 64-bit); AMD APM vol. 2, 15.10.2
//! (EXITINFO1 of IOIO: bit 0 IN, bit 2 string, bit 3 REP, bits 6:4 one-hot size 8, 16,
//! 32, bits 9:7 one-hot address size 16, 32, 64, bits 31:16 the port).

use crate::exit::Width;

/// One INS or OUTS, as the exit described it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringIo {
    pub port: u16,
    pub width: Width,
    /// OUTS (memory to port); else INS (port to memory).
    pub write: bool,
    /// A REP prefix: RCX elements.
    pub rep: bool,
    /// The address size in bytes: 2, 4 or 8; `None` when the exit gave none that
    /// decodes (SVM's one-hot A16/A32/A64 bits, which QEMU 7.2's TCG does not fill
    /// as AMD documents): [`StringIo::in_mode`] then takes the vCPU's mode.
    pub addr_bytes: Option<u8>,
}

/// The registers a string instruction reads and moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StringRegs {
    pub rsi: u64,
    pub rdi: u64,
    pub rcx: u64,
    pub rflags: u64,
}

/// RFLAGS.DF: the string moves down.
pub const RFLAGS_DF: u64 = 1 << 10;

/// The most elements one exit does before the guest runs the instruction again.
pub const MAX_PER_EXIT: u64 = 64;

/// VMX: the access size by qualification bits 2:0.
const VMX_WIDTH: [Option<Width>; 8] = [
    Some(Width::B1),
    Some(Width::B2),
    None,
    Some(Width::B4),
    None,
    None,
    None,
    None,
];
/// VMX: the address size in bytes by instruction-information bits 9:7.
const VMX_ADDR: [Option<u8>; 8] = [Some(2), Some(4), Some(8), None, None, None, None, None];
/// SVM: (bit of EXITINFO1, meaning), the one-hot sizes.
const SVM_WIDTH: [(u32, Width); 3] = [(4, Width::B1), (5, Width::B2), (6, Width::B4)];
const SVM_ADDR: [(u32, u8); 3] = [(7, 2), (8, 4), (9, 8)];

/// The one entry of `table` whose bit is set in `info`, if exactly one is.
fn one_hot<T: Copy>(info: u64, table: &[(u32, T)]) -> Option<T> {
    let mut set = table.iter().filter(|(bit, _)| info >> bit & 1 != 0);
    match (set.next(), set.next()) {
        (Some(&(_, v)), None) => Some(v),
        _ => None,
    }
}

/// A VMX I/O exit (`qualification`, and the VM-exit instruction information `info`)
/// that is a string instruction; `None` for plain IN/OUT or a malformed encoding.
pub fn from_vmx(qualification: u64, info: u32) -> Option<StringIo> {
    if qualification & 1 << 4 == 0 {
        return None;
    }
    Some(StringIo {
        port: (qualification >> 16) as u16,
        width: VMX_WIDTH[(qualification & 7) as usize]?,
        write: qualification & 1 << 3 == 0,
        rep: qualification & 1 << 5 != 0,
        addr_bytes: Some(VMX_ADDR[(info >> 7 & 7) as usize]?),
    })
}

/// An SVM IOIO exit's EXITINFO1 that is a string instruction; `None` for plain IN/OUT
/// or a malformed encoding.
pub fn from_svm(info1: u64) -> Option<StringIo> {
    if info1 & 1 << 2 == 0 {
        return None;
    }
    Some(StringIo {
        port: (info1 >> 16) as u16,
        width: one_hot(info1, &SVM_WIDTH)?,
        write: info1 & 1 == 0,
        rep: info1 & 1 << 3 != 0,
        addr_bytes: one_hot(info1, &SVM_ADDR),
    })
}

/// What one exit does: `count` elements; `done`: the instruction is finished (RIP
/// moves past it), else it runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub count: u64,
    pub done: bool,
}

impl StringIo {
    /// With the address size the exit gave, else the vCPU's default one: 8 bytes in
    /// 64-bit mode (`bits64`: EFER.LMA and CS.L), else 4 (compatibility mode, and the
    /// flat 32-bit segments of the PVH entry).
    pub fn in_mode(self, bits64: bool) -> StringIo {
        StringIo {
            addr_bytes: Some(self.addr_bytes.unwrap_or(if bits64 { 8 } else { 4 })),
            ..self
        }
    }

    /// The mask of the address size.
    fn mask(&self) -> u64 {
        match self.addr_bytes {
            Some(2) => 0xffff,
            Some(4) => 0xffff_ffff,
            _ => u64::MAX,
        }
    }

    /// How much of the instruction this exit does, at most `max` elements.
    pub fn plan(&self, r: &StringRegs, max: u64) -> Plan {
        if !self.rep {
            return Plan {
                count: 1,
                done: true,
            };
        }
        let left = r.rcx & self.mask();
        let count = left.min(max);
        Plan {
            count,
            done: count == left,
        }
    }

    /// The guest address of element `i` (0 the first) from `r`.
    pub fn address(&self, r: &StringRegs, i: u64) -> u64 {
        let base = if self.write { r.rsi } else { r.rdi };
        let step = (self.width as u64).wrapping_mul(i);
        let a = if r.rflags & RFLAGS_DF != 0 {
            base.wrapping_sub(step)
        } else {
            base.wrapping_add(step)
        };
        a & self.mask()
    }

    /// The registers after `n` elements: RSI (OUTS) or RDI (INS) moved by `n`
    /// widths, RCX down by `n` with REP; the bits above the address size unchanged.
    pub fn advance(&self, r: &StringRegs, n: u64) -> StringRegs {
        let m = self.mask();
        let keep = |old: u64, new: u64| (old & !m) | (new & m);
        let moved = self.address(r, n);
        let mut out = *r;
        if self.write {
            out.rsi = keep(r.rsi, moved);
        } else {
            out.rdi = keep(r.rdi, moved);
        }
        if self.rep {
            out.rcx = keep(r.rcx, r.rcx.wrapping_sub(n));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (VMX qualification, instruction information, SVM EXITINFO1, the decoded form).
    const CASES: &[(u64, u32, u64, Option<StringIo>)] = &[
        // REP OUTSB to COM1, 64-bit addresses.
        (
            0x03f8_0030,
            2 << 7,
            0x03f8_0000 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 9,
            Some(StringIo {
                port: 0x3f8,
                width: Width::B1,
                write: true,
                rep: true,
                addr_bytes: Some(8),
            }),
        ),
        // INSW from 0x1f0 without REP, 32-bit addresses.
        (
            0x01f0_0019,
            1 << 7,
            0x01f0_0000 | 1 | 1 << 2 | 1 << 5 | 1 << 8,
            Some(StringIo {
                port: 0x1f0,
                width: Width::B2,
                write: false,
                rep: false,
                addr_bytes: Some(4),
            }),
        ),
        // REP INSD, 16-bit addresses.
        (
            0x0080_003b,
            0,
            0x0080_0000 | 1 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 7,
            Some(StringIo {
                port: 0x80,
                width: Width::B4,
                write: false,
                rep: true,
                addr_bytes: Some(2),
            }),
        ),
        // Plain OUT: not a string.
        (0x03f8_0000, 0, 0x03f8_0000 | 1 << 4 | 1 << 9, None),
    ];

    #[test]
    fn both_vendors_decode_the_same_instructions() {
        for &(q, info, info1, want) in CASES {
            assert_eq!(from_vmx(q, info), want, "vmx {q:#x} {info:#x}");
            assert_eq!(from_svm(info1), want, "svm {info1:#x}");
        }
    }

    #[test]
    fn malformed_encodings_are_refused() {
        // VMX: size encoding 2 (reserved), address size 3 (reserved).
        assert_eq!(from_vmx(0x03f8_0012, 2 << 7), None);
        assert_eq!(from_vmx(0x03f8_0010, 3 << 7), None);
        // SVM: no size bit, two size bits.
        assert_eq!(from_svm(0x03f8_0000 | 1 << 2 | 1 << 9), None);
        assert_eq!(from_svm(0x03f8_0000 | 1 << 2 | 3 << 4 | 1 << 9), None);
    }

    #[test]
    fn a_missing_address_size_is_the_vcpus_mode() {
        // OUTSB with no A16/A32/A64 bit set (bit 10 is the segment field's).
        let s = from_svm(0x03f8_0000 | 1 << 2 | 1 << 4 | 1 << 10).unwrap();
        assert_eq!(s.addr_bytes, None);
        assert_eq!(s.in_mode(true).addr_bytes, Some(8));
        assert_eq!(s.in_mode(false).addr_bytes, Some(4));
        // A size the exit gave stays.
        let given = from_svm(0x03f8_0000 | 1 << 2 | 1 << 4 | 1 << 7).unwrap();
        assert_eq!(given.in_mode(true).addr_bytes, Some(2));
    }

    fn outsb(rep: bool, addr_bytes: u8) -> StringIo {
        StringIo {
            port: 0x3f8,
            width: Width::B1,
            write: true,
            rep,
            addr_bytes: Some(addr_bytes),
        }
    }

    #[test]
    fn rep_counts_are_split_across_exits_and_zero_does_nothing() {
        let r = |rcx| StringRegs {
            rcx,
            ..StringRegs::default()
        };
        let s = outsb(true, 8);
        assert_eq!(
            s.plan(&r(10), 64),
            Plan {
                count: 10,
                done: true
            }
        );
        assert_eq!(
            s.plan(&r(100), 64),
            Plan {
                count: 64,
                done: false
            }
        );
        assert_eq!(
            s.plan(&r(0), 64),
            Plan {
                count: 0,
                done: true
            }
        );
        // Only ECX counts with 32-bit addresses.
        assert_eq!(
            outsb(true, 4).plan(&r(0xffff_ffff_0000_0003), 64),
            Plan {
                count: 3,
                done: true
            }
        );
        // Without REP, one element whatever RCX says.
        assert_eq!(
            outsb(false, 8).plan(&r(0), 64),
            Plan {
                count: 1,
                done: true
            }
        );
    }

    #[test]
    fn addresses_move_with_the_direction_flag_within_the_address_size() {
        let s = StringIo {
            width: Width::B4,
            write: false,
            ..outsb(true, 8)
        };
        let up = StringRegs {
            rsi: 0x9999,
            rdi: 0x1000,
            rcx: 5,
            rflags: 0x2,
        };
        assert_eq!(s.address(&up, 0), 0x1000);
        assert_eq!(s.address(&up, 2), 0x1008);
        let after = s.advance(&up, 3);
        assert_eq!((after.rdi, after.rcx, after.rsi), (0x100c, 2, 0x9999));
        let down = StringRegs {
            rflags: 0x2 | RFLAGS_DF,
            ..up
        };
        assert_eq!(s.address(&down, 1), 0xffc);
        assert_eq!(s.advance(&down, 5).rdi, 0xfec);
        // 16-bit addresses wrap within SI/DI; the upper bits stay.
        let s16 = outsb(true, 2);
        let r = StringRegs {
            rsi: 0xdead_0000_0000_ffff,
            rcx: 0x7777_0000_0000_0002,
            ..StringRegs::default()
        };
        assert_eq!(s16.address(&r, 1), 0);
        let a = s16.advance(&r, 2);
        assert_eq!(a.rsi, 0xdead_0000_0000_0001);
        assert_eq!(a.rcx, 0x7777_0000_0000_0000);
    }
}
