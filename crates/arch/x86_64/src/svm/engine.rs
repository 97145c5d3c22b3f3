//! Runs one vCPU with VMRUN: the VMCB's intercepts, nested paging and ASID, the
//! entry state, and the world switch in assembly (the guest's general-purpose
//! registers loaded before VMRUN and saved after it; the host's FS/GS/TR/LDTR and
//! syscall MSRs kept by VMSAVE/VMLOAD in a per-vCPU host area; GIF clear around it).

use super::decode::{decode, ExitState};
use super::vmcb::{
    icpt3, icpt4, Control, Save, Vmcb, TLB_FLUSH_ALL, TLB_FLUSH_ASID, TLB_NONE, VECTOR_FIELD,
    V_IGN_TPR, V_INTR_PRIO_MAX, V_IRQ,
};
use crate::entry::EntryState;
use crate::exit::{Decoded, Regs3};
use crate::inject::{self, Interruptible};
use crate::regs::Gprs;
use crate::vcpu::VcpuEngine;
use crate::vendor::{SvmCaps, EFER_SVME};
use core::arch::global_asm;
use core::mem::offset_of;
use rtvisor_addr::Hpa;

/// The guest PAT at reset (write-back, write-through, UC-, UC, twice).
const PAT_RESET: u64 = 0x0007_0406_0007_0406;

/// What one VM's vCPUs share, and this vCPU's ASID.
#[derive(Debug, Clone, Copy)]
pub struct SvmSetup {
    pub iopm: Hpa,
    pub msrpm: Hpa,
    /// The nested page tables' root (`Stage2::root` in NPT format).
    pub ncr3: Hpa,
    /// 1.. (0 is the host's); one per VM.
    pub asid: u32,
    pub caps: SvmCaps,
    /// V_INTR_MASKING: the host's IF, not the guest's, gates physical interrupts
    /// while the guest runs (the world switch sets it around VMRUN), so they exit
    /// the guest whatever it masks.
    pub host_interrupts: bool,
}

/// V_INTR_MASKING in the VMCB's interrupt control.
pub(super) const V_INTR_MASKING: u64 = 1 << 24;

/// Why a vCPU could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    NoNpt,
    /// ASID 0 or beyond what the CPU has.
    BadAsid,
}

/// One vCPU on AMD-V.
pub struct SvmVcpu {
    pub(super) vmcb: &'static mut Vmcb,
    host: &'static mut Vmcb,
    pub gprs: Gprs,
    flush: u8,
    /// The light path of the world switch answers the null call (`crate::light`).
    light: bool,
    /// The vector offered to the guest as its virtual interrupt (V_IRQ), until it
    /// takes it ([`SvmVcpu::taken_irq`]) or another is offered.
    virq: Option<u8>,
}

unsafe extern "C" {
    /// The world switch (below): `vmcb` and `host` physical, `gprs` the guest's;
    /// `light` non-zero: the null call is answered without leaving it.
    fn x86_svm_run(vmcb: u64, gprs: *mut Gprs, host: u64, light: u64);
}

