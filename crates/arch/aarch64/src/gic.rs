//! The physical GICv3, as far as the hypervisor itself needs it: distributor and
//! redistributor set-up, the system-register CPU interface, and Group-0 SGIs between
//! the hypervisor's own CPUs (delivered as FIQ, routed to EL2 by HCR_EL2.FMO, so they
//! reach the hypervisor whatever a guest does with its interrupt masks).

use crate::sysreg::isb;
use crate::sysregs::CpuIfReg;
use core::sync::atomic::{AtomicU64, Ordering};

/// SGI that asks a CPU to look at its vCPU's state again. The hypervisor keeps SGIs 14
/// and 15 in Group 0 on every CPU; 0-13 are Group 1 and belong to the guests.
pub const SGI_KICK: u32 = crate::chip::SGI_KICK;
/// SGI that stops a CPU for good (hypervisor fatal error).
pub const SGI_HALT: u32 = crate::chip::SGI_HALT;
/// SGIs reserved for the hypervisor (Group 0).
pub const HYP_SGIS: u32 = (1 << SGI_KICK) | (1 << SGI_HALT);
/// The EL2 physical timer's PPI (the watchdog clock), Group 0 like the SGIs above, so
/// it reaches EL2 as FIQ even on a direct-mode core.
pub const HYP_TIMER_INTID: u32 = crate::chip::HYP_TIMER_INTID;
/// Every private interrupt the hypervisor keeps in Group 0: exactly the set the VM's
/// GIC keeps from direct-mode guests (`crate::chip::RESERVED_PRIVATE`).
pub const HYP_PRIVATE: u32 = crate::chip::RESERVED_PRIVATE;
const _: () = assert!(HYP_SGIS == crate::chip::RESERVED_SGIS);
const _: () = assert!(HYP_PRIVATE == HYP_SGIS | (1 << HYP_TIMER_INTID));
/// The maintenance interrupt of the virtual CPU interface (PPI 9).
pub const MAINTENANCE_INTID: u32 = rtvisor_config::contract::aarch64::MAINTENANCE_INTID;
/// The INTID read when nothing is pending.
pub const SPURIOUS: u32 = 1023;

const GICD_CTLR: u64 = 0x0;
const GICD_TYPER: u64 = 0x4;
const GICD_IGROUPR: u64 = 0x80;
const GICD_ICENABLER: u64 = 0x180;
const CTLR_RWP: u32 = 1 << 31;
const CTLR_ARE: u32 = 1 << 4;
const CTLR_GRP0: u32 = 1 << 0;
const CTLR_GRP1: u32 = 1 << 1;

const GICR_TYPER: u64 = 0x8;
const GICR_WAKER: u64 = 0x14;
const SGI_BASE: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = SGI_BASE + 0x80;
const GICR_ISENABLER0: u64 = SGI_BASE + 0x100;
const GICR_ICENABLER0: u64 = SGI_BASE + 0x180;
const GICR_ISPENDR0: u64 = SGI_BASE + 0x200;
const GICR_ICPENDR0: u64 = SGI_BASE + 0x280;
const GICR_ISACTIVER0: u64 = SGI_BASE + 0x300;
const GICR_ICACTIVER0: u64 = SGI_BASE + 0x380;
const GICR_IPRIORITYR: u64 = SGI_BASE + 0x400;
const TYPER_LAST: u64 = 1 << 4;

/// Priority of the hypervisor's own interrupts (its Group-0 SGIs and timer): the
/// highest there is. Guests only ever get priorities from [`GUEST_PRIORITY_FLOOR`]
/// down (numerically up), so one of these always pre-empts whatever a guest has
/// active on the core.
pub const HYP_PRIORITY: u8 = 0x00;
/// The highest priority a guest interrupt can have physically: the top of the lower
/// half of the priority range, which is all a Non-secure guest sees of it (a
/// direct-mode guest's priority writes are mapped into it, see
/// `rtvisor_vdev::gicpass`).
pub const GUEST_PRIORITY_FLOOR: u8 = 0x80;
/// ICC_CTLR_EL1.CBPR: one binary point (BPR0, which EL1 cannot reach while
/// HCR_EL2.FMO is set) for both groups, so a guest's ICC_BPR1_EL1 writes are ignored.
const ICC_CTLR_CBPR: u64 = 1 << 0;
/// ICC_CTLR_EL1.EOImode.
const ICC_CTLR_EOIMODE: u64 = 1 << 1;

