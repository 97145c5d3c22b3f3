//! The VMCB (AMD APM volume 2, appendix B): the control area the hypervisor programs
//! (intercepts, the I/O and MSR permission maps, ASID, nested paging, event
//! injection, the exit code) and the guest's save area. Plain data with every offset
//! checked at compile time; the engine hands its physical address to VMRUN.

use core::mem::{offset_of, size_of};

/// Vector-3 intercepts (offset 0x0C).
pub mod icpt3 {
    pub const INTR: u32 = 1 << 0;
    pub const NMI: u32 = 1 << 1;
    pub const VINTR: u32 = 1 << 4;
    pub const INIT: u32 = 1 << 3;
    pub const CPUID: u32 = 1 << 18;
    pub const INVD: u32 = 1 << 22;
    pub const HLT: u32 = 1 << 24;
    pub const INVLPGA: u32 = 1 << 26;
    pub const IOIO: u32 = 1 << 27;
    pub const MSR: u32 = 1 << 28;
    pub const SHUTDOWN: u32 = 1 << 31;
}

/// Vector-4 intercepts (offset 0x10): the SVM instructions.
pub mod icpt4 {
    pub const VMRUN: u32 = 1 << 0;
    pub const VMMCALL: u32 = 1 << 1;
    pub const VMLOAD: u32 = 1 << 2;
    pub const VMSAVE: u32 = 1 << 3;
    pub const STGI: u32 = 1 << 4;
    pub const CLGI: u32 = 1 << 5;
    pub const SKINIT: u32 = 1 << 6;
    pub const WBINVD: u32 = 1 << 9;
    pub const XSETBV: u32 = 1 << 13;
}

/// CR intercepts (`intercept_cr`: reads in bits 15:0, writes in 31:16).
pub const INTERCEPT_CR0_WRITE: u32 = 1 << 16;
pub const INTERCEPT_CR4_WRITE: u32 = 1 << (16 + 4);
pub const INTERCEPT_CR8_READ: u32 = 1 << 8;
pub const INTERCEPT_CR8_WRITE: u32 = 1 << (16 + 8);

/// TLB_CONTROL values.
pub const TLB_NONE: u8 = 0;
pub const TLB_FLUSH_ALL: u8 = 1;
pub const TLB_FLUSH_ASID: u8 = 3;

/// EVENTINJ: valid, type exception, error code valid.
pub const EVENT_VALID: u64 = 1 << 31;
pub const EVENT_EXCEPTION: u64 = 3 << 8;
pub const EVENT_ERROR: u64 = 1 << 11;

/// The interrupt control word (offset 0x60): a virtual interrupt (V_IRQ), its
/// priority (V_INTR_PRIO, bits 19:16; this mask is the whole field), delivered
/// whatever the guest's TPR (V_IGN_TPR); `SvmVcpu::offer_irq` fills them.
pub const V_IRQ: u64 = 1 << 8;
pub const V_INTR_PRIO_MAX: u64 = 0xF << 16;
pub const V_IGN_TPR: u64 = 1 << 20;
/// V_INTR_VECTOR (offset 0x64, the word's upper half): the virtual interrupt's vector.
pub const VECTOR_FIELD: u64 = 0xFF << 32;

/// One segment register in the save area.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    /// Access byte in bits 7:0, AVL/L/DB/G in bits 11:8.
    pub attrib: u16,
    pub limit: u32,
    pub base: u64,
}

