//! `/bin/vclock` of the initramfs: a 248-byte static arm64 Linux program that prints the
//! virtual counter (CNTVCT_EL0) and its frequency (CNTFRQ_EL0) as two 16-digit hex
//! numbers, `<ticks> <hz>\n`.
//!
//! Under QEMU the counter starts at 0 when the machine starts, and under rtvisor a VM's
//! virtual counter offset is 0: so the same program in the same initramfs tells, bare
//! and under the hypervisor, how much virtual time passed since QEMU started (the
//! Linux boot row of `cargo xtask bench`). Linux lets EL0 read the virtual counter (its
//! vDSO does). Busybox has nothing that reads it, and the project cross-compiles no
//! Linux user programs, so the few instructions are written out here, each with its
//! assembly (checked against `llvm-mc -triple=aarch64 -show-encoding`).

/// Where the program is loaded (one PT_LOAD of the whole file, read + execute).
const BASE: u64 = 0x40_0000;
/// The ELF header's size and the program header's.
const EHDR: usize = 64;
const PHDR: usize = 56;

/// The code, one instruction a word.
const CODE: [u32; 32] = [
    0xd503_3fdf, //  0 isb
    0xd53b_e053, //  1 mrs  x19, cntvct_el0
    0xd53b_e014, //  2 mrs  x20, cntfrq_el0
    0xd100_c3ff, //  3 sub  sp, sp, #48          // the line is built at sp
    0x9100_03e3, //  4 mov  x3, sp               // x3: where the next byte goes
    0xaa13_03e0, //  5 mov  x0, x19
    0x9400_000f, //  6 bl   hex (15)
    0x5280_0404, //  7 mov  w4, #' '
    0x3800_1464, //  8 strb w4, [x3], #1
    0xaa14_03e0, //  9 mov  x0, x20
    0x9400_000b, // 10 bl   hex (21)
    0x5280_0144, // 11 mov  w4, #'\n'
    0x3800_1464, // 12 strb w4, [x3], #1
    0xd280_0020, // 13 mov  x0, #1               // stdout
    0x9100_03e1, // 14 mov  x1, sp
    0xcb01_0062, // 15 sub  x2, x3, x1
    0xd280_0808, // 16 mov  x8, #64              // write
    0xd400_0001, // 17 svc  #0
    0xd280_0000, // 18 mov  x0, #0
    0xd280_0ba8, // 19 mov  x8, #93              // exit
    0xd400_0001, // 20 svc  #0
    0xd280_0205, // 21 hex: mov x5, #16          // x0 as 16 hex digits at x3
    0x93c0_f000, // 22 1: ror x0, x0, #60        // the top nibble to the bottom
    0x9240_0c04, // 23 and  x4, x0, #0xf
    0xf100_289f, // 24 cmp  x4, #10
    0x9100_c086, // 25 add  x6, x4, #'0'
    0x9101_5c87, // 26 add  x7, x4, #('a' - 10)
    0x9a87_30c4, // 27 csel x4, x6, x7, lo
    0x3800_1464, // 28 strb w4, [x3], #1
    0xf100_04a5, // 29 subs x5, x5, #1
    0x54ff_ff01, // 30 b.ne 1b (22)
    0xd65f_03c0, // 31 ret
];

/// The program: ELF header, one program header, the code.
pub fn elf() -> Vec<u8> {
    let code: Vec<u8> = CODE.iter().flat_map(|w| w.to_le_bytes()).collect();
    program(EM_AARCH64, &code)
}

/// `e_machine` of arm64 and of x86_64.
pub(crate) const EM_AARCH64: u16 = 183;
pub(crate) const EM_X86_64: u16 = 62;

