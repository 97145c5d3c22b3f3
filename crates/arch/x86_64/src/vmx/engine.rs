//! Runs one vCPU with VMLAUNCH/VMRESUME: its VMCS (from a boot-time page), controls
//! (`setup.rs`), the host state, the entry state, and the world switch
//! (`switch.rs`).

use super::controls::Missing;
use super::decode::{decode, ExitState};
use super::fields::*;
use super::setup::{self, invalidate};
use super::vmcs::{vmread, vmwrite};
use crate::cpu::rdmsr;
use crate::entry::EntryState;
use crate::exit::{Decoded, Regs3};
use crate::inject::{self, Interruptible};
use crate::regs::Gprs;
use crate::vcpu::VcpuEngine;
use crate::vendor::{apply_fixed, msr, VmxCaps};
use core::arch::asm;
use rtvisor_addr::Hpa;

/// The guest PAT at reset.
const PAT_RESET: u64 = 0x0007_0406_0007_0406;
/// CR4.VMXE: required by the fixed bits in the guest's CR4 too; hidden from it.
const CR4_VMXE: u64 = crate::cr::CR4_VMXE;
/// The CR4 bits the hypervisor owns: VMXE (above) and SMXE (no VM gets SMX). The
/// guest reads them from the shadow (0); a MOV that sets one exits.
pub(super) const CR4_OWNED: u64 = CR4_VMXE | crate::cr::CR4_SMXE;
/// The CR0 bits the hypervisor owns: NE, which VMX operation fixes to 1 while a guest
/// may clear it (Linux's PVH entry writes PG|ET|PE). The guest reads its own NE from
/// the shadow; a MOV that changes it exits and is checked by `cr::cr0_write`.
pub(super) const CR0_OWNED: u64 = crate::cr::CR0_NE;
/// The "IA-32e mode guest" VM-entry control: EFER.LMA at the next entry.
const ENTRY_IA32E: u64 = 1 << 9;

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
    /// The VMX-preemption timer, as the controls set it.
    timer: setup::Timer,
    /// The light path of the world switch answers the null call (`crate::light`).
    light: bool,
    /// The last entry failure (reported by `run` as an unknown exit).
    pub failure: Option<VmxFail>,
    /// Virtual-interrupt delivery (`apicv.rs`), when the CPU has it.
    pub(super) apicv: Option<super::apicv::Apicv>,
}

impl VmxVcpu {
    /// A vCPU on `vmcs` (its own page, identity-mapped) starting at `entry`. VMX root
    /// operation must be on ([`super::on`]).
    /// `apicv`: what virtual-interrupt delivery needs, used when the CPU has it.
    pub fn new(
        vmcs: &'static mut Vmcs,
        s: &VmxSetup,
        entry: &EntryState,
        apicv: super::apicv::Apicv,
    ) -> Result<Self, VmxFail> {
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
            timer: setup::Timer::default(),
            light: false,
            failure: None,
            apicv: None,
        };
        let (timer, has_apicv) = setup::controls(s, apicv.page_pa())?;
        v.timer = timer;
        if has_apicv {
            v.apicv = Some(apicv);
        }
        super::host::write_host_state()?;
        v.reset(entry)?;
        invalidate(s.eptp, s.vpid);
        Ok(v)
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

    /// Whether the guest runs 64-bit code: EFER.LMA and CS.L (bit 13 of its access
    /// rights).
    pub fn code64(&self) -> bool {
        vmread(GUEST_IA32_EFER) & crate::cr::EFER_LMA != 0
            && vmread(GUEST_ES_AR + 2 * SEG_CS) & (1 << 13) != 0
    }

    /// The guest's current privilege level (SS's DPL, access rights bits 6:5).
    pub fn cpl(&self) -> u8 {
        ((vmread(GUEST_ES_AR + 2 * SEG_SS) >> 5) & 3) as u8
    }

