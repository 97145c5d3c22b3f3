//! The emulated redistributors (`GICR_*`), one 128 KiB frame per vCPU: RD_base
//! (control, identification, wake) and SGI_base (+64 KiB: the SGIs and PPIs of
//! that vCPU). Handlers act on the vCPU in `VGic::cur`, which `redist_read` and
//! `redist_write` set (and bound-check) before dispatch.
//!
//! No LPIs: `GICR_CTLR`, `GICR_STATUSR`, `GICR_IGRPMODR0` and `GICR_NSACR` read as
//! zero and ignore writes.

use super::bits::{self, bits32, ACTIVE, ENABLE, GROUP, PEND};
use super::{waker, Notify, VGic, IIDR, PIDR2};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

/// Offset of the SGI_base frame in a redistributor.
pub const SGI_BASE: u64 = 0x1_0000;

/// Redistributor register offsets, from the start of the vCPU's frame.
pub mod reg {
    use super::SGI_BASE;
    /// Control.
    pub const CTLR: u64 = 0x0000;
    /// Implementer identification.
    pub const IIDR: u64 = 0x0004;
    /// Type (64 bits).
    pub const TYPER: u64 = 0x0008;
    /// Error status.
    pub const STATUSR: u64 = 0x0010;
    /// Power management.
    pub const WAKER: u64 = 0x0014;
    /// Peripheral ID 2.
    pub const PIDR2: u64 = 0xffe8;
    /// Group of SGIs and PPIs.
    pub const IGROUPR0: u64 = SGI_BASE + 0x0080;
    /// Set-enable.
    pub const ISENABLER0: u64 = SGI_BASE + 0x0100;
    /// Clear-enable.
    pub const ICENABLER0: u64 = SGI_BASE + 0x0180;
    /// Set-pending.
    pub const ISPENDR0: u64 = SGI_BASE + 0x0200;
    /// Clear-pending.
    pub const ICPENDR0: u64 = SGI_BASE + 0x0280;
    /// Set-active.
    pub const ISACTIVER0: u64 = SGI_BASE + 0x0300;
    /// Clear-active.
    pub const ICACTIVER0: u64 = SGI_BASE + 0x0380;
    /// Priorities of INTIDs 0-31 (8 words).
    pub const IPRIORITYR0: u64 = SGI_BASE + 0x0400;
    /// Configuration of SGIs (read-only, edge) and PPIs.
    pub const ICFGR0: u64 = SGI_BASE + 0x0c00;
    /// Group modifier (RAZ/WI).
    pub const IGRPMODR0: u64 = SGI_BASE + 0x0d00;
    /// Non-secure access control (RAZ/WI).
    pub const NSACR: u64 = SGI_BASE + 0x0e00;
}

/// `GICR_TYPER.Last`.
pub const TYPER_LAST: u64 = 1 << 4;

fn rd_zero(_: &mut VGic, _: usize) -> u64 {
    0
}
fn wr_ignore(_: &mut VGic, _: Write) -> Notify {
    Notify::NONE
}
fn rd_iidr(_: &mut VGic, _: usize) -> u64 {
    u64::from(IIDR)
}
fn rd_pidr2(_: &mut VGic, _: usize) -> u64 {
    u64::from(PIDR2)
}
fn rd_typer(g: &mut VGic, _: usize) -> u64 {
    let v = g.cur as u64 & 0xff;
    let last = if g.cur.saturating_add(1) >= g.nvcpus {
        TYPER_LAST
    } else {
        0
    };
    // Affinity 0.0.0.v in bits 63:32, Processor_Number v in bits 23:8.
    v << 32 | v << 8 | last
}
fn rd_waker(g: &mut VGic, _: usize) -> u64 {
    g.waker.get(g.cur).copied().map_or(0, u64::from)
}
fn wr_waker(g: &mut VGic, w: Write) -> Notify {
    let sleep = w.merge(rd_waker(g, 0)) & u64::from(waker::PROCESSOR_SLEEP) != 0;
    if let Some(slot) = g.waker.get_mut(g.cur) {
        *slot = if sleep {
            waker::PROCESSOR_SLEEP | waker::CHILDREN_ASLEEP
        } else {
            0
        };
    }
    Notify::NONE
}

