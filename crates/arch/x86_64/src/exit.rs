//! The one exit type both engines decode into: what the guest did, in x86 terms,
//! without the vendor's encoding. The VMX engine decodes exit reasons and
//! qualifications, the SVM engine exit codes and EXITINFO1/2; the core's adapter maps
//! this to its semantic exit in one place.
//!
//! [`default_answer`] states the architectural containment defaults the engines apply
//! when nothing else claims an exit (the core may refine them later): VMX and SVM
//! instructions in a guest raise #UD, unknown MSRs #GP, unknown I/O ports read as
//! all-ones and take writes without effect, INVD and WBINVD do nothing,
//! guest-physical addresses outside the VM's memory behave as unclaimed MMIO (reads
//! all-ones, writes dropped).

/// Bytes of an I/O or MMIO access (8: only a 64-bit MOV's MMIO access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    B1 = 1,
    B2 = 2,
    B4 = 4,
    B8 = 8,
}

impl Width {
    /// The value with every bit of this width set.
    pub const fn ones(self) -> u64 {
        match self {
            Width::B1 => 0xFF,
            Width::B2 => 0xFFFF,
            Width::B4 => 0xFFFF_FFFF,
            Width::B8 => u64::MAX,
        }
    }

    /// An I/O port access's width (1, 2 or 4 bytes).
    pub const fn from_bytes(n: u8) -> Option<Width> {
        match n {
            1 => Some(Width::B1),
            2 => Some(Width::B2),
            4 => Some(Width::B4),
            _ => None,
        }
    }
}

/// How a guest touched a guest-physical address that has no mapping (or not this
/// kind of access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
    Fetch,
}

/// One exit, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawExit {
    /// IN or OUT: `value` is what an OUT wrote (an IN's result goes to RAX).
    Io {
        port: u16,
        width: Width,
        write: bool,
        value: u32,
    },
    /// INS or OUTS, with or without REP: the backend steps it ([`crate::strio`]).
    StringIo(crate::strio::StringIo),
    /// RDMSR (ECX) or WRMSR (EDX:EAX).
    Msr {
        id: u32,
        write: bool,
        value: u64,
    },
    /// CPUID with EAX = leaf, ECX = subleaf.
    Cpuid {
        leaf: u32,
        sub: u32,
    },
    Hlt,
    /// VMCALL (Intel) or VMMCALL (AMD): the arguments are in the guest's registers.
    Hypercall,
    /// A second-stage fault (EPT violation, nested page fault).
    Stage2Fault {
        gpa: u64,
        access: AccessKind,
    },
    /// An INIT signal reached the vCPU.
    Init,
    /// A start-up IPI with its vector.
    Sipi {
        vector: u8,
    },
    /// A MOV to control register `cr` that the engine traps (see [`crate::cr`]):
    /// `gpr` is the source register when the engine names it (VMX, AMD with decode
    /// assists), else the caller decodes the instruction at RIP.
    CrWrite {
        cr: u8,
        gpr: Option<u8>,
    },
    /// MOV from control register `cr` (CR8 only: the engines trap no other read);
    /// `gpr` is the destination register, as for [`RawExit::CrWrite`].
    CrRead {
        cr: u8,
        gpr: Option<u8>,
    },
    /// The guest triple-faulted (VMX exit 2, SVM shutdown).
    TripleFault,
    /// The guest can take an interrupt now (requested window opened).
    InterruptWindow,
    /// The hardware retired `vector` at the guest's EOI and exits for it (VT-x's
    /// virtual-interrupt delivery, a level-triggered vector: its source is told).
    VirtualEoi {
        vector: u8,
    },
    /// A physical interrupt (or NMI) arrived while the guest ran.
    ExternalInterrupt,
    /// A VMX or SVM instruction in the guest.
    VirtInstruction,
    /// INVD or WBINVD: whole-cache operations that reach past the VM (INVD drops
    /// other partitions' and the hypervisor's unwritten data; WBINVD stalls every
    /// core that shares the cache). Both are stepped over: a VM's memory is
    /// write-back and its DMA coherent, so there is nothing of its own to flush.
    CacheFlush,
    /// XSETBV: `value` (EDX:EAX) into extended control register `xcr` (ECX). The
    /// backend checks it ([`crate::xcr::xsetbv_ok`]); both engines trap it.
    Xsetbv {
        xcr: u32,
        value: u64,
    },
    /// Anything else, with the vendor's raw code.
    Unknown {
        code: u64,
    },
}

