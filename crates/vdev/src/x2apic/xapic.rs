//! The xAPIC view of the same local APIC: the 4 KiB MMIO page at the APIC base,
//! 32-bit registers at 16-byte strides (the register of x2APIC MSR `0x800 + n` is
//! at offset `n * 16`), as a register table over the compressed offset `off / 4`.
//!
//! What differs from the MSR view:
//! - ID reads `id << 24`; LDR (bits 31:24) and DFR (bits 31:28: 0xF flat, 0x0
//!   cluster) are the guest's; the ICR is ICR_LOW (0x300, writing it sends) and
//!   ICR_HIGH (0x310, the 8-bit destination in bits 31:24).
//! - Nothing is #GP: reserved bits are ignored, EOI takes any value, a read of a
//!   write-only or missing register is zero and a write to a read-only one is
//!   refused ([`MmioError`], the caller's policy). Only whole aligned 32-bit
//!   accesses reach a register.
//! - The page answers in xAPIC mode only: otherwise every offset is
//!   [`MmioError::NoRegister`] (the caller treats the page as absent).

use super::regmap::{
    rd_divide, rd_esr, rd_irr, rd_isr, rd_lvt_bank, rd_lvt_cmci, rd_ppr, rd_svr, rd_timer_current,
    rd_timer_init, rd_tmr, rd_tpr, rd_version, wr_divide, wr_eoi, wr_esr, wr_icr, wr_lvt, wr_svr,
    wr_timer_init, wr_tpr, LVT_COUNT,
};
use super::{Effect, Gp, Mode, X2Apic};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};
use crate::{MmioError, Width};

type Out = Effect;

/// The xAPIC register offsets with behaviour of their own.
pub mod off {
    /// Local APIC ID.
    pub const ID: u64 = 0x20;
    /// Version.
    pub const VERSION: u64 = 0x30;
    /// Task priority.
    pub const TPR: u64 = 0x80;
    /// Processor priority.
    pub const PPR: u64 = 0xa0;
    /// End of interrupt.
    pub const EOI: u64 = 0xb0;
    /// Logical destination.
    pub const LDR: u64 = 0xd0;
    /// Destination format.
    pub const DFR: u64 = 0xe0;
    /// Spurious interrupt vector.
    pub const SVR: u64 = 0xf0;
    /// In-service, words 0-7.
    pub const ISR0: u64 = 0x100;
    /// Trigger mode, words 0-7.
    pub const TMR0: u64 = 0x180;
    /// Interrupt request, words 0-7.
    pub const IRR0: u64 = 0x200;
    /// Error status.
    pub const ESR: u64 = 0x280;
    /// LVT CMCI.
    pub const LVT_CMCI: u64 = 0x2f0;
    /// Interrupt command, low half (writing it sends).
    pub const ICR_LOW: u64 = 0x300;
    /// Interrupt command, high half (destination).
    pub const ICR_HIGH: u64 = 0x310;
    /// LVT timer (then thermal, performance, LINT0, LINT1, error every 16 bytes).
    pub const LVT_TIMER: u64 = 0x320;
    /// Timer initial count.
    pub const TIMER_INIT: u64 = 0x380;
    /// Timer current count.
    pub const TIMER_CURRENT: u64 = 0x390;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u64 = 0x3e0;
}

/// The size of the page.
pub const PAGE_SIZE: u64 = 0x1000;

/// The compressed table offset of page offset `off`: the register's first four
/// bytes of each 16; the other twelve are no register.
fn compress(off: u64) -> Result<u64, MmioError> {
    if off >= PAGE_SIZE || off & 0xf >= 4 {
        return Err(MmioError::NoRegister);
    }
    Ok((off >> 4) * 4 + (off & 3))
}

impl X2Apic {
    /// Outside xAPIC mode the page has no register.
    fn page_on(&self) -> Result<(), MmioError> {
        match self.mode {
            Mode::XApic => Ok(()),
            _ => Err(MmioError::NoRegister),
        }
    }

    /// A load of `width` at `off` in the xAPIC page at guest TSC `now`.
    pub fn mmio_read(&mut self, off: u64, width: Width, now: u64) -> Result<u64, MmioError> {
        self.now = now;
        self.page_on()?;
        XREGS.read(self, compress(off)?, width)
    }

    /// A store of `value` at `off` in the xAPIC page at guest TSC `now`.
    pub fn mmio_write(
        &mut self,
        off: u64,
        width: Width,
        value: u64,
        now: u64,
    ) -> Result<Effect, MmioError> {
        self.now = now;
        self.page_on()?;
        XREGS.write(self, compress(off)?, width, value)
    }
}

/// A full 32-bit write of `v` to hand to a handler of the MSR view.
const fn whole(index: usize, v: u64) -> Write {
    Write {
        index,
        value: v & 0xffff_ffff,
        mask: 0xffff_ffff,
    }
}

/// An MSR-view handler's answer: reserved bits were cleared before, so it is not
/// refused; if it were, the write is ignored.
fn done(r: Result<Effect, Gp>) -> Effect {
    r.unwrap_or(Effect::None)
}

