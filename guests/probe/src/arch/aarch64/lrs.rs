//! `lr-underflow`: more interrupts pending at this vCPU at once than the hypervisor
//! has list registers for (QEMU's GIC has 4): five SGIs pended through the
//! redistributor with IRQs masked, then acknowledged and ended one by one through the
//! CPU interface. In virtual mode, once all but one list register are free again, the
//! hypervisor's maintenance interrupt asks it to load the rest. Each of the five must
//! be acknowledged exactly once and this vCPU must go on: a hypervisor that kept
//! taking its own maintenance interrupt (its level line still up) would hold this
//! core at EL2 for good, and this case would never report.

use core::arch::asm;

use guest_common::arch::gic;
use guest_common::{irq, timer, BootInfo};

use crate::report::{contained, leak, Outcome};

const CASE: &str = "lr-underflow";
/// SGIs 0 to 4.
const SGIS: u32 = 0x1f;

fn ack() -> u64 {
    let iar: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority pending Group 1
    // interrupt of this vCPU (ended by `end`); no memory effects.
    unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nomem, nostack, preserves_flags)) };
    iar
}

fn end(iar: u64) {
    // SAFETY: writing an acknowledged INTID to ICC_EOIR1_EL1 ends that interrupt.
    unsafe {
        asm!("msr icc_eoir1_el1, {}", "isb", in(reg) iar, options(nomem, nostack, preserves_flags))
    };
}

pub fn lr_underflow(boot: &BootInfo) -> Outcome {
    irq::disable();
    gic::configure(boot);
    let keep = 1 << timer::INTERRUPT;
    if let Err(e) = gic::init_distributor().and_then(|()| gic::init_cpu(SGIS | keep)) {
        return leak(CASE, format_args!("GIC setup failed: {e:?}"));
    }
    if let Err(e) = gic::pend_private(SGIS) {
        return leak(CASE, format_args!("GICR_ISPENDR0 write failed: {e:?}"));
    }
    let (mut seen, mut twice) = (0u32, 0u32);
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(100_000));
    while seen != SGIS && timer::counter() < deadline {
        let iar = ack();
        let id = (iar & 0xff_ffff) as u32;
        if id >= 1020 {
            continue;
        }
        end(iar);
        if id < 5 {
            twice |= seen & 1 << id;
            seen |= 1 << id;
        }
    }
    // The SGIs off again; the timer as the other cases left it.
    let restored = gic::init_cpu(keep);
    match (seen, twice, restored) {
        (SGIS, 0, Ok(())) => contained(
            CASE,
            format_args!("5 SGIs pending at once, each acknowledged and ended once"),
        ),
        _ => leak(
            CASE,
            format_args!(
                "acknowledged SGIs {seen:#x} of 0x1f (twice: {twice:#x}) within 100 ms; GIC \
                 restored: {}",
                restored.is_ok()
            ),
        ),
    }
}
