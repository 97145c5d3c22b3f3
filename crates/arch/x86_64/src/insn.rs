//! The few 32-bit protected-mode instructions whose memory access the hypervisor
//! completes by hand after a second-stage fault (unclaimed MMIO): MOV between a
//! general-purpose register and memory, in the forms compilers emit for device
//! registers. Table-driven; anything else is `None` and the caller contains the
//! guest another way. Neither vendor reports the length or the register of a
//! faulting MOV (AMD without decode assists, Intel for EPT violations), so the bytes
//! at the guest's RIP are decoded here.

use crate::exit::Width;

/// A decoded MOV to or from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemMov {
    /// Bytes of the whole instruction.
    pub len: u8,
    pub write: bool,
    pub width: Width,
    /// The register (0 = eAX, 1 = eCX, 2 = eDX, 3 = eBX, 4 = eSP, 5 = eBP, 6 = eSI,
    /// 7 = eDI; for byte moves 0-3 are AL-BL, 4-7 AH-BH).
    pub reg: u8,
}

/// Opcode, writes memory, byte-sized, has a ModRM byte.
const TABLE: &[(u8, bool, bool, bool)] = &[
    (0x88, true, true, true),
    (0x89, true, false, true),
    (0x8A, false, true, true),
    (0x8B, false, false, true),
    (0xA0, false, true, false),
    (0xA1, false, false, false),
    (0xA2, true, true, false),
    (0xA3, true, false, false),
];