global_asm!(
    ".global x86_svm_run",
    "x86_svm_run:",
    push_callee_saved!(),
    "push rcx",
    "push rsi",
    "push rdx",
    "push rdi",
    // No interrupt or NMI between the host's VMSAVE and VMRUN; VMRUN sets GIF for
    // the guest, #VMEXIT clears it, STGI at the end. The host's IF is set only
    // while GIF is clear (it gates physical interrupts in the guest with
    // V_INTR_MASKING); an interrupt that exits the guest stays pending at the APIC.
    "clgi",
    "sti",
    "mov rax, rdx",
    "vmsave rax",
    "mov rax, rdi",
    "vmload rax",
    load_gprs!("rsi"),
    "mov rdi, [rsi + 0x28]",
    "mov rsi, [rsi + 0x20]",
    "2:",
    "vmrun rax",
    // The light path (when `light` is set): the null call, a VMMCALL with RAX
    // 0x8600_0000 or 0xC600_0000, is answered here, with the guest's registers still
    // in place (RAX is the VMCB's), GIF clear and the guest's segment state still
    // loaded (only VMSAVE would move it to the VMCB): RAX gets VERSION, RIP the next
    // RIP, the interrupt shadow ends, no event or flush is pending (as after `run`),
    // and the guest runs again. Anything else goes the full way below.
    "cmp qword ptr [rsp + 24], 0",
    "je 3f",
    "cmp qword ptr [rax + {exit_code}], {vmmcall}",
    "jne 3f",
    "test dword ptr [rax + {rax}], 0xFFFFFF",
    "jnz 3f",
    "push rcx",
    "mov rcx, [rax + {rax}]",
    "shr rcx, 24",
    "or ecx, 0x40",
    "cmp rcx, 0xC6",
    "jne 4f",
    "mov qword ptr [rax + {rax}], {version}",
    // The next RIP: the CPU's (NRIPS), else past the 3-byte VMMCALL (as `decode`).
    "mov rcx, [rax + {next_rip}]",
    "test rcx, rcx",
    "jnz 5f",
    "mov rcx, [rax + {rip}]",
    "add rcx, {vmmcall_len}",
    "5:",
    "mov [rax + {rip}], rcx",
    "pop rcx",
    "mov qword ptr [rax + {int_shadow}], 0",
    "mov qword ptr [rax + {event_inj}], 0",
    "mov byte ptr [rax + {tlb_control}], 0",
    "jmp 2b",
    "4:",
    "pop rcx",
    "3:",
    "cli",
    // The host's RAX and RSP are back (VMRUN saved them); the rest is the guest's.
    "mov rax, [rsp + 16]",
    store_gprs_at_rax!(),
    "mov rax, [rsp]",
    "vmsave rax",
    "mov rax, [rsp + 8]",
    "vmload rax",
    "stgi",
    "add rsp, 32",
    pop_callee_saved_ret!(),
    exit_code = const offset_of!(Control, exit_code),
    next_rip = const offset_of!(Control, next_rip),
    int_shadow = const offset_of!(Control, int_shadow),
    event_inj = const offset_of!(Control, event_inj),
    tlb_control = const offset_of!(Control, tlb_control),
    rax = const offset_of!(Vmcb, save) + offset_of!(Save, rax),
    rip = const offset_of!(Vmcb, save) + offset_of!(Save, rip),
    vmmcall = const super::decode::code::VMMCALL,
    version = const crate::light::VERSION,
    vmmcall_len = const crate::light::VMMCALL_LEN,
);

impl SvmVcpu {
    /// A vCPU on `vmcb` (its own page) with `host` (the page VMSAVE keeps the host's
    /// hidden state in), both identity-mapped, starting at `entry`.
    pub fn new(
        vmcb: &'static mut Vmcb,
        host: &'static mut Vmcb,
        s: &SvmSetup,
        entry: &EntryState,
    ) -> Result<SvmVcpu, SetupError> {
        if !s.caps.npt {
            return Err(SetupError::NoNpt);
        }
        if s.asid == 0 || s.asid >= s.caps.asids {
            return Err(SetupError::BadAsid);
        }
        *vmcb = Vmcb::ZERO;
        *host = Vmcb::ZERO;
        let c = &mut vmcb.control;
        c.intercept3 = icpt3::INTR
            | icpt3::NMI
            | icpt3::INIT
            | icpt3::CPUID
            | icpt3::HLT
            | icpt3::INVD
            | icpt3::INVLPGA
            | icpt3::IOIO
            | icpt3::MSR
            | icpt3::SHUTDOWN;
        c.intercept4 = icpt4::VMRUN
            | icpt4::VMMCALL
            | icpt4::VMLOAD
            | icpt4::VMSAVE
            | icpt4::STGI
            | icpt4::CLGI
            | icpt4::SKINIT
            | icpt4::WBINVD
            // Checked by the hypervisor as on VT-x, where it always exits (`crate::xcr`).
            | icpt4::XSETBV;
        // CR0 and CR4 writes are checked by the hypervisor, CR8 is the emulated
        // x2APIC's TPR (`crate::cr`).
        c.intercept_cr = super::vmcb::INTERCEPT_CR0_WRITE
            | super::vmcb::INTERCEPT_CR4_WRITE
            | super::vmcb::INTERCEPT_CR8_READ
            | super::vmcb::INTERCEPT_CR8_WRITE;
        c.iopm_pa = s.iopm.raw();
        c.msrpm_pa = s.msrpm.raw();
        c.asid = s.asid;
        c.np_enable = 1;
        c.n_cr3 = s.ncr3.raw();
        if s.host_interrupts {
            c.int_control |= V_INTR_MASKING;
        }
        let mut v = SvmVcpu {
            vmcb,
            host,
            gprs: Gprs::default(),
            flush: if s.caps.flush_by_asid {
                TLB_FLUSH_ASID
            } else {
                TLB_FLUSH_ALL
            },
            light: false,
            virq: None,
        };
        v.reset(entry);
        Ok(v)
    }

