//! The register side of [`Vtd`] and its tables' memory.

use super::ir::{self, IRT_ENTRIES};
use super::tables::{self, command, context_entry, devfn, root_entry, Levels};

mod queue;
use crate::acpi::dmar::{Dmar, MAX_UNITS};
use crate::devpage::DevicePages;
use crate::stage2::DmaTables;
use core::cell::UnsafeCell;
use core::sync::atomic::{fence, AtomicU32, Ordering};
use rtvisor_config::contract::MAX_VMS;
use rtvisor_vdev::Width;

/// Register offsets.
const CAP: u64 = 0x08;
const ECAP: u64 = 0x10;
const GCMD: u64 = 0x18;
const GSTS: u64 = 0x1C;
const RTADDR: u64 = 0x20;
const CCMD: u64 = 0x28;
const FSTS: u64 = 0x34;
const FECTL: u64 = 0x38;
const PMEN: u64 = 0x64;
/// Invalidation queue: head, tail, address, and the interrupt remapping table's
/// address.
const IQH: u64 = 0x80;
const IQT: u64 = 0x88;
const IQA: u64 = 0x90;
const IRTA: u64 = 0xB8;
/// FSTS: invalidation queue error (a descriptor the unit refused; write 1 to clear).
const FSTS_IQE: u64 = 1 << 4;
/// FECTL: fault events masked (no interrupt to whatever vector firmware left).
const FECTL_IM: u64 = 1 << 31;
/// PMEN: protected memory regions enabled; status.
const PMEN_EPM: u64 = 1 << 31;
const PMEN_PRS: u64 = 1;
/// GCMD / GSTS: queued invalidation, interrupt remapping, the remapping table
/// pointer (one-shot), compatibility-format interrupts allowed.
const QIE: u32 = 1 << 26;
const IRE: u32 = 1 << 25;
const SIRTP: u32 = 1 << 24;
const CFI: u32 = 1 << 23;
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
/// ECAP.C: the unit's walks snoop the CPU's caches. ECAP.QI, ECAP.IR: queued
/// invalidation, interrupt remapping.
const ECAP_COHERENT: u64 = 1;
const ECAP_QI: u64 = 1 << 1;
const ECAP_IR: u64 = 1 << 3;
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
    /// A unit refused an invalidation descriptor (FSTS.IQE; its register base).
    Queue(u64),
    /// An interrupt remapping table index past the table.
    NoIrte,
}

#[repr(C, align(4096))]
struct Page([u64; 512]);

/// The pages the units read: the root table, the context tables, the interrupt
/// remapping table and each unit's invalidation queue.
const PAGES: usize = QUEUE0 + MAX_UNITS;
const ROOT: usize = 0;
const CONTEXT0: usize = 1;
const IRT: usize = CONTEXT0 + BUSES;
const QUEUE0: usize = IRT + 1;
/// Descriptors in a queue (one page, IQA.QS = 0).
const QUEUE_LEN: usize = 256;

struct Tables(UnsafeCell<[Page; PAGES]>);
// SAFETY: reached only through the `Vtd` that `init` makes once, whose methods take
// `&mut self` (the caller serialises them).
unsafe impl Sync for Tables {}
static TABLES: Tables = Tables(UnsafeCell::new([const { Page([0; 512]) }; PAGES]));
/// Where each unit writes an invalidation wait's status (by unit slot).
static STATUS: [AtomicU32; MAX_UNITS] = [const { AtomicU32::new(0) }; MAX_UNITS];

struct Unit {
    regs: DevicePages,
    levels: Levels,
    /// The IOTLB invalidate register's address.
    iotlb: u64,
    rwbf: bool,
    /// Its slot: its queue page is `QUEUE0 + slot`, its status `STATUS[slot]`.
    slot: usize,
    /// Queued invalidation is on: invalidations go through the queue (the
    /// registers may not be used then), its next free descriptor is `tail`.
    queued: bool,
    tail: usize,
    /// The last invalidation wait's status value.
    token: u32,
}

