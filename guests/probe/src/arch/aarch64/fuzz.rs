//! `hvc-fuzz` and `smc-fuzz`: N pseudo-random SMCCC calls (fixed-seed xorshift, the
//! same sequence every run) through `hvc #0` / `smc #0`, plus a few calls with a
//! non-zero immediate. Function ids mix fully random 32-bit values, random ids inside
//! the PSCI (0x84/0xC4), rtvisor (0x86/0xC6) and SMCCC arch (0x80) ranges, random
//! owners, and random upper halves of x0; x1..x3 are random, a quarter of them small
//! (0..7, so region numbers and affinities are hit). Calls that would legitimately
//! stop, suspend or reset this VM, start vCPUs or arm its watchdog are excluded
//! (counted as `excluded`). Contained = every call came back to the probe.

use guest_common::arch::psci;
use guest_common::guard;

use super::basic::SMCCC_NOT_SUPPORTED;
use crate::report::{contained, leak, Outcome};

/// Seeds of the two sequences (fixed: every run makes the same calls).
const SEED_HVC: u64 = 0x0123_4567_89ab_cdef;
const SEED_SMC: u64 = 0xfedc_ba98_7654_3210;

/// A xorshift64 generator (Marsaglia), never zero.
pub struct Rng(u64);

impl Rng {
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Function ids (low 32 bits of x0) the fuzzer must not call: PSCI CPU_SUSPEND,
/// CPU_OFF, CPU_ON, CPU_FREEZE, CPU_DEFAULT_SUSPEND, SYSTEM_OFF, SYSTEM_RESET,
/// SYSTEM_SUSPEND, SET_SUSPEND_MODE, SYSTEM_RESET2, MEM_PROTECT (SMC32 and SMC64
/// forms), and rtvisor's WATCHDOG_ARM.
const EXCLUDED: &[u32] = &[
    0x8400_0001,
    0xc400_0001,
    0x8400_0002,
    0x8400_0003,
    0xc400_0003,
    0x8400_0008,
    0x8400_0009,
    0x8400_000b,
    0x8400_000c,
    0xc400_000c,
    0x8400_000e,
    0xc400_000e,
    0x8400_000f,
    0x8400_0012,
    0xc400_0012,
    0x8400_0013,
    0x8600_0010,
    0xc600_0010,
];

pub fn excluded(x0: u64) -> bool {
    EXCLUDED.contains(&(x0 as u32))
}

/// One function id from the mix.
fn function_id(rng: &mut Rng) -> u64 {
    let r = rng.next();
    let low = r >> 8;
    match r & 7 {
        0 => low & 0xffff_ffff,
        1 => 0x8400_0000 | (low & 0x1f),
        2 => 0xc400_0000 | (low & 0x1f),
        3 => 0x8600_0000 | (low & 0xff),
        4 => 0xc600_0000 | (low & if r & 8 != 0 { 0xffff } else { 0x1f }),
        5 => 0x8000_0000 | (low & 0xffff),
        // Any owner (0..63), fast call, either convention, low 16 bits random.
        6 => 0x8000_0000 | (low & 0x7f00_0000) | (low & 0xffff),
        // A random 64-bit x0: SMCCC passes the id in w0.
        _ => rng.next() & !0xffff_ffff | (low & 0xffff_ffff),
    }
}

fn argument(rng: &mut Rng) -> u64 {
    let r = rng.next();
    if r & 3 == 0 {
        (r >> 2) & 7
    } else {
        rng.next()
    }
}

/// What came back from the calls.
#[derive(Default)]
pub struct Answers {
    pub ok: u32,
    pub not_supported: u32,
    pub other: u32,
    pub refused: u32,
}

impl Answers {
    fn count(&mut self, r: Result<u64, guest_common::exception::Fault>) {
        match r {
            Ok(0) => self.ok += 1,
            Ok(SMCCC_NOT_SUPPORTED) => self.not_supported += 1,
            Ok(_) => self.other += 1,
            Err(_) => self.refused += 1,
        }
    }
}

/// One fuzzed call sequence (HVC or SMC) and what came back.
pub struct Fuzzer {
    smc: bool,
    rng: Rng,
    pub answers: Answers,
    pub made: u32,
    pub excluded: u32,
}

impl Fuzzer {
    pub fn new(smc: bool) -> Self {
        Self {
            smc,
            rng: Rng::new(if smc { SEED_SMC } else { SEED_HVC }),
            answers: Answers::default(),
            made: 0,
            excluded: 0,
        }
    }

    /// Makes `n` more calls (excluded ids are drawn again, and counted).
    pub fn run(&mut self, n: u32) {
        let end = self.made + n;
        while self.made < end {
            let x0 = function_id(&mut self.rng);
            let a1 = argument(&mut self.rng);
            let a2 = argument(&mut self.rng);
            let a3 = argument(&mut self.rng);
            if excluded(x0) {
                self.excluded += 1;
                continue;
            }
            let smc = self.smc;
            self.answers
                .count(guard::catch(|| raw(smc, x0, a1, a2, a3)));
            self.made += 1;
        }
    }
}

fn raw(smc: bool, x0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    if smc {
        psci::raw_smc(x0, a1, a2, a3)
    } else {
        psci::raw_hvc(x0, a1, a2, a3)
    }
}

/// One call with a fixed instruction (`hvc #imm` / `smc #imm`), x0 in and out; per
/// SMCCC the callee may clobber x0..x17. No memory is touched by the instruction.
macro_rules! call_imm {
    ($insn:literal, $x0:expr) => {{
        let mut x0: u64 = $x0;
        // SAFETY: an SMCCC-shaped call; x0..x17 are declared clobbered, the
        // instruction itself touches no memory and the stack is not used.
        unsafe {
            core::arch::asm!($insn, inout("x0") x0, out("x1") _, out("x2") _,
                out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack));
        }
        x0
    }};
}

/// `hvc/smc #imm` (imm 1, 0x5a5a, 0xffff) with PSCI_VERSION in x0: SMCCC calls use
/// immediate 0, so none of these may be answered as PSCI_VERSION. Returns how many
/// were.
fn nonzero_immediates(smc: bool) -> u32 {
    let v = u64::from(psci::PSCI_VERSION);
    let answers = if smc {
        [
            guard::catch(|| call_imm!("smc #1", v)),
            guard::catch(|| call_imm!("smc #0x5a5a", v)),
            guard::catch(|| call_imm!("smc #0xffff", v)),
        ]
    } else {
        [
            guard::catch(|| call_imm!("hvc #1", v)),
            guard::catch(|| call_imm!("hvc #0x5a5a", v)),
            guard::catch(|| call_imm!("hvc #0xffff", v)),
        ]
    };
    // PSCI 1.1 would answer 0x10001; NOT_SUPPORTED or a refusal is what we expect.
    answers.iter().filter(|r| **r == Ok(0x1_0001)).count() as u32
}

/// Makes `n` fuzzed calls through HVC (or SMC) and reports them.
pub fn fuzz(case: &str, smc: bool, n: u32) -> Outcome {
    let mut f = Fuzzer::new(smc);
    f.run(n);
    let imm = nonzero_immediates(smc);
    if imm != 0 {
        return leak(
            case,
            format_args!(
                "{} of 3 calls with a non-zero immediate ran PSCI_VERSION",
                imm
            ),
        );
    }
    let a = &f.answers;
    contained(
        case,
        format_args!(
            "{} calls, all returned: ok={} not_supported={} other_error={} refused={}; {} excluded; 3 with imm!=0 refused",
            f.made, a.ok, a.not_supported, a.other, a.refused, f.excluded
        ),
    )
}