    /// Puts the vCPU in `e`'s state (the registers not named there zero).
    pub fn reset(&mut self, e: &EntryState) {
        let sv = &mut self.vmcb.save;
        for seg in [&mut sv.ds, &mut sv.es, &mut sv.ss, &mut sv.fs, &mut sv.gs] {
            *seg = seg_of(&e.data);
        }
        sv.cs = seg_of(&e.cs);
        sv.tr = seg_of(&e.tr);
        sv.ldtr = seg_of(&e.ldtr);
        sv.gdtr = super::vmcb::Segment {
            limit: 0xFFFF,
            ..Default::default()
        };
        sv.idtr = super::vmcb::Segment::default();
        sv.cpl = 0;
        // VMRUN refuses a guest EFER without SVME.
        sv.efer = EFER_SVME;
        sv.cr0 = e.cr0;
        sv.cr3 = 0;
        sv.cr4 = e.cr4;
        sv.dr6 = 0xFFFF_0FF0;
        sv.dr7 = 0x400;
        sv.rflags = e.rflags;
        sv.rip = e.rip;
        sv.rsp = 0;
        sv.g_pat = PAT_RESET;
        self.gprs = Gprs {
            rbx: e.rbx,
            ..Gprs::default()
        };
        self.vmcb.control.event_inj = 0;
        self.flush_tlb();
    }

    /// The guest's EFER as it sees it (without SVME, which the hypervisor keeps).
    pub fn efer(&self) -> u64 {
        self.vmcb.save.efer & !EFER_SVME
    }

    /// Sets the guest's EFER (SVME stays set: VMRUN needs it).
    pub fn set_efer(&mut self, efer: u64) {
        self.vmcb.save.efer = efer | EFER_SVME;
    }

    /// The base of the guest's code segment (RIP is relative to it).
    pub fn cs_base(&self) -> u64 {
        self.vmcb.save.cs.base
    }

    /// Whether the guest runs 64-bit code: EFER.LMA and CS.L (bit 9 of the VMCB's
    /// packed segment attributes).
    pub fn code64(&self) -> bool {
        self.vmcb.save.efer & crate::cr::EFER_LMA != 0 && self.vmcb.save.cs.attrib & (1 << 9) != 0
    }

    /// The guest's current privilege level.
    pub fn cpl(&self) -> u8 {
        self.vmcb.save.cpl
    }

    /// The guest's CR4.
    pub fn cr4(&self) -> u64 {
        self.vmcb.save.cr4
    }

    /// The guest's CR0 and CR3.
    pub fn cr0_cr3(&self) -> (u64, u64) {
        (self.vmcb.save.cr0, self.vmcb.save.cr3)
    }

    /// Sets the guest's CR4 (checked by `cr::cr4_write`) and drops its ASID's
    /// translations, as a MOV to CR4 may.
    pub fn set_cr4(&mut self, cr4: u64) {
        self.vmcb.save.cr4 = cr4;
        self.flush_tlb();
    }

    /// The guest's CR0.
    pub fn cr0(&self) -> u64 {
        self.vmcb.save.cr0
    }

    /// Sets the guest's CR0 and EFER (checked by `cr::cr0_write`, which computed LMA)
    /// and flushes its TLB.
    pub fn set_cr0(&mut self, cr0: u64, efer: u64) {
        self.vmcb.save.cr0 = cr0;
        self.set_efer(efer);
        self.flush_tlb();
    }

    /// Whether the guest can take an interrupt at the next VMRUN.
    pub fn interruptible(&self) -> Interruptible {
        let c = &self.vmcb.control;
        inject::svm_state(self.vmcb.save.rflags, c.int_shadow, c.event_inj)
    }

