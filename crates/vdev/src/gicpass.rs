//! The GICv3 seen by a VM in *direct* interrupt mode: its cores' private interrupts
//! and the SPIs of its own devices (and doorbells) are real, so accesses to its
//! redistributors and to those SPIs' distributor bits reach the hardware, filtered so
//! that a guest can never touch what the hypervisor keeps for itself (its Group-0
//! PPIs and SGIs) or what belongs to another partition (other SPIs, the
//! distributor's global control, a route to a core that is not the VM's). This module
//! only decides; the caller performs the physical access.
//!
//! Registers are described in sorted tables, one row per register or register array,
//! with the access widths the architecture allows for it, and found by binary search.
//! An access of another width, or not naturally aligned, is refused (the caller injects
//! an abort): on hardware it could fault at EL2 or reach neighbouring bytes.
//!
//! Priorities: the guest sees the Non-secure view of a GIC with two Security states
//! (GICv3 architecture specification, "Software accesses of interrupt priority"): the
//! value it writes, `p`, is stored as `0x80 | p >> 1`, and a read returns the stored
//! value shifted back. Every interrupt a guest configures thus has a physical priority
//! of 0x80 or lower, below the hypervisor's own interrupts (0x00), which therefore
//! always pre-empt whatever the guest has active.

use crate::Width;

/// Frame offsets inside one 128 KiB redistributor region.
const SGI_BASE: u64 = 0x1_0000;

/// What the caller does with one trapped access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Access the same register of the physical frame. For a write, only the bits in
    /// `mask` come from the guest; the others keep their hardware value
    /// (read-modify-write), or are written as zero for set/clear registers
    /// (`rmw = false`), which leaves them untouched. For a read, bits outside `mask`
    /// read as zero.
    Hw {
        /// Bits (of the accessed width, at the accessed offset) the guest owns.
        mask: u64,
        /// Whether a write must merge with the hardware value.
        rmw: bool,
    },
    /// Priority bytes (IPRIORITYR): as [`Action::Hw`] with read-modify-write, through
    /// the Non-secure view: the caller writes [`priority_to_hw`] of the guest's value
    /// and returns [`priority_from_hw`] of what it reads.
    Priority {
        /// Bits (whole bytes) the guest owns.
        mask: u64,
    },
    /// A read answered without the hardware.
    Value(u64),
    /// An access of a width the register does not allow, or misaligned: refused.
    Refuse,
    /// A write that is ignored.
    Ignore,
    /// GICR_TYPER: read the physical register (its affinity is the core's real MPIDR,
    /// which a direct-mode guest sees) with the Last bit set as `last` says (the frame
    /// is the last of the VM's, not of the machine's).
    Typer {
        /// Whether this is the VM's last redistributor frame.
        last: bool,
    },
    /// A 64-bit write of GICD_IROUTER of `intid`, an SPI the VM owns: the caller
    /// writes it only if it names one of the VM's cores (Interrupt_Routing_Mode 0).
    Route {
        /// The SPI.
        intid: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// One bit per INTID, write-1-to-set or write-1-to-clear.
    SetClear,
    /// One byte per INTID (IPRIORITYR).
    Bytes,
    /// Two bits per INTID for INTIDs 16..31 (ICFGR1).
    PpiConfig,
    /// Read from the hardware, writes ignored.
    ReadOnly,
    /// Read as zero, writes ignored.
    Raz,
    /// GICR_TYPER: the core's affinity, with the VM's Last bit.
    Typer,
    /// GICD_CTLR: affinity routing and Group 1 shown enabled; the hypervisor owns it.
    DistCtlr,
    /// Two bits per INTID, read-write (GICD_ICFGR).
    Config,
    /// One bit per INTID, readable, writes ignored (IGROUPR: all Group 1).
    BitsRo,
    /// 64 bits per INTID (GICD_IROUTER<n>, n >= 32).
    Router,
}

#[derive(Debug)]
struct Row {
    offset: u64,
    len: u64,
    kind: Kind,
    /// Allowed access widths, a bit per width in bytes (1, 2, 4, 8).
    widths: u8,
}

/// 32-bit accesses only: most GIC registers.
const W32: u8 = 4;
/// Byte or 32-bit accesses (IPRIORITYR).
const B_W32: u8 = 1 | 4;
/// 32-bit halves or the whole 64-bit register (GICR_TYPER, GICD_IROUTER).
const W32_64: u8 = 4 | 8;

const fn row(offset: u64, len: u64, kind: Kind) -> Row {
    let widths = match kind {
        Kind::Bytes => B_W32,
        Kind::Typer | Kind::Router => W32_64,
        _ => W32,
    };
    Row {
        offset,
        len,
        kind,
        widths,
    }
}

