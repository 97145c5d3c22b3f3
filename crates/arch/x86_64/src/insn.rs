//! The few instructions whose memory access the hypervisor completes by hand after a
//! second-stage fault (unclaimed MMIO): MOV between a general-purpose register and
//! memory, in the forms compilers emit for device registers, in 32-bit protected mode
//! and in 64-bit mode (a REX prefix: R extends the register, W is refused since no
//! access is wider than 4 bytes; moffs is 8 bytes). Table-driven; anything else is
//! `None` and the caller contains the guest another way. Neither vendor reports the length or the register of a
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
    decode_mov(bytes, false)
}

/// Decodes `bytes` (at least the instruction; up to 15) for a guest running 32-bit
/// code, or 64-bit code when `long`.
pub fn decode_mov(bytes: &[u8], long: bool) -> Option<MemMov> {
    let (wide16, rest) = match bytes.first()? {
        0x66 => (true, bytes.get(1..)?),
        _ => (false, bytes),
    };
    let (rex, rest) = match rest.first()? {
        &b @ 0x40..=0x4F if long => (b, rest.get(1..)?),
        _ => (0, rest),
    };
    // REX.W: an 8-byte access, which no emulated register takes.
    if rex & 8 != 0 {
        return None;
    }
    let prefix = u8::from(wide16) + u8::from(rex != 0);
    let &op = rest.first()?;
    let &(_, write, byte, modrm) = TABLE.iter().find(|t| t.0 == op)?;
    let width = match (byte, wide16) {
        (true, _) => Width::B1,
        (false, true) => Width::B2,
        (false, false) => Width::B4,
    };
    if !modrm {
        // moffs (4 bytes, 8 in 64-bit mode) with eAX/AL.
        return Some(MemMov {
            len: prefix + if long { 9 } else { 5 },
            write,
            width,
            reg: 0,
        });
    }
    let m = *rest.get(1)?;
    let (md, reg, rm) = (m >> 6, (m >> 3) & 7, m & 7);
    // With a REX prefix, byte registers 4-7 are SPL-DIL, not AH-BH as `reg` says.
    if rex != 0 && byte && reg >= 4 && rex & 4 == 0 {
        return None;
    }
    // A SIB byte follows rm 4; its base 5 with mod 0 means a disp32 and no base.
    let sib = match (md, rm) {
        (3, _) => return None, // a register operand: no memory access
        (_, 4) => Some(*rest.get(2)? & 7),
        _ => None,
    };
    let disp = match (md, rm, sib) {
        (0, _, Some(5)) | (0, 5, None) => 4,
        (0, _, _) => 0,
        (1, _, _) => 1,
        _ => 4,
    };
    Some(MemMov {
        len: prefix + 2 + u8::from(sib.is_some()) + disp,
        write,
        width,
        reg: reg | (rex & 4) << 1,
    })
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
    fn refused() {
        assert_eq!(decode_mov32(&[]), None);
        assert_eq!(decode_mov32(&[0x66]), None);
        assert_eq!(decode_mov32(&[0x8B]), None);
        // Register to register, other opcodes.
        assert_eq!(decode_mov32(&[0x8B, 0xC1]), None);
        assert_eq!(decode_mov32(&[0xC7, 0x05, 0, 0, 0, 0]), None);
        assert_eq!(decode_mov32(&[0x0F, 0xA2]), None);
        // A REX prefix is INC/DEC outside 64-bit mode; REX.W is 8 bytes.
        assert_eq!(decode_mov32(&[0x44, 0x89, 0x08]), None);
        assert_eq!(decode_mov(&[0x48, 0x89, 0x08], true), None);
        // mov [rax], sil: REX makes reg 6 SIL.
        assert_eq!(decode_mov(&[0x40, 0x88, 0x30], true), None);
    }

    #[test]
    fn sib_and_long_mode_forms() {
        // mov eax, [esp]
        let m = decode_mov32(&[0x8B, 0x04, 0x24]).unwrap();
        assert_eq!((m.len, m.reg), (3, 0));
        // mov ecx, [eax*4+0x1000] (SIB base 5, mod 0: disp32)
        let m = decode_mov32(&[0x8B, 0x0C, 0x85, 0, 0x10, 0, 0]).unwrap();
        assert_eq!((m.len, m.reg), (7, 1));
        // mov [rax], r9d (Linux's __ioapic_write_entry)
        let m = decode_mov(&[0x44, 0x89, 0x08], true).unwrap();
        assert_eq!((m.len, m.write, m.width, m.reg), (3, true, Width::B4, 9));
        // mov [rax+0x10], r8d
        let m = decode_mov(&[0x44, 0x89, 0x40, 0x10], true).unwrap();
        assert_eq!((m.len, m.reg), (4, 8));
        // mov eax, [rip+disp32]; mov eax, [moffs64]; mov ax, [r12+8] (66, REX.B, SIB)
        assert_eq!(decode_mov(&[0x8B, 0x05, 1, 2, 3, 4], true).unwrap().len, 6);
        assert_eq!(
            decode_mov(&[0xA1, 0, 0, 0, 0, 0, 0, 0, 0], true)
                .unwrap()
                .len,
            9
        );
        let m = decode_mov(&[0x66, 0x41, 0x8B, 0x44, 0x24, 0x08], true).unwrap();
        assert_eq!((m.len, m.width, m.reg), (6, Width::B2, 0));
    }
}
