//! VMCS field encodings (Intel SDM volume 3, appendix B) and control bits.

// 16-bit.
pub const VPID: u32 = 0x0000;
pub const GUEST_ES_SEL: u32 = 0x0800;
/// Guest interrupt status (virtual-interrupt delivery): RVI in bits 7:0, SVI in 15:8.
pub const GUEST_INTR_STATUS: u32 = 0x0810;
pub const HOST_ES_SEL: u32 = 0x0C00;
pub const HOST_CS_SEL: u32 = 0x0C02;
pub const HOST_SS_SEL: u32 = 0x0C04;
pub const HOST_DS_SEL: u32 = 0x0C06;
pub const HOST_FS_SEL: u32 = 0x0C08;
pub const HOST_GS_SEL: u32 = 0x0C0A;
pub const HOST_TR_SEL: u32 = 0x0C0C;
// 64-bit.
pub const IO_BITMAP_A: u32 = 0x2000;
pub const IO_BITMAP_B: u32 = 0x2002;
pub const MSR_BITMAP: u32 = 0x2004;
/// The guest's TSC is the host's plus this (wrapping) while "use TSC offsetting" is on.
pub const TSC_OFFSET: u32 = 0x2010;
pub const VIRTUAL_APIC_PAGE: u32 = 0x2012;
/// The first of the four 64-bit EOI-exit bitmap fields (vectors 0-63); field n is
/// this + 2n.
pub const EOI_EXIT_BITMAP0: u32 = 0x201C;
pub const EPT_POINTER: u32 = 0x201A;
pub const GUEST_PHYSICAL_ADDRESS: u32 = 0x2400;
pub const VMCS_LINK_POINTER: u32 = 0x2800;
pub const GUEST_IA32_PAT: u32 = 0x2804;
pub const GUEST_IA32_EFER: u32 = 0x2806;
pub const HOST_IA32_PAT: u32 = 0x2C00;
pub const HOST_IA32_EFER: u32 = 0x2C02;
// 32-bit.
pub const PIN_CONTROLS: u32 = 0x4000;
pub const PROC_CONTROLS: u32 = 0x4002;
pub const EXCEPTION_BITMAP: u32 = 0x4004;
pub const EXIT_CONTROLS: u32 = 0x400C;
pub const ENTRY_CONTROLS: u32 = 0x4012;
pub const ENTRY_INTR_INFO: u32 = 0x4016;
pub const ENTRY_EXCEPTION_ERROR: u32 = 0x4018;
pub const TPR_THRESHOLD: u32 = 0x401C;
pub const PROC_CONTROLS2: u32 = 0x401E;
pub const VM_INSTRUCTION_ERROR: u32 = 0x4400;
pub const EXIT_REASON: u32 = 0x4402;
pub const EXIT_INTR_INFO: u32 = 0x4404;
pub const IDT_VECTORING_INFO: u32 = 0x4408;
pub const IDT_VECTORING_ERROR: u32 = 0x440A;
pub const EXIT_INSTRUCTION_LEN: u32 = 0x440C;
pub const EXIT_INSTRUCTION_INFO: u32 = 0x440E;
/// Guest segment limits from ES on (ES, CS, SS, DS, FS, GS, LDTR, TR, GDTR, IDTR).
pub const GUEST_ES_LIMIT: u32 = 0x4800;
/// Guest access rights from ES on (ES .. TR).
pub const GUEST_ES_AR: u32 = 0x4814;
pub const GUEST_INTERRUPTIBILITY: u32 = 0x4824;
pub const GUEST_ACTIVITY: u32 = 0x4826;
pub const GUEST_PREEMPTION_TIMER: u32 = 0x482E;
pub const HOST_SYSENTER_CS: u32 = 0x4C00;
// Natural width.
pub const CR0_MASK: u32 = 0x6000;
pub const CR4_MASK: u32 = 0x6002;
pub const CR0_SHADOW: u32 = 0x6004;
pub const CR4_SHADOW: u32 = 0x6006;
pub const EXIT_QUALIFICATION: u32 = 0x6400;
pub const GUEST_CR0: u32 = 0x6800;
pub const GUEST_CR3: u32 = 0x6802;
pub const GUEST_CR4: u32 = 0x6804;
/// Guest segment bases from ES on (ES .. TR, GDTR, IDTR).
pub const GUEST_ES_BASE: u32 = 0x6806;
pub const GUEST_DR7: u32 = 0x681A;
pub const GUEST_RSP: u32 = 0x681C;
pub const GUEST_RIP: u32 = 0x681E;
pub const GUEST_RFLAGS: u32 = 0x6820;
pub const HOST_CR0: u32 = 0x6C00;
pub const HOST_CR3: u32 = 0x6C02;
pub const HOST_CR4: u32 = 0x6C04;
pub const HOST_FS_BASE: u32 = 0x6C06;
pub const HOST_GS_BASE: u32 = 0x6C08;
pub const HOST_TR_BASE: u32 = 0x6C0A;
pub const HOST_GDTR_BASE: u32 = 0x6C0C;
pub const HOST_IDTR_BASE: u32 = 0x6C0E;