fn rd_id(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.id << 24)
}
fn xwr_tpr(a: &mut X2Apic, w: Write) -> Out {
    done(wr_tpr(a, whole(0, w.value & 0xff)))
}
fn xwr_eoi(a: &mut X2Apic, _: Write) -> Out {
    done(wr_eoi(a, whole(0, 0)))
}
fn rd_ldr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.ldr_x)
}
fn wr_ldr(a: &mut X2Apic, w: Write) -> Out {
    a.ldr_x = (w.value as u32) & 0xff00_0000;
    Effect::None
}
fn rd_dfr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.dfr)
}
fn wr_dfr(a: &mut X2Apic, w: Write) -> Out {
    a.dfr = (w.value as u32) | 0x0fff_ffff;
    Effect::None
}
fn xwr_svr(a: &mut X2Apic, w: Write) -> Out {
    done(wr_svr(a, whole(0, w.value & 0x1ff)))
}
fn xwr_esr(a: &mut X2Apic, _: Write) -> Out {
    done(wr_esr(a, whole(0, 0)))
}
fn xwr_lvt_cmci(a: &mut X2Apic, w: Write) -> Out {
    done(wr_lvt(a, 0, whole(0, w.value)))
}
fn xwr_lvt_bank(a: &mut X2Apic, w: Write) -> Out {
    done(wr_lvt(a, w.index + 1, whole(w.index, w.value)))
}
fn rd_icr_low(a: &mut X2Apic, _: usize) -> u64 {
    a.icr & 0xffff_ffff
}
/// Writing ICR_LOW sends, to ICR_HIGH's 8-bit destination, as the MSR view's ICR
/// does with the same fields.
fn wr_icr_low(a: &mut X2Apic, w: Write) -> Out {
    // Writable: vector, delivery mode, destination mode, level, trigger mode and
    // shorthand (delivery status, bit 12, reads as idle).
    let low = w.value & 0x000c_cfff;
    let value = low | (u64::from(a.icr_hi >> 24) << 32);
    done(wr_icr(
        a,
        Write {
            index: 0,
            value,
            mask: u64::MAX,
        },
    ))
}
fn rd_icr_high(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.icr_hi)
}
fn wr_icr_high(a: &mut X2Apic, w: Write) -> Out {
    a.icr_hi = (w.value as u32) & 0xff00_0000;
    Effect::None
}
fn xwr_timer_init(a: &mut X2Apic, w: Write) -> Out {
    done(wr_timer_init(a, whole(0, w.value)))
}
fn xwr_divide(a: &mut X2Apic, w: Write) -> Out {
    done(wr_divide(a, whole(0, w.value)))
}

/// One 32-bit register (or a bank) at page offset `off`, in the compressed table.
const fn reg(
    off: u64,
    count: u16,
    name: &'static str,
    access: Access<X2Apic, Out>,
) -> RegDesc<X2Apic, Out> {
    RegDesc::bank32(off / 4, count, name, Widths::WORD, access)
}

const XREGS: RegTable<X2Apic, Out> = RegTable::new(&[
    reg(off::ID, 1, "ID", Access::Ro(rd_id)),
    reg(off::VERSION, 1, "VERSION", Access::Ro(rd_version)),
    reg(off::TPR, 1, "TPR", Access::Rw(rd_tpr, xwr_tpr)),
    reg(off::PPR, 1, "PPR", Access::Ro(rd_ppr)),
    reg(off::EOI, 1, "EOI", Access::Wo(xwr_eoi)),
    reg(off::LDR, 1, "LDR", Access::Rw(rd_ldr, wr_ldr)),
    reg(off::DFR, 1, "DFR", Access::Rw(rd_dfr, wr_dfr)),
    reg(off::SVR, 1, "SVR", Access::Rw(rd_svr, xwr_svr)),
    reg(off::ISR0, 8, "ISR", Access::Ro(rd_isr)),
    reg(off::TMR0, 8, "TMR", Access::Ro(rd_tmr)),
    reg(off::IRR0, 8, "IRR", Access::Ro(rd_irr)),
    reg(off::ESR, 1, "ESR", Access::Rw(rd_esr, xwr_esr)),
    reg(
        off::LVT_CMCI,
        1,
        "LVT_CMCI",
        Access::Rw(rd_lvt_cmci, xwr_lvt_cmci),
    ),
    reg(
        off::ICR_LOW,
        1,
        "ICR_LOW",
        Access::Rw(rd_icr_low, wr_icr_low),
    ),
    reg(
        off::ICR_HIGH,
        1,
        "ICR_HIGH",
        Access::Rw(rd_icr_high, wr_icr_high),
    ),
    reg(
        off::LVT_TIMER,
        LVT_COUNT,
        "LVT",
        Access::Rw(rd_lvt_bank, xwr_lvt_bank),
    ),
    reg(
        off::TIMER_INIT,
        1,
        "TIMER_INIT",
        Access::Rw(rd_timer_init, xwr_timer_init),
    ),
    reg(
        off::TIMER_CURRENT,
        1,
        "TIMER_CURRENT",
        Access::Ro(rd_timer_current),
    ),
    reg(
        off::TIMER_DIVIDE,
        1,
        "TIMER_DIVIDE",
        Access::Rw(rd_divide, xwr_divide),
    ),
]);

/// The xAPIC register table (compressed offsets: page offset / 4), for diagnostics.
pub const fn registers() -> RegTable<X2Apic, Effect> {
    XREGS
}

// The page offset of a register is its x2APIC MSR's index times 16.
const _: () = assert!(off::ICR_LOW == (super::msr::ICR - super::MSR_BASE) as u64 * 16);
const _: () =
    assert!(off::TIMER_DIVIDE == (super::msr::TIMER_DIVIDE - super::MSR_BASE) as u64 * 16);
