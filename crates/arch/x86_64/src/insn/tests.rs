use super::*;

/// (bytes, code, len, write, width, reg, high), as an assembler encodes them.
type Case = (&'static [u8], Code, u8, bool, Width, u8, bool);

const B32: Code = Code::Bits32;
const B64: Code = Code::Bits64;

const CASES: &[Case] = &[
    // 32-bit code.
    // mov eax, [0x40000000]; mov [0x40000000], eax
    (&[0xA1, 0, 0, 0, 0x40], B32, 5, false, Width::B4, 0, false),
    (&[0xA3, 0, 0, 0, 0x40], B32, 5, true, Width::B4, 0, false),
    // mov ecx, [ebx]
    (&[0x8B, 0x0B], B32, 2, false, Width::B4, 1, false),
    // mov [esi+0x10], dl; mov [esi+0x10], dh (a high byte register)
    (&[0x88, 0x56, 0x10], B32, 3, true, Width::B1, 2, false),
    (&[0x88, 0x76, 0x10], B32, 3, true, Width::B1, 2, true),
    // mov ax, [ebp+0x1000]
    (
        &[0x66, 0x8B, 0x85, 0, 0x10, 0, 0],
        B32,
        7,
        false,
        Width::B2,
        0,
        false,
    ),
    // mov edi, [0x1234] (disp32, no base)
    (
        &[0x8B, 0x3D, 0x34, 0x12, 0, 0],
        B32,
        6,
        false,
        Width::B4,
        7,
        false,
    ),
    // mov eax, [esp]; mov eax, [ebx+ecx*4+0x10]; mov eax, [ecx*4+0x1000]
    (&[0x8B, 0x04, 0x24], B32, 3, false, Width::B4, 0, false),
    (
        &[0x8B, 0x44, 0x8B, 0x10],
        B32,
        4,
        false,
        Width::B4,
        0,
        false,
    ),
    (
        &[0x8B, 0x04, 0x8D, 0, 0x10, 0, 0],
        B32,
        7,
        false,
        Width::B4,
        0,
        false,
    ),
    // mov eax, fs:[ebx]
    (&[0x64, 0x8B, 0x03], B32, 3, false, Width::B4, 0, false),
    // 64-bit code.
    // mov rax, [rbx]; mov [rdi], r9; mov r15d, [rip+0x100]
    (&[0x48, 0x8B, 0x03], B64, 3, false, Width::B8, 0, false),
    (&[0x4C, 0x89, 0x0F], B64, 3, true, Width::B8, 9, false),
    (
        &[0x44, 0x8B, 0x3D, 0, 1, 0, 0],
        B64,
        7,
        false,
        Width::B4,
        15,
        false,
    ),
    // mov eax, [rbx] (no REX); mov [rax], sil (REX: SIL, not DH)
    (&[0x8B, 0x03], B64, 2, false, Width::B4, 0, false),
    (&[0x40, 0x88, 0x30], B64, 3, true, Width::B1, 6, false),
    // mov [r8+r9*8+0x10], r10w
    (
        &[0x66, 0x47, 0x89, 0x54, 0xC8, 0x10],
        B64,
        6,
        true,
        Width::B2,
        10,
        false,
    ),
    // movabs rax, [0xfee00300]; with 0x67: a 4-byte address
    (
        &[0x48, 0xA1, 0, 3, 0xE0, 0xFE, 0, 0, 0, 0],
        B64,
        10,
        false,
        Width::B8,
        0,
        false,
    ),
    (
        &[0x67, 0xA1, 0, 3, 0xE0, 0xFE],
        B64,
        6,
        false,
        Width::B4,
        0,
        false,
    ),
    // mov rcx, [rsp+0x100] (SIB, disp32)
    (
        &[0x48, 0x8B, 0x8C, 0x24, 0, 1, 0, 0],
        B64,
        8,
        false,
        Width::B8,
        1,
        false,
    ),
];

#[test]
fn forms() {
    for &(bytes, code, len, write, width, reg, high) in CASES {
        let m = decode_mov(bytes, code).unwrap_or_else(|| panic!("{bytes:02x?} not decoded"));
        assert_eq!(
            m,
            MemMov {
                len,
                write,
                width,
                operand: Operand::Reg { reg, high },
            },
            "{bytes:02x?}"
        );
        // Each case is exactly one instruction.
        assert_eq!(usize::from(len), bytes.len(), "{bytes:02x?}");
    }
}

/// MOV of an immediate to memory: C6 /0 ib, C7 /0 iw/id (sign-extended with REX.W).
#[test]
fn immediate_stores() {
    let cases: &[(&[u8], Code, Width, u64)] = &[
        // mov dword [rax+0xf0], 0x1ff (a constant store to the xAPIC page)
        (
            &[0xc7, 0x80, 0xf0, 0, 0, 0, 0xff, 1, 0, 0],
            Code::Bits64,
            Width::B4,
            0x1ff,
        ),
        // mov dword [0xfee000b0], 0 (32-bit code, absolute)
        (
            &[0xc7, 0x05, 0xb0, 0, 0xe0, 0xfe, 0, 0, 0, 0],
            Code::Bits32,
            Width::B4,
            0,
        ),
        // mov byte [rax], 0x12
        (&[0xc6, 0x00, 0x12], Code::Bits64, Width::B1, 0x12),
        // mov word [rax], 0x1234
        (
            &[0x66, 0xc7, 0x00, 0x34, 0x12],
            Code::Bits64,
            Width::B2,
            0x1234,
        ),
        // mov qword [rax], -1 (imm32 sign-extended)
        (
            &[0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff],
            Code::Bits64,
            Width::B8,
            u64::MAX,
        ),
        // mov qword [rax], 0x7fffffff
        (
            &[0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f],
            Code::Bits64,
            Width::B8,
            0x7fff_ffff,
        ),
    ];
    for &(bytes, code, width, imm) in cases {
        let m = decode_mov(bytes, code).unwrap_or_else(|| panic!("{bytes:02x?} not decoded"));
        assert_eq!(
            (usize::from(m.len), m.write, m.width, m.operand),
            (bytes.len(), true, width, Operand::Imm(imm)),
            "{bytes:02x?}"
        );
    }
    // A register operand (no memory), another ModRM reg (not MOV), a cut immediate,
    // a cut ModRM, SIB or displacement, LOCK.
    for bytes in [
        &[0xc7, 0xc0, 1, 0, 0, 0][..],
        &[0xc7, 0x08, 1, 0, 0, 0],
        &[0xc7, 0x00, 1, 0],
        &[0xc7],
        &[0xc7, 0x04],
        &[0xc7, 0x84, 0x08, 0xf0],
        &[0xc7, 0x05, 0, 0],
        &[0xf0, 0xc7, 0x00, 1, 0, 0, 0],
    ] {
        assert_eq!(decode_mov(bytes, Code::Bits64), None, "{bytes:02x?}");
    }
}

#[test]
fn refused() {
    for (bytes, code) in [
        (&[][..], B32),
        (&[0x66], B32),
        (&[0x8B], B32),
        // Register to register.
        (&[0x8B, 0xC1], B32),
        (&[0x48, 0x8B, 0xC1], B64),
        // A MOV of an immediate whose immediate is cut off; CPUID.
        (&[0xC7, 0x05, 0, 0, 0, 0], B32),
        (&[0x0F, 0xA2], B32),
        // 16-bit addressing in 32-bit code.
        (&[0x67, 0x8B, 0x07], B32),
        // A REX byte is INC/DEC in 32-bit code.
        (&[0x48, 0x8B, 0x03], B32),
        // Prefixes beyond the longest instruction.
        (&[0x66; 16], B64),
    ] {
        assert_eq!(decode_mov(bytes, code), None, "{bytes:02x?}");
    }
    // 15 bytes at most: prefixes that push a MOV past them are refused.
    let mut long = [0x3E; 15];
    long[12] = 0x48;
    long[13] = 0x8B;
    long[14] = 0x03;
    assert!(decode_mov(&long, B64).is_some());
    let mut longer = [0x3E; 16];
    longer[13..].copy_from_slice(&[0x48, 0x8B, 0x03]);
    assert_eq!(decode_mov(&longer, B64), None);
}

#[test]
fn the_32_bit_decoder_is_bits32() {
    for &(bytes, code, ..) in CASES.iter().filter(|c| c.1 == B32) {
        assert_eq!(decode_mov32(bytes), decode_mov(bytes, code));
    }
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
    // 8-byte stores (REX.W) are not 32-bit ones.
    assert_eq!(decode_store32(&[0x48, 0x89, 0x08]), None);
    assert_eq!(decode_store32(&[0x48, 0xC7, 0x00, 1, 0, 0, 0]), None);
}

/// The fast form of `decode_store32` (optional REX without W, 0x89) gives what the
/// general decode gives, for every ModRM and a spread of SIB and displacement bytes,
/// also when the bytes run out.
#[test]
fn store32_fast_form_agrees_with_the_general_decode() {
    let rexes = core::iter::once(None).chain((0x40u8..=0x4F).map(Some));
    for rex in rexes {
        for modrm in 0u8..=255 {
            for sib in [0x00u8, 0x24, 0x25, 0x65, 0xE5, 0xFF] {
                let mut b = Vec::new();
                b.extend(rex);
                b.extend([0x89, modrm, sib, 1, 2, 3, 4, 5]);
                for cut in 1..=b.len() {
                    let bytes = &b[..cut];
                    assert_eq!(
                        decode_store32(bytes),
                        store32_general(bytes),
                        "{bytes:02x?}"
                    );
                }
            }
        }
    }
}