    /// Offers `vector` as the guest's virtual interrupt (V_IRQ with V_INTR_VECTOR,
    /// whatever its TPR: the emulated APIC decided it is deliverable), or withdraws
    /// the offer (`None`). The CPU delivers it through the guest's IDT as soon as
    /// the guest can take it, with no exit for the window; the emulated APIC takes
    /// it into service at the next exit ([`SvmVcpu::taken_irq`]). Not EVENTINJ: QEMU
    /// 7.2 can deliver an EVENTINJ interrupt twice (docs/x86.md, "QEMU 7.2's TCG").
    pub fn offer_irq(&mut self, vector: Option<u8>) {
        let c = &mut self.vmcb.control;
        c.intercept3 &= !icpt3::VINTR;
        c.int_control &= !(V_IRQ | V_INTR_PRIO_MAX | V_IGN_TPR | VECTOR_FIELD);
        if let Some(v) = vector {
            let prio = u64::from(v >> 4) << 16;
            c.int_control |= V_IRQ | prio | V_IGN_TPR | u64::from(v) << 32;
        }
        self.virq = vector;
    }

    /// The vector the guest took as its virtual interrupt since it was offered (the
    /// CPU cleared V_IRQ when it delivered it), once.
    pub fn taken_irq(&mut self) -> Option<u8> {
        let v = self.virq?;
        if self.vmcb.control.int_control & V_IRQ != 0 {
            return None;
        }
        self.virq = None;
        Some(v)
    }

    /// Lets the world switch answer the null call itself (`crate::light`), or not.
    pub fn set_light(&mut self, on: bool) {
        self.light = on;
    }

    /// Sets the guest's TSC to the host's plus `offset` (wrapping).
    pub fn set_tsc_offset(&mut self, offset: u64) {
        self.vmcb.control.tsc_offset = offset;
    }

    /// Drops this ASID's translations before the next VMRUN (after the nested
    /// tables lost a mapping, and on first use of the ASID).
    pub fn flush_tlb(&mut self) {
        self.vmcb.control.tlb_control = self.flush;
    }
}

impl VcpuEngine for SvmVcpu {
    fn run(&mut self) -> Decoded {
        let vmcb_pa = &*self.vmcb as *const Vmcb as u64;
        let host_pa = &*self.host as *const Vmcb as u64;
        self.vmcb.save.rax = self.gprs.rax;
        // SAFETY: both pages are this vCPU's own, 4 KiB aligned and identity-mapped;
        // the VMCB holds a checked guest state with the SVM instructions, I/O, MSRs
        // and the host's interrupts intercepted, nested paging on over tables that map
        // only the VM's memory. The assembly keeps the host's callee-saved registers
        // and its hidden segment state.
        unsafe { x86_svm_run(vmcb_pa, &mut self.gprs, host_pa, u64::from(self.light)) };
        let c = &mut self.vmcb.control;
        c.tlb_control = TLB_NONE;
        // An event whose delivery the exit cut short is delivered again.
        c.event_inj = inject::svm_reinject(c.exit_int_info).unwrap_or(0);
        self.gprs.rax = self.vmcb.save.rax;
        let c = &self.vmcb.control;
        decode(&ExitState {
            code: c.exit_code,
            info1: c.exit_info1,
            info2: c.exit_info2,
            rip: self.vmcb.save.rip,
            next_rip: c.next_rip,
            regs: Regs3::of(&self.gprs),
        })
    }

    fn gprs(&mut self) -> &mut Gprs {
        &mut self.gprs
    }

    fn code64(&self) -> bool {
        SvmVcpu::code64(self)
    }

    fn rip(&self) -> u64 {
        self.vmcb.save.rip
    }

    fn set_rip(&mut self, rip: u64) {
        self.vmcb.save.rip = rip;
        // The instruction completed: the shadow of an STI or MOV SS before it ends.
        self.vmcb.control.int_shadow = 0;
    }

    fn rflags(&self) -> u64 {
        self.vmcb.save.rflags
    }

    fn raw_exit(&self) -> (u64, u64, u64) {
        let c = &self.vmcb.control;
        (c.exit_code, c.exit_info1, c.exit_info2)
    }

    fn inject(&mut self, vector: u8, error: Option<u32>) {
        self.vmcb.inject(vector, error);
    }
}

fn seg_of(s: &crate::entry::Seg) -> super::vmcb::Segment {
    super::vmcb::Segment {
        selector: s.selector,
        attrib: s.svm_attrib(),
        limit: s.limit,
        base: s.base,
    }
}
