//! The emulated distributor (`GICD_*`): its register map and handlers.
//!
//! With affinity routing always on, the banks for INTIDs 0-31 (index 0 of the
//! bit banks, `IPRIORITYR0-7`, `ICFGR0-1`) read as zero and ignore writes: those
//! interrupts live in the redistributors. Banks past [`NR_IRQS`] do the same.

use super::bits::{self, bits32, ACTIVE, ENABLE, GROUP, PEND};
use super::{ctlr, Notify, VGic, FIRST_SPI, IIDR, NR_IRQS, PIDR2, WORDS};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

/// Distributor register offsets.
pub mod reg {
    /// Control.
    pub const CTLR: u64 = 0x0000;
    /// Type.
    pub const TYPER: u64 = 0x0004;
    /// Implementer identification.
    pub const IIDR: u64 = 0x0008;
    /// Type 2.
    pub const TYPER2: u64 = 0x000c;
    /// Group (32 words).
    pub const IGROUPR: u64 = 0x0080;
    /// Set-enable.
    pub const ISENABLER: u64 = 0x0100;
    /// Clear-enable.
    pub const ICENABLER: u64 = 0x0180;
    /// Set-pending.
    pub const ISPENDR: u64 = 0x0200;
    /// Clear-pending.
    pub const ICPENDR: u64 = 0x0280;
    /// Set-active.
    pub const ISACTIVER: u64 = 0x0300;
    /// Clear-active.
    pub const ICACTIVER: u64 = 0x0380;
    /// Priority, one byte per INTID (255 words).
    pub const IPRIORITYR: u64 = 0x0400;
    /// Targets (legacy; RAZ/WI with affinity routing).
    pub const ITARGETSR: u64 = 0x0800;
    /// Configuration, two bits per INTID (64 words).
    pub const ICFGR: u64 = 0x0c00;
    /// Group modifier (RAZ/WI: one security state).
    pub const IGRPMODR: u64 = 0x0d00;
    /// Non-secure access control (RAZ/WI).
    pub const NSACR: u64 = 0x0e00;
    /// Routing of SPI `n`: `IROUTER + 8 * (n - 32)`, 64 bits.
    pub const IROUTER: u64 = 0x6100;
    /// Peripheral ID 2.
    pub const PIDR2: u64 = 0xffe8;
}

fn rd_ctlr(g: &mut VGic, _: usize) -> u64 {
    u64::from(g.ctlr & (ctlr::ENABLE_GRP0 | ctlr::ENABLE_GRP1) | ctlr::ARE | ctlr::DS)
}
fn wr_ctlr(g: &mut VGic, w: Write) -> Notify {
    let enables = ctlr::ENABLE_GRP0 | ctlr::ENABLE_GRP1;
    let new = u32::try_from(w.merge(u64::from(g.ctlr)) & u64::from(enables)).unwrap_or(0);
    let changed = new != g.ctlr;
    g.ctlr = new;
    if changed {
        Notify {
            kick: g.all_vcpus(),
            ..Notify::NONE
        }
    } else {
        Notify::NONE
    }
}
fn rd_typer(g: &mut VGic, _: usize) -> u64 {
    let it_lines = (WORDS as u64).saturating_sub(1) & 0x1f;
    let cpus = (g.nvcpus.saturating_sub(1) as u64 & 0x7) << 5;
    let id_bits = 9 << 19; // 10 INTID bits, no LPIs
    it_lines | cpus | id_bits
}
fn rd_iidr(_: &mut VGic, _: usize) -> u64 {
    u64::from(IIDR)
}
fn rd_zero(_: &mut VGic, _: usize) -> u64 {
    0
}
fn wr_ignore(_: &mut VGic, _: Write) -> Notify {
    Notify::NONE
}
fn rd_pidr2(_: &mut VGic, _: usize) -> u64 {
    u64::from(PIDR2)
}