    /// The guest's CR4, as it reads it: the real register's bits but the owned ones
    /// (VMXE, SMXE), which the guest/host mask makes it read from the shadow. Only a
    /// write that changes an owned bit exits, so the shadow alone lacks the bits the
    /// guest set since (PAE, PGE, ...).
    pub fn cr4(&self) -> u64 {
        (vmread(GUEST_CR4) & !CR4_OWNED) | (vmread(CR4_SHADOW) & CR4_OWNED)
    }

    /// The guest's CR0 and CR3 (with unrestricted guest, PG and PE are its own).
    pub fn cr0_cr3(&self) -> (u64, u64) {
        (vmread(GUEST_CR0), vmread(GUEST_CR3))
    }

    /// The guest's CR0 as it reads it: the real register's bits but the owned one
    /// (NE), read from the shadow.
    pub fn cr0(&self) -> u64 {
        (vmread(GUEST_CR0) & !CR0_OWNED) | (vmread(CR0_SHADOW) & CR0_OWNED)
    }

    /// Sets the guest's CR0 and EFER (checked by `cr::cr0_write`): the shadow is what
    /// it reads, the real one adds VMX operation's fixed bits (PE and PG stay the
    /// guest's: unrestricted guest); the "IA-32e mode guest" entry control follows
    /// EFER.LMA; then its VPID's translations go, as a MOV to CR0 may drop them.
    pub fn set_cr0(&mut self, cr0: u64, efer: u64) {
        // SAFETY: the fixed-bit MSRs exist with VMX.
        let (f0, f1) = unsafe { (rdmsr(msr::VMX_CR0_FIXED0), rdmsr(msr::VMX_CR0_FIXED1)) };
        let _ = vmwrite(CR0_SHADOW, cr0);
        let _ = vmwrite(GUEST_CR0, apply_fixed(cr0, f0 & !0x8000_0001, f1));
        let _ = vmwrite(GUEST_IA32_EFER, efer);
        let entry = vmread(ENTRY_CONTROLS);
        let entry = if efer & crate::cr::EFER_LMA != 0 {
            entry | ENTRY_IA32E
        } else {
            entry & !ENTRY_IA32E
        };
        let _ = vmwrite(ENTRY_CONTROLS, entry);
        invalidate(vmread(EPT_POINTER), vmread(VPID) as u16);
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
        if let Some(shift) = self.timer.shift {
            let n = ticks.map_or(u32::MAX, |t| crate::deadline::preemption_count(t, shift));
            let _ = vmwrite(GUEST_PREEMPTION_TIMER, u64::from(n));
        }
    }

    /// Lets the world switch answer the null call itself (`crate::light`), or not.
    /// Only where a run it continues keeps its deadline: without the preemption
    /// timer, or with its count saved at each exit.
    pub fn set_light(&mut self, on: bool) {
        self.light = on && (self.timer.shift.is_none() || self.timer.saved);
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

impl VcpuEngine for VmxVcpu {
    fn run(&mut self) -> Decoded {
        // SAFETY: this vCPU's VMCS is current on this CPU and holds checked controls,
        // host and guest state: EPT maps only the VM's memory, HLT, I/O, MSRs, the
        // host's interrupts and NMIs exit; `light` only as `set_light` allows.
        let entered = unsafe { super::switch::enter(&mut self.gprs, self.launched, self.light) };
        if !entered {
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
            regs: Regs3::of(&self.gprs),
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

    fn code64(&self) -> bool {
        VmxVcpu::code64(self)
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
        // Valid, type 3 (hardware exception), deliver error code when there is one,
        // but not in real mode (an unrestricted guest with CR0.PE clear, such as an AP
        // just after its SIPI), where no exception has one and the entry would fail
        // (SDM 26.2.1.3).
        let mut info = (1u64 << 31) | (3 << 8) | u64::from(vector);
        let protected = vmread(GUEST_CR0) & 1 != 0;
        if let Some(e) = error.filter(|_| protected) {
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