pub(crate) static DIST: AtomicU64 = AtomicU64::new(0);

pub(crate) fn rd(addr: u64) -> u32 {
    // SAFETY: `addr` is inside the distributor or a redistributor frame given to
    // `init_distributor`/`init_cpu`, which the hypervisor owns and maps as device.
    unsafe { (addr as *const u32).read_volatile() }
}
pub(crate) fn wr(addr: u64, v: u32) {
    // SAFETY: as in `rd`.
    unsafe { (addr as *mut u32).write_volatile(v) }
}
fn rd64(addr: u64) -> u64 {
    // SAFETY: as in `rd`.
    unsafe { (addr as *const u64).read_volatile() }
}

/// Bounded wait for a register bit to clear; false on timeout.
fn wait_clear(addr: u64, bit: u32) -> bool {
    (0..1_000_000).any(|_| rd(addr) & bit == 0)
}

/// Initializes the distributor: affinity routing, both groups enabled, every SPI
/// disabled and in Group 1 (a VM's interrupts are enabled when it is given them).
///
/// # Safety
/// `base` must be the GICv3 distributor, mapped as device memory; call once, on one CPU,
/// before any CPU initializes its redistributor.
pub unsafe fn init_distributor(base: u64) -> bool {
    DIST.store(base, Ordering::Relaxed);
    wr(base + GICD_CTLR, 0);
    if !wait_clear(base + GICD_CTLR, CTLR_RWP) {
        return false;
    }
    let lines = ((rd(base + GICD_TYPER) & 0x1f) + 1) * 32;
    for n in 1..lines / 32 {
        wr(base + GICD_ICENABLER + 4 * n as u64, !0);
        wr(base + GICD_IGROUPR + 4 * n as u64, !0);
    }
    wr(base + GICD_CTLR, CTLR_ARE | CTLR_GRP0 | CTLR_GRP1);
    wait_clear(base + GICD_CTLR, CTLR_RWP)
}

/// Finds the redistributor of `mpidr` among the frames from `base` (`stride` apart).
fn find_redist(base: u64, size: u64, stride: u64, mpidr: u64) -> Option<u64> {
    let aff = ((mpidr >> 8) & 0xff00_0000) | (mpidr & 0xff_ffff);
    let mut frame = base;
    while frame < base + size {
        let typer = rd64(frame + GICR_TYPER);
        if typer >> 32 == aff {
            return Some(frame);
        }
        if typer & TYPER_LAST != 0 {
            return None;
        }
        frame += stride;
    }
    None
}

/// One CPU's redistributor (RD_base of its frame), as found by [`init_cpu`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redist(pub u64);

