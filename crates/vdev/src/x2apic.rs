//! Emulated local APIC of one vCPU: the x2APIC MSR interface 0x800-0x8FF and
//! IA32_TSC_DEADLINE as a table-driven model (`regmap.rs`), the xAPIC MMIO page over
//! the same state ([`xapic`]), IA32_APIC_BASE with the disabled, xAPIC and x2APIC
//! modes and the destinations an APIC answers (`base.rs`), plus the interrupt state
//! the backend injects from (`IRR`, `ISR`, `TMR`, the priorities) and the timer.
//! [`X2Apic::new`] starts in x2APIC mode, as firmware that pre-enables it leaves a
//! CPU; [`X2Apic::in_mode`] in another.
//!
//! Model:
//! - Registers: ID, version (0x14, six LVT entries), TPR, PPR, EOI, LDR (derived from
//!   the ID as the x2APIC defines it), SVR, ISR/TMR/IRR (eight 32-bit words each),
//!   ESR, the LVT (CMCI, timer, thermal, performance, LINT0, LINT1, error), ICR
//!   (one 64-bit MSR), the timer's initial and current count and divide
//!   configuration, SELF IPI. An MSR outside them, a read of EOI or SELF IPI, a write
//!   of a read-only one, or a value with reserved upper bits set is [`Gp`]: the
//!   backend injects #GP, as the hardware does.
//! - Interrupts: [`X2Apic::accept`] puts a vector in IRR (vectors 0-15 are illegal
//!   and set ESR bit 6 instead); [`X2Apic::pending`] is the highest IRR vector whose
//!   priority class is above PPR, with the APIC software-enabled (SVR bit 8);
//!   [`X2Apic::ack`] moves it to ISR (the backend injects it); an EOI write retires the
//!   highest ISR vector and, for a level-triggered one (TMR), tells the caller
//!   ([`Effect::Eoi`]) so the I/O APIC can re-raise its line.
//! - ICR and SELF IPI: a self IPI (SELF IPI, or a fixed ICR with the self shorthand)
//!   is accepted here; every other ICR write is returned as [`Effect::Ipi`] for the
//!   caller to deliver inside the VM only (INIT and start-up IPIs among them; the
//!   backend has turned those it handles into CPU power calls before).
//! - Timer: one-shot, periodic and TSC-deadline modes of LVT timer. Time is the
//!   guest's TSC, given with every access ([`X2Apic::read`], [`X2Apic::write`]); the
//!   count modes count the TSC divided by the divide configuration. A write that
//!   changes when the timer next fires returns [`Effect::Timer`] with that TSC
//!   value (`None`: disarmed) for the backend to program the hypervisor's own timer;
//!   when it fires the backend calls [`X2Apic::expire`], which accepts the timer's
//!   vector unless it is masked and re-arms a periodic timer (`timer.rs`).

use crate::regs::{Access, RegTable};
use crate::Width;
pub use base::{Mode, BASE_BSP, BASE_EN, BASE_EXTD};
pub use hand::HwVectors;
use regmap::REGS;
pub use vectors::Vectors;

mod base;
mod hand;
mod regmap;
mod timer;
mod vectors;
pub mod xapic;

/// The first MSR of the x2APIC.
pub const MSR_BASE: u32 = 0x800;
/// The last.
pub const MSR_LAST: u32 = 0x8ff;
/// IA32_TSC_DEADLINE, the TSC-deadline timer's MSR.
pub const TSC_DEADLINE_MSR: u32 = 0x6e0;

/// MSR numbers of the registers with behaviour of their own.
pub mod msr {
    /// Local APIC ID.
    pub const ID: u32 = 0x802;
    /// Version.
    pub const VERSION: u32 = 0x803;
    /// Task priority.
    pub const TPR: u32 = 0x808;
    /// Processor priority.
    pub const PPR: u32 = 0x80a;
    /// End of interrupt.
    pub const EOI: u32 = 0x80b;
    /// Logical destination.
    pub const LDR: u32 = 0x80d;
    /// Spurious interrupt vector.
    pub const SVR: u32 = 0x80f;
    /// In-service, words 0-7.
    pub const ISR0: u32 = 0x810;
    /// Trigger mode, words 0-7.
    pub const TMR0: u32 = 0x818;
    /// Interrupt request, words 0-7.
    pub const IRR0: u32 = 0x820;
    /// Error status.
    pub const ESR: u32 = 0x828;
    /// LVT CMCI.
    pub const LVT_CMCI: u32 = 0x82f;
    /// Interrupt command.
    pub const ICR: u32 = 0x830;
    /// LVT timer.
    pub const LVT_TIMER: u32 = 0x832;
    /// LVT error.
    pub const LVT_ERROR: u32 = 0x837;
    /// Timer initial count.
    pub const TIMER_INIT: u32 = 0x838;
    /// Timer current count.
    pub const TIMER_CURRENT: u32 = 0x839;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u32 = 0x83e;
    /// Self IPI.
    pub const SELF_IPI: u32 = 0x83f;
}