/// Segment registers in VMCS order; field = first + 2 * index.
pub const SEG_ES: u32 = 0;
pub const SEG_CS: u32 = 1;
pub const SEG_SS: u32 = 2;
pub const SEG_DS: u32 = 3;
pub const SEG_FS: u32 = 4;
pub const SEG_GS: u32 = 5;
pub const SEG_LDTR: u32 = 6;
pub const SEG_TR: u32 = 7;
pub const SEG_GDTR: u32 = 8;
pub const SEG_IDTR: u32 = 9;

pub mod pin {
    pub const EXTERNAL_INTERRUPT: u32 = 1 << 0;
    pub const NMI: u32 = 1 << 3;
    pub const PREEMPTION_TIMER: u32 = 1 << 6;
}

pub mod proc {
    pub const INTERRUPT_WINDOW: u32 = 1 << 2;
    pub const TSC_OFFSETTING: u32 = 1 << 3;
    pub const HLT: u32 = 1 << 7;
    pub const CR8_LOAD: u32 = 1 << 19;
    pub const CR8_STORE: u32 = 1 << 20;
    pub const TPR_SHADOW: u32 = 1 << 21;
    pub const IO_BITMAPS: u32 = 1 << 25;
    pub const MSR_BITMAPS: u32 = 1 << 28;
    pub const SECONDARY: u32 = 1 << 31;
}

pub mod proc2 {
    pub const EPT: u32 = 1 << 1;
    /// "Virtualize x2APIC mode": the x2APIC MSRs that pass the bitmap reach the
    /// virtual-APIC page.
    pub const VIRTUALIZE_X2APIC: u32 = 1 << 4;
    pub const VPID: u32 = 1 << 5;
    pub const WBINVD: u32 = 1 << 6;
    pub const UNRESTRICTED: u32 = 1 << 7;
    /// APIC-register virtualization: RDMSR of the APIC's registers reads the page.
    pub const APIC_REGISTERS: u32 = 1 << 8;
    /// Virtual-interrupt delivery.
    pub const VIRTUAL_INTERRUPTS: u32 = 1 << 9;
    /// "Enable INVPCID": without it a guest's INVPCID is #UD, though CPUID offers it.
    pub const INVPCID: u32 = 1 << 12;
}

pub mod exit_ctl {
    pub const HOST_64BIT: u32 = 1 << 9;
    /// "Save VMX-preemption timer value": an exit keeps what is left of the count.
    pub const SAVE_PREEMPTION_TIMER: u32 = 1 << 22;
    pub const SAVE_PAT: u32 = 1 << 18;
    pub const LOAD_PAT: u32 = 1 << 19;
    pub const SAVE_EFER: u32 = 1 << 20;
    pub const LOAD_EFER: u32 = 1 << 21;
}

pub mod entry_ctl {
    pub const LOAD_PAT: u32 = 1 << 14;
    pub const LOAD_EFER: u32 = 1 << 15;
}