/// Redistributor registers (offsets inside the vCPU's 128 KiB region).
const REDIST: &[Row] = &[
    row(0x0000, 4, Kind::Raz),                 // GICR_CTLR
    row(0x0004, 4, Kind::ReadOnly),            // GICR_IIDR
    row(0x0008, 8, Kind::Typer),               // GICR_TYPER
    row(0x0014, 4, Kind::Raz),                 // GICR_WAKER: always awake
    row(0xffe8, 4, Kind::ReadOnly),            // GICR_PIDR2
    row(SGI_BASE + 0x080, 4, Kind::BitsRo),    // IGROUPR0: all Group 1, fixed
    row(SGI_BASE + 0x100, 4, Kind::SetClear),  // ISENABLER0
    row(SGI_BASE + 0x180, 4, Kind::SetClear),  // ICENABLER0
    row(SGI_BASE + 0x200, 4, Kind::SetClear),  // ISPENDR0
    row(SGI_BASE + 0x280, 4, Kind::SetClear),  // ICPENDR0
    row(SGI_BASE + 0x300, 4, Kind::SetClear),  // ISACTIVER0
    row(SGI_BASE + 0x380, 4, Kind::SetClear),  // ICACTIVER0
    row(SGI_BASE + 0x400, 32, Kind::Bytes),    // IPRIORITYR0..7
    row(SGI_BASE + 0xc00, 4, Kind::ReadOnly),  // ICFGR0 (SGIs: edge)
    row(SGI_BASE + 0xc04, 4, Kind::PpiConfig), // ICFGR1
    row(SGI_BASE + 0xd00, 4, Kind::Raz),       // IGRPMODR0
];

/// Distributor registers. Per-interrupt registers reach the hardware for the bits of
/// the SPIs the VM owns (the `owns` predicate of [`dist`]); every other bit reads as
/// zero and ignores writes. The identification registers are real.
const DIST: &[Row] = &[
    row(0x0000, 4, Kind::DistCtlr),    // GICD_CTLR
    row(0x0004, 4, Kind::ReadOnly),    // GICD_TYPER
    row(0x0008, 4, Kind::ReadOnly),    // GICD_IIDR
    row(0x000c, 4, Kind::ReadOnly),    // GICD_TYPER2
    row(0x0080, 0x80, Kind::BitsRo),   // IGROUPR
    row(0x0100, 0x80, Kind::SetClear), // ISENABLER
    row(0x0180, 0x80, Kind::SetClear), // ICENABLER
    row(0x0200, 0x80, Kind::SetClear), // ISPENDR
    row(0x0280, 0x80, Kind::SetClear), // ICPENDR
    row(0x0300, 0x80, Kind::SetClear), // ISACTIVER
    row(0x0380, 0x80, Kind::SetClear), // ICACTIVER
    row(0x0400, 0x400, Kind::Bytes),   // IPRIORITYR
    row(0x0c00, 0x100, Kind::Config),  // ICFGR
    row(0x0d00, 0x80, Kind::Raz),      // IGRPMODR
    row(0x6100, 0x1f00, Kind::Router), // IROUTER32..1019
    row(0xffe8, 4, Kind::ReadOnly),    // GICD_PIDR2
];

fn find(table: &[Row], off: u64) -> Option<&Row> {
    let i = match table.binary_search_by(|r| r.offset.cmp(&off)) {
        Ok(i) => i,
        Err(0) => return None,
        Err(i) => i - 1,
    };
    table.get(i).filter(|r| off - r.offset < r.len)
}

/// Where an access lands in a register table.
enum Lookup<'a> {
    /// Inside a register, with an allowed width and natural alignment.
    Row(&'a Row),
    /// Inside a register, but with a width it does not allow, misaligned, or
    /// running past its end.
    Bad,
    /// Not inside any register.
    Hole,
}

fn find_access(table: &[Row], off: u64, width: Width) -> Lookup<'_> {
    let Some(r) = find(table, off) else {
        return Lookup::Hole;
    };
    let n = width.bytes();
    let ok = r.widths & n as u8 != 0 && off.is_multiple_of(n) && off - r.offset + n <= r.len;
    if ok {
        Lookup::Row(r)
    } else {
        Lookup::Bad
    }
}

/// The answer for an access that lands in no register.
fn hole(write: bool) -> Action {
    if write {
        Action::Ignore
    } else {
        Action::Value(0)
    }
}

/// Guest priority bytes `v` as stored in the hardware (Non-secure view: `0x80 | p >> 1`
/// per byte).
pub fn priority_to_hw(v: u64) -> u64 {
    ((v >> 1) & 0x7f7f_7f7f_7f7f_7f7f) | 0x8080_8080_8080_8080
}