/// The version register: version 0x14, six LVT entries (max LVT index 5), no
/// directed EOI.
pub const VERSION: u32 = 0x0005_0014;
/// SVR bit 8: the APIC is software-enabled.
pub const SVR_ENABLE: u32 = 1 << 8;
/// The mask bit of every LVT entry.
pub const LVT_MASKED: u32 = 1 << 16;
/// ESR bit 6: a vector below 16 was received (or sent).
pub const ESR_RECEIVE_ILLEGAL: u32 = 1 << 6;
/// The LVT timer's mode (bits 18:17).
pub mod timer_mode {
    /// One-shot.
    pub const ONE_SHOT: u32 = 0;
    /// Periodic.
    pub const PERIODIC: u32 = 1;
    /// TSC deadline.
    pub const TSC_DEADLINE: u32 = 2;
}

/// An MSR access the x2APIC refuses: the guest gets #GP(0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gp;

/// A fixed, lowest-priority, NMI, INIT or start-up IPI to deliver inside the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icr {
    /// The vector (bits 7:0).
    pub vector: u8,
    /// Delivery mode (bits 10:8): 0 fixed, 1 lowest priority, 4 NMI, 5 INIT, 6
    /// start-up.
    pub mode: u8,
    /// Logical destination (bit 11).
    pub logical: bool,
    /// Level assert (bit 14).
    pub assert: bool,
    /// Level-triggered (bit 15).
    pub level: bool,
    /// Destination shorthand (bits 19:18): 0 none, 1 self, 2 all, 3 all but self.
    pub shorthand: u8,
    /// Destination (bits 63:32): an x2APIC id, or a logical cluster and mask.
    pub dest: u32,
}

impl Icr {
    /// Decodes an ICR value.
    pub const fn decode(v: u64) -> Self {
        Self {
            vector: v as u8,
            mode: ((v >> 8) & 7) as u8,
            logical: v & (1 << 11) != 0,
            assert: v & (1 << 14) != 0,
            level: v & (1 << 15) != 0,
            shorthand: ((v >> 18) & 3) as u8,
            dest: (v >> 32) as u32,
        }
    }
}

/// What a write asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// An IPI to deliver inside the VM.
    Ipi(Icr),
    /// A level-triggered vector was retired: the source may raise it again.
    Eoi(u8),
    /// The timer fires next at this guest TSC (`None`: disarmed).
    Timer(Option<u64>),
}

/// One vCPU's x2APIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X2Apic {
    id: u32,
    /// Disabled, xAPIC or x2APIC (IA32_APIC_BASE's EN and EXTD).
    mode: Mode,
    /// The xAPIC LDR (bits 31:24 writable); x2APIC mode derives it from the id.
    ldr_x: u32,
    /// The xAPIC DFR model (bits 31:28: 0xF flat, 0x0 cluster).
    dfr: u32,
    /// The xAPIC ICR_HIGH (the destination in bits 31:24).
    icr_hi: u32,
    tpr: u32,
    svr: u32,
    esr: u32,
    /// LVT CMCI, timer, thermal, performance, LINT0, LINT1, error (MSR 0x82F, then
    /// 0x832-0x837; index 0 is CMCI).
    lvt: [u32; 7],
    icr: u64,
    irr: Vectors,
    isr: Vectors,
    tmr: Vectors,
    timer_init: u32,
    divide: u32,
    /// Guest TSC at which the count started (count modes).
    timer_start: u64,
    /// Guest TSC at which the timer fires next, if armed.
    deadline: Option<u64>,
    /// The guest TSC of the access being handled.
    now: u64,
}

impl X2Apic {
    /// The reset state of the vCPU whose x2APIC id is `id`, with the APIC enabled in
    /// x2APIC mode (as firmware that pre-enables it leaves it): every LVT masked, SVR
    /// 0xFF (software-disabled), no interrupt, the timer disarmed.
    pub const fn new(id: u32) -> Self {
        Self::in_mode(id, Mode::X2Apic)
    }

    /// The reset state in `mode` (a CPU leaves reset in xAPIC mode).
    pub const fn in_mode(id: u32, mode: Mode) -> Self {
        Self {
            id,
            mode,
            ldr_x: 0,
            dfr: 0xffff_ffff,
            icr_hi: 0,
            tpr: 0,
            svr: 0xff,
            esr: 0,
            lvt: [LVT_MASKED; 7],
            icr: 0,
            irr: Vectors::EMPTY,
            isr: Vectors::EMPTY,
            tmr: Vectors::EMPTY,
            timer_init: 0,
            divide: 0,
            timer_start: 0,
            deadline: None,
            now: 0,
        }
    }

    /// Back to the reset state, keeping the id and the mode.
    pub fn reset(&mut self) {
        *self = Self::in_mode(self.id, self.mode);
    }