/// The control area (0x000-0x3FF).
#[repr(C)]
pub struct Control {
    pub intercept_cr: u32,
    pub intercept_dr: u32,
    pub intercept_exceptions: u32,
    pub intercept3: u32,
    pub intercept4: u32,
    pub intercept5: u32,
    _r0: [u8; 0x24],
    pub pause_threshold: u16,
    pub pause_count: u16,
    pub iopm_pa: u64,
    pub msrpm_pa: u64,
    pub tsc_offset: u64,
    pub asid: u32,
    pub tlb_control: u8,
    _r1: [u8; 3],
    pub int_control: u64,
    pub int_shadow: u64,
    pub exit_code: u64,
    pub exit_info1: u64,
    pub exit_info2: u64,
    pub exit_int_info: u64,
    pub np_enable: u64,
    _r2: [u8; 0x10],
    pub event_inj: u64,
    pub n_cr3: u64,
    pub lbr_virt: u64,
    pub clean: u32,
    _r3: u32,
    pub next_rip: u64,
    pub insn_len: u8,
    pub insn_bytes: [u8; 15],
    _r4: [u8; 0x320],
}

/// The state save area (0x400-0xFFF).
#[repr(C)]
pub struct Save {
    pub es: Segment,
    pub cs: Segment,
    pub ss: Segment,
    pub ds: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub gdtr: Segment,
    pub ldtr: Segment,
    pub idtr: Segment,
    pub tr: Segment,
    _r0: [u8; 0x2B],
    pub cpl: u8,
    _r1: u32,
    pub efer: u64,
    _r2: [u8; 0x70],
    pub cr4: u64,
    pub cr3: u64,
    pub cr0: u64,
    pub dr7: u64,
    pub dr6: u64,
    pub rflags: u64,
    pub rip: u64,
    _r3: [u8; 0x58],
    pub rsp: u64,
    pub s_cet: u64,
    pub ssp: u64,
    pub isst: u64,
    pub rax: u64,
    pub star: u64,
    pub lstar: u64,
    pub cstar: u64,
    pub sfmask: u64,
    pub kernel_gs_base: u64,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    pub cr2: u64,
    _r4: [u8; 0x20],
    pub g_pat: u64,
    _r5: [u8; 0x990],
}

/// One VMCB: a 4 KiB-aligned page.
#[repr(C, align(4096))]
pub struct Vmcb {
    pub control: Control,
    pub save: Save,
}

const _: () = {
    assert!(size_of::<Control>() == 0x400);
    assert!(size_of::<Vmcb>() == 0x1000);
    assert!(offset_of!(Control, intercept3) == 0x0C);
    assert!(offset_of!(Control, intercept4) == 0x10);
    assert!(offset_of!(Control, pause_threshold) == 0x3C);
    assert!(offset_of!(Control, iopm_pa) == 0x40);
    assert!(offset_of!(Control, msrpm_pa) == 0x48);
    assert!(offset_of!(Control, tsc_offset) == 0x50);
    assert!(offset_of!(Control, asid) == 0x58);
    assert!(offset_of!(Control, tlb_control) == 0x5C);
    assert!(offset_of!(Control, int_control) == 0x60);
    assert!(offset_of!(Control, exit_code) == 0x70);
    assert!(offset_of!(Control, exit_info1) == 0x78);
    assert!(offset_of!(Control, exit_info2) == 0x80);
    assert!(offset_of!(Control, exit_int_info) == 0x88);
    assert!(offset_of!(Control, np_enable) == 0x90);
    assert!(offset_of!(Control, event_inj) == 0xA8);
    assert!(offset_of!(Control, n_cr3) == 0xB0);
    assert!(offset_of!(Control, clean) == 0xC0);
    assert!(offset_of!(Control, next_rip) == 0xC8);
    assert!(offset_of!(Control, insn_len) == 0xD0);
    assert!(offset_of!(Vmcb, save) == 0x400);
    assert!(offset_of!(Save, cs) == 0x10);
    assert!(offset_of!(Save, tr) == 0x90);
    assert!(offset_of!(Save, cpl) == 0xCB);
    assert!(offset_of!(Save, efer) == 0xD0);
    assert!(offset_of!(Save, cr4) == 0x148);
    assert!(offset_of!(Save, cr0) == 0x158);
    assert!(offset_of!(Save, rflags) == 0x170);
    assert!(offset_of!(Save, rip) == 0x178);
    assert!(offset_of!(Save, rsp) == 0x1D8);
    assert!(offset_of!(Save, rax) == 0x1F8);
    assert!(offset_of!(Save, star) == 0x200);
    assert!(offset_of!(Save, cr2) == 0x240);
    assert!(offset_of!(Save, g_pat) == 0x268);
};

