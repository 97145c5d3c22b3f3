//! The light path of both engines' world switches (`svm/engine.rs`, `vmx/switch.rs`):
//! the null call (rtvisor's VERSION hypercall) is answered in the assembly right after
//! the exit, before the guest's registers are even saved, and the guest is entered
//! again at once: RAX gets [`VERSION`], RIP moves past the VMMCALL/VMCALL, and the
//! interrupt shadow ends, exactly as the full path's `set_return` does. Everything
//! else, and every exit when the light path is off (an image built with the
//! interference accounting, which counts every entry), goes the full way.
//!
//! What the light path does not do, and why that is the same: it does not look at
//! the vCPU's interrupts or timers before the next entry. Nothing of them changes
//! during the call: another CPU that makes an interrupt pending for this vCPU kicks
//! it, and the kick (like the hypervisor's timer) is a physical interrupt that exits
//! the guest as soon as it is entered again. On VT-x the preemption timer's count is
//! saved at each exit (or the timer is off), so the next entry keeps its deadline.
//! Exits it answers are counted by neither the shell's exit count nor the accounting.
//!
//! A second light path is the hypervisor's world loop's ([`loop_answers`]): after the
//! engine saved the guest's registers, CPUID is answered at once and the guest
//! entered again, without the loop's delivery, the shell's counts, the accounting
//! or the core's handler. CPUID reads the vCPU's own, fixed view of the CPU and
//! changes nothing but its registers and RIP, so the same reasoning holds; the
//! answer is the full path's own function (the hypervisor's `guest_cpuid`), and the
//! full path answers every CPUID exit itself too (`Answer::Caller`), never the core.

/// The null call's answer (the core's, what `rtvisor_call` returns for VERSION).
pub const VERSION: u64 = rtvisor_core::hypercall::VERSION;

/// The length of VMMCALL, the next RIP when the CPU does not say it (no NRIPS).
pub const VMMCALL_LEN: u64 = 3;

// The assembly writes VERSION as a 32-bit immediate and tests the call number 0.
const _: () = assert!(VERSION <= i32::MAX as u64);
const _: () = assert!(rtvisor_core::hypercall::NR_VERSION == 0);

/// Whether a VMMCALL/VMCALL with `rax` is the null call, as the assembly tests it:
/// bits 23:0 zero, and bits 63:24 with bit 30 set (the 64-bit form) 0xC6.
pub const fn is_null_call(rax: u64) -> bool {
    rax & 0xFF_FFFF == 0 && (rax >> 24) | 0x40 == 0xC6
}

/// Whether the world loop's light path answers exit `e` (CPUID, see above): exactly
/// the exits whose full-path answer is the caller's own (`Answer::Caller`).
pub const fn loop_answers(e: &crate::exit::RawExit) -> bool {
    matches!(e, crate::exit::RawExit::Cpuid { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapt::{adapt, Adapted};
    use crate::exit::RawExit;
    use crate::regs::Gprs;
    use rtvisor_core::exit::VcpuExit;
    use rtvisor_core::hypercall::NR_VERSION;

    /// What the full path makes of a hypercall with `rax`: the null call or not.
    fn full_path_says_null(rax: u64) -> bool {
        let g = Gprs {
            rax,
            ..Gprs::default()
        };
        matches!(
            adapt(&RawExit::Hypercall, &g, None, 0),
            Adapted::Exit(VcpuExit::Hypercall { nr: NR_VERSION, .. })
        )
    }

    #[test]
    fn the_loop_answers_exactly_what_the_full_path_leaves_to_the_caller() {
        use crate::exit::{AccessKind, Answer, Width};
        let mut exits = vec![
            RawExit::Io {
                port: 0x3f8,
                width: Width::B1,
                write: true,
                value: 0x41,
            },
            RawExit::Msr {
                id: 0x6E0,
                write: false,
                value: 0,
            },
            RawExit::Msr {
                id: 0x6E0,
                write: true,
                value: 5,
            },
            RawExit::Msr {
                id: 0x802,
                write: false,
                value: 0,
            },
            RawExit::Hlt,
            RawExit::Hypercall,
            RawExit::Stage2Fault {
                gpa: 0xFEE0_0000,
                access: AccessKind::Read,
            },
            RawExit::Init,
            RawExit::Sipi { vector: 1 },
            RawExit::TripleFault,
            RawExit::InterruptWindow,
            RawExit::VirtualEoi { vector: 0x30 },
            RawExit::ExternalInterrupt,
            RawExit::VirtInstruction,
            RawExit::CacheFlush,
            RawExit::Xsetbv { xcr: 0, value: 1 },
            RawExit::Unknown { code: 0x7F },
        ];
        for leaf in [
            0,
            1,
            7,
            0xb,
            0xd,
            0x15,
            0x1f,
            0x4000_0000,
            0x4000_0010,
            0x8000_0001,
        ] {
            for sub in [0, 1, 2] {
                exits.push(RawExit::Cpuid { leaf, sub });
            }
        }
        let g = Gprs {
            rax: 0xC600_0000,
            ..Gprs::default()
        };
        let mut answered = 0;
        for e in exits {
            let caller = matches!(adapt(&e, &g, None, 0), Adapted::Own(Answer::Caller));
            assert_eq!(loop_answers(&e), caller, "{e:?}");
            answered += usize::from(caller);
        }
        assert_eq!(answered, 30, "every CPUID sample");
    }

    #[test]
    fn without_nrips_the_full_path_steps_vmmcall_by_its_length_too() {
        use crate::exit::Regs3;
        use crate::svm::decode::{code, decode, ExitState};
        let d = decode(&ExitState {
            code: code::VMMCALL,
            info1: 0,
            info2: 0,
            rip: 0x1000,
            next_rip: 0,
            regs: Regs3 {
                rax: 0xC600_0000,
                rcx: 0,
                rdx: 0,
            },
        });
        assert_eq!(d.next_rip, Some(0x1000 + VMMCALL_LEN));
    }

    #[test]
    fn the_light_test_takes_exactly_what_the_full_path_calls_version() {
        let mut values = vec![0xC600_0000, 0x8600_0000, 0, u64::MAX];
        for bit in 0..64 {
            for base in [0xC600_0000u64, 0x8600_0000] {
                values.push(base ^ (1 << bit));
            }
        }
        for nr in 0..=0xFFu64 {
            values.push(0xC600_0000 | nr);
            values.push(0x8600_0000 | nr);
        }
        let mut null = 0;
        for rax in values {
            assert_eq!(is_null_call(rax), full_path_says_null(rax), "{rax:#x}");
            null += usize::from(is_null_call(rax));
        }
        assert!(null >= 4, "both forms are taken: {null}");
    }
}