    /// The x2APIC id.
    pub const fn id(&self) -> u32 {
        self.id
    }

    /// The logical destination (LDR): in x2APIC mode cluster `id[31:4]`, bit
    /// `id[3:0]`; in xAPIC mode what the guest wrote (bits 31:24).
    pub const fn ldr(&self) -> u32 {
        match self.mode {
            Mode::X2Apic => ((self.id >> 4) << 16) | (1 << (self.id & 0xf)),
            _ => self.ldr_x,
        }
    }

    /// RDMSR of `msr` at guest TSC `now`.
    pub fn read(&mut self, msr: u32, now: u64) -> Result<u64, Gp> {
        self.now = now;
        if msr == TSC_DEADLINE_MSR {
            return Ok(match self.mode() {
                timer_mode::TSC_DEADLINE => self.deadline.unwrap_or(0),
                _ => 0,
            });
        }
        let off = self.offset(msr)?;
        if let Some((r, _, _)) = REGS.find(off) {
            if matches!(r.access, Access::Wo(_)) {
                return Err(Gp);
            }
        }
        REGS.read(self, off, Width::Double).map_err(|_| Gp)
    }

    /// WRMSR of `value` to `msr` at guest TSC `now`.
    pub fn write(&mut self, msr: u32, value: u64, now: u64) -> Result<Effect, Gp> {
        self.now = now;
        if msr == TSC_DEADLINE_MSR {
            if self.mode() != timer_mode::TSC_DEADLINE {
                return Ok(Effect::None);
            }
            return Ok(self.arm((value != 0).then_some(value)));
        }
        let off = self.offset(msr)?;
        REGS.write(self, off, Width::Double, value)
            .map_err(|_| Gp)?
    }

    /// The table offset of an x2APIC MSR (8 bytes per MSR); in xAPIC mode the MSRs
    /// are not there.
    fn offset(&self, msr: u32) -> Result<u64, Gp> {
        match msr {
            MSR_BASE..=MSR_LAST if self.mode == Mode::X2Apic => Ok(u64::from(msr - MSR_BASE) * 8),
            _ => Err(Gp),
        }
    }

    /// Accepts vector `v` (from an IPI, the I/O APIC or the timer); `level` marks it
    /// level-triggered, so its EOI is reported.
    /// A hardware-disabled APIC (IA32_APIC_BASE EN clear) accepts nothing.
    pub fn accept(&mut self, v: u8, level: bool) {
        if self.mode == Mode::Disabled {
            return;
        }
        if v < 16 {
            self.esr |= ESR_RECEIVE_ILLEGAL;
            return;
        }
        self.irr.set(v, true);
        self.tmr.set(v, level);
    }

    /// The task priority (bits 7:0), in any mode.
    pub const fn tpr(&self) -> u32 {
        self.tpr
    }

    /// Sets the task priority (bits 7:0 of `v`), in any mode (CR8 reaches it).
    pub fn set_tpr(&mut self, v: u32) {
        self.tpr = v & 0xff;
    }

    /// The xAPIC ICR_HIGH (the destination in bits 31:24), which a write of ICR_LOW
    /// sends to.
    pub fn icr_high(&self) -> u32 {
        self.icr_hi
    }

    /// The processor priority: TPR, or the class of the highest in-service vector
    /// when that is higher.
    pub fn ppr(&self) -> u32 {
        let isr = self.isr.highest().map_or(0, |v| u32::from(v) & 0xf0);
        if self.tpr & 0xf0 >= isr {
            self.tpr & 0xff
        } else {
            isr
        }
    }

    /// The vector to inject now, if any.
    pub fn pending(&self) -> Option<u8> {
        // A disabled APIC is software-disabled too: it is in its reset state and
        // neither interface reaches its SVR.
        if self.svr & SVR_ENABLE == 0 {
            return None;
        }
        let v = self.irr.highest()?;
        (u32::from(v) & 0xf0 > self.ppr() & 0xf0).then_some(v)
    }

    /// Takes the pending vector into service (the backend injects it).
    pub fn ack(&mut self) -> Option<u8> {
        let v = self.pending()?;
        self.take(v);
        Some(v)
    }

    /// Takes vector `v`, what [`pending`](Self::pending) just returned, into
    /// service: [`ack`](Self::ack) without searching for the vector again.
    pub fn take(&mut self, v: u8) {
        self.irr.set(v, false);
        self.isr.set(v, true);
    }

    /// In-service, requested and trigger-mode vectors (for reports and tests).
    pub const fn state(&self) -> (Vectors, Vectors, Vectors) {
        (self.isr, self.irr, self.tmr)
    }
}

/// The register table, for diagnostics (register names, offsets: MSR 0x800 + offset
/// / 8).
pub const fn registers() -> RegTable<X2Apic, Result<Effect, Gp>> {
    REGS
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod xtests;
