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
        // Register to register, SIB, other opcodes.
        assert_eq!(decode_mov32(&[0x8B, 0xC1]), None);
        assert_eq!(decode_mov32(&[0x8B, 0x04, 0x24]), None);
        assert_eq!(decode_mov32(&[0xC7, 0x05, 0, 0, 0, 0]), None);
        assert_eq!(decode_mov32(&[0x0F, 0xA2]), None);
    }
}
