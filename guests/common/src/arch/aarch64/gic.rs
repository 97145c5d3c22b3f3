//! A minimal GICv3 driver for a guest at EL1 (or bare at EL2): Group 1 only, affinity
//! routing on, EOImode 0, SGIs/PPIs only (no SPIs, no LPIs).
//!
//! - [`init_distributor`] once (primary): GICD_CTLR = ARE | EnableGrp1 (ARE first,
//!   each write followed by a bounded wait for RWP).
//! - [`init_cpu`] on every vCPU: finds its redistributor by GICR_TYPER affinity ==
//!   MPIDR affinity (frames of 128 KiB, 256 KiB with VLPIS, from the base in the
//!   device tree `/intc` reg[1], else 0x080A_0000; stops at TYPER.Last), wakes it,
//!   puts SGIs/PPIs in Group 1 at priority 0x80, enables the given INTIDs and turns
//!   on the system-register CPU interface.
//! - [`send_sgi`] through ICC_SGI1R_EL1 (target list = Aff0 bits, Aff1..3 from the
//!   target MPIDR).
//!
//! MMIO is 32-bit single `ldr`/`str` without writeback (emulatable from the syndrome).
//! Every wait is bounded; a missing distributor or redistributor (first access
//! faults, checked with `guard`) is an error, not a crash or a hang.

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::dtb::BootInfo;
use crate::{cpu, guard};

/// Distributor base on QEMU `virt`.
pub const DEFAULT_GICD: usize = 0x0800_0000;
/// First redistributor on QEMU `virt`.
pub const DEFAULT_GICR: usize = 0x080A_0000;
/// Most redistributor frames walked.
const MAX_FRAMES: usize = 512;
const RWP_POLLS: u32 = 1_000_000;

const GICD_CTLR: usize = 0x0;
const CTLR_ENABLE_GRP1: u32 = 1 << 1;
const CTLR_ARE: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;

const GICR_CTLR: usize = 0x0;
const GICR_CTLR_RWP: u32 = 1 << 3;
const GICR_TYPER_LO: usize = 0x8;
const GICR_TYPER_HI: usize = 0xc;
const TYPER_VLPIS: u32 = 1 << 1;
const TYPER_LAST: u32 = 1 << 4;
const GICR_WAKER: usize = 0x14;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// SGI/PPI frame, 64 KiB after RD_base.
const SGI_FRAME: usize = 0x1_0000;
const GICR_IGROUPR0: usize = SGI_FRAME + 0x80;
const GICR_ISENABLER0: usize = SGI_FRAME + 0x100;
const GICR_ICENABLER0: usize = SGI_FRAME + 0x180;
const GICR_IPRIORITYR: usize = SGI_FRAME + 0x400;

/// Priority given to every SGI/PPI.
pub const PRIORITY: u8 = 0x80;

/// GIC setup failures (the caller reports them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// The distributor is not there (its first access faulted).
    NoDistributor,
    /// No redistributor frame with this vCPU's affinity (or a frame read faulted).
    NoRedistributor,
    /// A register-write-pending bit never cleared.
    RwpTimeout,
    /// GICR_WAKER.ChildrenAsleep never cleared.
    WakeTimeout,
}

impl GicError {
    /// Short name for diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            GicError::NoDistributor => "no-distributor",
            GicError::NoRedistributor => "no-redistributor",
            GicError::RwpTimeout => "rwp-timeout",
            GicError::WakeTimeout => "wake-timeout",
        }
    }
}

static GICD: AtomicUsize = AtomicUsize::new(DEFAULT_GICD);
static GICR: AtomicUsize = AtomicUsize::new(DEFAULT_GICR);

fn read32(addr: usize) -> u32 {
    let v: u32;
    // SAFETY: a 32-bit load from a GIC register (base from the device tree or the
    // QEMU `virt` default, offsets within the frame); no Rust object is aliased.
    unsafe {
        asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack, preserves_flags))
    };
    v
}

/// GICD_TYPER.
const GICD_TYPER: usize = 0x4;

