//! The x86_64 test guests booted bare on QEMU q35: their command line and the check
//! that a guest ELF is a PVH kernel.
//!
//! ```text
//! qemu-system-x86_64 -M q35 -cpu max [-icount shift=0,sleep=off] -smp 2 -m 512M
//!     -no-reboot <console> -nic none -kernel target/guests/<guest>-x86.elf -append ARGS
//! ```
//!
//! QEMU boots an ELF with the `XEN_ELFNOTE_PHYS32_ENTRY` note the PVH way (its
//! `pvh.bin` option ROM, from qemu-system-data, builds `hvm_start_info`). `-no-reboot`
//! turns a guest reset into an exit; the guest's ACPI S5 ends QEMU with status 0.

use anyhow::{bail, Context, Result};
use rtvisor::qemu::{ConsoleMode, Icount};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::machine::QEMU_X86;

/// The QEMU program to start: `$RTVISOR_QEMU_X86` or [`QEMU_X86`].
pub fn program() -> String {
    std::env::var("RTVISOR_QEMU_X86").unwrap_or_else(|_| QEMU_X86.to_owned())
}

/// A bare x86 guest on q35 (no hypervisor, no devices but the board's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X86Qemu {
    pub program: String,
    pub icount: Option<Icount>,
    pub smp: u32,
    pub memory_mib: u64,
    pub console: ConsoleMode,
    pub kernel: PathBuf,
    /// QEMU's `-initrd` (the PVH loader hands it over in `hvm_start_info`).
    pub initrd: Option<PathBuf>,
    pub append: String,
}

impl X86Qemu {
    /// `kernel` (a PVH ELF) with `append`, on 2 CPUs and 512 MiB, console captured.
    pub fn bare(kernel: &Path, append: &str) -> X86Qemu {
        X86Qemu {
            program: program(),
            icount: None,
            smp: 2,
            memory_mib: 512,
            console: ConsoleMode::Captured,
            kernel: kernel.to_path_buf(),
            initrd: None,
            append: append.to_owned(),
        }
    }

    /// The arguments, without the program.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-M", "q35", "-cpu", "max"].map(String::from).to_vec();
        if let Some(ic) = self.icount {
            a.extend(["-icount".into(), ic.to_string()]);
        }
        a.extend([
            "-smp".into(),
            self.smp.to_string(),
            "-m".into(),
            format!("{}M", self.memory_mib),
            "-no-reboot".into(),
        ]);
        match self.console {
            ConsoleMode::Interactive => a.push("-nographic".into()),
            ConsoleMode::Captured => a.extend(
                ["-display", "none", "-serial", "stdio", "-monitor", "none"].map(String::from),
            ),
        }
        a.extend(["-nic".into(), "none".into()]);
        a.extend(["-kernel".into(), self.kernel.display().to_string()]);
        if let Some(i) = &self.initrd {
            a.extend(["-initrd".into(), i.display().to_string()]);
        }
        a.extend(["-append".into(), self.append.clone()]);
        a
    }

    /// The command, ready to spawn.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(self.args());
        c
    }

    /// The command line as a user would type it.
    pub fn line(&self) -> String {
        crate::util::show(&self.command())
    }
}

/// `XEN_ELFNOTE_PHYS32_ENTRY`.
const PHYS32_ENTRY: u32 = 18;

