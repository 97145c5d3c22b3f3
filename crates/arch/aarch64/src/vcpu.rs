//! A vCPU seen through its saved frame and the registers of the CPU it is pinned to:
//! the [`ArchVcpu`] of this backend. Answers are encoded here (PSCI codes in x0,
//! loads extended into their register, exceptions taken to the guest's EL1 vector),
//! from the exit's syndrome, which the CPU still holds. The registers are reached
//! through [`El1`], so all of it is tested on the host.

use crate::decode::{self, SyndromeRegs};
use crate::frame::{GuestRegs, SPSR_EL1H_MASKED};
use crate::psci;
use rtvisor_core::seam::{ArchVcpu, CallError, Fault, Reply, VcpuStart};

/// The registers an answer reads and writes: the exit's syndrome, and the EL1
/// exception registers an injection writes (the hardware's, `HwEl1`, aarch64 only;
/// or a test's values and record).
pub trait El1: SyndromeRegs {
    /// VBAR_EL1: the guest's vector base.
    fn vbar(&self) -> u64;
    /// Writes ESR_EL1, FAR_EL1 (when `far` is given), ELR_EL1 and SPSR_EL1 for an
    /// exception taken to EL1.
    fn take(&mut self, esr: u64, far: Option<u64>, elr: u64, spsr: u64);
}

/// The backend's proof that this CPU may enter a guest ([`ArchVcpu::Entry`]): made
/// only by the exception entry and the boot path, which know nothing on the stack
/// above them is still in use; it carries the end of the CPU's stack, which entering
/// resets.
#[derive(Debug)]
pub struct EntryToken {
    stack_end: u64,
    _this_cpu: core::marker::PhantomData<*const ()>,
}

impl EntryToken {
    /// The proof for the calling CPU, whose stack ends at `stack_end`.
    ///
    /// # Safety
    /// `stack_end` is the end of the calling CPU's stack, and whoever holds the token
    /// may reset that stack: nothing on it above the caller's frame may be used again
    /// (no reference into it outlives the call that consumes the token).
    pub unsafe fn new(stack_end: u64) -> Self {
        Self {
            stack_end,
            _this_cpu: core::marker::PhantomData,
        }
    }
}

/// The exited vCPU.
#[derive(Debug)]
pub struct Vcpu<'a, E> {
    frame: &'a mut GuestRegs,
    el1: E,
}

const EC_UNKNOWN: u64 = 0x00;
const EC_IABT_LOWER: u64 = 0x20;
const EC_DABT_LOWER: u64 = 0x24;
const ESR_IL: u64 = 1 << 25;
const FSC_SYNC_EXTERNAL: u64 = 0x10;
const WNR: u64 = 1 << 6;
/// SPSR.SS: software step active-not-pending.
pub(crate) const SPSR_SS: u64 = 1 << 21;

impl<'a, E: El1> Vcpu<'a, E> {
    /// The vCPU whose registers are `frame`, answering the exit `el1` holds the
    /// syndrome of.
    #[inline(always)]
    pub fn new(frame: &'a mut GuestRegs, el1: E) -> Self {
        Self { frame, el1 }
    }

    /// Answers an SMCCC call the ABI answered alone ([`Decoded::Answer`]): x0, and
    /// an SMC is stepped over.
    ///
    /// [`Decoded::Answer`]: crate::decode::Decoded::Answer
    #[inline(always)]
    pub fn answer(&mut self, x0: u64) {
        self.frame.x[0] = x0;
        if decode::class(self.el1.esr()) == decode::EC_SMC64 {
            self.skip();
        }
    }

    /// Takes an exception to the guest's EL1 vector, as the hardware would. `ec_lower` is
    /// the class for an exception from EL0; from EL1 the "same EL" class (`+1`) is used
    /// for aborts.
    fn inject_class(&mut self, ec_lower: u64, iss: u64, far: Option<u64>) {
        let spsr = self.frame.spsr;
        let from_aarch32 = spsr & (1 << 4) != 0;
        let from_el0 = from_aarch32 || (spsr >> 2) & 3 == 0;
        let offset = match (from_aarch32, from_el0, spsr & 1) {
            (true, _, _) => 0x600,
            (false, true, _) => 0x400,
            (false, false, 1) => 0x200,
            _ => 0x000,
        };
        let ec = if ec_lower != EC_UNKNOWN && !from_el0 {
            ec_lower + 1
        } else {
            ec_lower
        };
        self.el1
            .take((ec << 26) | ESR_IL | iss, far, self.frame.elr, spsr);
        self.frame.elr = self.el1.vbar().wrapping_add(offset);
        self.frame.spsr = SPSR_EL1H_MASKED;
    }
}