/// A static Linux program for machine `machine`: ELF header, one program header
/// (the whole file, read + execute, at [`BASE`]), then `code`, entered at its first
/// byte.
pub(crate) fn program(machine: u16, code: &[u8]) -> Vec<u8> {
    let size = (EHDR + PHDR + code.len()) as u64;
    let mut e = Vec::with_capacity(size as usize);
    // e_ident: ELF, 64-bit, little-endian, version 1, System V ABI.
    e.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    e.extend_from_slice(&[0; 8]);
    let h16 = |e: &mut Vec<u8>, v: u16| e.extend_from_slice(&v.to_le_bytes());
    let h32 = |e: &mut Vec<u8>, v: u32| e.extend_from_slice(&v.to_le_bytes());
    let h64 = |e: &mut Vec<u8>, v: u64| e.extend_from_slice(&v.to_le_bytes());
    h16(&mut e, 2); // e_type: ET_EXEC
    h16(&mut e, machine); // e_machine
    h32(&mut e, 1); // e_version
    h64(&mut e, BASE + (EHDR + PHDR) as u64); // e_entry: the first instruction
    h64(&mut e, EHDR as u64); // e_phoff
    h64(&mut e, 0); // e_shoff: no sections
    h32(&mut e, 0); // e_flags
    h16(&mut e, EHDR as u16); // e_ehsize
    h16(&mut e, PHDR as u16); // e_phentsize
    h16(&mut e, 1); // e_phnum
    h16(&mut e, 64); // e_shentsize
    h16(&mut e, 0); // e_shnum
    h16(&mut e, 0); // e_shstrndx
    h32(&mut e, 1); // p_type: PT_LOAD
    h32(&mut e, 5); // p_flags: R + X
    h64(&mut e, 0); // p_offset
    h64(&mut e, BASE); // p_vaddr
    h64(&mut e, BASE); // p_paddr
    h64(&mut e, size); // p_filesz
    h64(&mut e, size); // p_memsz
    h64(&mut e, 0x1000); // p_align
    e.extend_from_slice(code);
    e
}

/// Parses vclock's output `<ticks> <hz>` (hex) into virtual nanoseconds since the
/// machine started; none when it is not that or the frequency is 0.
pub fn nanoseconds(ticks_hex: &str, hz_hex: &str) -> Option<u64> {
    let ticks = u64::from_str_radix(ticks_hex, 16).ok()?;
    let hz = u64::from_str_radix(hz_hex, 16).ok()?;
    if hz == 0 {
        return None;
    }
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(hz)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_elf_header_points_at_the_code() {
        let e = elf();
        assert_eq!(e.len(), EHDR + PHDR + 4 * CODE.len());
        assert_eq!(&e[..4], b"\x7fELF");
        let u64_at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap());
        let u16_at = |o: usize| u16::from_le_bytes(e[o..o + 2].try_into().unwrap());
        assert_eq!(u16_at(18), 183, "EM_AARCH64");
        let entry = u64_at(24);
        let off = usize::try_from(entry - BASE).unwrap();
        // The entry is the first instruction (isb), the file ends with ret.
        assert_eq!(&e[off..off + 4], &0xd503_3fdf_u32.to_le_bytes());
        assert_eq!(&e[e.len() - 4..], &0xd65f_03c0_u32.to_le_bytes());
        // One PT_LOAD covering the whole file.
        assert_eq!(u64_at(EHDR + 32), e.len() as u64);
    }

    #[test]
    fn branches_land_on_their_labels() {
        // bl: imm26, b.cond: imm19 at bit 5, both in instructions.
        let bl = |i: usize| i + (CODE[i] & 0x03ff_ffff) as usize;
        assert_eq!(bl(6), 21);
        assert_eq!(bl(10), 21);
        let imm19 = ((CODE[30] >> 5) & 0x7_ffff) as i32;
        let back = (imm19 << 13) >> 13;
        assert_eq!(30 + back, 22);
    }

    #[test]
    fn nanoseconds_at_qemu_s_frequency() {
        // 62.5 MHz: 16 ns a tick.
        assert_eq!(
            nanoseconds("0000000005f5e100", "0000000003b9aca0"),
            Some(1_600_000_000)
        );
        assert_eq!(
            nanoseconds("0000000000000064", "0000000003b9aca0"),
            Some(1_600)
        );
        assert_eq!(nanoseconds("10", "0"), None);
        assert_eq!(nanoseconds("xyz", "10"), None);
    }
}
