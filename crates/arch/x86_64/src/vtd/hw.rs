//! The register side of [`Vtd`] and its tables' memory.

use super::tables::{self, command, context_entry, devfn, root_entry, Levels};
use crate::acpi::dmar::{Dmar, MAX_UNITS};
use crate::devpage::DevicePages;
use crate::stage2::DmaTables;
use core::cell::UnsafeCell;
use core::sync::atomic::{fence, Ordering};
use rtvisor_config::contract::MAX_VMS;
use rtvisor_vdev::Width;

/// Register offsets.
const CAP: u64 = 0x08;
const ECAP: u64 = 0x10;
const GCMD: u64 = 0x18;
const GSTS: u64 = 0x1C;
const RTADDR: u64 = 0x20;
const CCMD: u64 = 0x28;
const FECTL: u64 = 0x38;
const PMEN: u64 = 0x64;
/// FECTL: fault events masked (no interrupt to whatever vector firmware left).
const FECTL_IM: u64 = 1 << 31;
/// PMEN: protected memory regions enabled; status.
const PMEN_EPM: u64 = 1 << 31;
const PMEN_PRS: u64 = 1;
/// GSTS: queued invalidation and interrupt remapping on (firmware's, turned off).
const QIE: u32 = 1 << 26;
const IRE: u32 = 1 << 25;
/// CAP: 2 MiB second-level pages (SLLPS bit 0), number of domains (ND).
const CAP_2M: u64 = 1 << 34;
/// GCMD / GSTS bits.
const TE: u32 = 1 << 31;
const SRTP: u32 = 1 << 30;
const WBF: u32 = 1 << 27;
/// CCMD: invalidate, global or one domain (its id in bits 15:0).
const CCMD_ICC: u64 = 1 << 63;
const CCMD_GLOBAL: u64 = 1 << 61;
const CCMD_DOMAIN: u64 = 2 << 61;
/// IOTLB invalidate register: invalidate, global or one domain (its id in bits
/// 47:32), drain reads and writes.
const IOTLB_IVT: u64 = 1 << 63;
const IOTLB_GLOBAL: u64 = 1 << 60;
const IOTLB_DOMAIN: u64 = 2 << 60;
const IOTLB_DRAIN: u64 = 1 << 49 | 1 << 48;
/// CAP.RWBF: the write buffer must be flushed after the tables change.
const CAP_RWBF: u64 = 1 << 4;
/// ECAP.C: the unit's walks snoop the CPU's caches.
const ECAP_COHERENT: u64 = 1;
/// How long a unit has to confirm a command before it counts as not answering, in
/// microseconds (on the PM timer, `timer::wait_until`). A unit answers in a few
/// microseconds; Linux gives it a second. The wait can hold a stopping VM's path
/// (`detach`), so it is kept shorter.
const ANSWER_US: u64 = 100_000;
/// Buses whose context table can be in use at once.
const BUSES: usize = 8;

/// Why remapping is not on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VtdError {
    /// A unit's registers could not be mapped.
    Map(u64),
    /// A unit offers neither a 3- nor a 4-level second-level table.
    Width(u64),
    /// A unit has no 2 MiB second-level pages, which the stage-2 tables use.
    LargePages(u64),
    /// A unit has fewer domain ids than VMs.
    Domains(u64),
    /// The DMAR lists more units than are kept: one left out might be the one of
    /// a given function.
    TooManyUnits,
    /// A unit did not confirm a command (its register base).
    NoAnswer(u64),
    /// More buses have functions than there are context tables.
    Buses,
    /// A function is on no unit.
    NoUnit,
    /// The DMAR lists no unit of segment 0.
    NoUnits,
    /// The VM's stage-2 maps above 512 GiB, which 3 levels do not reach.
    High,
}

#[repr(C, align(4096))]
struct Page([u64; 512]);