/// Hardware priority bytes `v` as the guest reads them (each shifted back up). Bytes
/// the guest does not own must be cleared by the caller first (they read as zero).
pub fn priority_from_hw(v: u64) -> u64 {
    (v << 1) & 0xfefe_fefe_fefe_fefe
}

/// The guest-owned bits of `width` bytes at byte `at` of a register whose INTID `n`
/// has `bits` bits at bit `n * bits` (INTIDs counted from `first`); `guest` says
/// whether the VM owns an INTID.
fn owned(at: u64, width: Width, bits: u64, first: u64, guest: impl Fn(u64) -> bool) -> u64 {
    let mut mask = 0u64;
    for b in 0..width.bytes() * 8 {
        let bit = (at + b / 8) * 8 + b % 8;
        if guest(first + bit / bits) {
            mask |= 1 << b;
        }
    }
    mask
}

/// Private INTIDs a direct VM owns: all but the `reserved` ones.
fn private(reserved: u32) -> impl Fn(u64) -> bool {
    move |intid| intid >= 32 || reserved & (1 << intid) == 0
}

/// The action for an access to a direct VM's redistributor at `off` (inside its 128 KiB
/// region). `last` says whether it is the VM's last vCPU, `reserved` the private
/// INTIDs the hypervisor keeps (bit per INTID 0..31).
pub fn redist(off: u64, width: Width, write: bool, last: bool, reserved: u32) -> Action {
    let r = match find_access(REDIST, off, width) {
        Lookup::Row(r) => r,
        Lookup::Bad => return Action::Refuse,
        Lookup::Hole => return hole(write),
    };
    let at = off - r.offset;
    let hw = |mask: u64, rmw: bool| Action::Hw { mask, rmw };
    match (r.kind, write) {
        (Kind::SetClear, _) => hw(owned(at, width, 1, 0, private(reserved)), false),
        // Readable; a guest that could move its interrupt to Group 0 would have it
        // delivered to EL2 as FIQ, and a level-triggered one would never let go.
        (Kind::BitsRo, false) => hw(owned(at, width, 1, 0, private(reserved)), false),
        (Kind::Bytes, _) => Action::Priority {
            mask: owned(at, width, 8, 0, private(reserved)),
        },
        // Two bits per PPI, INTIDs 16..31: the hypervisor's PPIs keep their trigger.
        (Kind::PpiConfig, _) => hw(owned(at, width, 2, 16, private(reserved)), true),
        (Kind::ReadOnly, false) => hw(width.mask(), false),
        (Kind::Typer, false) => Action::Typer { last },
        (Kind::DistCtlr | Kind::Raz, false) => Action::Value(0),
        _ => Action::Ignore,
    }
}

/// The action for an access to the distributor by a direct VM, which owns the SPIs
/// for which `owns` holds.
pub fn dist(off: u64, width: Width, write: bool, owns: impl Fn(u32) -> bool) -> Action {
    const CTLR_SHOWN: u64 = (1 << 1) | (1 << 4) | (1 << 6); // Grp1, ARE, DS
    let spi = |intid: u64| intid >= 32 && u32::try_from(intid).is_ok_and(&owns);
    let hw = |mask: u64, rmw: bool| match mask {
        0 if write => Action::Ignore,
        0 => Action::Value(0),
        _ => Action::Hw { mask, rmw },
    };
    let r = match find_access(DIST, off, width) {
        Lookup::Row(r) => r,
        Lookup::Bad => return Action::Refuse,
        Lookup::Hole => return hole(write),
    };
    let at = off - r.offset;
    match (r.kind, write) {
        (Kind::ReadOnly, false) => hw(width.mask(), false),
        (Kind::DistCtlr, false) => Action::Value(CTLR_SHOWN >> (at * 8) & width.mask()),
        (Kind::BitsRo, false) => hw(owned(at, width, 1, 0, spi), false),
        (Kind::SetClear, _) => hw(owned(at, width, 1, 0, spi), false),
        (Kind::Bytes, _) => match owned(at, width, 8, 0, spi) {
            0 => hw(0, true),
            mask => Action::Priority { mask },
        },
        (Kind::Config, _) => hw(owned(at, width, 2, 0, spi), true),
        (Kind::Router, _) => {
            let intid = 32 + at / 8;
            match (spi(intid), write) {
                (false, _) => hw(0, false),
                (true, false) => hw(width.mask(), false),
                // Only a whole aligned 64-bit write can be checked as one route.
                (true, true) if width == Width::Double && at.is_multiple_of(8) => Action::Route {
                    intid: intid as u32,
                },
                (true, true) => Action::Ignore,
            }
        }
        (_, true) => Action::Ignore,
        (_, false) => Action::Value(0),
    }
}

