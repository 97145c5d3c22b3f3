//! A guest's general-purpose registers as the VMRUN/VMLAUNCH assembly saves and
//! restores them (the offsets are the assembly's). RSP lives in the VMCS/VMCB; on AMD
//! so does RAX, which the SVM engine copies in and out around VMRUN.

/// General-purpose registers of a vCPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gprs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

const _: () = {
    assert!(core::mem::offset_of!(Gprs, rbx) == 0x08);
    assert!(core::mem::offset_of!(Gprs, rbp) == 0x30);
    assert!(core::mem::offset_of!(Gprs, r15) == 0x70);
};

impl Gprs {
    /// Register `n` in the x86 encoding order (eAX, eCX, eDX, eBX, eSP, eBP, eSI,
    /// eDI, r8..r15); `None` for RSP (not kept here).
    pub fn get_mut(&mut self, n: u8) -> Option<&mut u64> {
        Some(match n {
            0 => &mut self.rax,
            1 => &mut self.rcx,
            2 => &mut self.rdx,
            3 => &mut self.rbx,
            5 => &mut self.rbp,
            6 => &mut self.rsi,
            7 => &mut self.rdi,
            8 => &mut self.r8,
            9 => &mut self.r9,
            10 => &mut self.r10,
            11 => &mut self.r11,
            12 => &mut self.r12,
            13 => &mut self.r13,
            14 => &mut self.r14,
            15 => &mut self.r15,
            _ => return None,
        })
    }
}
