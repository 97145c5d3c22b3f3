//! Runs one vCPU with VMLAUNCH/VMRESUME: its VMCS (from a boot-time page), controls
//! from the capability MSRs (unrestricted guest, EPT, VPID, I/O and MSR bitmaps, HLT
//! and the host's interrupts and NMIs exiting), the host state, the entry state, and
//! the world switch in assembly (the guest's general-purpose registers loaded before
//! entry and saved after the exit).

use super::controls::{self, adjust, Missing};
use super::decode::{decode, ExitState};
use super::fields::*;
use super::vmcs::{vmread, vmwrite};
use crate::cpu::rdmsr;
use crate::entry::EntryState;
use crate::exit::{Decoded, Regs3};
use crate::inject::{self, Interruptible};
use crate::regs::Gprs;
use crate::vcpu::VcpuEngine;
use crate::vendor::{apply_fixed, msr, VmxCaps};
use core::arch::{asm, global_asm};
use rtvisor_addr::Hpa;

/// The guest PAT at reset.
const PAT_RESET: u64 = 0x0007_0406_0007_0406;
/// CR4.VMXE: required by the fixed bits in the guest's CR4 too; hidden from it.
const CR4_VMXE: u64 = crate::cr::CR4_VMXE;
/// The CR4 bits the hypervisor owns: VMXE (above) and SMXE (no VM gets SMX). The
/// guest reads them from the shadow (0); a MOV that sets one exits.
const CR4_OWNED: u64 = CR4_VMXE | crate::cr::CR4_SMXE;

/// What a vCPU needs from its VM.
#[derive(Debug, Clone, Copy)]
pub struct VmxSetup {
    pub io_a: Hpa,
    pub io_b: Hpa,
    pub msr_bitmap: Hpa,
    /// The EPT pointer (`Stage2::eptp`).
    pub eptp: u64,
    /// 1.. ; one per VM.
    pub vpid: u16,
    pub caps: VmxCaps,
}

/// Why a vCPU could not be set up or entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmxFail {
    /// The CPU lacks a control the engine needs.
    Missing(Missing),
    /// VMCLEAR or VMPTRLD failed.
    Vmcs,
    /// A VMWRITE failed (field encoding).
    Write(u32),
    /// VMLAUNCH/VMRESUME failed; the VM-instruction error number.
    Entry(u64),
}

/// A 4 KiB VMCS region.
#[repr(C, align(4096))]
pub struct Vmcs(pub [u8; 4096]);

/// One vCPU on VT-x. Its VMCS is current on this CPU from `new` on.
pub struct VmxVcpu {
    vmcs: &'static mut Vmcs,
    pub gprs: Gprs,
    launched: bool,
    /// The VMX-preemption timer's rate (IA32_VMX_MISC bits 4:0), when it is on.
    preemption_shift: Option<u32>,
    /// The last entry failure (reported by `run` as an unknown exit).
    pub failure: Option<VmxFail>,
}

unsafe extern "C" {
    /// The world switch (below); returns 0 after an exit, 1 if the entry failed.
    fn x86_vmx_run(gprs: *mut Gprs, launched: u64) -> u64;
}

global_asm!(
    ".global x86_vmx_run",
    "x86_vmx_run:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    // Host RSP and RIP for the exit: this stack (gprs pointer on top), label 1.
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
    "add rsp, 8",
    "mov eax, 1",
    "jmp 4f",
    "1:",
    "push rax",
    "mov rax, [rsp + 8]",
    store_gprs_at_rax!(),
    "pop rbx",
    "mov [rax], rbx",
    "add rsp, 8",
    "xor eax, eax",
    "4:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
);

fn caps_msr(pair: (u32, u32), true_ctls: bool) -> u64 {
    // SAFETY: the VMX capability MSRs exist (VMX is on); the TRUE ones only when
    // IA32_VMX_BASIC says so.
    unsafe { rdmsr(if true_ctls { pair.1 } else { pair.0 }) }
}

