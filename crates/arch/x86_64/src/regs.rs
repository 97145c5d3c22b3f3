//! A guest's general-purpose registers as the VMRUN/VMLAUNCH assembly saves and
//! restores them (the offsets are the assembly's). RSP lives in the VMCS/VMCB; on AMD
//! so does RAX, which the SVM engine copies in and out around VMRUN.

/// Assembly (Intel syntax) for the world switches: loads RBX, RCX, RDX, RBP and
/// R8-R15 from the [`Gprs`] at register `$base`; each engine loads RAX, RSI and RDI
/// its own way (one of them is the base).
#[cfg(target_os = "none")]
macro_rules! load_gprs {
    ($base:literal) => {
        concat!(
            "mov rbx, [",
            $base,
            " + 0x08]\n",
            "mov rcx, [",
            $base,
            " + 0x10]\n",
            "mov rdx, [",
            $base,
            " + 0x18]\n",
            "mov rbp, [",
            $base,
            " + 0x30]\n",
            "mov r8, [",
            $base,
            " + 0x38]\n",
            "mov r9, [",
            $base,
            " + 0x40]\n",
            "mov r10, [",
            $base,
            " + 0x48]\n",
            "mov r11, [",
            $base,
            " + 0x50]\n",
            "mov r12, [",
            $base,
            " + 0x58]\n",
            "mov r13, [",
            $base,
            " + 0x60]\n",
            "mov r14, [",
            $base,
            " + 0x68]\n",
            "mov r15, [",
            $base,
            " + 0x70]\n",
        )
    };
}

/// Assembly that saves the host's callee-saved registers at a world switch's start
/// (System V: RBP, RBX, R12-R15); [`pop_callee_saved_ret`] undoes it.
#[cfg(target_os = "none")]
macro_rules! push_callee_saved {
    () => {
        "push rbp\npush rbx\npush r12\npush r13\npush r14\npush r15\n"
    };
}

/// Assembly that restores what [`push_callee_saved`] saved and returns.
#[cfg(target_os = "none")]
macro_rules! pop_callee_saved_ret {
    () => {
        "pop r15\npop r14\npop r13\npop r12\npop rbx\npop rbp\nret\n"
    };
}

/// Assembly (AT&T syntax) that saves the registers a System V call may clobber
/// (RAX, RCX, RDX, RSI, RDI, R8-R11) at an interrupt stub's start, before it calls
/// Rust; [`pop_scratch_but_rax`] and a `pop %rax` undo it.
#[cfg(target_os = "none")]
macro_rules! push_scratch {
    () => {
        concat!("push %rax\n", push_scratch_but_rax!())
    };
}

/// Assembly (AT&T syntax): [`push_scratch`] after RAX (a stub that saved RAX first
/// to load its vector into it).
#[cfg(target_os = "none")]
macro_rules! push_scratch_but_rax {
    () => {
        "push %rcx\npush %rdx\npush %rsi\npush %rdi\n\
         push %r8\npush %r9\npush %r10\npush %r11\n"
    };
}

/// Assembly (AT&T syntax) that restores what [`push_scratch`] saved but RAX, which
/// is left on the stack for the stub to pop (the NMI stub tests the call's answer
/// in AL first).
#[cfg(target_os = "none")]
macro_rules! pop_scratch_but_rax {
    () => {
        "pop %r11\npop %r10\npop %r9\npop %r8\n\
         pop %rdi\npop %rsi\npop %rdx\npop %rcx\n"
    };
}

/// Assembly that stores the guest's RBX..R15 into the [`Gprs`] at RAX after an exit
/// (RAX itself is each engine's business).
#[cfg(target_os = "none")]
macro_rules! store_gprs_at_rax {
    () => {
        concat!(
            "mov [rax + 0x08], rbx\n",
            "mov [rax + 0x10], rcx\n",
            "mov [rax + 0x18], rdx\n",
            "mov [rax + 0x20], rsi\n",
            "mov [rax + 0x28], rdi\n",
            "mov [rax + 0x30], rbp\n",
            "mov [rax + 0x38], r8\n",
            "mov [rax + 0x40], r9\n",
            "mov [rax + 0x48], r10\n",
            "mov [rax + 0x50], r11\n",
            "mov [rax + 0x58], r12\n",
            "mov [rax + 0x60], r13\n",
            "mov [rax + 0x68], r14\n",
            "mov [rax + 0x70], r15\n",
        )
    };
}

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