impl<E: El1> ArchVcpu for Vcpu<'_, E> {
    type Entry = EntryToken;

    #[inline(always)]
    fn skip(&mut self) {
        self.frame.elr = self.frame.elr.wrapping_add(4);
        // The instruction is complete: a guest stepping it takes its step exception
        // right after the return (the step state machine goes to active-pending).
        self.frame.spsr &= !SPSR_SS;
    }

    #[inline]
    fn set_return(&mut self, r: Result<Reply, CallError>) {
        self.answer(psci::encode(r));
    }

    #[inline(always)]
    fn complete_load(&mut self, value: u64) {
        let load = decode::load_of(self.el1.esr());
        if let Some(r) = self.frame.x.get_mut(usize::from(load.reg)) {
            *r = load.value(value);
        }
    }

    fn inject(&mut self, fault: Fault) {
        let far = self.el1.far();
        match fault {
            Fault::Bus { write } => {
                let wnr = if write { WNR } else { 0 };
                self.inject_class(EC_DABT_LOWER, FSC_SYNC_EXTERNAL | wnr, Some(far));
            }
            Fault::Fetch => self.inject_class(EC_IABT_LOWER, FSC_SYNC_EXTERNAL, Some(far)),
            Fault::Undefined => self.inject_class(EC_UNKNOWN, 0, None),
        }
    }

    fn enter(entry: EntryToken, start: &VcpuStart) -> ! {
        #[cfg(target_arch = "aarch64")]
        {
            let regs = GuestRegs::boot(start.entry, start.arg);
            // SAFETY: the token says this CPU's stack may be reset and ends there; the
            // caller (the hypervisor's per-CPU loop) has put the VM's translation and
            // this CPU's interrupt state in place, and no guest runs here now.
            unsafe {
                hw::reset_el1(start.cpu_id);
                crate::debug::reset();
                crate::cpu::set_cntvoff(start.counter_offset);
                crate::enter_guest(&regs, entry.stack_end)
            }
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            let _ = (entry.stack_end, start);
            unreachable!("guests run only on aarch64")
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub use hw::HwEl1;

#[cfg(target_arch = "aarch64")]
mod hw {
    use super::El1;
    use crate::sysreg::isb;

    /// This CPU's EL1 registers.
    #[derive(Debug, Clone, Copy)]
    pub struct HwEl1;

    impl crate::decode::SyndromeRegs for HwEl1 {
        #[inline(always)]
        fn esr(&self) -> u64 {
            read_sysreg!(esr_el2)
        }
        #[inline(always)]
        fn far(&self) -> u64 {
            read_sysreg!(far_el2)
        }
        #[inline(always)]
        fn hpfar(&self) -> u64 {
            read_sysreg!(hpfar_el2)
        }
    }

    impl El1 for HwEl1 {
        #[inline(always)]
        fn vbar(&self) -> u64 {
            read_sysreg!(vbar_el1)
        }
        #[inline(always)]
        fn take(&mut self, esr: u64, far: Option<u64>, elr: u64, spsr: u64) {
            write_sysreg!(esr_el1, esr);
            if let Some(far) = far {
                write_sysreg!(far_el1, far);
            }
            write_sysreg!(elr_el1, elr);
            write_sysreg!(spsr_el1, spsr);
        }
    }

    macro_rules! zero_sysregs {
        ($($r:tt),* $(,)?) => { $( write_sysreg!($r, 0); )* };
    }

    /// Puts this CPU's EL1 state in its architectural reset shape: MMU and caches
    /// off, no vectors, timers off; the guest reads `vmpidr` (affinity fields) as its
    /// MPIDR.
    ///
    /// # Safety
    /// Call at EL2 on the CPU that will run the vCPU, with no guest running on it.
    pub(super) unsafe fn reset_el1(vmpidr: u64) {
        write_sysreg!(sctlr_el1, 0x30d0_0800);
        zero_sysregs!(
            tcr_el1,
            ttbr0_el1,
            ttbr1_el1,
            mair_el1,
            amair_el1,
            vbar_el1,
            contextidr_el1,
            cpacr_el1,
            cntkctl_el1,
            cntv_ctl_el0,
            cntv_cval_el0,
            sp_el0,
            sp_el1,
            elr_el1,
            spsr_el1,
            esr_el1,
            far_el1,
            afsr0_el1,
            afsr1_el1,
            par_el1,
            tpidr_el0,
            tpidrro_el0,
            tpidr_el1,
            csselr_el1
        );
        write_sysreg!(vmpidr_el2, (1 << 31) | vmpidr);
        write_sysreg!(vpidr_el2, read_sysreg!(midr_el1));
        isb();
    }
}

#[cfg(test)]
mod tests;
