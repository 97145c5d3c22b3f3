//! The x2APIC register map: one 8-byte slot per MSR (offset = (MSR - 0x800) * 8), each
//! accessed whole as RDMSR/WRMSR do, with one small handler per register. A handler's
//! result is the write's [`Effect`], or [`Gp`] for a value with reserved bits set.

use super::{msr, timer_mode, Effect, Gp, Icr, X2Apic, LVT_MASKED, SVR_ENABLE, VERSION};
use crate::regs::{Access, RegDesc, RegTable, Widths, Write};

type Out = Result<Effect, Gp>;

const fn at(m: u32) -> u64 {
    (m as u64 - super::MSR_BASE as u64) * 8
}

const fn reg(
    m: u32,
    count: u16,
    name: &'static str,
    access: Access<X2Apic, Out>,
) -> RegDesc<X2Apic, Out> {
    RegDesc {
        offset: at(m),
        size: 8,
        count,
        widths: Widths::DOUBLE,
        name,
        access,
    }
}

/// The written value of a 32-bit register: the upper half is reserved.
fn low(w: Write) -> Result<u32, Gp> {
    u32::try_from(w.value).map_err(|_| Gp)
}

/// LVT timer to LVT error: the bank after LVT CMCI.
pub(super) const LVT_COUNT: u16 = 6;

/// Writable bits of LVT CMCI, timer, thermal, performance, LINT0, LINT1, error.
const LVT_BITS: [u32; 7] = [
    0x1_07ff, 0x7_00ff, 0x1_07ff, 0x1_07ff, 0x1_a7ff, 0x1_a7ff, 0x1_00ff,
];

fn rd_id(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.id)
}
pub(super) fn rd_version(_: &mut X2Apic, _: usize) -> u64 {
    u64::from(VERSION)
}
pub(super) fn rd_tpr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.tpr)
}
pub(super) fn wr_tpr(a: &mut X2Apic, w: Write) -> Out {
    a.tpr = low(w)? & 0xff;
    Ok(Effect::None)
}
pub(super) fn rd_ppr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.ppr())
}
pub(super) fn wr_eoi(a: &mut X2Apic, w: Write) -> Out {
    if w.value != 0 {
        return Err(Gp);
    }
    let Some(v) = a.isr.highest() else {
        return Ok(Effect::None);
    };
    a.isr.set(v, false);
    Ok(if a.tmr.get(v) {
        Effect::Eoi(v)
    } else {
        Effect::None
    })
}
fn rd_ldr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.ldr())
}
pub(super) fn rd_svr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.svr)
}
pub(super) fn wr_svr(a: &mut X2Apic, w: Write) -> Out {
    a.svr = low(w)? & 0x1ff;
    if a.svr & SVR_ENABLE == 0 {
        // Software-disabled: every LVT entry is masked.
        a.lvt.iter_mut().for_each(|l| *l |= LVT_MASKED);
    }
    Ok(Effect::None)
}
pub(super) fn rd_isr(a: &mut X2Apic, n: usize) -> u64 {
    u64::from(a.isr.word(n))
}
pub(super) fn rd_tmr(a: &mut X2Apic, n: usize) -> u64 {
    u64::from(a.tmr.word(n))
}
pub(super) fn rd_irr(a: &mut X2Apic, n: usize) -> u64 {
    u64::from(a.irr.word(n))
}
pub(super) fn rd_esr(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.esr)
}
pub(super) fn wr_esr(a: &mut X2Apic, w: Write) -> Out {
    if w.value != 0 {
        return Err(Gp);
    }
    a.esr = 0;
    Ok(Effect::None)
}
pub(super) fn rd_lvt_cmci(a: &mut X2Apic, _: usize) -> u64 {
    rd_lvt(a, 0)
}
fn wr_lvt_cmci(a: &mut X2Apic, w: Write) -> Out {
    wr_lvt(a, 0, w)
}
/// LVT timer (bank index 0) to LVT error (5).
pub(super) fn rd_lvt_bank(a: &mut X2Apic, n: usize) -> u64 {
    rd_lvt(a, n + 1)
}
fn wr_lvt_bank(a: &mut X2Apic, w: Write) -> Out {
    wr_lvt(a, w.index + 1, w)
}
fn rd_lvt(a: &X2Apic, i: usize) -> u64 {
    u64::from(a.lvt.get(i).copied().unwrap_or(LVT_MASKED))
}
pub(super) fn wr_lvt(a: &mut X2Apic, i: usize, w: Write) -> Out {
    let bits = LVT_BITS.get(i).copied().unwrap_or(0);
    let mut v = low(w)? & bits;
    if a.svr & SVR_ENABLE == 0 {
        v |= LVT_MASKED;
    }
    let old_mode = a.mode();
    if let Some(l) = a.lvt.get_mut(i) {
        *l = v;
    }
    if i != 1 || old_mode == a.mode() {
        return Ok(Effect::None);
    }
    // Into or out of TSC-deadline mode: the timer stops.
    if old_mode == timer_mode::TSC_DEADLINE || a.mode() == timer_mode::TSC_DEADLINE {
        return Ok(a.arm(None));
    }
    Ok(Effect::None)
}
fn rd_icr(a: &mut X2Apic, _: usize) -> u64 {
    a.icr
}
pub(super) fn wr_icr(a: &mut X2Apic, w: Write) -> Out {
    // Reserved: bits 12-13, 16-17 and 20-31.
    if w.value & 0xfff3_3000 != 0 {
        return Err(Gp);
    }
    a.icr = w.value;
    let icr = Icr::decode(w.value);
    let fixed = icr.mode <= 1;
    if fixed && icr.vector < 16 {
        a.esr |= 1 << 5; // send illegal vector
        return Ok(Effect::None);
    }
    if fixed && icr.shorthand == 1 {
        a.accept(icr.vector, false);
        return Ok(Effect::None);
    }
    Ok(Effect::Ipi(icr))
}
pub(super) fn rd_timer_init(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.timer_init)
}
pub(super) fn wr_timer_init(a: &mut X2Apic, w: Write) -> Out {
    a.timer_init = low(w)?;
    if a.mode() == timer_mode::TSC_DEADLINE {
        return Ok(Effect::None);
    }
    a.timer_start = a.now;
    let at = (a.timer_init != 0).then(|| a.now.saturating_add(a.period()));
    Ok(a.arm(at))
}
pub(super) fn rd_timer_current(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.current())
}
pub(super) fn rd_divide(a: &mut X2Apic, _: usize) -> u64 {
    u64::from(a.divide)
}
pub(super) fn wr_divide(a: &mut X2Apic, w: Write) -> Out {
    a.divide = low(w)? & 0xb;
    Ok(Effect::None)
}
fn wr_self_ipi(a: &mut X2Apic, w: Write) -> Out {
    let v = low(w)?;
    if v > 0xff {
        return Err(Gp);
    }
    a.accept(v as u8, false);
    Ok(Effect::None)
}