impl VmxVcpu {
    /// A vCPU on `vmcs` (its own page, identity-mapped) starting at `entry`. VMX root
    /// operation must be on ([`super::on`]).
    pub fn new(vmcs: &'static mut Vmcs, s: &VmxSetup, entry: &EntryState) -> Result<Self, VmxFail> {
        vmcs.0.fill(0);
        vmcs.0[..4].copy_from_slice(&s.caps.revision.to_le_bytes());
        let pa = vmcs as *mut Vmcs as u64;
        let failed: u8;
        // SAFETY: VMCLEAR and VMPTRLD take this vCPU's own zeroed region headed by
        // the revision id; it becomes the current VMCS of this CPU.
        unsafe {
            asm!(
                "vmclear [{pa}]",
                "setna {f}",
                "jna 2f",
                "vmptrld [{pa}]",
                "setna {f}",
                "2:",
                pa = in(reg) &pa,
                f = out(reg_byte) failed,
                options(nostack)
            )
        };
        if failed != 0 {
            return Err(VmxFail::Vmcs);
        }
        let mut v = VmxVcpu {
            vmcs,
            gprs: Gprs::default(),
            launched: false,
            preemption_shift: None,
            failure: None,
        };
        v.controls(s)?;
        super::host::write_host_state()?;
        v.reset(entry)?;
        invalidate(s.eptp, s.vpid);
        Ok(v)
    }

    fn controls(&mut self, s: &VmxSetup) -> Result<(), VmxFail> {
        // SAFETY: IA32_VMX_BASIC exists with VMX.
        let t = VmxCaps::has_true_ctls(unsafe { rdmsr(msr::VMX_BASIC) });
        let m = VmxFail::Missing;
        let pinv = adjust(
            PIN_CONTROLS,
            caps_msr(controls::msr::PIN, t),
            pin::EXTERNAL_INTERRUPT | pin::NMI,
            pin::PREEMPTION_TIMER,
        )
        .map_err(m)?;
        if pinv & pin::PREEMPTION_TIMER != 0 {
            // SAFETY: IA32_VMX_MISC exists with VMX.
            let misc = unsafe { rdmsr(msr::VMX_MISC) };
            self.preemption_shift = Some((misc & 0x1F) as u32);
            vmwrite(GUEST_PREEMPTION_TIMER, u64::from(u32::MAX))?;
        }
        let procv = adjust(
            PROC_CONTROLS,
            caps_msr(controls::msr::PROC, t),
            proc::TSC_OFFSETTING
                | proc::HLT
                | proc::IO_BITMAPS
                | proc::MSR_BITMAPS
                | proc::SECONDARY,
            0,
        )
        .map_err(m)?;
        // SAFETY: the secondary controls MSR exists when "activate secondary" may be 1
        // (checked by the adjust above).
        let p2caps = unsafe { rdmsr(controls::msr::PROC2) };
        let proc2v = adjust(
            PROC_CONTROLS2,
            p2caps,
            proc2::EPT | proc2::VPID | proc2::UNRESTRICTED,
            proc2::WBINVD,
        )
        .map_err(m)?;
        let exitv = adjust(
            EXIT_CONTROLS,
            caps_msr(controls::msr::EXIT, t),
            exit_ctl::HOST_64BIT | exit_ctl::LOAD_EFER | exit_ctl::SAVE_EFER,
            exit_ctl::SAVE_PAT | exit_ctl::LOAD_PAT,
        )
        .map_err(m)?;
        let entryv = adjust(
            ENTRY_CONTROLS,
            caps_msr(controls::msr::ENTRY, t),
            entry_ctl::LOAD_EFER,
            entry_ctl::LOAD_PAT,
        )
        .map_err(m)?;
        for (f, v) in [
            (PIN_CONTROLS, pinv),
            (PROC_CONTROLS, procv),
            (PROC_CONTROLS2, proc2v),
            (EXIT_CONTROLS, exitv),
            (ENTRY_CONTROLS, entryv),
            (EXCEPTION_BITMAP, 0),
        ] {
            vmwrite(f, u64::from(v))?;
        }
        vmwrite(IO_BITMAP_A, s.io_a.raw())?;
        vmwrite(IO_BITMAP_B, s.io_b.raw())?;
        vmwrite(MSR_BITMAP, s.msr_bitmap.raw())?;
        vmwrite(EPT_POINTER, s.eptp)?;
        vmwrite(VPID, u64::from(s.vpid))?;
        vmwrite(VMCS_LINK_POINTER, u64::MAX)?;
        vmwrite(CR4_MASK, CR4_OWNED)?;
        vmwrite(CR4_SHADOW, 0)?;
        vmwrite(CR0_MASK, 0)
    }