/// Bit banks: index 0 (private INTIDs) is RAZ/WI here.
fn rd_bits<const F: u8>(g: &mut VGic, i: usize) -> u64 {
    if i == 0 {
        return 0;
    }
    u64::from(g.bits_read(bits::field(F), 0, i))
}
fn wr_set<const F: u8>(g: &mut VGic, w: Write) -> Notify {
    if w.index == 0 {
        return Notify::NONE;
    }
    g.set_bits(bits::field(F), 0, w.index, bits32(w))
}
fn wr_clear<const F: u8>(g: &mut VGic, w: Write) -> Notify {
    if w.index == 0 {
        return Notify::NONE;
    }
    g.clear_bits(bits::field(F), 0, w.index, bits32(w))
}
fn wr_group(g: &mut VGic, w: Write) -> Notify {
    if w.index == 0 {
        return Notify::NONE;
    }
    g.group_write(0, w.index, w)
}

/// `IPRIORITYR0-7` cover INTIDs 0-31.
const PRIO_PRIVATE: usize = (FIRST_SPI / 4) as usize;
fn rd_prio(g: &mut VGic, i: usize) -> u64 {
    if i < PRIO_PRIVATE {
        return 0;
    }
    g.prio_read(0, i)
}
fn wr_prio(g: &mut VGic, w: Write) -> Notify {
    if w.index < PRIO_PRIVATE {
        return Notify::NONE;
    }
    g.prio_write(0, w)
}

/// `ICFGR0-1` cover INTIDs 0-31.
const CFG_PRIVATE: usize = (FIRST_SPI / 16) as usize;
fn rd_cfg(g: &mut VGic, i: usize) -> u64 {
    if i < CFG_PRIVATE {
        return 0;
    }
    g.cfg_read(0, i)
}
fn wr_cfg(g: &mut VGic, w: Write) -> Notify {
    if w.index < CFG_PRIVATE {
        return Notify::NONE;
    }
    g.cfg_write(0, w)
}

