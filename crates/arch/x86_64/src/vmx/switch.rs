//! The VT-x world switch in assembly: the host's RSP and RIP for the exit, the
//! guest's general-purpose registers loaded before VMLAUNCH/VMRESUME and saved after
//! the exit, and the light path that answers the null call without leaving it
//! (`crate::light`).

use super::fields::{EXIT_INSTRUCTION_LEN, EXIT_REASON, GUEST_INTERRUPTIBILITY, GUEST_RIP};
use crate::regs::Gprs;
use core::arch::global_asm;

unsafe extern "C" {
    /// The world switch (below); returns 0 after an exit, 1 if the entry failed.
    /// `light` non-zero: the null call is answered without leaving it.
    fn x86_vmx_run(gprs: *mut Gprs, launched: u64, light: u64) -> u64;
}

global_asm!(
    ".global x86_vmx_run",
    "x86_vmx_run:",
    push_callee_saved!(),
    "push rdx",
    "push rdi",
    // Host RSP and RIP for the exit: this stack (gprs pointer on top, `light` under
    // it), label 1.
    "mov rax, 0x6C14",
    "vmwrite rax, rsp",
    "lea rdx, [rip + 1f]",
    "mov rax, 0x6C16",
    "vmwrite rax, rdx",
    "cmp rsi, 0",
    "mov rax, [rdi + 0x00]",
    load_gprs!("rdi"),
    "mov rsi, [rdi + 0x20]",
    "mov rdi, [rdi + 0x28]",
    "jne 2f",
    "vmlaunch",
    "jmp 3f",
    "2:",
    "vmresume",
    // Only reached when the entry failed.
    "3:",
    "add rsp, 16",
    "mov eax, 1",
    "jmp 4f",
    "1:",
    "push rax",
    "mov rax, [rsp + 8]",
    store_gprs_at_rax!(),
    "pop rbx",
    "mov [rax], rbx",
    // The light path (when `light` is set): a VMCALL whose RAX (in RBX here) is
    // 0x8600_0000 or 0xC600_0000, the null call, gets VERSION in RAX, RIP moves past
    // the instruction, blocking by STI or MOV SS ends (as `set_rip` does), and the
    // guest runs again. Anything else returns to `run`.
    "cmp qword ptr [rsp + 8], 0",
    "je 5f",
    "mov ecx, {exit_reason}",
    "vmread rdx, rcx",
    "cmp rdx, {vmcall}",
    "jne 5f",
    "test ebx, 0xFFFFFF",
    "jnz 5f",
    "shr rbx, 24",
    "or ebx, 0x40",
    "cmp rbx, 0xC6",
    "jne 5f",
    "mov qword ptr [rax], {version}",
    "mov ecx, {guest_rip}",
    "vmread rdx, rcx",
    "mov esi, {insn_len}",
    "vmread rsi, rsi",
    "add rdx, rsi",
    "vmwrite rcx, rdx",
    "mov ecx, {interruptibility}",
    "vmread rdx, rcx",
    "test edx, 3",
    "jz 6f",
    "and edx, -4",
    "vmwrite rcx, rdx",
    "6:",
    "mov rdi, rax",
    "mov rax, [rdi + 0x00]",
    load_gprs!("rdi"),
    "mov rsi, [rdi + 0x20]",
    "mov rdi, [rdi + 0x28]",
    "vmresume",
    "jmp 3b",
    "5:",
    "add rsp, 16",
    "xor eax, eax",
    "4:",
    pop_callee_saved_ret!(),
    exit_reason = const EXIT_REASON,
    vmcall = const super::decode::reason::VMCALL,
    version = const crate::light::VERSION,
    guest_rip = const GUEST_RIP,
    insn_len = const EXIT_INSTRUCTION_LEN,
    interruptibility = const GUEST_INTERRUPTIBILITY,
);

/// Enters the guest of the current VMCS with `gprs` (VMLAUNCH unless `launched`);
/// `false` if the entry failed (VM_INSTRUCTION_ERROR says why), else `true` after
/// the exit, with the guest's registers back in `gprs`.
///
/// # Safety
/// A VMCS is current on this CPU and holds checked controls, host and guest state
/// (EPT maps only the VM's memory; HLT, I/O, MSRs, the host's interrupts and NMIs
/// exit). With `light`, the VMCS's "save VMX-preemption timer value" is on or the
/// preemption timer is off (a run the light path continues keeps its deadline).
pub unsafe fn enter(gprs: &mut Gprs, launched: bool, light: bool) -> bool {
    // SAFETY: the caller's contract; the assembly keeps the host's callee-saved
    // registers, and the exit restores RSP/RIP from the VMCS.
    let failed = unsafe { x86_vmx_run(gprs, u64::from(launched), u64::from(light)) };
    failed == 0
}