/// Decodes `bytes` (at least the instruction; up to 15) for a guest running with
/// 32-bit code and addresses.
pub fn decode_mov32(bytes: &[u8]) -> Option<MemMov> {
    let (wide16, rest) = match bytes.first()? {
        0x66 => (true, bytes.get(1..)?),
        _ => (false, bytes),
    };
    let prefix = u8::from(wide16);
    let &op = rest.first()?;
    let &(_, write, byte, modrm) = TABLE.iter().find(|t| t.0 == op)?;
    let width = match (byte, wide16) {
        (true, _) => Width::B1,
        (false, true) => Width::B2,
        (false, false) => Width::B4,
    };
    if !modrm {
        // moffs32 with eAX/AL.
        return Some(MemMov {
            len: prefix + 5,
            write,
            width,
            reg: 0,
        });
    }
    let m = *rest.get(1)?;
    let (md, reg, rm) = (m >> 6, (m >> 3) & 7, m & 7);
    let disp = match (md, rm) {
        // Register operand: no memory access; a SIB byte: not handled.
        (3, _) | (_, 4) => return None,
        (0, 5) => 4,
        (0, _) => 0,
        (1, _) => 1,
        _ => 4,
    };
    Some(MemMov {
        len: prefix + 2 + disp,
        write,
        width,
        reg,
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

/// Decodes a 32-bit store to memory in 64-bit code, as a guest's driver writes a
/// memory-mapped register (`MOV r/m32, r32` or `MOV r/m32, imm32`, an optional REX
/// prefix, any ModRM/SIB addressing): its length and source. Anything else is `None`.
pub fn decode_store32(bytes: &[u8]) -> Option<(u8, StoreSrc)> {
    let (rex, at) = match bytes.first()? {
        &b @ 0x40..=0x4F => (b, 1usize),
        _ => (0, 0),
    };
    let op = *bytes.get(at)?;
    let m = *bytes.get(at + 1)?;
    let (md, reg, rm) = (m >> 6, (m >> 3) & 7, m & 7);
    if md == 3 || (op == 0xC7 && reg != 0) || (op != 0x89 && op != 0xC7) {
        return None;
    }
    let mut len = at + 2;
    let disp = if rm == 4 {
        let sib = *bytes.get(len)?;
        len += 1;
        match md {
            0 if sib & 7 == 5 => 4,
            0 => 0,
            1 => 1,
            _ => 4,
        }
    } else {
        match (md, rm) {
            (0, 5) => 4,
            (0, _) => 0,
            (1, _) => 1,
            _ => 4,
        }
    };
    len += disp;
    let src = if op == 0x89 {
        StoreSrc::Reg(reg | (rex >> 2 & 1) << 3)
    } else {
        let imm = bytes.get(len..len + 4)?;
        len += 4;
        StoreSrc::Imm(u32::from_le_bytes([imm[0], imm[1], imm[2], imm[3]]))
    };
    Some((u8::try_from(len).ok()?, src))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        // mov eax, [0x40000000]
        let m = decode_mov32(&[0xA1, 0, 0, 0, 0x40]).unwrap();
        assert_eq!((m.len, m.write, m.width, m.reg), (5, false, Width::B4, 0));
        // mov [0x40000000], eax
        let m = decode_mov32(&[0xA3, 0, 0, 0, 0x40]).unwrap();
        assert!(m.write && m.len == 5);
        // mov ecx, [ebx]
        let m = decode_mov32(&[0x8B, 0x0B]).unwrap();
        assert_eq!((m.len, m.write, m.reg), (2, false, 1));
        // mov [esi+0x10], dl
        let m = decode_mov32(&[0x88, 0x56, 0x10]).unwrap();
        assert_eq!((m.len, m.write, m.width, m.reg), (3, true, Width::B1, 2));
        // mov ax, [ebp+0x1000]
        let m = decode_mov32(&[0x66, 0x8B, 0x85, 0, 0x10, 0, 0]).unwrap();
        assert_eq!((m.len, m.width, m.reg), (7, Width::B2, 0));
        // mov edi, [0x1234] (disp32, no base)
        let m = decode_mov32(&[0x8B, 0x3D, 0x34, 0x12, 0, 0]).unwrap();
        assert_eq!((m.len, m.reg), (6, 7));
    }

    #[test]
    fn stores() {
        // movl $0x0, 0x80(%rax)
        let b = [0xC7, 0x80, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode_store32(&b), Some((10, StoreSrc::Imm(0))));
        // mov %ecx, 0x300(%rdx)
        assert_eq!(
            decode_store32(&[0x89, 0x8A, 0, 3, 0, 0]),
            Some((6, StoreSrc::Reg(1)))
        );
        // mov %r9d, (%rax)
        assert_eq!(
            decode_store32(&[0x44, 0x89, 0x08]),
            Some((3, StoreSrc::Reg(9)))
        );
        // movl $0x1ff, 0xf0(%rax,%rcx,1)
        let b = [0xC7, 0x84, 0x08, 0xF0, 0, 0, 0, 0xFF, 1, 0, 0];
        assert_eq!(decode_store32(&b), Some((11, StoreSrc::Imm(0x1FF))));
        // mov %eax, (%rsp) (SIB, no displacement); mov %eax, 0x10(%rbp)
        assert_eq!(
            decode_store32(&[0x89, 0x04, 0x24]),
            Some((3, StoreSrc::Reg(0)))
        );
        assert_eq!(
            decode_store32(&[0x89, 0x45, 0x10]),
            Some((3, StoreSrc::Reg(0)))
        );
        // Loads, register forms, C7 with another /reg, truncated bytes: refused.
        assert_eq!(decode_store32(&[0x8B, 0x08]), None);
        assert_eq!(decode_store32(&[0x89, 0xC1]), None);
        assert_eq!(decode_store32(&[0xC7, 0x48, 0x10, 0, 0, 0, 0]), None);
        assert_eq!(decode_store32(&[0xC7, 0x80, 0x80, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode_store32(&[0x89]), None);
    }

    #[test]
    fn refused() {
        assert_eq!(decode_mov32(&[]), None);
        assert_eq!(decode_mov32(&[0x66]), None);
        assert_eq!(decode_mov32(&[0x8B]), None);
        // Register to register, SIB, other opcodes.
        assert_eq!(decode_mov32(&[0x8B, 0xC1]), None);
        assert_eq!(decode_mov32(&[0x8B, 0x04, 0x24]), None);
        assert_eq!(decode_mov32(&[0xC7, 0x05, 0, 0, 0, 0]), None);
        assert_eq!(decode_mov32(&[0x0F, 0xA2]), None);
    }
}