/// The machine's remapping units, on.
pub struct Vtd {
    units: [Option<Unit>; MAX_UNITS],
    dmar: Dmar,
    tables: &'static mut [Page; PAGES],
    /// The bus each context table serves.
    buses: [Option<u8>; BUSES],
    /// Every unit's page walks snoop the CPU's caches (ECAP.C); else the tables
    /// a unit reads are written back before it is told of them.
    coherent: bool,
    /// Interrupt remapping is on, compatibility-format interrupts blocked.
    remapping: bool,
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
    /// (`None`), or domain `did`'s; through the queue (`queue`, its page) when it
    /// is on.
    fn invalidate(&mut self, queue: &mut Page, did: Option<u16>) -> Result<(), VtdError> {
        if self.rwbf {
            let gsts = self.reg(GSTS, Width::Word) as u32;
            self.set(GCMD, Width::Word, u64::from(command(gsts, WBF, true)));
            self.wait(GSTS, Width::Word, |s| s as u32 & WBF == 0)?;
        }
        if self.queued {
            return self.submit(queue, &[ir::inv_context(did), ir::inv_iotlb(did)]);
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

    /// Turns translation, interrupt remapping and the queue off (a failed `init`).
    fn off(&self) {
        for bit in [TE, IRE, QIE] {
            let _ = self.command(bit, false);
        }
    }

    /// Undoes what firmware may have left on: interrupt remapping and queued
    /// invalidation off (`init` turns them on again with its own tables),
    /// protected memory regions off, fault events masked.
    fn quiet(&self) -> Result<(), VtdError> {
        for bit in [IRE, QIE] {
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
    /// translation on: from here no device reaches memory until attached. Where
    /// every unit offers queued invalidation and interrupt remapping, both go on
    /// too, with an empty remapping table and compatibility-format interrupts
    /// blocked: from here no device sends an interrupt until [`Vtd::set_irte`]
    /// gives it an entry.
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
        let root = tables[ROOT].0.as_ptr() as u64;
        let irt = tables[IRT].0.as_ptr() as u64;
        // Every unit checked before any is changed: all on, or none.
        let mut units = [const { None }; MAX_UNITS];
        let (mut coherent, mut remapping) = (true, true);
        for (slot, (entry, u)) in units.iter_mut().zip(dmar.units()).enumerate() {
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
                slot,
                queued: false,
                tail: 0,
                token: 0,
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
            remapping &= ecap & (ECAP_QI | ECAP_IR) == ECAP_QI | ECAP_IR;
            *entry = Some(unit);
        }
        if units.iter().all(Option::is_none) {
            return Err(VtdError::NoUnits);
        }
        if !coherent {
            flush(root, 4096);
            flush(irt, 4096);
        }
        for i in 0..units.len() {
            let Some(unit) = units[i].as_mut() else {
                continue;
            };
            let queue = &mut tables[QUEUE0 + unit.slot];
            let on = unit.quiet().and_then(|()| {
                unit.set(RTADDR, Width::Double, root);
                unit.command(SRTP, true)?;
                if remapping {
                    unit.queue_on(queue)?;
                    unit.remapping_on(queue, irt)?;
                }
                unit.invalidate(queue, None)?;
                unit.command(TE, true)
            });
            if let Err(e) = on {
                // All on, or none: the units so far go off again, so that no device
                // is left blocked while the log says VT-d is off.
                for earlier in units.iter().take(i + 1).flatten() {
                    earlier.off();
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
            remapping,
        })
    }

    /// The units that are on: (register base, 4 levels).
    pub fn units(&self) -> impl Iterator<Item = (u64, bool)> + '_ {
        self.units
            .iter()
            .flatten()
            .map(|u| (u.regs.base(), u.levels == Levels::Four))
    }

    /// Whether interrupt remapping is on (every unit offers it).
    pub fn remapping(&self) -> bool {
        self.remapping
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
                let ctx = self.tables[CONTEXT0 + i].0.as_ptr() as u64;
                let [lo, hi] = root_entry(ctx);
                let at = 2 * usize::from(bus);
                publish(&mut self.tables[ROOT].0[at..at + 2], [lo, hi]);
                i
            }
        };
        Ok(CONTEXT0 + i)
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

    /// Sets interrupt remapping table entry `index` (`ir::irte`), or clears it
    /// (`None`: the interrupts that name it are blocked), and drops every unit's
    /// cached copy of it. Nothing to do without remapping.
    pub fn set_irte(&mut self, index: u16, e: Option<[u64; 2]>) -> Result<(), VtdError> {
        if !self.remapping {
            return Ok(());
        }
        let i = usize::from(index);
        if i >= IRT_ENTRIES {
            return Err(VtdError::NoIrte);
        }
        let slot = &mut self.tables[IRT].0[2 * i..2 * i + 2];
        let entry = e.unwrap_or([0, 0]);
        // A present entry whose high half (the requester check) stays changes by one
        // 8-byte store of its low half (the high half is stored again unchanged);
        // otherwise it is not present while the high half changes.
        if slot[1] != entry[1] {
            retract(slot);
        }
        publish(slot, entry);
        if !self.coherent {
            flush(slot.as_ptr() as u64 & !63, 64);
        }
        // Every unit's cached copy goes, even when one of them fails.
        let Vtd { units, tables, .. } = self;
        let mut first = Ok(());
        for u in units.iter_mut().flatten() {
            let r = u.submit(&mut tables[QUEUE0 + u.slot], &[ir::inv_iec(Some(index))]);
            first = first.and(r);
        }
        first
    }

    /// The slot of the unit that translates `bdf` (the DMAR's), among those on.
    fn unit_index(&self, (bus, dev, func): (u8, u8, u8)) -> Result<usize, VtdError> {
        let base = self
            .dmar
            .unit_of(bus, dev, func)
            .ok_or(VtdError::NoUnit)?
            .base;
        self.units
            .iter()
            .position(|u| u.as_ref().is_some_and(|u| u.regs.base() == base))
            .ok_or(VtdError::NoUnit)
    }

    fn flush_domain(&mut self, bdf: (u8, u8, u8), did: u16) -> Result<(), VtdError> {
        let i = self.unit_index(bdf)?;
        let Vtd { units, tables, .. } = self;
        let u = units[i].as_mut().ok_or(VtdError::NoUnit)?;
        u.invalidate(&mut tables[QUEUE0 + u.slot], Some(did))
    }

    /// Writes the context entry of `bdf`: present with `to` (root, domain), or
    /// cleared. The present bit goes last when it is set and first when it is
    /// cleared; an entry is never changed while present (attach follows detach).
    fn set_entry(&mut self, bdf: (u8, u8, u8), to: Option<(u64, u16)>) -> Result<(), VtdError> {
        let (bus, dev, func) = bdf;
        let levels = self.units[self.unit_index(bdf)?]
            .as_ref()
            .ok_or(VtdError::NoUnit)?
            .levels;
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
            Some((e, _)) => publish(slot, e),
            None => retract(slot),
        }
        if !self.coherent {
            flush(self.tables[ROOT].0.as_ptr() as u64, 4096);
            flush(self.tables[t].0.as_ptr() as u64, 4096);
        }
        match entry {
            Some((_, did)) => self.flush_domain(bdf, did),
            None => Ok(()),
        }
    }
}

/// Stores a 16-byte entry the units read (a root, context or remapping table entry,
/// an invalidation descriptor): the high half, then the low half, which holds the
/// present bit, so that a unit never sees a present entry half written.
fn publish(slot: &mut [u64], [lo, hi]: [u64; 2]) {
    // SAFETY: volatile stores to the hypervisor's own table memory (`slot` is two
    // words of it), ordered by the fence.
    unsafe {
        core::ptr::write_volatile(&mut slot[1], hi);
        fence(Ordering::SeqCst);
        core::ptr::write_volatile(&mut slot[0], lo);
    }
    fence(Ordering::SeqCst);
}

/// Clears such an entry: the low half (the present bit) first.
fn retract(slot: &mut [u64]) {
    // SAFETY: as in `publish`.
    unsafe {
        core::ptr::write_volatile(&mut slot[0], 0);
        fence(Ordering::SeqCst);
        core::ptr::write_volatile(&mut slot[1], 0);
    }
    fence(Ordering::SeqCst);
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