/// The PVH entry point of an ELF64 file: the value of its `Xen` note of type
/// `XEN_ELFNOTE_PHYS32_ENTRY` in a PT_NOTE segment (what QEMU and the hypervisor
/// look for). Errors say what is missing.
pub fn pvh_entry(elf: &[u8]) -> Result<u64> {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        bail!("not an ELF64 file");
    }
    if u16_at(18) != Some(62) {
        bail!("not an x86_64 ELF (e_machine {:?})", u16_at(18));
    }
    let phoff = u64_at(32).context("truncated ELF header")? as usize;
    let phentsize = usize::from(u16_at(54).context("truncated ELF header")?);
    let phnum = usize::from(u16_at(56).context("truncated ELF header")?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph) != Some(4) {
            continue; // not PT_NOTE
        }
        let (off, size) = (
            u64_at(ph + 8).context("truncated program header")? as usize,
            u64_at(ph + 32).context("truncated program header")? as usize,
        );
        let mut n = off;
        while n + 12 <= off + size {
            let namesz = u32_at(n).context("truncated note")? as usize;
            let descsz = u32_at(n + 4).context("truncated note")? as usize;
            let kind = u32_at(n + 8).context("truncated note")?;
            let name = n + 12;
            let desc = name + namesz.next_multiple_of(4);
            if elf.get(name..name + namesz) == Some(b"Xen\0") && kind == PHYS32_ENTRY {
                return match descsz {
                    4 => Ok(u64::from(u32_at(desc).context("truncated note")?)),
                    8 => u64_at(desc).context("truncated note"),
                    _ => bail!("XEN_ELFNOTE_PHYS32_ENTRY of {descsz} bytes"),
                };
            }
            n = desc + descsz.next_multiple_of(4);
        }
    }
    bail!("no XEN_ELFNOTE_PHYS32_ENTRY note in a PT_NOTE segment (not a PVH kernel)")
}

/// Checks that the file at `path` is a PVH ELF below 4 GiB; returns its entry.
pub fn check_pvh(path: &Path) -> Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let entry = pvh_entry(&bytes).with_context(|| path.display().to_string())?;
    if entry >= 1 << 32 {
        bail!(
            "{}: PVH entry {entry:#x} is not a 32-bit address",
            path.display()
        );
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bare_line_is_q35_with_no_nic() {
        let mut q = X86Qemu::bare(Path::new("/g/rtbench-x86.elf"), "count=3 vcpus=2");
        q.program = QEMU_X86.into();
        assert_eq!(
            q.line(),
            "qemu-system-x86_64 -M q35 -cpu max -smp 2 -m 512M -no-reboot -display none \
             -serial stdio -monitor none -nic none -kernel /g/rtbench-x86.elf \
             -append 'count=3 vcpus=2'"
        );
        q.icount = Some(Icount::BENCH);
        q.console = ConsoleMode::Interactive;
        assert!(q
            .line()
            .starts_with("qemu-system-x86_64 -M q35 -cpu max -icount shift=0,sleep=off -smp 2"));
        assert!(q.line().contains(" -nographic -nic none "));
    }

    /// A minimal ELF64 with one PT_NOTE holding `notes`.
    fn elf_with_notes(notes: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..5].copy_from_slice(b"\x7fELF\x02");
        e[18..20].copy_from_slice(&62u16.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        e[64..68].copy_from_slice(&4u32.to_le_bytes());
        e[72..80].copy_from_slice(&120u64.to_le_bytes());
        e[96..104].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        e.extend_from_slice(notes);
        e
    }

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend((name.len() as u32).to_le_bytes());
        n.extend((desc.len() as u32).to_le_bytes());
        n.extend(kind.to_le_bytes());
        n.extend(name);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    #[test]
    fn finds_the_pvh_note_among_others() {
        let mut notes = note(b"GNU\0", 3, &[1, 2, 3, 4, 5]);
        notes.extend(note(b"Xen\0", 18, &0x10_0040u64.to_le_bytes()));
        assert_eq!(pvh_entry(&elf_with_notes(&notes)).unwrap(), 0x10_0040);
        let short = note(b"Xen\0", 18, &0x10_0000u32.to_le_bytes());
        assert_eq!(pvh_entry(&elf_with_notes(&short)).unwrap(), 0x10_0000);
    }

    #[test]
    fn refuses_what_is_not_pvh() {
        let other = note(b"Xen\0", 17, &0x10_0040u64.to_le_bytes());
        let e = pvh_entry(&elf_with_notes(&other)).unwrap_err();
        assert!(e.to_string().contains("not a PVH kernel"), "{e}");
        assert!(pvh_entry(b"\x7fELF\x01").is_err());
        let mut arm = elf_with_notes(&[]);
        arm[18] = 183;
        assert!(pvh_entry(&arm).unwrap_err().to_string().contains("x86_64"));
    }
}