/// Whether a GICD_IROUTER value a direct VM writes routes only to one of its cores
/// (`mpidrs`, the cores' affinities): Interrupt_Routing_Mode 0 and an affinity in the
/// list.
pub fn route_allowed(value: u64, mpidrs: &[u64]) -> bool {
    const IRM: u64 = 1 << 31;
    const AFF: u64 = 0xff_00ff_ffff;
    value & IRM == 0 && value & !AFF == 0 && mpidrs.iter().any(|&m| m & AFF == value)
}

/// The part of a 64-bit GICR_TYPER value `typer` an access of `width` at byte `at`
/// (0..8) reads, with the Last bit (4) forced to `last`.
pub fn typer_view(typer: u64, last: bool, at: u64, width: Width) -> u64 {
    let v = (typer & !(1 << 4)) | if last { 1 << 4 } else { 0 };
    (v >> (at * 8)) & width.mask()
}

/// The vCPUs (bit per index into `mpidrs`, the cores' affinities) that an
/// ICC_SGI1R_EL1 value written by vCPU `from` of a direct-mode VM reaches, and the SGI
/// number; never a core outside `mpidrs`, never an SGI in `reserved`.
pub fn sgi_targets(value: u64, from: usize, mpidrs: &[u64], reserved: u32) -> (u32, u32) {
    let intid = ((value >> 24) & 0xf) as u32;
    if reserved & (1 << intid) != 0 {
        return (0, intid);
    }
    let irm = value & (1 << 40) != 0;
    let list = value & 0xffff;
    let rs = (value >> 44) & 0xf;
    let high =
        ((value >> 16) & 0xff) << 8 | ((value >> 32) & 0xff) << 16 | ((value >> 48) & 0xff) << 32;
    let mut mask = 0u32;
    for (i, &m) in mpidrs.iter().enumerate().take(32) {
        let hit = if irm {
            i != from
        } else {
            let aff0 = m & 0xff;
            m & 0xff_00ff_ff00 == high && aff0 >> 4 == rs && list & (1 << (aff0 & 0xf)) != 0
        };
        if hit {
            mask |= 1 << i;
        }
    }
    (mask, intid)
}

/// ICC_SGI1R_EL1's routing fields: Aff3, RS, IRM, Aff2, Aff1.
const SGI_ROUTE: u64 = 0xff << 48 | 0xf << 44 | 1 << 40 | 0xff << 32 | 0xff << 16;
/// ICC_SGI1R_EL1's target list.
const SGI_LIST: u64 = 0xffff;
/// ICC_SGI1R_EL1's INTID field.
const SGI_INTID: u64 = 0xf << 24;

/// The route word of the cores with affinities `mpidrs`: their common ICC_SGI1R_EL1
/// routing fields (IRM clear) and their bits of the target list; 0 when they are not
/// all in one group of 16 (or there are none). See [`sgi_pass`].
pub fn sgi_route(mpidrs: impl IntoIterator<Item = u64>) -> u64 {
    let mut route = 0;
    for m in mpidrs {
        let aff0 = m & 0xff;
        let one = (1u64 << (aff0 & 15))
            | ((m >> 8) & 0xff) << 16
            | ((m >> 16) & 0xff) << 32
            | (aff0 >> 4) << 44
            | ((m >> 32) & 0xff) << 48;
        if route != 0 && route & SGI_ROUTE != one & SGI_ROUTE {
            return 0;
        }
        route |= one;
    }
    route
}

/// The ICC_SGI1R_EL1 value a direct-mode guest wrote (`value`), as it may go to the
/// physical register, when it names only cores of `route` ([`sgi_route`] of its VM's
/// cores; no IRM broadcast) and none of the SGI numbers in `reserved`; the register's
/// reserved bits are cleared. `None`: [`sgi_targets`] decides.
pub fn sgi_pass(route: u64, value: u64, reserved: u32) -> Option<u64> {
    let intid = (value & SGI_INTID) >> 24;
    let ok = route != 0
        && value & SGI_ROUTE == route & SGI_ROUTE
        && value & SGI_LIST & !route == 0
        && reserved >> intid & 1 == 0;
    ok.then_some(value & (SGI_ROUTE | SGI_INTID | SGI_LIST))
}

/// Merges a guest write into the hardware value: bits in `mask` from `value`, the
/// rest from `hw` when `rmw`, else zero.
pub fn merge(action_mask: u64, rmw: bool, hw: u64, value: u64) -> u64 {
    let keep = if rmw { hw & !action_mask } else { 0 };
    keep | (value & action_mask)
}

#[cfg(test)]
mod tests;