/// The root table and the context tables.
struct Tables(UnsafeCell<[Page; 1 + BUSES]>);
// SAFETY: reached only through the `Vtd` that `init` makes once, whose methods take
// `&mut self` (the caller serialises them).
unsafe impl Sync for Tables {}
static TABLES: Tables = Tables(UnsafeCell::new([const { Page([0; 512]) }; 1 + BUSES]));

struct Unit {
    regs: DevicePages,
    levels: Levels,
    /// The IOTLB invalidate register's address.
    iotlb: u64,
    rwbf: bool,
}

/// The machine's remapping units, on.
pub struct Vtd {
    units: [Option<Unit>; MAX_UNITS],
    dmar: Dmar,
    tables: &'static mut [Page; 1 + BUSES],
    /// The bus each context table serves.
    buses: [Option<u8>; BUSES],
    /// Every unit's page walks snoop the CPU's caches (ECAP.C); else the tables
    /// a unit reads are written back before it is told of them.
    coherent: bool,
}

impl Unit {
    fn reg(&self, off: u64, w: Width) -> u64 {
        self.regs.read(self.regs.base() + off, w)
    }

    fn set(&self, off: u64, w: Width, v: u64) {
        self.regs.write(self.regs.base() + off, w, v)
    }

    /// Waits until `done` holds of register `off`.
    fn wait(&self, off: u64, w: Width, done: impl Fn(u64) -> bool) -> Result<(), VtdError> {
        if crate::timer::wait_until(ANSWER_US, || done(self.reg(off, w))) {
            Ok(())
        } else {
            Err(VtdError::NoAnswer(self.regs.base()))
        }
    }

    /// Sets or clears a GCMD bit and waits for its status.
    fn command(&self, bit: u32, on: bool) -> Result<(), VtdError> {
        let gsts = self.reg(GSTS, Width::Word) as u32;
        self.set(GCMD, Width::Word, u64::from(command(gsts, bit, on)));
        self.wait(GSTS, Width::Word, |s| (s as u32 & bit != 0) == on)
    }

    /// Drops the cached context entries and translations: every domain's
    /// (`None`), or domain `did`'s.
    fn invalidate(&self, did: Option<u16>) -> Result<(), VtdError> {
        if self.rwbf {
            let gsts = self.reg(GSTS, Width::Word) as u32;
            self.set(GCMD, Width::Word, u64::from(command(gsts, WBF, true)));
            self.wait(GSTS, Width::Word, |s| s as u32 & WBF == 0)?;
        }
        let (ccmd, iotlb) = match did {
            None => (CCMD_GLOBAL, IOTLB_GLOBAL),
            Some(d) => (
                CCMD_DOMAIN | u64::from(d),
                IOTLB_DOMAIN | u64::from(d) << 32,
            ),
        };
        self.set(CCMD, Width::Double, CCMD_ICC | ccmd);
        self.wait(CCMD, Width::Double, |v| v & CCMD_ICC == 0)?;
        let at = self.iotlb - self.regs.base();
        self.set(at, Width::Double, IOTLB_IVT | iotlb | IOTLB_DRAIN);
        self.wait(at, Width::Double, |v| v & IOTLB_IVT == 0)
    }

    /// Undoes what firmware may have left on: queued invalidation and interrupt
    /// remapping off (register-based invalidation is used, MSIs pass as they are),
    /// protected memory regions off, fault events masked.
    fn quiet(&self) -> Result<(), VtdError> {
        for bit in [QIE, IRE] {
            if self.reg(GSTS, Width::Word) as u32 & bit != 0 {
                self.command(bit, false)?;
            }
        }
        if self.reg(PMEN, Width::Word) & PMEN_EPM != 0 {
            self.set(PMEN, Width::Word, 0);
            self.wait(PMEN, Width::Word, |v| v & PMEN_PRS == 0)?;
        }
        self.set(FECTL, Width::Word, FECTL_IM);
        Ok(())
    }
}