/// One read of the distributor's GICD_TYPER, timed by PMCCNTR (the benchmark's `gicd`
/// row: under a hypervisor an emulated register).
pub fn timed_typer_read() -> u64 {
    let addr = GICD.load(Ordering::Relaxed) + GICD_TYPER;
    let (p0, p1): (u64, u64);
    // SAFETY: a 32-bit load from the distributor's GICD_TYPER (a read-only register)
    // between two PMCCNTR reads; no Rust object is aliased.
    unsafe {
        asm!("isb", "mrs {p0}, pmccntr_el0", "ldr {v:w}, [{a}]", "mrs {p1}, pmccntr_el0",
            a = in(reg) addr, v = out(reg) _, p0 = out(reg) p0, p1 = out(reg) p1,
            options(nostack, preserves_flags))
    };
    p1.wrapping_sub(p0)
}

fn write32(addr: usize, v: u32) {
    // SAFETY: a 32-bit store to a GIC register, as in `read32`.
    unsafe {
        asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) v, options(nostack, preserves_flags))
    };
}

fn wait_clear(addr: usize, bit: u32, err: GicError) -> Result<(), GicError> {
    for _ in 0..RWP_POLLS {
        if read32(addr) & bit == 0 {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(err)
}

/// Takes the GIC bases from the device tree (`arm,gic-v3` reg[0] and reg[1]), if any.
/// Call on the primary before starting secondaries.
pub fn configure(boot: &BootInfo) {
    let Some(node) = boot
        .fdt
        .as_ref()
        .and_then(|f| f.find_compatible(&["arm,gic-v3"]))
    else {
        return;
    };
    let Some(mut regs) = node.reg() else {
        return;
    };
    if let Some(d) = regs.next() {
        GICD.store(d.starting_address as usize, Ordering::Release);
    }
    if let Some(r) = regs.next() {
        GICR.store(r.starting_address as usize, Ordering::Release);
    }
}

/// Enables the distributor: affinity routing, then Group 1 (non-secure view: ARE_NS,
/// EnableGrp1A; single security state: ARE, EnableGrp1 — the same bits).
pub fn init_distributor() -> Result<(), GicError> {
    let base = GICD.load(Ordering::Acquire);
    let ctlr = base + GICD_CTLR;
    guard::read_u32(ctlr).map_err(|_| GicError::NoDistributor)?;
    write32(ctlr, read32(ctlr) | CTLR_ARE);
    wait_clear(ctlr, GICD_CTLR_RWP, GicError::RwpTimeout)?;
    write32(ctlr, read32(ctlr) | CTLR_ARE | CTLR_ENABLE_GRP1);
    wait_clear(ctlr, GICD_CTLR_RWP, GicError::RwpTimeout)
}

/// MPIDR affinity packed as GICR_TYPER[63:32] packs it (Aff3.Aff2.Aff1.Aff0).
fn packed_affinity(mpidr: u64) -> u32 {
    ((mpidr & 0xff_ffff) | ((mpidr >> 8) & 0xff00_0000)) as u32
}

/// RD_base of the redistributor whose affinity is this vCPU's.
pub fn find_redistributor() -> Result<usize, GicError> {
    let want = packed_affinity(cpu::mpidr());
    let mut frame = GICR.load(Ordering::Acquire);
    for _ in 0..MAX_FRAMES {
        let lo = guard::read_u32(frame + GICR_TYPER_LO).map_err(|_| GicError::NoRedistributor)?;
        if read32(frame + GICR_TYPER_HI) == want {
            return Ok(frame);
        }
        if lo & TYPER_LAST != 0 {
            break;
        }
        frame += if lo & TYPER_VLPIS != 0 {
            0x4_0000
        } else {
            0x2_0000
        };
    }
    Err(GicError::NoRedistributor)
}

/// Sets up this vCPU's redistributor and CPU interface; `enable` is a bit mask of
/// SGI/PPI INTIDs (bit n = INTID n) to enable, all others are disabled.
pub fn init_cpu(enable: u32) -> Result<(), GicError> {
    let rd = find_redistributor()?;
    let waker = rd + GICR_WAKER;
    write32(waker, read32(waker) & !WAKER_PROCESSOR_SLEEP);
    wait_clear(waker, WAKER_CHILDREN_ASLEEP, GicError::WakeTimeout)?;
    write32(rd + GICR_ICENABLER0, !enable);
    wait_clear(rd + GICR_CTLR, GICR_CTLR_RWP, GicError::RwpTimeout)?;
    write32(rd + GICR_IGROUPR0, u32::MAX);
    let prio = u32::from_ne_bytes([PRIORITY; 4]);
    for i in 0..8 {
        write32(rd + GICR_IPRIORITYR + 4 * i, prio);
    }
    write32(rd + GICR_ISENABLER0, enable);
    init_cpu_interface();
    Ok(())
}

/// ICC_SRE_EL1.SRE (and ICC_SRE_EL2 when bare at EL2), PMR 0xff, BPR1 0, EOImode 0,
/// Group 1 on.
fn init_cpu_interface() {
    if cpu::current_el() == 2 {
        // SAFETY: at EL2, ICC_SRE_EL2 |= SRE | Enable turns on the system-register
        // interface for EL2 and lets EL1 use it; no memory is involved.
        unsafe {
            asm!("mrs {t}, icc_sre_el2", "orr {t}, {t}, #1", "orr {t}, {t}, #8", "msr icc_sre_el2, {t}", "isb",
                t = out(reg) _, options(nomem, nostack, preserves_flags))
        };
    }
    // SAFETY: enabling the system-register CPU interface of this vCPU and programming
    // its priority mask, binary point, EOI mode and Group 1 enable only affects
    // interrupt delivery to this vCPU (IRQs stay masked in PSTATE until the guest
    // unmasks them).
    unsafe {
        asm!(
            "mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb",
            "mov {t}, #0xff", "msr icc_pmr_el1, {t}",
            "msr icc_bpr1_el1, xzr",
            "mrs {t}, icc_ctlr_el1", "bic {t}, {t}, #2", "msr icc_ctlr_el1, {t}",
            "mov {t}, #1", "msr icc_igrpen1_el1, {t}", "isb",
            t = out(reg) _, options(nomem, nostack, preserves_flags)
        )
    };
}

/// Sets the SGIs and PPIs of `mask` (bit n = INTID n) pending at this vCPU's
/// redistributor (GICR_ISPENDR0).
pub fn pend_private(mask: u32) -> Result<(), GicError> {
    const GICR_ISPENDR0: usize = SGI_FRAME + 0x200;
    let rd = find_redistributor()?;
    write32(rd + GICR_ISPENDR0, mask);
    Ok(())
}

/// Enables SPI `intid` (edge-triggered, Group 1, default priority) routed to this
/// vCPU. Under rtvisor's direct mode these distributor writes are ignored and the
/// hypervisor has set the SPI up already.
pub fn enable_spi(intid: u32) {
    const GICD_IGROUPR: usize = 0x80;
    const GICD_ISENABLER: usize = 0x100;
    const GICD_IPRIORITYR: usize = 0x400;
    const GICD_ICFGR: usize = 0xc00;
    const GICD_IROUTER: usize = 0x6000; // IROUTER<n> at 0x6000 + 8n
    let base = GICD.load(Ordering::Acquire);
    let i = intid as usize;
    let (word, bit) = (4 * (i / 32), 1u32 << (i % 32));
    let aff = cpu::mpidr() & 0xff_00ff_ffff;
    write32(base + GICD_IROUTER + 8 * i, aff as u32);
    write32(base + GICD_IROUTER + 8 * i + 4, (aff >> 32) as u32);
    let prio = base + GICD_IPRIORITYR + (i & !3);
    let shift = 8 * (i % 4);
    write32(
        prio,
        (read32(prio) & !(0xff << shift)) | u32::from(PRIORITY) << shift,
    );
    write32(
        base + GICD_IGROUPR + word,
        read32(base + GICD_IGROUPR + word) | bit,
    );
    let cfg = base + GICD_ICFGR + 4 * (i / 16);
    write32(cfg, read32(cfg) | 2 << (2 * (i % 16)));
    write32(base + GICD_ISENABLER + word, bit);
}

/// Sends SGI `intid` (0..=15) to the vCPU with MPIDR `target` (TargetList bit
/// Aff0 % 16, RS = Aff0 / 16).
pub fn send_sgi(intid: u32, target: u64) {
    let aff0 = target & 0xff;
    let value = (u64::from(intid & 0xf) << 24)
        | (1 << (aff0 & 0xf))
        | ((aff0 >> 4) << 44)
        | (((target >> 8) & 0xff) << 16)
        | (((target >> 16) & 0xff) << 32)
        | (((target >> 32) & 0xff) << 48);
    // SAFETY: writing ICC_SGI1R_EL1 generates a Group 1 SGI; no memory effects.
    unsafe {
        asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nomem, nostack, preserves_flags))
    };
}
