//! A vCPU seen through its saved frame and the EL1 registers of the CPU it is pinned
//! to: register access, exception injection and reset.

use crate::frame::{GuestRegs, SPSR_EL1H_MASKED};
use crate::sysreg::isb;
use rtvisor_core::vcpu::VcpuRegs;

/// The exited vCPU.
#[derive(Debug)]
pub struct Vcpu<'a> {
    /// Its saved registers.
    pub frame: &'a mut GuestRegs,
}

const EC_UNKNOWN: u64 = 0x00;
const EC_IABT_LOWER: u64 = 0x20;
const EC_DABT_LOWER: u64 = 0x24;
const ESR_IL: u64 = 1 << 25;
const FSC_SYNC_EXTERNAL: u64 = 0x10;
const WNR: u64 = 1 << 6;

impl Vcpu<'_> {
    /// Takes an exception to the guest's EL1 vector, as the hardware would. `ec_lower` is
    /// the class for an exception from EL0; from EL1 the "same EL" class (`+1`) is used
    /// for aborts.
    fn inject(&mut self, ec_lower: u64, iss: u64, far: Option<u64>) {
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
        write_sysreg!(esr_el1, (ec << 26) | ESR_IL | iss);
        if let Some(far) = far {
            write_sysreg!(far_el1, far);
        }
        write_sysreg!(elr_el1, self.frame.elr);
        write_sysreg!(spsr_el1, spsr);
        self.frame.elr = read_sysreg!(vbar_el1) + offset;
        self.frame.spsr = SPSR_EL1H_MASKED;
    }
}

impl VcpuRegs for Vcpu<'_> {
    fn reg(&self, n: u8) -> u64 {
        self.frame.x.get(n as usize).copied().unwrap_or(0)
    }
    fn set_reg(&mut self, n: u8, value: u64) {
        if let Some(r) = self.frame.x.get_mut(n as usize) {
            *r = value;
        }
    }
    fn skip_instruction(&mut self) {
        self.frame.elr = self.frame.elr.wrapping_add(4);
    }
    fn inject_data_abort(&mut self, far: u64, write: bool) {
        let wnr = if write { WNR } else { 0 };
        self.inject(EC_DABT_LOWER, FSC_SYNC_EXTERNAL | wnr, Some(far));
    }
    fn inject_instruction_abort(&mut self, far: u64) {
        self.inject(EC_IABT_LOWER, FSC_SYNC_EXTERNAL, Some(far));
    }
    fn inject_undef(&mut self) {
        self.inject(EC_UNKNOWN, 0, None);
    }
}

macro_rules! zero_sysregs {
    ($($r:tt),* $(,)?) => { $( write_sysreg!($r, 0); )* };
}

/// Puts this CPU's EL1 state in its architectural reset shape: MMU and caches off, no
/// vectors, timers off; the guest reads `vmpidr` (affinity fields) as its MPIDR.
///
/// # Safety
/// Call at EL2 on the CPU that will run the vCPU, with no guest running on it.
pub unsafe fn reset_el1(vmpidr: u64) {
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