pub(super) const REGS: RegTable<X2Apic, Out> = RegTable::new(&[
    reg(msr::ID, 1, "ID", Access::Ro(rd_id)),
    reg(msr::VERSION, 1, "VERSION", Access::Ro(rd_version)),
    reg(msr::TPR, 1, "TPR", Access::Rw(rd_tpr, wr_tpr)),
    reg(msr::PPR, 1, "PPR", Access::Ro(rd_ppr)),
    reg(msr::EOI, 1, "EOI", Access::Wo(wr_eoi)),
    reg(msr::LDR, 1, "LDR", Access::Ro(rd_ldr)),
    reg(msr::SVR, 1, "SVR", Access::Rw(rd_svr, wr_svr)),
    reg(msr::ISR0, 8, "ISR", Access::Ro(rd_isr)),
    reg(msr::TMR0, 8, "TMR", Access::Ro(rd_tmr)),
    reg(msr::IRR0, 8, "IRR", Access::Ro(rd_irr)),
    reg(msr::ESR, 1, "ESR", Access::Rw(rd_esr, wr_esr)),
    reg(
        msr::LVT_CMCI,
        1,
        "LVT_CMCI",
        Access::Rw(rd_lvt_cmci, wr_lvt_cmci),
    ),
    reg(msr::ICR, 1, "ICR", Access::Rw(rd_icr, wr_icr)),
    reg(
        msr::LVT_TIMER,
        LVT_COUNT,
        "LVT",
        Access::Rw(rd_lvt_bank, wr_lvt_bank),
    ),
    reg(
        msr::TIMER_INIT,
        1,
        "TIMER_INIT",
        Access::Rw(rd_timer_init, wr_timer_init),
    ),
    reg(
        msr::TIMER_CURRENT,
        1,
        "TIMER_CURRENT",
        Access::Ro(rd_timer_current),
    ),
    reg(
        msr::TIMER_DIVIDE,
        1,
        "TIMER_DIVIDE",
        Access::Rw(rd_divide, wr_divide),
    ),
    reg(msr::SELF_IPI, 1, "SELF_IPI", Access::Wo(wr_self_ipi)),
]);

#[cfg(test)]
pub(super) fn mode_of(lvt: u32) -> u32 {
    (lvt >> 17) & 3
}

const _: () = assert!(msr::LVT_ERROR == msr::LVT_TIMER + 5);
