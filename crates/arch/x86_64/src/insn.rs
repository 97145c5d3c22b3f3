//! The MOV instructions whose memory access the hypervisor completes by hand after a
//! second-stage fault (unclaimed MMIO): MOV between a general-purpose register and
//! memory, and MOV of an immediate to memory (C6 /0, C7 /0: what a compiler emits
//! for a constant store such as an EOI), in the forms compilers emit for device
//! registers, in 32-bit code and in 64-bit code (REX prefixes: 8-byte moves, R8-R15,
//! SPL-DIL). Table-driven; anything
//! else is `None` and the caller contains the guest another way. Neither vendor
//! reports the length or the register of a faulting MOV (AMD without decode assists,
//! Intel for EPT violations), so the bytes at the guest's RIP are decoded here.
//!
//! ```text
//! [prefixes: 66 operand size, 67 address size, segment overrides] [REX, 64-bit only]
//! opcode (TABLE) [ModRM [SIB] [disp8 | disp32]] | [moffs: 4 bytes, 8 in 64-bit code]
//! ```

use crate::exit::Width;

/// A decoded MOV to or from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemMov {
    /// Bytes of the whole instruction.
    pub len: u8,
    pub write: bool,
    pub width: Width,
    /// The register loaded or stored, or the immediate stored.
    pub operand: Operand,
}

/// The other side of a [`MemMov`]: a register (a load's destination, a store's
/// source) or, for a store only, an immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    Reg {
        /// 0 = rAX, 1 = rCX, 2 = rDX, 3 = rBX, 4 = rSP, 5 = rBP, 6 = rSI, 7 = rDI,
        /// 8-15 = R8-R15; with `high`, AH-BH's register (0-3).
        reg: u8,
        /// A byte move of AH, CH, DH or BH (bits 15:8 of `reg`): ModRM reg 4-7
        /// without a REX prefix.
        high: bool,
    },
    /// Stored: the immediate, sign-extended to the width.
    Imm(u64),
}

impl MemMov {
    /// The register it loads or stores (`None`: it stores an immediate).
    pub const fn reg(&self) -> Option<(u8, bool)> {
        match self.operand {
            Operand::Reg { reg, high } => Some((reg, high)),
            Operand::Imm(_) => None,
        }
    }
}

/// The code a MOV runs in: its default operand and address size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 32-bit protected mode (CS.D set), or compatibility mode.
    Bits32,
    /// 64-bit mode (EFER.LMA and CS.L): REX prefixes, 8-byte addresses.
    Bits64,
}

/// One opcode: writes memory, byte-sized, has a ModRM byte (else a moffs address
/// with rAX/AL), stores an immediate (its ModRM reg field must be 0).
struct Op {
    opcode: u8,
    write: bool,
    byte: bool,
    modrm: bool,
    imm: bool,
}

const TABLE: &[Op] = &[
    Op {
        opcode: 0x88,
        write: true,
        byte: true,
        modrm: true,
        imm: false,
    },
    Op {
        opcode: 0x89,
        write: true,
        byte: false,
        modrm: true,
        imm: false,
    },
    Op {
        opcode: 0x8A,
        write: false,
        byte: true,
        modrm: true,
        imm: false,
    },
    Op {
        opcode: 0x8B,
        write: false,
        byte: false,
        modrm: true,
        imm: false,
    },
    Op {
        opcode: 0xA0,
        write: false,
        byte: true,
        modrm: false,
        imm: false,
    },
    Op {
        opcode: 0xA1,
        write: false,
        byte: false,
        modrm: false,
        imm: false,
    },
    Op {
        opcode: 0xA2,
        write: true,
        byte: true,
        modrm: false,
        imm: false,
    },
    Op {
        opcode: 0xA3,
        write: true,
        byte: false,
        modrm: false,
        imm: false,
    },
    Op {
        opcode: 0xC6,
        write: true,
        byte: true,
        modrm: true,
        imm: true,
    },
    Op {
        opcode: 0xC7,
        write: true,
        byte: false,
        modrm: true,
        imm: true,
    },
];

/// Legacy prefixes taken: operand size, address size, and the segment overrides
/// (a flat guest's segments all start at 0; FS/GS bases the caller does not see,
/// but the faulting address comes from the exit, not from here).
const OPSIZE: u8 = 0x66;
const ADDRSIZE: u8 = 0x67;
const SEGMENT: &[u8] = &[0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65];
/// Longest x86 instruction.
const MAX_LEN: usize = 15;

/// Decodes `bytes` (at least the instruction; up to 15) for a guest running 32-bit
/// code with 32-bit addresses.
pub fn decode_mov32(bytes: &[u8]) -> Option<MemMov> {
    decode_mov(bytes, Code::Bits32)
}

