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
//! SVM also traps CR0 writes: [`cr0_write`] refuses with #GP(0) what a CPU refuses
//! (bits 63:32, PG without PE, NW without CD, long-mode paging without PAE, paging
//! off in 64-bit code) and computes EFER.LMA as the CPU would; VMX takes them
//! without an exit (the CPU itself checks them against the VMX fixed bits). Both
//! trap CR8, the x2APIC TPR's bits 7:4 ([`cr8_write`], [`cr8_read`]): on VMX an
//! untrapped MOV to CR8 would set the physical APIC's TPR and could hold back the
//! hypervisor's own interrupts.
//!
//! AMD without decode assists reports a CR access without its register, so
//! [`decode_mov_to_cr`] and [`decode_mov_from_cr`] read it from the instruction at
//! RIP (`0F 22 /r`, `0F 20 /r`, REX.R and REX.B in 64-bit mode).

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

pub const CR0_PE: u64 = 1 << 0;
pub const CR0_MP: u64 = 1 << 1;
pub const CR0_EM: u64 = 1 << 2;
pub const CR0_TS: u64 = 1 << 3;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_WP: u64 = 1 << 16;
pub const CR0_AM: u64 = 1 << 18;
pub const CR0_NW: u64 = 1 << 29;
pub const CR0_CD: u64 = 1 << 30;
pub const CR0_PG: u64 = 1 << 31;
/// The CR0 bits a CPU keeps; the other bits of 31:0 are ignored by a write (ET
/// always reads 1), bits 63:32 must be zero.
const CR0_DEFINED: u64 = CR0_PE
    | CR0_MP
    | CR0_EM
    | CR0_TS
    | CR0_ET
    | CR0_NE
    | CR0_WP
    | CR0_AM
    | CR0_NW
    | CR0_CD
    | CR0_PG;

/// EFER.LME: long mode enabled (becomes active with CR0.PG).
pub const EFER_LME: u64 = 1 << 8;

/// A guest's MOV of `new` to CR0 (CR4 `cr4`, EFER `efer`, `code64`: running 64-bit
/// code): the new CR0 and EFER (LMA follows LME and PG, as the CPU sets it), or
/// `None` for #GP(0): a bit of 63:32 set, PG without PE, NW without CD, PG turned on
/// with LME but without CR4.PAE, PG turned off in 64-bit code.
pub fn cr0_write(new: u64, old: u64, efer: u64, cr4: u64, code64: bool) -> Option<(u64, u64)> {
    let pg = new & CR0_PG != 0;
    let refused = new >> 32 != 0
        || (pg && new & CR0_PE == 0)
        || (new & CR0_NW != 0 && new & CR0_CD == 0)
        || (pg && old & CR0_PG == 0 && efer & EFER_LME != 0 && cr4 & CR4_PAE == 0)
        || (!pg && code64);
    if refused {
        return None;
    }
    let lma = pg && efer & EFER_LME != 0;
    let efer = if lma {
        efer | EFER_LMA
    } else {
        efer & !EFER_LMA
    };
    Some(((new & CR0_DEFINED) | CR0_ET, efer))
}

/// A guest's MOV of `value` to CR8: the x2APIC TPR it stands for (CR8 is TPR bits
/// 7:4), or `None` for #GP(0) (bits 63:4 are reserved).
pub const fn cr8_write(value: u64) -> Option<u32> {
    if value >> 4 == 0 {
        Some((value as u32) << 4)
    } else {
        None
    }
}

/// What a MOV from CR8 reads: TPR bits 7:4.
pub const fn cr8_read(tpr: u32) -> u64 {
    ((tpr >> 4) & 0xF) as u64
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
    decode_mov_cr(bytes, 0x22)
}

/// Decodes `bytes` as `MOV reg, CRn` (`0F 20`), as [`decode_mov_to_cr`] does; `gpr`
/// is the destination.
pub fn decode_mov_from_cr(bytes: &[u8]) -> Option<MovCr> {
    decode_mov_cr(bytes, 0x20)
}

fn decode_mov_cr(bytes: &[u8], opcode: u8) -> Option<MovCr> {
    let (rex, rest) = match bytes.first()? {
        &b @ 0x40..=0x4F => (b, bytes.get(1..)?),
        _ => (0, bytes),
    };
    let [0x0F, op, modrm, ..] = *rest else {
        return None;
    };
    if op != opcode {
        return None;
    }
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
        // mov rax, cr8 (REX.R); mov ecx, cr0; not a MOV to CR.
        assert_eq!(
            decode_mov_from_cr(&[0x44, 0x0F, 0x20, 0xC0]),
            Some(MovCr {
                cr: 8,
                gpr: 0,
                len: 4
            })
        );
        assert_eq!(
            decode_mov_from_cr(&[0x0F, 0x20, 0xC1]).map(|m| (m.cr, m.gpr)),
            Some((0, 1))
        );
        assert_eq!(decode_mov_from_cr(&[0x0F, 0x22, 0xC1]), None);
    }

    #[test]
    fn cr0_rules() {
        let on = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
        // Reserved high bits, PG without PE, NW without CD.
        assert_eq!(cr0_write(on | 1 << 32, on, 0, 0, false), None);
        assert_eq!(cr0_write(CR0_PG, 0, 0, 0, false), None);
        assert_eq!(cr0_write(on | CR0_NW, on, 0, 0, false), None);
        assert_eq!(
            cr0_write(on | CR0_NW | CR0_CD, on, 0, 0, false),
            Some((on | CR0_NW | CR0_CD, 0))
        );
        // Low reserved bits are ignored, ET reads 1.
        assert_eq!(
            cr0_write(CR0_PE | 1 << 7, 0, 0, 0, false),
            Some((CR0_PE | CR0_ET, 0))
        );
        // Paging on with LME: LMA, but only with PAE; off in 64-bit code: #GP; off in
        // compatibility mode: LMA cleared.
        let lme = EFER_LME;
        assert_eq!(cr0_write(on, CR0_PE, lme, 0, false), None);
        assert_eq!(
            cr0_write(on, CR0_PE, lme, CR4_PAE, false),
            Some((on, lme | EFER_LMA))
        );
        assert_eq!(cr0_write(CR0_PE, on, lme | EFER_LMA, CR4_PAE, true), None);
        assert_eq!(
            cr0_write(CR0_PE, on, lme | EFER_LMA, CR4_PAE, false),
            Some((CR0_PE | CR0_ET, lme))
        );
        // Without LME, paging is 32-bit paging.
        assert_eq!(cr0_write(on, CR0_PE, 0, 0, false), Some((on, 0)));
    }

    #[test]
    fn cr8_is_the_tpr_class() {
        assert_eq!(cr8_write(0), Some(0));
        assert_eq!(cr8_write(0xF), Some(0xF0));
        assert_eq!(cr8_write(0x10), None);
        assert_eq!(cr8_write(1 << 63), None);
        assert_eq!(cr8_read(0xF0), 0xF);
        assert_eq!(cr8_read(0x5A), 5);
    }
}
