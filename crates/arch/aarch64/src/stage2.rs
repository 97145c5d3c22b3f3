//! The aarch64 [`Stage2`]: a VM's stage-2 tables (built by [`crate::pt`] in the table
//! pool) and its VMID.

use crate::memory::TablePool;
use crate::mmu;
use crate::pt::{self, MapError, PageTable};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_core::seam::{MemKind, Stage2};

/// One VM's stage-2 translation.
#[derive(Debug)]
pub struct Stage2Table {
    pt: PageTable,
    pool: &'static TablePool,
    vmid: u16,
}

impl Stage2Table {
    /// Empty tables from `pool`, tagged `vmid` in the TLBs (never 0, the host's).
    pub fn new(pool: &'static TablePool, vmid: u16) -> Result<Self, MapError> {
        Ok(Self {
            pt: PageTable::new(&mut &*pool)?,
            pool,
            vmid,
        })
    }

    /// The root table (for diagnostics).
    pub fn root(&self) -> Hpa {
        self.pt.root()
    }

    /// The host address `ipa` translates to, `None` when unmapped (for checks of
    /// what the tables hold).
    pub fn translate(&self, ipa: Ipa) -> Option<Hpa> {
        self.pt.translate(&self.pool, ipa.raw()).map(|(hpa, _)| hpa)
    }
}

fn attrs(kind: MemKind) -> pt::Attrs {
    match kind {
        MemKind::Ram => pt::Stage2::ram(),
        MemKind::Device => pt::Stage2::device(),
        MemKind::Shared { writable } => pt::Stage2::shared(writable),
    }
}

impl Stage2 for Stage2Table {
    type Error = MapError;

    fn map(&mut self, ipa: Ipa, hpa: Hpa, size: u64, kind: MemKind) -> Result<(), MapError> {
        self.pt
            .map(&mut &*self.pool, ipa.raw(), hpa, size, attrs(kind))?;
        crate::sysreg::dsb_ish();
        Ok(())
    }

    fn unmap(&mut self, ipa: Ipa, size: u64) -> Result<(), MapError> {
        self.pt.unmap(&mut &*self.pool, ipa.raw(), size)?;
        crate::sysreg::dsb_ish();
        Ok(())
    }

    /// Selects these tables on this CPU (as [`Stage2::activate`]) and drops, on every
    /// CPU, the TLB entries of their VMID.
    fn flush(&self) {
        self.activate();
        mmu::flush_current_vmid();
    }

    fn activate(&self) {
        // SAFETY: the tables were built by `map` alone, from the pool, with stage-2
        // attributes: they map only what the VM was given.
        unsafe { mmu::set_stage2(self.vmid, self.pt.root()) };
    }
}
