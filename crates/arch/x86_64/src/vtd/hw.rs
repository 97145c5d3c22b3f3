//! The register side of [`Vtd`] and its tables' memory.

use super::tables::{self, command, context_entry, devfn, root_entry, Levels};
use crate::acpi::dmar::{Dmar, MAX_UNITS};
use crate::devpage::DevicePages;
use core::cell::UnsafeCell;
use rtvisor_vdev::Width;

/// Register offsets.
const CAP: u64 = 0x08;
const ECAP: u64 = 0x10;
const GCMD: u64 = 0x18;
const GSTS: u64 = 0x1C;
const RTADDR: u64 = 0x20;
const CCMD: u64 = 0x28;
const FSTS: u64 = 0x34;
/// GCMD / GSTS bits.
const TE: u32 = 1 << 31;
const SRTP: u32 = 1 << 30;
const WBF: u32 = 1 << 27;
/// CCMD: invalidate, global.
const CCMD_ICC: u64 = 1 << 63;
const CCMD_GLOBAL: u64 = 1 << 61;
/// IOTLB invalidate register: invalidate, global, drain reads and writes.
const IOTLB_IVT: u64 = 1 << 63;
const IOTLB_GLOBAL: u64 = 1 << 60;
const IOTLB_DRAIN: u64 = 1 << 49 | 1 << 48;
/// CAP.RWBF: the write buffer must be flushed after the tables change.
const CAP_RWBF: u64 = 1 << 4;
/// ECAP.C: the unit's walks snoop the CPU's caches.
const ECAP_COHERENT: u64 = 1;
/// Polls of a status bit before a unit counts as not answering.
const SPINS: u32 = 10_000_000;
/// Buses whose context table can be in use at once.
const BUSES: usize = 8;

/// Why remapping is not on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VtdError {
    /// A unit's registers could not be mapped.
    Map(u64),
    /// A unit offers neither a 3- nor a 4-level second-level table.
    Width(u64),
    /// A unit did not confirm a command (its register base).
    NoAnswer(u64),
    /// More buses have functions than there are context tables.
    Buses,
    /// A function is on no unit.
    NoUnit,
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
    coherent: bool,
}

/// The machine's remapping units, on.
pub struct Vtd {
    units: [Option<Unit>; MAX_UNITS],
    dmar: Dmar,
    tables: &'static mut [Page; 1 + BUSES],
    /// The bus each context table serves.
    buses: [Option<u8>; BUSES],
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
        for _ in 0..SPINS {
            if done(self.reg(off, w)) {
                return Ok(());
            }
            crate::cpu::pause();
        }
        Err(VtdError::NoAnswer(self.regs.base()))
    }

    /// Sets or clears a GCMD bit and waits for its status.
    fn command(&self, bit: u32, on: bool) -> Result<(), VtdError> {
        let gsts = self.reg(GSTS, Width::Word) as u32;
        self.set(GCMD, Width::Word, u64::from(command(gsts, bit, on)));
        self.wait(GSTS, Width::Word, |s| (s as u32 & bit != 0) == on)
    }

    /// Drops every cached context entry and translation.
    fn invalidate(&self) -> Result<(), VtdError> {
        if self.rwbf {
            let gsts = self.reg(GSTS, Width::Word) as u32;
            self.set(GCMD, Width::Word, u64::from(command(gsts, WBF, true)));
            self.wait(GSTS, Width::Word, |s| s as u32 & WBF == 0)?;
        }
        self.set(CCMD, Width::Double, CCMD_ICC | CCMD_GLOBAL);
        self.wait(CCMD, Width::Double, |v| v & CCMD_ICC == 0)?;
        let at = self.iotlb - self.regs.base();
        self.set(at, Width::Double, IOTLB_IVT | IOTLB_GLOBAL | IOTLB_DRAIN);
        self.wait(at, Width::Double, |v| v & IOTLB_IVT == 0)
    }
}