impl Vtd {
    /// Maps every unit of `dmar`, gives each the empty root table and turns
    /// translation on: from here no device reaches memory until attached.
    ///
    /// # Safety
    /// The BSP at boot, once; the units are the machine's (the firmware's DMAR).
    pub unsafe fn init(dmar: &Dmar) -> Result<Vtd, VtdError> {
        if dmar.dropped != 0 {
            return Err(VtdError::TooManyUnits);
        }
        // SAFETY: once (the caller's contract), so this is the only reference.
        let tables = unsafe { &mut *TABLES.0.get() };
        for t in tables.iter_mut() {
            t.0.fill(0);
        }
        let root = tables[0].0.as_ptr() as u64;
        // Every unit checked before any is changed: all on, or none.
        let mut units = [const { None }; MAX_UNITS];
        let mut coherent = true;
        for (slot, u) in units.iter_mut().zip(dmar.units()) {
            // SAFETY: the BSP at boot; a unit's register page (the DMAR's).
            let regs = unsafe { DevicePages::map(u.base, 0x1000) }.ok_or(VtdError::Map(u.base))?;
            let cap = regs.read(regs.base() + CAP, Width::Double);
            let ecap = regs.read(regs.base() + ECAP, Width::Double);
            let iro = (ecap >> 8) & 0x3ff;
            let unit = Unit {
                regs,
                levels: Levels::of_cap(cap).ok_or(VtdError::Width(u.base))?,
                iotlb: regs.base() + iro * 16 + 8,
                rwbf: cap & CAP_RWBF != 0,
            };
            if unit.iotlb + 8 > regs.base() + regs.len() {
                return Err(VtdError::Map(u.base));
            }
            if cap & CAP_2M == 0 {
                return Err(VtdError::LargePages(u.base));
            }
            if 1u64 << (4 + 2 * (cap & 7)) <= MAX_VMS as u64 {
                return Err(VtdError::Domains(u.base));
            }
            coherent &= ecap & ECAP_COHERENT != 0;
            *slot = Some(unit);
        }
        if units.iter().all(Option::is_none) {
            return Err(VtdError::NoUnits);
        }
        if !coherent {
            flush(tables[0].0.as_ptr() as u64, 4096);
        }
        for (i, unit) in units.iter().flatten().enumerate() {
            let on = unit.quiet().and_then(|()| {
                unit.set(RTADDR, Width::Double, root);
                unit.command(SRTP, true)?;
                unit.invalidate(None)?;
                unit.command(TE, true)
            });
            if let Err(e) = on {
                // All on, or none: the units before this one go off again, so that
                // no device is left blocked while the log says VT-d is off.
                for earlier in units.iter().flatten().take(i) {
                    let _ = earlier.command(TE, false);
                }
                return Err(e);
            }
        }
        Ok(Vtd {
            units,
            dmar: *dmar,
            tables,
            buses: [None; BUSES],
            coherent,
        })
    }