impl Vmcb {
    /// An all-zero VMCB.
    pub const ZERO: Vmcb = Vmcb {
        control: Control {
            intercept_cr: 0,
            intercept_dr: 0,
            intercept_exceptions: 0,
            intercept3: 0,
            intercept4: 0,
            intercept5: 0,
            _r0: [0; 0x24],
            pause_threshold: 0,
            pause_count: 0,
            iopm_pa: 0,
            msrpm_pa: 0,
            tsc_offset: 0,
            asid: 0,
            tlb_control: 0,
            _r1: [0; 3],
            int_control: 0,
            int_shadow: 0,
            exit_code: 0,
            exit_info1: 0,
            exit_info2: 0,
            exit_int_info: 0,
            np_enable: 0,
            _r2: [0; 0x10],
            event_inj: 0,
            n_cr3: 0,
            lbr_virt: 0,
            clean: 0,
            _r3: 0,
            next_rip: 0,
            insn_len: 0,
            insn_bytes: [0; 15],
            _r4: [0; 0x320],
        },
        save: Save {
            es: SEG0,
            cs: SEG0,
            ss: SEG0,
            ds: SEG0,
            fs: SEG0,
            gs: SEG0,
            gdtr: SEG0,
            ldtr: SEG0,
            idtr: SEG0,
            tr: SEG0,
            _r0: [0; 0x2B],
            cpl: 0,
            _r1: 0,
            efer: 0,
            _r2: [0; 0x70],
            cr4: 0,
            cr3: 0,
            cr0: 0,
            dr7: 0,
            dr6: 0,
            rflags: 0,
            rip: 0,
            _r3: [0; 0x58],
            rsp: 0,
            s_cet: 0,
            ssp: 0,
            isst: 0,
            rax: 0,
            star: 0,
            lstar: 0,
            cstar: 0,
            sfmask: 0,
            kernel_gs_base: 0,
            sysenter_cs: 0,
            sysenter_esp: 0,
            sysenter_eip: 0,
            cr2: 0,
            _r4: [0; 0x20],
            g_pat: 0,
            _r5: [0; 0x990],
        },
    };

    /// Queues exception `vector` (with `error` when it pushes one: in protected mode
    /// only; in real mode no exception has one) for the next VMRUN.
    pub fn inject(&mut self, vector: u8, error: Option<u32>) {
        let mut e = EVENT_VALID | EVENT_EXCEPTION | u64::from(vector);
        let protected = self.save.cr0 & 1 != 0;
        if let Some(code) = error.filter(|_| protected) {
            e |= EVENT_ERROR | u64::from(code) << 32;
        }
        self.control.event_inj = e;
    }
}

const SEG0: Segment = Segment {
    selector: 0,
    attrib: 0,
    limit: 0,
    base: 0,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_code_goes_with_an_exception_in_protected_mode_only() {
        let mut v = Box::new(Vmcb::ZERO);
        // Real mode (an AP after its SIPI): #GP without its error code.
        v.inject(13, Some(0));
        assert_eq!(v.control.event_inj, EVENT_VALID | EVENT_EXCEPTION | 13);
        v.save.cr0 = 1;
        v.inject(13, Some(0x18));
        assert_eq!(
            v.control.event_inj,
            EVENT_VALID | EVENT_EXCEPTION | EVENT_ERROR | 13 | 0x18 << 32
        );
        v.inject(6, None);
        assert_eq!(v.control.event_inj, EVENT_VALID | EVENT_EXCEPTION | 6);
    }
}