fn rd_irouter(g: &mut VGic, i: usize) -> u64 {
    g.irouter.get(i).copied().unwrap_or(0)
}
fn wr_irouter(g: &mut VGic, w: Write) -> Notify {
    let Some(&old) = g.irouter.get(w.index) else {
        return Notify::NONE;
    };
    let Some(intid) = u32::try_from(w.index)
        .ok()
        .and_then(|i| i.checked_add(FIRST_SPI))
    else {
        return Notify::NONE;
    };
    let new = w.merge(old) & super::state::IROUTER_MASK;
    let (n, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    let before = g.concerned(0, n, bit);
    if let Some(slot) = g.irouter.get_mut(w.index) {
        *slot = new;
    }
    let old_route = g.route_of(old);
    let new_route = g.route_of(new);
    if old_route != new_route {
        if let Some(r) = old_route.and_then(|v| g.reach.get_mut(v)) {
            r.remove(intid);
        }
        if let Some(r) = new_route.and_then(|v| g.reach.get_mut(v)) {
            r.insert(intid);
        }
    }
    let moved = if old_route != new_route {
        g.hw_notify(0, n, bit)
    } else {
        Notify::NONE
    };
    before.or(g.concerned(0, n, bit)).or(moved)
}

const W: Widths = Widths::WORD;
const B_W: Widths = Widths::BYTE.or(Widths::WORD);

const fn bank(offset: u64, count: u16, name: &'static str, access: Acc) -> Reg {
    RegDesc::bank32(offset, count, name, W, access)
}
const fn one(offset: u64, name: &'static str, access: Acc) -> Reg {
    RegDesc::reg32(offset, name, W, access)
}

type Reg = RegDesc<VGic, Notify>;
type Acc = Access<VGic, Notify>;

/// Number of `IROUTER` registers (INTIDs 32..1019).
const IROUTERS: u16 = 1020 - FIRST_SPI as u16;
const _: () = assert!(NR_IRQS <= 1020);

/// The distributor register map. A static, not a constant: one table, and one copy of
/// its handlers, however many crates and code units read it.
pub(super) static REGS: RegTable<VGic, Notify> = RegTable::new(&[
    one(reg::CTLR, "GICD_CTLR", Access::Rw(rd_ctlr, wr_ctlr)),
    one(reg::TYPER, "GICD_TYPER", Access::Fixed(rd_typer)),
    one(reg::IIDR, "GICD_IIDR", Access::Fixed(rd_iidr)),
    one(reg::TYPER2, "GICD_TYPER2", Access::Fixed(rd_zero)),
    bank(
        reg::IGROUPR,
        32,
        "GICD_IGROUPR",
        Access::Rw(rd_bits::<GROUP>, wr_group),
    ),
    bank(
        reg::ISENABLER,
        32,
        "GICD_ISENABLER",
        Access::Rw(rd_bits::<ENABLE>, wr_set::<ENABLE>),
    ),
    bank(
        reg::ICENABLER,
        32,
        "GICD_ICENABLER",
        Access::Rw(rd_bits::<ENABLE>, wr_clear::<ENABLE>),
    ),
    bank(
        reg::ISPENDR,
        32,
        "GICD_ISPENDR",
        Access::Rw(rd_bits::<PEND>, wr_set::<PEND>),
    ),
    bank(
        reg::ICPENDR,
        32,
        "GICD_ICPENDR",
        Access::Rw(rd_bits::<PEND>, wr_clear::<PEND>),
    ),
    bank(
        reg::ISACTIVER,
        32,
        "GICD_ISACTIVER",
        Access::Rw(rd_bits::<ACTIVE>, wr_set::<ACTIVE>),
    ),
    bank(
        reg::ICACTIVER,
        32,
        "GICD_ICACTIVER",
        Access::Rw(rd_bits::<ACTIVE>, wr_clear::<ACTIVE>),
    ),
    RegDesc::bank32(
        reg::IPRIORITYR,
        255,
        "GICD_IPRIORITYR",
        B_W,
        Access::Rw(rd_prio, wr_prio),
    ),
    RegDesc::bank32(
        reg::ITARGETSR,
        255,
        "GICD_ITARGETSR",
        B_W,
        Access::Rw(rd_zero, wr_ignore),
    ),
    bank(reg::ICFGR, 64, "GICD_ICFGR", Access::Rw(rd_cfg, wr_cfg)),
    bank(
        reg::IGRPMODR,
        32,
        "GICD_IGRPMODR",
        Access::Rw(rd_zero, wr_ignore),
    ),
    bank(reg::NSACR, 64, "GICD_NSACR", Access::Rw(rd_zero, wr_ignore)),
    RegDesc {
        offset: reg::IROUTER,
        size: 8,
        count: IROUTERS,
        widths: Widths::WORD.or(Widths::DOUBLE),
        name: "GICD_IROUTER",
        access: Access::Rw(rd_irouter, wr_irouter),
    },
    one(reg::PIDR2, "GICD_PIDR2", Access::Fixed(rd_pidr2)),
]);

/// How many 32-bit words of the distributor hold fixed registers (`Access::Fixed`:
/// identification and type, the same from one reset to the next).
pub const FIXED_WORDS: usize = REGS.fixed_word_count();

/// The offsets of those words: a copy of the model's 32-bit read of each, taken after
/// a reset, answers the same read until the next reset.
pub fn fixed_words() -> impl Iterator<Item = u64> {
    REGS.fixed_words()
}

/// The bank word a read at `offset` covers, when it is a pending or active register
/// (`ISPENDR`, `ICPENDR`, `ISACTIVER`, `ICACTIVER`) of SPIs: the words whose
/// HW-linked INTIDs the hardware is asked about first.
pub(super) fn live_word(offset: u64) -> Option<usize> {
    let (r, index, _) = REGS.find(offset)?;
    let live = matches!(
        r.offset,
        reg::ISPENDR | reg::ICPENDR | reg::ISACTIVER | reg::ICACTIVER
    );
    (live && index > 0).then_some(index)
}
