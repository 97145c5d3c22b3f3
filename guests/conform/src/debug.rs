//! Self-hosted debug (Arm ARM D2): the unit ID_AA64DFR0_EL1 advertises, the state at
//! start (OS lock, MDSCR_EL1), and one of each debug exception actually taken at EL1
//! (MDSCR_EL1.KDE and MDE set, PSTATE.D clear): a breakpoint on an instruction
//! (EC 0x31), a watchpoint on a store (EC 0x35) and a software step (EC 0x33) of one
//! instruction, and of an SGI write a hypervisor traps. The exception hook records the syndrome, disables the
//! source and resumes.

use core::sync::atomic::{AtomicU64, Ordering};

use guest_common::exception::{self, Action, Fault, TrapFrame};

use crate::{check, mrs, msr};

const EC_BREAKPOINT: u64 = 0x31;
const EC_STEP: u64 = 0x33;
const EC_WATCHPOINT: u64 = 0x35;

const MDSCR_SS: u64 = 1 << 0;
const MDSCR_KDE: u64 = 1 << 13;
const MDSCR_MDE: u64 = 1 << 15;

/// DBGBCR: enabled, match at EL1 and EL0 (PMC = 0b11), all four bytes (BAS = 0xf).
const BCR_EL1: u64 = 1 | (0b11 << 1) | (0xf << 5);
/// DBGWCR: enabled, EL1 and EL0 (PAC = 0b11), stores (LSC = 0b10), eight bytes.
const WCR_STORE8: u64 = 1 | (0b11 << 1) | (0b10 << 3) | (0xff << 5);

/// The last debug exception: ESR, ELR, FAR.
static TAKEN: [AtomicU64; 3] = [const { AtomicU64::new(u64::MAX) }; 3];

/// The word the watchpoint watches.
static WATCHED: AtomicU64 = AtomicU64::new(0);

fn hook(fault: &Fault, _frame: &mut TrapFrame) -> Action {
    let ec = u64::from(fault.ec());
    if ![EC_BREAKPOINT, EC_STEP, EC_WATCHPOINT].contains(&ec) {
        return Action::Unhandled;
    }
    for (slot, v) in TAKEN.iter().zip([fault.esr, fault.elr, fault.far]) {
        slot.store(v, Ordering::Relaxed);
    }
    msr!("dbgbcr0_el1", 0);
    msr!("dbgwcr0_el1", 0);
    msr!("mdscr_el1", mrs!("mdscr_el1") & !MDSCR_SS);
    Action::Resume
}

fn taken() -> (u64, u64, u64) {
    let [e, l, f] = &TAKEN;
    let r = (
        e.load(Ordering::Relaxed) >> 26 & 0x3f,
        l.load(Ordering::Relaxed),
        f.load(Ordering::Relaxed),
    );
    for slot in &TAKEN {
        slot.store(u64::MAX, Ordering::Relaxed);
    }
    r
}

/// Name of an address relative to an expected one.
fn at(addr: u64, want: u64) -> &'static str {
    if addr == want {
        "expected"
    } else if addr == u64::MAX {
        "none"
    } else {
        "other"
    }
}

pub fn run() {
    let dfr0 = mrs!("id_aa64dfr0_el1");
    check!("debug.dfr0.debugver", "{:#x}", dfr0 & 0xf);
    check!("debug.dfr0.pmuver", "{:#x}", dfr0 >> 8 & 0xf);
    check!("debug.dfr0.breakpoints", "{}", (dfr0 >> 12 & 0xf) + 1);
    check!("debug.dfr0.watchpoints", "{}", (dfr0 >> 20 & 0xf) + 1);
    check!("debug.dfr0.ctx-cmps", "{}", (dfr0 >> 28 & 0xf) + 1);
    check!("debug.oslsr-at-start", "{:#x}", mrs!("oslsr_el1"));
    check!("debug.mdscr-at-start", "{:#x}", mrs!("mdscr_el1"));
    check!("debug.dbgbcr0-at-start", "{:#x}", mrs!("dbgbcr0_el1"));
    check!("debug.dbgwcr0-at-start", "{:#x}", mrs!("dbgwcr0_el1"));
    msr!("oslar_el1", 0);
    check!("debug.oslsr-unlocked", "{:#x}", mrs!("oslsr_el1"));
    msr!("dbgbvr1_el1", 0x4008_1234);
    check!("debug.dbgbvr1-kept", "{:#x}", mrs!("dbgbvr1_el1"));
    msr!("dbgbvr1_el1", 0);
    exception::set_sync_handler(hook);
    msr!("mdscr_el1", MDSCR_KDE | MDSCR_MDE);
    // SAFETY: unmasking debug exceptions (PSTATE.D): the hook takes the three the
    // checks below arm, and nothing else is armed.
    unsafe { core::arch::asm!("msr daifclr, #8", "isb", options(nomem, nostack)) };
    breakpoint();
    watchpoint();
    step();
    // SAFETY: masking debug exceptions again.
    unsafe { core::arch::asm!("msr daifset, #8", "isb", options(nomem, nostack)) };
    msr!("mdscr_el1", 0);
}

