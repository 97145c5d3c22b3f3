//! Guest writes of CR4 that reach the hypervisor, and the MOV-to-CR decoder for
//! engines that do not name the source register.
//!
//! Both engines trap the CR4 writes a guest could use against its own VM entry: VMX
//! the bits the hypervisor owns in the guest's CR4 (VMXE, which VMX operation needs
//! set and the guest must not see, and SMXE), SVM every write, because a reserved
//! bit that sticks in the VMCB (an emulator may take it where hardware raises #GP)
//! makes the next VMRUN fail. [`cr4_write`] answers the write as a CPU with the
//! guest's CPUID would: a bit the guest's CPUID does not offer, VMXE or SMXE (no VM
//! gets VMX or SMX), PAE cleared or LA57 changed in long mode, PCIDE set outside long
//! mode: #GP(0); anything else is the guest's new CR4.
//!
//! AMD without decode assists reports a CR write without its register, so
//! [`decode_mov_to_cr`] reads it from the instruction at RIP (`0F 22 /r`, REX.R and
//! REX.B in 64-bit mode).

pub const CR4_VME: u64 = 1 << 0;
pub const CR4_PVI: u64 = 1 << 1;
pub const CR4_TSD: u64 = 1 << 2;
pub const CR4_DE: u64 = 1 << 3;
pub const CR4_PSE: u64 = 1 << 4;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_MCE: u64 = 1 << 6;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_PCE: u64 = 1 << 8;
pub const CR4_OSFXSR: u64 = 1 << 9;
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
pub const CR4_UMIP: u64 = 1 << 11;
pub const CR4_LA57: u64 = 1 << 12;
pub const CR4_VMXE: u64 = 1 << 13;
pub const CR4_SMXE: u64 = 1 << 14;
pub const CR4_FSGSBASE: u64 = 1 << 16;
pub const CR4_PCIDE: u64 = 1 << 17;
pub const CR4_OSXSAVE: u64 = 1 << 18;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;
pub const CR4_PKE: u64 = 1 << 22;

/// EFER.LMA: long mode active.
pub const EFER_LMA: u64 = 1 << 10;

/// (CPUID leaf 1 EDX bit, CR4 bit it enables).
const LEAF1_EDX: &[(u32, u64)] = &[
    (1, CR4_VME | CR4_PVI),
    (2, CR4_DE),
    (3, CR4_PSE),
    (6, CR4_PAE),
    (7, CR4_MCE),
    (13, CR4_PGE),
    (24, CR4_OSFXSR),
    (25, CR4_OSXMMEXCPT),
];
/// (CPUID leaf 1 ECX bit, CR4 bit).
const LEAF1_ECX: &[(u32, u64)] = &[(17, CR4_PCIDE), (26, CR4_OSXSAVE)];
/// (CPUID leaf 7.0 EBX bit, CR4 bit).
const LEAF7_EBX: &[(u32, u64)] = &[(0, CR4_FSGSBASE), (7, CR4_SMEP), (20, CR4_SMAP)];
/// (CPUID leaf 7.0 ECX bit, CR4 bit).
const LEAF7_ECX: &[(u32, u64)] = &[(2, CR4_UMIP), (3, CR4_PKE), (16, CR4_LA57)];

/// The CR4 bits a guest may set, from the CPUID it sees: leaf 1 (`[eax, ebx, ecx,
/// edx]`) and leaf 7 subleaf 0 (all zero when the CPU has no leaf 7). TSD and PCE
/// need no feature; VMXE and SMXE are never offered.
pub fn cr4_allowed(leaf1: [u32; 4], leaf7: [u32; 4]) -> u64 {
    let pick = |reg: u32, table: &[(u32, u64)]| {
        table
            .iter()
            .filter(|&&(bit, _)| reg & (1 << bit) != 0)
            .fold(0, |acc, &(_, cr)| acc | cr)
    };
    (CR4_TSD
        | CR4_PCE
        | pick(leaf1[3], LEAF1_EDX)
        | pick(leaf1[2], LEAF1_ECX)
        | pick(leaf7[1], LEAF7_EBX)
        | pick(leaf7[2], LEAF7_ECX))
        & !(CR4_VMXE | CR4_SMXE)
}

/// A guest's MOV of `new` to CR4, its CR4 being `old` and its EFER `efer`: the new
/// CR4, or `None` for #GP(0).
pub fn cr4_write(new: u64, old: u64, efer: u64, allowed: u64) -> Option<u64> {
    let long = efer & EFER_LMA != 0;
    let refused = new & !allowed != 0
        || (long && new & CR4_PAE == 0)
        || (long && (new ^ old) & CR4_LA57 != 0)
        || (!long && new & CR4_PCIDE != 0);
    (!refused).then_some(new)
}

/// A decoded MOV to a control register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovCr {
    /// The control register (0-15).
    pub cr: u8,
    /// The source register (0 = RAX ... 15 = R15).
    pub gpr: u8,
    /// Bytes of the instruction.
    pub len: u8,
}

