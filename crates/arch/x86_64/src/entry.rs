//! The state a vCPU starts in, the same for both vendors: the PVH entry (the boot
//! protocol of Linux, Xen, QEMU and Cloud Hypervisor): 32-bit flat protected mode,
//! paging off, CS a 4 GiB execute/read segment, DS/ES/SS/FS/GS 4 GiB read/write
//! segments, a busy 32-bit TSS in TR, EFLAGS with only the fixed bit, EBX the
//! guest-physical address of the start-info structure. The selectors are the ones a
//! GDT of null, code, data, TSS would give; the guest loads its own GDT before it
//! reloads a segment.

/// A segment register. `ar` is in the VMX access-rights format: access byte in bits
/// 7:0, AVL/L/D/G in bits 15:12, bit 16 "unusable".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    pub ar: u32,
}

pub const AR_UNUSABLE: u32 = 1 << 16;

impl Seg {
    /// The VMCB's compressed attribute: access byte in 7:0, AVL/L/D/G in 11:8.
    pub const fn svm_attrib(&self) -> u16 {
        if self.ar & AR_UNUSABLE != 0 {
            return 0;
        }
        ((self.ar & 0xFF) | ((self.ar >> 4) & 0xF00)) as u16
    }
}

/// Where a vCPU starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryState {
    pub cs: Seg,
    /// DS, ES, SS, FS and GS.
    pub data: Seg,
    pub tr: Seg,
    pub ldtr: Seg,
    pub cr0: u64,
    pub cr4: u64,
    pub rflags: u64,
    pub rip: u64,
    pub rbx: u64,
}

/// CR0.PE and CR0.ET (the latter is fixed to 1 on every CPU since the 486).
pub const CR0_PE_ET: u64 = 0x11;

/// A flat 4 GiB segment (G=1, D=1) with `access`.
const fn flat(selector: u16, access: u32) -> Seg {
    Seg {
        selector,
        base: 0,
        limit: 0xFFFF_FFFF,
        ar: access | 0xC000,
    }
}

/// The PVH entry at `rip` with `ebx` (the start-info address).
pub const fn pvh(rip: u32, ebx: u32) -> EntryState {
    EntryState {
        cs: flat(0x08, 0x9B),
        data: flat(0x10, 0x93),
        tr: Seg {
            selector: 0x18,
            base: 0,
            limit: 0x67,
            ar: 0x8B,
        },
        ldtr: Seg {
            selector: 0,
            base: 0,
            limit: 0,
            ar: AR_UNUSABLE,
        },
        cr0: CR0_PE_ET,
        cr4: 0,
        rflags: 0x2,
        rip: rip as u64,
        rbx: ebx as u64,
    }
}

/// Where an application processor starts after a start-up IPI of vector `page >>
/// 12`: real mode, CS selector `page >> 4` with base `page`, IP 0, 64 KiB segments,
/// paging and protection off (the state INIT leaves with the SIPI's CS:IP).
pub const fn sipi(page: u64) -> EntryState {
    EntryState {
        cs: real((page >> 4) as u16, page & 0xF_F000, 0x9B),
        data: real(0, 0, 0x93),
        tr: real(0, 0, 0x8B),
        ldtr: Seg {
            selector: 0,
            base: 0,
            limit: 0xFFFF,
            ar: 0x82,
        },
        cr0: CR0_ET,
        cr4: 0,
        rflags: 0x2,
        rip: 0,
        rbx: 0,
    }
}

/// A 64 KiB real-mode segment.
const fn real(selector: u16, base: u64, access: u32) -> Seg {
    Seg {
        selector,
        base,
        limit: 0xFFFF,
        ar: access,
    }
}

/// CR0.ET alone (real mode).
pub const CR0_ET: u64 = 0x10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvh_state() {
        let s = pvh(0x10_0000, 0x5000);
        assert_eq!((s.rip, s.rbx, s.cr0 & 0x8000_0001), (0x10_0000, 0x5000, 1));
        assert_eq!(s.cs.ar, 0xC09B);
        assert_eq!(s.cs.svm_attrib(), 0xC9B);
        assert_eq!(s.data.svm_attrib(), 0xC93);
        assert_eq!(s.tr.svm_attrib(), 0x8B);
        assert_eq!(s.ldtr.svm_attrib(), 0);
    }

    #[test]
    fn sipi_state_is_real_mode_at_the_vector_page() {
        let s = sipi(0x8000);
        assert_eq!((s.cs.selector, s.cs.base, s.rip), (0x800, 0x8000, 0));
        assert_eq!(s.cr0 & 1, 0);
        assert_eq!((s.cs.limit, s.data.limit), (0xFFFF, 0xFFFF));
        assert_eq!(s.cs.svm_attrib(), 0x9B);
    }
}