/// Decodes `bytes` (at least the instruction; up to 15) as a MOV to or from memory in
/// `code`.
pub fn decode_mov(bytes: &[u8], code: Code) -> Option<MemMov> {
    let long = code == Code::Bits64;
    let (mut opsize, mut addrsize, mut i) = (false, false, 0);
    loop {
        match *bytes.get(i)? {
            OPSIZE => opsize = true,
            ADDRSIZE => addrsize = true,
            b if SEGMENT.contains(&b) => {}
            _ => break,
        }
        i += 1;
    }
    let rex = match *bytes.get(i)? {
        b @ 0x40..=0x4F if long => {
            i += 1;
            Some(b)
        }
        _ => None,
    };
    let (rex_w, rex_r) = rex.map_or((false, 0), |r| (r & 8 != 0, (r >> 2 & 1) << 3));
    let op = TABLE.iter().find(|o| Some(&o.opcode) == bytes.get(i))?;
    i += 1;
    let width = match (op.byte, rex_w, opsize) {
        (true, _, _) => Width::B1,
        (false, true, _) => Width::B8,
        (false, false, true) => Width::B2,
        (false, false, false) => Width::B4,
    };
    // 16-bit addressing (0x67 in 32-bit code) has other ModRM forms: not taken.
    if addrsize && !long {
        return None;
    }
    if op.imm {
        let (reg, next) = memory_operand(bytes, i)?;
        // C6 /0 and C7 /0 only: the other ModRM reg values are not MOV.
        if reg != 0 {
            return None;
        }
        let n = match width {
            Width::B1 => 1,
            Width::B2 => 2,
            _ => 4,
        };
        let raw = bytes.get(next..next + n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(raw);
        let mut imm = u64::from_le_bytes(v);
        if width == Width::B8 && imm & (1 << 31) != 0 {
            imm |= 0xFFFF_FFFF_0000_0000;
        }
        let len = next + n;
        return (len <= MAX_LEN).then_some(MemMov {
            len: len as u8,
            write: true,
            width,
            operand: Operand::Imm(imm),
        });
    }
    let (reg, high) = if op.modrm {
        let (reg, next) = memory_operand(bytes, i)?;
        i = next;
        let high = op.byte && rex.is_none() && reg >= 4;
        if high {
            (reg - 4, true)
        } else {
            (reg | rex_r, false)
        }
    } else {
        i += match (long, addrsize) {
            (true, false) => 8,
            _ => 4,
        };
        (0, false)
    };
    (i <= MAX_LEN).then_some(MemMov {
        len: i as u8,
        write: op.write,
        width,
        operand: Operand::Reg { reg, high },
    })
}

/// What a decoded 32-bit store writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSrc {
    /// A general-purpose register (0-15, REX.R included).
    Reg(u8),
    /// An immediate.
    Imm(u32),
}

/// The ModRM byte at `bytes[at]` naming a memory operand, and the SIB byte and
/// displacement after it: the ModRM's reg field and the index past the operand.
/// `None` for a register operand (no memory access) or too few bytes.
fn memory_operand(bytes: &[u8], at: usize) -> Option<(u8, usize)> {
    let m = *bytes.get(at)?;
    let mut i = at + 1;
    let (md, reg, rm) = (m >> 6, (m >> 3) & 7, m & 7);
    if md == 3 {
        return None;
    }
    if rm == 4 {
        let sib = *bytes.get(i)?;
        i += 1;
        if md == 0 && sib & 7 == 5 {
            i += 4;
        }
    }
    i += match (md, rm) {
        (0, 5) => 4,
        (0, _) => 0,
        (1, _) => 1,
        _ => 4,
    };
    Some((reg, i))
}

/// Decodes a 32-bit store to memory in 64-bit code, as a guest's driver writes a
/// memory-mapped register: `MOV r/m32, r32` (what [`decode_mov`] takes, 4 bytes
/// wide) or `MOV r/m32, imm32` (C7 /0, an optional REX prefix without W): its length
/// and source. Anything else is `None`.
pub fn decode_store32(bytes: &[u8]) -> Option<(u8, StoreSrc)> {
    // The common form first (a direct-mode guest's every xAPIC write on AMD-V takes
    // this): `MOV r/m32, r32` with no prefix but a REX without W. The same answer
    // as the general decode below (a host test sweeps it), in a third of its steps.
    let rex = match bytes.first()? {
        &b @ 0x40..=0x47 => Some(b),
        _ => None,
    };
    let at = usize::from(rex.is_some());
    if bytes.get(at) == Some(&0x89) {
        let (reg, len) = memory_operand(bytes, at + 1)?;
        let reg = reg | rex.map_or(0, |r| (r >> 2 & 1) << 3);
        return (len <= MAX_LEN).then_some((len as u8, StoreSrc::Reg(reg)));
    }
    store32_general(bytes)
}

/// [`decode_store32`] for every form, through [`decode_mov`].
fn store32_general(bytes: &[u8]) -> Option<(u8, StoreSrc)> {
    let m = decode_mov(bytes, Code::Bits64)?;
    if !m.write || m.width != Width::B4 {
        return None;
    }
    let src = match m.operand {
        Operand::Reg { reg, .. } => StoreSrc::Reg(reg),
        Operand::Imm(v) => StoreSrc::Imm(v as u32),
    };
    Some((m.len, src))
}

#[cfg(test)]
mod tests;