impl Redist {
    /// Enables private interrupt `intid` (< 32) on this CPU.
    pub fn enable(self, intid: u32) {
        wr(self.0 + GICR_ISENABLER0, 1 << (intid & 31));
    }
    /// Disables private interrupt `intid` (< 32) on this CPU.
    pub fn disable(self, intid: u32) {
        wr(self.0 + GICR_ICENABLER0, 1 << (intid & 31));
    }
    /// Clears the pending state of private interrupt `intid` (< 32).
    pub fn clear_pending(self, intid: u32) {
        wr(self.0 + GICR_ICPENDR0, 1 << (intid & 31));
    }
    /// Deactivates private interrupt `intid` (< 32), e.g. a timer PPI left active by a
    /// guest that was stopped before it completed it.
    pub fn deactivate(self, intid: u32) {
        wr(self.0 + GICR_ICACTIVER0, 1 << (intid & 31));
    }
    /// Whether private interrupt `intid` (< 32) is pending on this CPU: for a
    /// level-sensitive one such as a timer's, whether its line is asserted.
    pub fn is_pending(self, intid: u32) -> bool {
        rd(self.0 + GICR_ISPENDR0) & 1 << (intid & 31) != 0
    }
    /// Whether private interrupt `intid` (< 32) is active on this CPU.
    pub fn is_active(self, intid: u32) -> bool {
        rd(self.0 + GICR_ISACTIVER0) & 1 << (intid & 31) != 0
    }
    /// Puts the hypervisor's private interrupts in Group 0 and every other in Group 1.
    pub fn reset_groups(self) {
        wr(self.0 + GICR_IGROUPR0, !HYP_PRIVATE);
    }
}

/// Wakes this CPU's redistributor, puts the hypervisor's SGIs in Group 0 and every
/// other private interrupt in Group 1 (all disabled but the hypervisor's SGIs), and
/// enables the system-register CPU interface with split priority drop / deactivation
/// (EOImode 1), so that an interrupt forwarded to a guest with the HW bit stays active
/// until the guest's EOI deactivates it.
///
/// # Safety
/// `[base, base+size)` must be the redistributor region, mapped as device memory; the
/// distributor must be initialized; call on the CPU `mpidr` names.
pub unsafe fn init_cpu(base: u64, size: u64, stride: u64, mpidr: u64) -> Option<Redist> {
    let rd_base = find_redist(base, size, stride, mpidr)?;
    wr(rd_base + GICR_WAKER, rd(rd_base + GICR_WAKER) & !(1 << 1));
    if !wait_clear(rd_base + GICR_WAKER, 1 << 2) {
        return None;
    }
    wr(rd_base + GICR_ICENABLER0, !0);
    wr(rd_base + GICR_IGROUPR0, !HYP_PRIVATE);
    for intid in 0..32u64 {
        let prio = if HYP_PRIVATE & (1 << intid) != 0 {
            HYP_PRIORITY
        } else {
            GUEST_PRIORITY_FLOOR
        };
        // SAFETY: one priority byte of this CPU's SGI/PPI frame, mapped as device.
        unsafe { ((rd_base + GICR_IPRIORITYR + intid) as *mut u8).write_volatile(prio) };
    }
    wr(rd_base + GICR_ISENABLER0, HYP_PRIVATE);
    crate::timer::hyp_disarm();
    // ICC_SRE_EL2: SRE | DFB | DIB | Enable (lower ELs may use the system registers).
    write_sysreg!(s3_4_c12_c9_5, 0xf);
    isb();
    write_sysreg!(s3_0_c4_c6_0, 0xff); // ICC_PMR_EL1
    write_sysreg!(s3_0_c12_c8_3, 0); // ICC_BPR0_EL1
    write_sysreg!(s3_0_c12_c12_4, ICC_CTLR_CBPR | ICC_CTLR_EOIMODE); // ICC_CTLR_EL1
    write_sysreg!(s3_0_c12_c12_6, 1); // ICC_IGRPEN0_EL1
    write_sysreg!(s3_0_c12_c12_7, 1); // ICC_IGRPEN1_EL1
    isb();
    Some(Redist(rd_base))
}

/// Sends Group-0 SGI `sgi` to the CPU with affinity `mpidr`.
pub fn send_sgi(mpidr: u64, sgi: u32) {
    crate::sysreg::dsb_ish();
    write_sysreg!(s3_0_c12_c11_7, sgi_value(mpidr, sgi)); // ICC_SGI0R_EL1
    isb();
}