fn rd_bits<const F: u8>(g: &mut VGic, _: usize) -> u64 {
    u64::from(g.bits_read(bits::field(F), g.cur, 0))
}
fn wr_set<const F: u8>(g: &mut VGic, w: Write) -> Notify {
    g.set_bits(bits::field(F), g.cur, 0, bits32(w))
}
fn wr_clear<const F: u8>(g: &mut VGic, w: Write) -> Notify {
    g.clear_bits(bits::field(F), g.cur, 0, bits32(w))
}
fn wr_group(g: &mut VGic, w: Write) -> Notify {
    g.group_write(g.cur, 0, w)
}
fn rd_prio(g: &mut VGic, i: usize) -> u64 {
    g.prio_read(g.cur, i)
}
fn wr_prio(g: &mut VGic, w: Write) -> Notify {
    g.prio_write(g.cur, w)
}
fn rd_cfg(g: &mut VGic, i: usize) -> u64 {
    g.cfg_read(g.cur, i)
}
fn wr_cfg(g: &mut VGic, w: Write) -> Notify {
    g.cfg_write(g.cur, w)
}

const W: Widths = Widths::WORD;

type Reg = RegDesc<VGic, Notify>;
type Acc = Access<VGic, Notify>;

const fn one(offset: u64, name: &'static str, access: Acc) -> Reg {
    RegDesc::reg32(offset, name, W, access)
}

/// The register map of one redistributor frame (a static, as the distributor's).
pub(super) static REGS: RegTable<VGic, Notify> = RegTable::new(&[
    one(reg::CTLR, "GICR_CTLR", Access::Rw(rd_zero, wr_ignore)),
    one(reg::IIDR, "GICR_IIDR", Access::Fixed(rd_iidr)),
    RegDesc {
        offset: reg::TYPER,
        size: 8,
        count: 1,
        widths: Widths::WORD.or(Widths::DOUBLE),
        name: "GICR_TYPER",
        access: Access::Fixed(rd_typer),
    },
    one(reg::STATUSR, "GICR_STATUSR", Access::Rw(rd_zero, wr_ignore)),
    one(reg::WAKER, "GICR_WAKER", Access::Rw(rd_waker, wr_waker)),
    one(reg::PIDR2, "GICR_PIDR2", Access::Fixed(rd_pidr2)),
    one(
        reg::IGROUPR0,
        "GICR_IGROUPR0",
        Access::Rw(rd_bits::<GROUP>, wr_group),
    ),
    one(
        reg::ISENABLER0,
        "GICR_ISENABLER0",
        Access::Rw(rd_bits::<ENABLE>, wr_set::<ENABLE>),
    ),
    one(
        reg::ICENABLER0,
        "GICR_ICENABLER0",
        Access::Rw(rd_bits::<ENABLE>, wr_clear::<ENABLE>),
    ),
    one(
        reg::ISPENDR0,
        "GICR_ISPENDR0",
        Access::Rw(rd_bits::<PEND>, wr_set::<PEND>),
    ),
    one(
        reg::ICPENDR0,
        "GICR_ICPENDR0",
        Access::Rw(rd_bits::<PEND>, wr_clear::<PEND>),
    ),
    one(
        reg::ISACTIVER0,
        "GICR_ISACTIVER0",
        Access::Rw(rd_bits::<ACTIVE>, wr_set::<ACTIVE>),
    ),
    one(
        reg::ICACTIVER0,
        "GICR_ICACTIVER0",
        Access::Rw(rd_bits::<ACTIVE>, wr_clear::<ACTIVE>),
    ),
    RegDesc::bank32(
        reg::IPRIORITYR0,
        8,
        "GICR_IPRIORITYR",
        Widths::BYTE.or(Widths::WORD),
        Access::Rw(rd_prio, wr_prio),
    ),
    RegDesc::bank32(reg::ICFGR0, 2, "GICR_ICFGR", W, Access::Rw(rd_cfg, wr_cfg)),
    one(
        reg::IGRPMODR0,
        "GICR_IGRPMODR0",
        Access::Rw(rd_zero, wr_ignore),
    ),
    one(reg::NSACR, "GICR_NSACR", Access::Rw(rd_zero, wr_ignore)),
]);

/// Word 0 (the vCPU's SGIs and PPIs) when a read at `offset` is of a pending or
/// active register: the word whose HW-linked INTIDs the hardware is asked about
/// first.
pub(super) fn live_word(offset: u64) -> Option<usize> {
    let (r, _, _) = REGS.find(offset)?;
    matches!(
        r.offset,
        reg::ISPENDR0 | reg::ICPENDR0 | reg::ISACTIVER0 | reg::ICACTIVER0
    )
    .then_some(0)
}
