//! `/bin/vclock` of the x86 initramfs: a static x86_64 Linux program that prints the
//! time-stamp counter (RDTSC) as `<ticks> <hz>\n`, two 16-digit hex numbers, as the
//! arm64 program (`vclock.rs`) prints its virtual counter. The program has no way to
//! know the TSC's rate that both machines agree on (bare QEMU has no CPUID leaf 0x15,
//! rtvisor's is the rate it measured), so `<hz>` is 0 and the reader supplies the
//! rate of its machine: under QEMU's `-icount shift=0` the TSC counts one tick per
//! virtual nanosecond, bare and under rtvisor (whose VMs have a TSC offset of 0).
//!
//! The TSC starts at 0 when QEMU starts the machine, so the figure is virtual time
//! since then (the x86 Linux boot row of `cargo xtask bench`). The instructions are
//! written out with their assembly (checked with GNU `as` and `objdump -d`).

use super::vclock::{program, EM_X86_64};

/// The code, with its offsets.
const CODE: &[u8] = &[
    0x0f, 0x31, //                00 rdtsc
    0x48, 0xc1, 0xe2, 0x20, //    02 shl  rdx, 32
    0x48, 0x09, 0xd0, //          06 or   rax, rdx             // rax: the TSC
    0x48, 0x83, 0xec, 0x30, //    09 sub  rsp, 48              // the line is built at rsp
    0x48, 0x89,
    0xe7, //          0d mov  rdi, rsp             // rdi: where the next byte goes
    0xe8, 0x31, 0x00, 0x00, 0x00, // 10 call hex (46)
    0xc6, 0x07, 0x20, //          15 mov  byte [rdi], ' '
    0x48, 0xff, 0xc7, //          18 inc  rdi
    0x31, 0xc0, //                1b xor  eax, eax             // hz: not known here
    0xe8, 0x24, 0x00, 0x00, 0x00, // 1d call hex (46)
    0xc6, 0x07, 0x0a, //          22 mov  byte [rdi], '\n'
    0x48, 0xff, 0xc7, //          25 inc  rdi
    0x48, 0x89, 0xe6, //          28 mov  rsi, rsp
    0x48, 0x89, 0xfa, //          2b mov  rdx, rdi
    0x48, 0x29, 0xf2, //          2e sub  rdx, rsi             // the line's length
    0xbf, 0x01, 0x00, 0x00, 0x00, // 31 mov edi, 1             // stdout
    0xb8, 0x01, 0x00, 0x00, 0x00, // 36 mov eax, 1             // write
    0x0f, 0x05, //                3b syscall
    0x31, 0xff, //                3d xor  edi, edi
    0xb8, 0x3c, 0x00, 0x00, 0x00, // 3f mov eax, 60            // exit
    0x0f, 0x05, //                44 syscall
    0xb9, 0x10, 0x00, 0x00, 0x00, // 46 hex: mov ecx, 16       // rax as 16 hex digits at rdi
    0x48, 0xc1, 0xc0, 0x04, //    4b 1: rol rax, 4             // the top nibble to the bottom
    0x89, 0xc2, //                4f mov  edx, eax
    0x83, 0xe2, 0x0f, //          51 and  edx, 15
    0x44, 0x8d, 0x42, 0x30, //    54 lea  r8d, [rdx + '0']
    0x44, 0x8d, 0x4a, 0x57, //    58 lea  r9d, [rdx + 'a' - 10]
    0x83, 0xfa, 0x0a, //          5c cmp  edx, 10
    0x45, 0x0f, 0x43, 0xc1, //    5f cmovae r8d, r9d
    0x44, 0x88, 0x07, //          63 mov  byte [rdi], r8b
    0x48, 0xff, 0xc7, //          66 inc  rdi
    0xff, 0xc9, //                69 dec  ecx
    0x75, 0xde, //                6b jnz  1b (4b)
    0xc3, //                      6d ret
];

/// The program.
pub fn elf() -> Vec<u8> {
    program(EM_X86_64, CODE)
}

/// The TSC ticks per second under QEMU's `-icount shift=0`: one a virtual ns.
pub const ICOUNT_TSC_HZ: u64 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_x86_64_program_entered_at_rdtsc() {
        let e = elf();
        assert_eq!(&e[..4], b"\x7fELF");
        let u16_at = |o: usize| u16::from_le_bytes(e[o..o + 2].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap());
        assert_eq!(u16_at(18), 62, "EM_X86_64");
        let off = usize::try_from(u64_at(24) - 0x40_0000).unwrap();
        assert_eq!(&e[off..off + 2], &[0x0f, 0x31], "rdtsc first");
        assert_eq!(e.last(), Some(&0xc3), "ret last");
        assert_eq!(u64_at(64 + 32), e.len() as u64, "one PT_LOAD of the file");
    }

    #[test]
    fn calls_and_the_loop_land_on_their_labels() {
        // call rel32 and jnz rel8 count from the next instruction.
        let rel32 = |at: usize| {
            let r = i32::from_le_bytes(CODE[at + 1..at + 5].try_into().unwrap());
            (at as i64 + 5 + i64::from(r)) as usize
        };
        assert_eq!(rel32(0x10), 0x46);
        assert_eq!(rel32(0x1d), 0x46);
        assert_eq!(CODE[0x6b], 0x75);
        let back = 0x6d + i64::from(CODE[0x6c] as i8);
        assert_eq!(back, 0x4b);
        assert_eq!(CODE.len(), 0x6e);
    }

    /// Runs the program on this host when it is an x86_64 Linux: one line of two
    /// 16-digit hex numbers, the second 0.
    #[test]
    fn it_prints_the_tsc_and_no_rate() {
        if (std::env::consts::ARCH, std::env::consts::OS) != ("x86_64", "linux") {
            return;
        }
        let dir = std::env::temp_dir().join(format!("vclock-x86-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vclock");
        std::fs::write(&path, elf()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new(&path).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8(out.stdout).unwrap();
        let words: Vec<&str> = text.trim_end().split(' ').collect();
        assert!(text.ends_with('\n') && words.len() == 2, "{text:?}");
        assert!(words.iter().all(|w| w.len() == 16));
        assert!(u64::from_str_radix(words[0], 16).unwrap() > 0);
        assert_eq!(words[1], "0000000000000000");
    }
}