/// Sends Group-1 SGI `sgi` to the CPU with affinity `mpidr` (for a direct-mode guest,
/// after the hypervisor checked the target is one of its cores).
pub fn send_sgi_group1(mpidr: u64, sgi: u32) {
    crate::sysreg::dsb_ish();
    write_sysreg!(s3_0_c12_c11_5, sgi_value(mpidr, sgi)); // ICC_SGI1R_EL1
    isb();
}

/// Writes ICC_SGI1R_EL1 = `value`, checked by the caller (`fast::direct_sgi`) to name
/// only a direct-mode guest's own cores and SGIs.
pub(crate) fn write_sgi1r(value: u64) {
    crate::sysreg::dsb_ish();
    write_sysreg!(s3_0_c12_c11_5, value); // ICC_SGI1R_EL1
    isb();
}

fn sgi_value(mpidr: u64, sgi: u32) -> u64 {
    let aff0 = mpidr & 0xff;
    (1u64 << (aff0 & 15))
        | ((mpidr >> 8) & 0xff) << 16
        | (sgi as u64 & 0xf) << 24
        | ((mpidr >> 16) & 0xff) << 32
        | (aff0 >> 4) << 44
        | ((mpidr >> 32) & 0xff) << 48
}

/// Sends Group-0 SGI `sgi` to every CPU but this one.
pub fn broadcast_sgi(sgi: u32) {
    crate::sysreg::dsb_ish();
    write_sysreg!(s3_0_c12_c11_7, (sgi as u64 & 0xf) << 24 | 1 << 40);
    isb();
}

/// Acknowledges the highest-priority pending Group-0 interrupt.
pub fn ack_group0() -> u32 {
    (read_sysreg!(s3_0_c12_c8_0) & 0xff_ffff) as u32 // ICC_IAR0_EL1
}

/// Ends a Group-0 interrupt: priority drop, and deactivation when this CPU runs with
/// split EOI (`split`, see [`set_split_eoi`]).
pub fn eoi_group0(intid: u32, split: bool) {
    write_sysreg!(s3_0_c12_c8_1, intid as u64); // ICC_EOIR0_EL1
    if split {
        deactivate(intid);
    }
}

/// Chooses EOImode for this CPU: split (1, the default: a guest deactivates forwarded
/// interrupts through HW list registers) or combined (0: a direct-mode guest owns the
/// physical CPU interface, and its EOI must deactivate).
pub fn set_split_eoi(split: bool) {
    let eoimode = if split { ICC_CTLR_EOIMODE } else { 0 };
    write_sysreg!(s3_0_c12_c12_4, ICC_CTLR_CBPR | eoimode); // ICC_CTLR_EL1
    isb();
}

/// Number of ICC_AP1R<n>_EL1 registers: 1, 2 or 4 for 5, 6 or 7 preemption bits
/// (ICC_CTLR_EL1.PRIbits + 1 priority bits; 8 bits give 7 preemption bits).
fn ap_registers() -> usize {
    let pribits = ((read_sysreg!(s3_0_c12_c12_4) >> 8) & 7) + 1; // ICC_CTLR_EL1.PRIbits
    match pribits.min(7) {
        7 => 4,
        6 => 2,
        _ => 1,
    }
}

/// Gives the physical CPU interface back to the hypervisor after a direct-mode guest:
/// no Group-1 active priority left behind (a guest stopped inside its handler, or one
/// that wrote ICC_AP1R<n>_EL1, must not raise the running priority of the core's next
/// run), the binary point reset and Group 1 signalled again.
pub fn reset_cpu_interface() {
    const WRITERS: [fn(); 4] = [
        || write_sysreg!(s3_0_c12_c9_0, 0), // ICC_AP1R0_EL1
        || write_sysreg!(s3_0_c12_c9_1, 0), // ICC_AP1R1_EL1
        || write_sysreg!(s3_0_c12_c9_2, 0), // ICC_AP1R2_EL1
        || write_sysreg!(s3_0_c12_c9_3, 0), // ICC_AP1R3_EL1
    ];
    for clear in WRITERS.iter().take(ap_registers()) {
        clear();
    }
    write_sysreg!(s3_0_c12_c8_3, 0); // ICC_BPR0_EL1 (BPR1 follows it: CBPR)
    write_sysreg!(s3_0_c12_c12_7, 1); // ICC_IGRPEN1_EL1
    isb();
}