/// Leaves breakpoint 0, watchpoint 0, MDSCR_EL1.KDE/MDE and the OS lock open, with
/// debug exceptions masked (none is taken): for the run after a reset to find.
pub fn leave_armed() {
    msr!("oslar_el1", 0);
    msr!("dbgbvr0_el1", 0x1000);
    msr!("dbgbcr0_el1", BCR_EL1);
    msr!("dbgwvr0_el1", 0x1000);
    msr!("dbgwcr0_el1", WCR_STORE8);
    msr!("mdscr_el1", MDSCR_KDE | MDSCR_MDE);
}

fn breakpoint() {
    let target: u64;
    // SAFETY: a breakpoint on the NOP at label 1, then running it: the hook records
    // the exception, disables the breakpoint and resumes at the NOP.
    unsafe {
        core::arch::asm!(
            "adr {t}, 1f",
            "msr dbgbvr0_el1, {t}",
            "msr dbgbcr0_el1, {bcr}",
            "isb",
            "1: nop",
            t = out(reg) target,
            bcr = in(reg) BCR_EL1,
            options(nomem, nostack)
        )
    };
    let (ec, elr, _) = taken();
    check!("debug.breakpoint", "ec={:#x} elr={}", ec, at(elr, target));
}

fn watchpoint() {
    let addr = WATCHED.as_ptr() as u64;
    let pc: u64;
    msr!("dbgwvr0_el1", addr);
    msr!("dbgwcr0_el1", WCR_STORE8);
    // SAFETY: one 8-byte store to `WATCHED` (an atomic this module owns) at label 1;
    // the hook disables the watchpoint and resumes at the store, which then runs.
    unsafe {
        core::arch::asm!(
            "adr {pc}, 1f",
            "1: str {v}, [{a}]",
            pc = out(reg) pc,
            v = in(reg) 1u64,
            a = in(reg) addr,
            options(nostack)
        )
    };
    let esr_wnr = TAKEN[0].load(Ordering::Relaxed) >> 6 & 1;
    let (ec, elr, far) = taken();
    check!(
        "debug.watchpoint",
        "ec={:#x} elr={} far={} wnr={} stored={}",
        ec,
        at(elr, pc),
        at(far, addr),
        esr_wnr,
        WATCHED.load(Ordering::Relaxed)
    );
}

/// SPSR for an exception return to EL1h with D clear (debug exceptions on), A, I and
/// F masked, and SS set: the first instruction there is stepped.
const SPSR_EL1H_STEP: u64 = (1 << 21) | (0b111 << 6) | 0b0101;

/// Steps one instruction, `$insn` (an `add` of the count register `{c}`, or an
/// instruction the hypervisor may trap and emulate), and checks line `$name`: the step
/// exception is taken right after it (at the next instruction), as on hardware.
macro_rules! step_over {
    ($name:literal, $insn:literal) => {{
        let (next, count): (u64, u64);
        // With debug exceptions masked while MDSCR_EL1.SS is set, stepping is inactive
        // until the exception return unmasks them with SPSR.SS set (active-not-pending);
        // unmasked, the step exception would be taken at once (active-pending).
        // SAFETY: masking debug exceptions (PSTATE.D).
        unsafe { core::arch::asm!("msr daifset, #8", "isb", options(nomem, nostack)) };
        msr!("mdscr_el1", MDSCR_KDE | MDSCR_MDE | MDSCR_SS);
        // SAFETY: an exception return to label 1 in this block at EL1 with SPSR.SS set:
        // the instruction at label 1 is stepped, then the step exception is taken at
        // label 2, where the hook clears MDSCR_EL1.SS and resumes. ELR_EL1 and SPSR_EL1
        // are scratch outside an exception handler; the instructions stepped here
        // change no memory.
        unsafe {
            core::arch::asm!(
                "adr {s}, 1f",
                "adr {n}, 2f",
                "mov {c}, #0",
                "msr elr_el1, {s}",
                "msr spsr_el1, {spsr}",
                "eret",
                concat!("1: ", $insn),
                "2: add {c}, {c}, #1",
                s = out(reg) _,
                n = out(reg) next,
                c = out(reg) count,
                spsr = in(reg) SPSR_EL1H_STEP,
                options(nomem, nostack)
            )
        };
        let (ec, elr, _) = taken();
        check!($name, "ec={:#x} elr={} ran={}", ec, at(elr, next), count);
    }};
}

fn step() {
    step_over!("debug.step", "add {c}, {c}, #1");
    // An SGI write with an empty target list (it sends nothing): in virtual mode the
    // hypervisor traps and emulates it, and must complete the step as hardware does.
    step_over!("debug.step-sgi-write", "msr icc_sgi1r_el1, xzr");
}