    /// Sets the guest's TSC to the host's plus `offset` (wrapping): RDTSC, RDTSCP and
    /// IA32_TSC read it so ("use TSC offsetting" is on, RDTSC exiting off).
    pub fn set_tsc_offset(&mut self, offset: u64) -> Result<(), VmxFail> {
        vmwrite(TSC_OFFSET, offset)
    }

    /// Puts the vCPU in `e`'s state (the registers not named there zero).
    pub fn reset(&mut self, e: &EntryState) -> Result<(), VmxFail> {
        let segs = [
            (SEG_ES, e.data),
            (SEG_CS, e.cs),
            (SEG_SS, e.data),
            (SEG_DS, e.data),
            (SEG_FS, e.data),
            (SEG_GS, e.data),
            (SEG_LDTR, e.ldtr),
            (SEG_TR, e.tr),
        ];
        for (i, s) in segs {
            vmwrite(GUEST_ES_SEL + 2 * i, u64::from(s.selector))?;
            vmwrite(GUEST_ES_LIMIT + 2 * i, u64::from(s.limit))?;
            vmwrite(GUEST_ES_AR + 2 * i, u64::from(s.ar))?;
            vmwrite(GUEST_ES_BASE + 2 * i, s.base)?;
        }
        for i in [SEG_GDTR, SEG_IDTR] {
            vmwrite(
                GUEST_ES_LIMIT + 2 * i,
                if i == SEG_GDTR { 0xFFFF } else { 0 },
            )?;
            vmwrite(GUEST_ES_BASE + 2 * i, 0)?;
        }
        // SAFETY: the fixed-bit MSRs exist with VMX.
        let (f0, f1) = unsafe { (rdmsr(msr::VMX_CR0_FIXED0), rdmsr(msr::VMX_CR0_FIXED1)) };
        // Unrestricted guest: PE and PG may be 0 whatever FIXED0 says.
        let cr0 = apply_fixed(e.cr0, f0 & !0x8000_0001, f1);
        // SAFETY: as above.
        let (g0, g1) = unsafe { (rdmsr(msr::VMX_CR4_FIXED0), rdmsr(msr::VMX_CR4_FIXED1)) };
        let cr4 = apply_fixed(e.cr4 | CR4_VMXE, g0, g1);
        for (f, v) in [
            (GUEST_CR0, cr0),
            (CR0_SHADOW, e.cr0),
            (GUEST_CR3, 0),
            (GUEST_CR4, cr4),
            (GUEST_DR7, 0x400),
            (GUEST_RSP, 0),
            (GUEST_RIP, e.rip),
            (GUEST_RFLAGS, e.rflags),
            (GUEST_IA32_EFER, 0),
            (GUEST_IA32_PAT, PAT_RESET),
            (GUEST_INTERRUPTIBILITY, 0),
            (GUEST_ACTIVITY, 0),
            (ENTRY_INTR_INFO, 0),
        ] {
            vmwrite(f, v)?;
        }
        self.gprs = Gprs {
            rbx: e.rbx,
            ..Gprs::default()
        };
        Ok(())
    }

    /// The guest's EFER.
    pub fn efer(&self) -> u64 {
        vmread(GUEST_IA32_EFER)
    }

    /// Sets the guest's EFER.
    pub fn set_efer(&mut self, efer: u64) {
        let _ = vmwrite(GUEST_IA32_EFER, efer);
    }