/// Decodes `bytes` (from the guest's RIP, up to 15) as `MOV CRn, reg`: an optional
/// REX prefix (0x40-0x4F: the exit's RIP points at the MOV itself, so such a byte
/// there is a prefix, never a 32-bit INC or DEC), `0F 22`, a ModRM with mod 3.
pub fn decode_mov_to_cr(bytes: &[u8]) -> Option<MovCr> {
    let (rex, rest) = match bytes.first()? {
        &b @ 0x40..=0x4F => (b, bytes.get(1..)?),
        _ => (0, bytes),
    };
    let [0x0F, 0x22, modrm, ..] = *rest else {
        return None;
    };
    if modrm >> 6 != 3 {
        return None;
    }
    Some(MovCr {
        cr: ((modrm >> 3) & 7) | ((rex & 4) << 1),
        gpr: (modrm & 7) | ((rex & 1) << 3),
        len: 3 + u8::from(rex != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU with every leaf-1 and leaf-7 feature above, and VMX and SMX (leaf 1
    /// ECX bits 5 and 6).
    fn all() -> u64 {
        cr4_allowed([0, 0, u32::MAX, u32::MAX], [0, u32::MAX, u32::MAX, 0])
    }

    #[test]
    fn vmxe_smxe_and_reserved_bits_are_never_allowed() {
        let a = all();
        assert_eq!(a & (CR4_VMXE | CR4_SMXE), 0);
        assert_eq!(a & (1 << 15 | 1 << 19 | 1 << 31 | 1 << 32), 0);
        assert_eq!(cr4_write(CR4_PAE | CR4_VMXE, CR4_PAE, 0, a), None);
        assert_eq!(cr4_write(CR4_PAE | CR4_SMXE, CR4_PAE, 0, a), None);
        assert_eq!(cr4_write(CR4_PAE | 1 << 31, CR4_PAE, 0, a), None);
        assert_eq!(cr4_write(CR4_PAE | CR4_PGE, CR4_PAE, 0, a), Some(0xa0));
    }

    #[test]
    fn features_follow_the_guests_cpuid() {
        // Leaf 1: PAE (EDX 6), PGE (EDX 13), FXSR (24), SSE (25); no leaf 7.
        let a = cr4_allowed([0, 0, 0, 1 << 6 | 1 << 13 | 1 << 24 | 1 << 25], [0; 4]);
        assert_eq!(
            a,
            CR4_TSD | CR4_PCE | CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT
        );
        assert_eq!(cr4_write(CR4_SMEP, 0, 0, a), None, "no SMEP in leaf 7");
        let b = cr4_allowed([0; 4], [0, 1 << 7, 1 << 16, 0]);
        assert_eq!(b, CR4_TSD | CR4_PCE | CR4_SMEP | CR4_LA57);
    }

    #[test]
    fn long_mode_rules() {
        let (a, lma) = (all(), EFER_LMA);
        let on = CR4_PAE | CR4_PGE;
        assert_eq!(cr4_write(CR4_PGE, on, lma, a), None, "PAE cleared");
        assert_eq!(cr4_write(on | CR4_LA57, on, lma, a), None, "LA57 set");
        assert_eq!(cr4_write(on, on | CR4_LA57, lma, a), None, "LA57 cleared");
        assert_eq!(cr4_write(on | CR4_LA57, on, 0, a), Some(on | CR4_LA57));
        assert_eq!(cr4_write(on | CR4_PCIDE, on, 0, a), None, "PCIDE outside");
        assert_eq!(cr4_write(on | CR4_PCIDE, on, lma, a), Some(on | CR4_PCIDE));
        assert_eq!(cr4_write(0, on, 0, a), Some(0));
    }

    #[test]
    fn mov_to_cr() {
        // mov cr4, rax
        assert_eq!(
            decode_mov_to_cr(&[0x0F, 0x22, 0xE0]),
            Some(MovCr {
                cr: 4,
                gpr: 0,
                len: 3
            })
        );
        // mov cr4, r9 (REX.B)
        assert_eq!(
            decode_mov_to_cr(&[0x41, 0x0F, 0x22, 0xE1, 0x90]),
            Some(MovCr {
                cr: 4,
                gpr: 9,
                len: 4
            })
        );
        // mov cr8, rdx (REX.R)
        assert_eq!(
            decode_mov_to_cr(&[0x44, 0x0F, 0x22, 0xC2]).map(|m| (m.cr, m.gpr)),
            Some((8, 2))
        );
        // mov cr0, ecx
        assert_eq!(
            decode_mov_to_cr(&[0x0F, 0x22, 0xC1]).map(|m| (m.cr, m.gpr)),
            Some((0, 1))
        );
        // mov rax, cr4 (0F 20), a memory ModRM, short input.
        assert_eq!(decode_mov_to_cr(&[0x0F, 0x20, 0xE0]), None);
        assert_eq!(decode_mov_to_cr(&[0x0F, 0x22, 0x20]), None);
        assert_eq!(decode_mov_to_cr(&[0x0F, 0x22]), None);
        assert_eq!(decode_mov_to_cr(&[0x48]), None);
    }
}