/// Deactivates `intid` (EOImode 1 splits this from the priority drop).
pub fn deactivate(intid: u32) {
    write_sysreg!(s3_0_c12_c11_1, intid as u64); // ICC_DIR_EL1
}

/// Acknowledges the highest-priority pending Group-1 interrupt.
pub fn ack_group1() -> u32 {
    (read_sysreg!(s3_0_c12_c12_0) & 0xff_ffff) as u32 // ICC_IAR1_EL1
}

/// Drops the running priority of a Group-1 interrupt without deactivating it (a guest
/// deactivates it through a HW list register; otherwise call [`deactivate`]).
pub fn eoi_group1(intid: u32) {
    write_sysreg!(s3_0_c12_c12_1, intid as u64); // ICC_EOIR1_EL1
}

/// Reads a Group-1 CPU interface register for a guest.
pub fn cpuif_read(reg: CpuIfReg) -> u64 {
    match reg {
        CpuIfReg::Iar1 => read_sysreg!(s3_0_c12_c12_0),
        CpuIfReg::Hppir1 => read_sysreg!(s3_0_c12_c12_2),
        CpuIfReg::Bpr1 => read_sysreg!(s3_0_c12_c12_3),
        CpuIfReg::Igrpen1 => read_sysreg!(s3_0_c12_c12_7),
        CpuIfReg::Ap1r(n) if usize::from(n) < ap_registers() => match n {
            0 => read_sysreg!(s3_0_c12_c9_0),
            1 => read_sysreg!(s3_0_c12_c9_1),
            2 => read_sysreg!(s3_0_c12_c9_2),
            _ => read_sysreg!(s3_0_c12_c9_3),
        },
        CpuIfReg::Ap1r(_) | CpuIfReg::Eoir1 => 0,
    }
}

/// Writes a Group-1 CPU interface register for a guest (only the ones it may write:
/// EOIR1 and IGRPEN1; anything else is ignored).
pub fn cpuif_write(reg: CpuIfReg, v: u64) {
    match reg {
        CpuIfReg::Eoir1 => write_sysreg!(s3_0_c12_c12_1, v & 0xff_ffff),
        CpuIfReg::Igrpen1 => write_sysreg!(s3_0_c12_c12_7, v & 1),
        _ => return,
    }
    isb();
}

/// Reads `width` bytes (1, 2, 4 or 8) at `base + off` of a GIC frame.
///
/// # Safety
/// `base + off` must lie inside the distributor or a redistributor frame mapped as
/// device memory, aligned to `bytes`.
pub unsafe fn frame_read(base: u64, off: u64, bytes: u64) -> u64 {
    let a = base + off;
    // SAFETY: the caller guarantees a mapped, aligned GIC register.
    unsafe {
        match bytes {
            1 => u64::from((a as *const u8).read_volatile()),
            2 => u64::from((a as *const u16).read_volatile()),
            4 => u64::from((a as *const u32).read_volatile()),
            _ => (a as *const u64).read_volatile(),
        }
    }
}

/// Writes `width` bytes at `base + off` of a GIC frame.
///
/// # Safety
/// As for [`frame_read`].
pub unsafe fn frame_write(base: u64, off: u64, bytes: u64, v: u64) {
    let a = base + off;
    // SAFETY: the caller guarantees a mapped, aligned GIC register.
    unsafe {
        match bytes {
            1 => (a as *mut u8).write_volatile(v as u8),
            2 => (a as *mut u16).write_volatile(v as u16),
            4 => (a as *mut u32).write_volatile(v as u32),
            _ => (a as *mut u64).write_volatile(v),
        }
    }
}