    /// The base of the guest's code segment (RIP is relative to it).
    pub fn cs_base(&self) -> u64 {
        vmread(GUEST_ES_BASE + 2 * SEG_CS)
    }

    /// The guest's CR4, as it reads it.
    pub fn cr4(&self) -> u64 {
        vmread(CR4_SHADOW)
    }

    /// The guest's CR0 and CR3 (with unrestricted guest, PG and PE are its own).
    pub fn cr0_cr3(&self) -> (u64, u64) {
        (vmread(GUEST_CR0), vmread(GUEST_CR3))
    }

    /// Sets the guest's CR4 (checked by `cr::cr4_write`, so without the owned bits):
    /// the shadow is what it reads, the real one adds VMX operation's fixed bits;
    /// then its VPID's translations go, as a MOV to CR4 may drop them.
    pub fn set_cr4(&mut self, cr4: u64) {
        // SAFETY: the fixed-bit MSRs exist with VMX.
        let (g0, g1) = unsafe { (rdmsr(msr::VMX_CR4_FIXED0), rdmsr(msr::VMX_CR4_FIXED1)) };
        let _ = vmwrite(CR4_SHADOW, cr4 & !CR4_OWNED);
        let _ = vmwrite(GUEST_CR4, apply_fixed(cr4 | CR4_VMXE, g0, g1));
        invalidate(vmread(EPT_POINTER), vmread(VPID) as u16);
    }

    /// Ends the guest's next run no later than `ticks` TSC ticks from now (the
    /// VMX-preemption timer, when the CPU has it; `None`: no limit).
    pub fn exit_within(&mut self, ticks: Option<u64>) {
        if let Some(shift) = self.preemption_shift {
            let n = ticks.map_or(u32::MAX, |t| crate::deadline::preemption_count(t, shift));
            let _ = vmwrite(GUEST_PREEMPTION_TIMER, u64::from(n));
        }
    }

    /// Whether the guest can take an interrupt at the next entry.
    pub fn interruptible(&self) -> Interruptible {
        inject::vmx_state(
            vmread(GUEST_RFLAGS),
            vmread(GUEST_INTERRUPTIBILITY),
            vmread(ENTRY_INTR_INFO),
        )
    }

    /// Queues external interrupt `vector` for the next entry.
    pub fn inject_irq(&mut self, vector: u8) {
        let _ = vmwrite(ENTRY_INTR_INFO, inject::external(vector));
    }

    /// Asks for an exit as soon as the guest can take an interrupt
    /// (interrupt-window exiting), or stops asking.
    pub fn want_window(&mut self, on: bool) {
        let procv = vmread(PROC_CONTROLS);
        let want = if on {
            procv | u64::from(proc::INTERRUPT_WINDOW)
        } else {
            procv & !u64::from(proc::INTERRUPT_WINDOW)
        };
        if want != procv {
            let _ = vmwrite(PROC_CONTROLS, want);
        }
    }

    /// The VMCS page (for its physical address).
    pub fn vmcs_pa(&self) -> u64 {
        &*self.vmcs as *const Vmcs as u64
    }
}

/// Drops the VM's cached translations: INVEPT single-context (all-context when the
/// CPU has only that) and INVVPID single-context for `vpid`.
pub fn invalidate(eptp: u64, vpid: u16) {
    // SAFETY: IA32_VMX_EPT_VPID_CAP exists when EPT is on (the caller's setup).
    let cap = unsafe { rdmsr(msr::VMX_EPT_VPID_CAP) };
    let ept_type: u64 = if cap & (1 << 25) != 0 { 1 } else { 2 };
    let vpid_type: u64 = if cap & (1 << 41) != 0 { 1 } else { 2 };
    let ept_desc = [eptp, 0u64];
    let vpid_desc = [u64::from(vpid), 0u64];
    // SAFETY: INVEPT/INVVPID only drop cached translations; the descriptors are
    // valid 16-byte memory. An unsupported type fails without effect.
    unsafe {
        if cap & (1 << 20) != 0 {
            asm!("invept {t}, [{d}]", t = in(reg) ept_type, d = in(reg) &ept_desc, options(nostack));
        }
        if cap & (1 << 32) != 0 {
            asm!("invvpid {t}, [{d}]", t = in(reg) vpid_type, d = in(reg) &vpid_desc, options(nostack));
        }
    }
}