impl Vtd {
    /// Maps every unit of `dmar`, gives each the empty root table and turns
    /// translation on: from here no device reaches memory until attached.
    ///
    /// # Safety
    /// The BSP at boot, once; the units are the machine's (the firmware's DMAR).
    pub unsafe fn init(dmar: &Dmar) -> Result<Vtd, VtdError> {
        // SAFETY: once (the caller's contract), so this is the only reference.
        let tables = unsafe { &mut *TABLES.0.get() };
        for t in tables.iter_mut() {
            t.0.fill(0);
        }
        let root = tables[0].0.as_ptr() as u64;
        let mut units = [const { None }; MAX_UNITS];
        for (slot, u) in units.iter_mut().zip(dmar.units()) {
            // SAFETY: the BSP at boot; a unit's register page (the DMAR's).
            let regs = unsafe { DevicePages::map(u.base, 0x1000) }.ok_or(VtdError::Map(u.base))?;
            let probe = Unit {
                regs,
                levels: Levels::Four,
                iotlb: 0,
                rwbf: false,
                coherent: false,
            };
            let cap = probe.reg(CAP, Width::Double);
            let ecap = probe.reg(ECAP, Width::Double);
            let iro = (ecap >> 8) & 0x3ff;
            let unit = Unit {
                levels: Levels::of_cap(cap).ok_or(VtdError::Width(u.base))?,
                iotlb: u.base + iro * 16 + 8,
                rwbf: cap & CAP_RWBF != 0,
                coherent: ecap & ECAP_COHERENT != 0,
                ..probe
            };
            if unit.iotlb + 8 > u.base + regs.len() {
                return Err(VtdError::Map(u.base));
            }
            if !unit.coherent {
                flush(&tables[0].0);
            }
            unit.set(RTADDR, Width::Double, root);
            unit.command(SRTP, true)?;
            unit.invalidate()?;
            unit.command(TE, true)?;
            *slot = Some(unit);
        }
        Ok(Vtd {
            units,
            dmar: *dmar,
            tables,
            buses: [None; BUSES],
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
                self.tables[0].0[at] = lo;
                self.tables[0].0[at + 1] = hi;
                i
            }
        };
        Ok(1 + i)
    }

    /// Attaches function `bus:dev.func` to the stage-2 table at `root` (its VM's),
    /// domain `did`; every unit's caches are dropped.
    pub fn attach(&mut self, bdf: (u8, u8, u8), root: u64, did: u16) -> Result<(), VtdError> {
        self.set_entry(bdf, Some((root, did)))
    }

    /// Detaches it: its DMA is blocked again.
    pub fn detach(&mut self, bdf: (u8, u8, u8)) -> Result<(), VtdError> {
        self.set_entry(bdf, None)
    }

    fn set_entry(&mut self, bdf: (u8, u8, u8), to: Option<(u64, u16)>) -> Result<(), VtdError> {
        let (bus, dev, func) = bdf;
        let base = self
            .dmar
            .unit_of(bus, dev, func)
            .ok_or(VtdError::NoUnit)?
            .base;
        let unit = self
            .units
            .iter()
            .flatten()
            .find(|u| u.regs.base() == base)
            .ok_or(VtdError::NoUnit)?;
        let entry = match to {
            Some((root, did)) => {
                // SAFETY: `root` is a stage-2 root table of the hypervisor's own pool
                // (identity-mapped, 4 KiB): reading it changes nothing.
                let t: &[u64; 512] = unsafe { &*(root as *const [u64; 512]) };
                let (first, others) = (t[0], t[1..].iter().all(|&e| e & 1 == 0));
                let slpt =
                    tables::second_level(root, first, others, unit.levels).ok_or(VtdError::High)?;
                context_entry(slpt, unit.levels, did)
            }
            None => [0, 0],
        };
        let coherent = unit.coherent;
        let t = self.context(bus)?;
        let at = 2 * devfn(dev, func);
        // The high half (domain, width) before the low one that makes it present.
        self.tables[t].0[at + 1] = entry[1];
        self.tables[t].0[at] = entry[0];
        if !coherent {
            flush(&self.tables[0].0);
            flush(&self.tables[t].0);
        }
        for u in self.units.iter().flatten() {
            u.invalidate()?;
        }
        Ok(())
    }

    /// Each unit's fault status register (0: no fault recorded).
    pub fn faults(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.units
            .iter()
            .flatten()
            .map(|u| (u.regs.base(), u.reg(FSTS, Width::Word) as u32))
    }
}

/// Writes a table's cache lines back, for a unit whose walks do not snoop.
fn flush(t: &[u64; 512]) {
    let base = t.as_ptr() as u64;
    for line in (0..4096).step_by(64) {
        // SAFETY: CLFLUSH of the hypervisor's own table memory only writes lines back.
        unsafe { core::arch::asm!("clflush [{}]", in(reg) base + line, options(nostack)) };
    }
    // SAFETY: a fence orders the flushes before the command that follows.
    unsafe { core::arch::asm!("mfence", options(nostack)) };
}