/// The guest's RAX, RCX and RDX at an exit (what I/O, MSR and CPUID exits read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Regs3 {
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
}

impl Regs3 {
    /// The three of the vCPU registers `g` (each engine's exit state).
    #[inline(always)]
    pub const fn of(g: &crate::regs::Gprs) -> Regs3 {
        Regs3 {
            rax: g.rax,
            rcx: g.rcx,
            rdx: g.rdx,
        }
    }
}

impl RawExit {
    /// Port I/O: an OUT's value is the low `width` bytes of RAX.
    pub const fn io(port: u16, width: Width, write: bool, r: Regs3) -> RawExit {
        RawExit::Io {
            port,
            width,
            write,
            value: if write {
                (r.rax & width.ones()) as u32
            } else {
                0
            },
        }
    }

    /// RDMSR/WRMSR: the MSR in ECX, a write's value in EDX:EAX.
    pub const fn msr(write: bool, r: Regs3) -> RawExit {
        RawExit::Msr {
            id: r.rcx as u32,
            write,
            value: (r.rdx & 0xFFFF_FFFF) << 32 | (r.rax & 0xFFFF_FFFF),
        }
    }

    /// XSETBV: the register in ECX, the value in EDX:EAX.
    pub const fn xsetbv(r: Regs3) -> RawExit {
        RawExit::Xsetbv {
            xcr: r.rcx as u32,
            value: (r.rdx & 0xFFFF_FFFF) << 32 | (r.rax & 0xFFFF_FFFF),
        }
    }

    /// CPUID: leaf in EAX, subleaf in ECX.
    pub const fn cpuid(r: Regs3) -> RawExit {
        RawExit::Cpuid {
            leaf: r.rax as u32,
            sub: r.rcx as u32,
        }
    }
}

/// An exit with where the guest continues once it is completed (`None`: the engine
/// cannot tell; the caller decodes the instruction, or resumes at the same RIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub exit: RawExit,
    pub next_rip: Option<u64>,
}

/// What the engine does on the guest's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Step over the instruction; for a read, put `value` in the destination.
    Complete { value: u64 },
    /// Inject an exception (vector, optional error code) without moving RIP.
    Inject { vector: u8, error: Option<u32> },
    /// Leave it to the caller (halt, hypercalls, power, the fault's decoder).
    Caller,
}

pub const UD: u8 = 6;
pub const GP: u8 = 13;

/// The containment default for an exit nobody claimed: see the module doc.
pub fn default_answer(e: &RawExit) -> Answer {
    match *e {
        RawExit::Io { width, write, .. } => Answer::Complete {
            value: if write { 0 } else { width.ones() },
        },
        RawExit::Msr { .. } => Answer::Inject {
            vector: GP,
            error: Some(0),
        },
        RawExit::VirtInstruction => Answer::Inject {
            vector: UD,
            error: None,
        },
        RawExit::CacheFlush => Answer::Complete { value: 0 },
        _ => Answer::Caller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_defaults() {
        let io = |write| RawExit::Io {
            port: 0x510,
            width: Width::B2,
            write,
            value: 7,
        };
        assert_eq!(
            default_answer(&io(false)),
            Answer::Complete { value: 0xFFFF }
        );
        assert_eq!(default_answer(&io(true)), Answer::Complete { value: 0 });
        let msr = RawExit::Msr {
            id: 0xC001_DEAD,
            write: false,
            value: 0,
        };
        assert_eq!(
            default_answer(&msr),
            Answer::Inject {
                vector: GP,
                error: Some(0)
            }
        );
        assert_eq!(
            default_answer(&RawExit::VirtInstruction),
            Answer::Inject {
                vector: UD,
                error: None
            }
        );
        assert_eq!(
            default_answer(&RawExit::CacheFlush),
            Answer::Complete { value: 0 }
        );
        assert_eq!(default_answer(&RawExit::Hlt), Answer::Caller);
        assert_eq!(default_answer(&RawExit::TripleFault), Answer::Caller);
    }

    #[test]
    fn widths() {
        assert_eq!(Width::from_bytes(4).map(Width::ones), Some(0xFFFF_FFFF));
        assert_eq!(Width::from_bytes(1).map(Width::ones), Some(0xFF));
        assert_eq!(Width::from_bytes(3), None);
    }
}