impl VcpuEngine for VmxVcpu {
    fn run(&mut self) -> Decoded {
        // SAFETY: this vCPU's VMCS is current on this CPU and holds checked controls,
        // host and guest state: EPT maps only the VM's memory, HLT, I/O, MSRs, the
        // host's interrupts and NMIs exit. The assembly keeps the host's callee-saved
        // registers; the exit restores RSP/RIP from the VMCS.
        let failed = unsafe { x86_vmx_run(&mut self.gprs, u64::from(self.launched)) };
        if failed != 0 {
            let err = vmread(VM_INSTRUCTION_ERROR);
            self.failure = Some(VmxFail::Entry(err));
            return Decoded {
                exit: crate::exit::RawExit::Unknown {
                    code: 0xFFFF_0000 | err,
                },
                next_rip: None,
            };
        }
        self.launched = true;
        let st = ExitState {
            reason: vmread(EXIT_REASON) as u32,
            qualification: vmread(EXIT_QUALIFICATION),
            intr_info: vmread(EXIT_INTR_INFO) as u32,
            gpa: vmread(GUEST_PHYSICAL_ADDRESS),
            rip: vmread(GUEST_RIP),
            instruction_len: vmread(EXIT_INSTRUCTION_LEN) as u32,
            insn_info: vmread(EXIT_INSTRUCTION_INFO) as u32,
            regs: Regs3 {
                rax: self.gprs.rax,
                rcx: self.gprs.rcx,
                rdx: self.gprs.rdx,
            },
        };
        // An event whose delivery the exit cut short is delivered again.
        if let Some((info, code)) =
            inject::vmx_reinject(vmread(IDT_VECTORING_INFO), vmread(IDT_VECTORING_ERROR))
        {
            if let Some(c) = code {
                let _ = vmwrite(ENTRY_EXCEPTION_ERROR, c);
            }
            let _ = vmwrite(ENTRY_INTR_INFO, info);
        }
        // An NMI that exited is consumed: hand it to the host's own handler.
        if st.reason == 0 && st.intr_info >> 8 & 7 == 2 {
            // SAFETY: the host's NMI handler (the fatal-halt path) runs on its IST stack.
            unsafe { asm!("int 2") };
        }
        decode(&st)
    }

    fn gprs(&mut self) -> &mut Gprs {
        &mut self.gprs
    }

    fn rip(&self) -> u64 {
        vmread(GUEST_RIP)
    }

    fn set_rip(&mut self, rip: u64) {
        let _ = vmwrite(GUEST_RIP, rip);
        // The instruction completed: blocking by STI or MOV SS before it ends.
        let shadow = vmread(GUEST_INTERRUPTIBILITY);
        if shadow & 3 != 0 {
            let _ = vmwrite(GUEST_INTERRUPTIBILITY, shadow & !3);
        }
    }

    fn rflags(&self) -> u64 {
        vmread(GUEST_RFLAGS)
    }

    fn inject(&mut self, vector: u8, error: Option<u32>) {
        // Valid, type 3 (hardware exception), deliver error code when there is one.
        let mut info = (1u64 << 31) | (3 << 8) | u64::from(vector);
        if let Some(e) = error {
            info |= 1 << 11;
            let _ = vmwrite(ENTRY_EXCEPTION_ERROR, u64::from(e));
        }
        let _ = vmwrite(ENTRY_INTR_INFO, info);
    }

    fn raw_exit(&self) -> (u64, u64, u64) {
        (
            vmread(EXIT_REASON),
            vmread(EXIT_QUALIFICATION),
            vmread(GUEST_PHYSICAL_ADDRESS),
        )
    }
}