    /// The units that are on: (register base, 4 levels).
    pub fn units(&self) -> impl Iterator<Item = (u64, bool)> + '_ {
        self.units
            .iter()
            .flatten()
            .map(|u| (u.regs.base(), u.levels == Levels::Four))
    }

    /// The context table of `bus` (taken on first use).
    fn context(&mut self, bus: u8) -> Result<usize, VtdError> {
        let i = match self.buses.iter().position(|b| *b == Some(bus)) {
            Some(i) => i,
            None => {
                let i = self
                    .buses
                    .iter()
                    .position(Option::is_none)
                    .ok_or(VtdError::Buses)?;
                self.buses[i] = Some(bus);
                let ctx = self.tables[1 + i].0.as_ptr() as u64;
                let [lo, hi] = root_entry(ctx);
                let at = 2 * usize::from(bus);
                let slot = &mut self.tables[0].0[at..at + 2];
                // SAFETY: volatile stores to the hypervisor's own root table, which the
                // units read; the high half before the present bit.
                unsafe {
                    core::ptr::write_volatile(&mut slot[1], hi);
                    fence(Ordering::SeqCst);
                    core::ptr::write_volatile(&mut slot[0], lo);
                }
                i
            }
        };
        Ok(1 + i)
    }

    /// Attaches function `bus:dev.func` to its VM's stage-2 tables `t`, domain
    /// `did`; its unit's caches of that domain are dropped. Where a unit does not
    /// snoop the CPU's caches, the tables are written back first.
    pub fn attach(&mut self, bdf: (u8, u8, u8), t: &DmaTables, did: u16) -> Result<(), VtdError> {
        if !self.coherent {
            flush(t.root(), t.len());
        }
        self.set_entry(bdf, Some((t.root(), did)))
    }

    /// Detaches it (its domain `did`): its DMA is blocked again.
    pub fn detach(&mut self, bdf: (u8, u8, u8), did: u16) -> Result<(), VtdError> {
        self.set_entry(bdf, None).and(self.flush_domain(bdf, did))
    }

    /// The unit that translates `bdf` (the DMAR's), among those that are on.
    fn unit_of(&self, (bus, dev, func): (u8, u8, u8)) -> Result<&Unit, VtdError> {
        let base = self
            .dmar
            .unit_of(bus, dev, func)
            .ok_or(VtdError::NoUnit)?
            .base;
        self.units
            .iter()
            .flatten()
            .find(|u| u.regs.base() == base)
            .ok_or(VtdError::NoUnit)
    }

    fn flush_domain(&self, bdf: (u8, u8, u8), did: u16) -> Result<(), VtdError> {
        self.unit_of(bdf)?.invalidate(Some(did))
    }

    /// Writes the context entry of `bdf`: present with `to` (root, domain), or
    /// cleared. The present bit goes last when it is set and first when it is
    /// cleared; an entry is never changed while present (attach follows detach).
    fn set_entry(&mut self, bdf: (u8, u8, u8), to: Option<(u64, u16)>) -> Result<(), VtdError> {
        let (bus, dev, func) = bdf;
        let levels = self.unit_of(bdf)?.levels;
        let entry = match to {
            Some((root, did)) => {
                // SAFETY: `root` comes from a `DmaTables`, which only a `Stage2` makes:
                // the root table of the hypervisor's own pool (identity-mapped,
                // 4 KiB); reading it changes nothing.
                let t: &[u64; 512] = unsafe { &*(root as *const [u64; 512]) };
                let (first, others) = (t[0], t[1..].iter().all(|&e| e & 1 == 0));
                let slpt =
                    tables::second_level(root, first, others, levels).ok_or(VtdError::High)?;
                Some((context_entry(slpt, levels, did), did))
            }
            None => None,
        };
        let t = self.context(bus)?;
        let at = 2 * devfn(dev, func);
        let slot = &mut self.tables[t].0[at..at + 2];
        match entry {
            // SAFETY: volatile stores to the hypervisor's own table memory, which the
            // unit reads; ordered against each other by the fence.
            Some(([lo, hi], _)) => unsafe {
                core::ptr::write_volatile(&mut slot[1], hi);
                fence(Ordering::SeqCst);
                core::ptr::write_volatile(&mut slot[0], lo);
            },
            // SAFETY: as above; the present half first.
            None => unsafe {
                core::ptr::write_volatile(&mut slot[0], 0);
                fence(Ordering::SeqCst);
                core::ptr::write_volatile(&mut slot[1], 0);
            },
        }
        fence(Ordering::SeqCst);
        if !self.coherent {
            flush(self.tables[0].0.as_ptr() as u64, 4096);
            flush(self.tables[t].0.as_ptr() as u64, 4096);
        }
        match entry {
            Some((_, did)) => self.flush_domain(bdf, did),
            None => Ok(()),
        }
    }
}

/// Writes the cache lines of `len` bytes of the hypervisor's own memory from `base`
/// back, for a unit whose walks do not snoop the CPU's caches.
fn flush(base: u64, len: u64) {
    for line in (base..base + len).step_by(64) {
        // SAFETY: CLFLUSH of identity-mapped memory of the hypervisor's only writes
        // the line back.
        unsafe { core::arch::asm!("clflush [{}]", in(reg) line, options(nostack)) };
    }
    fence(Ordering::SeqCst);
}
