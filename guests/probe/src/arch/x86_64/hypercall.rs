//! Hypercalls the hypervisor does not know: one unknown id, then a fuzz of random
//! ids and arguments (WATCHDOG_ARM left out: it would arm this VM's watchdog).

use guest_common::arch::hypercall::{call, instruction, NOT_SUPPORTED};

use crate::report::{contained, leak, Outcome};

/// An id in rtvisor's range that no call uses.
const UNKNOWN_ID: u64 = 0xc600_ff01;
const WATCHDOG_ARM: u64 = 0xc600_0010;

pub fn unknown() -> Outcome {
    const CASE: &str = "hypercall-unknown";
    match call(UNKNOWN_ID, 0, 0, 0) {
        NOT_SUPPORTED => contained(
            CASE,
            format_args!(
                "{} {:#x}: not_supported (or #UD)",
                instruction(),
                UNKNOWN_ID
            ),
        ),
        r => leak(
            CASE,
            format_args!("{} {:#x} -> {:#x}", instruction(), UNKNOWN_ID, r),
        ),
    }
}

/// xorshift64, fixed seed: the same calls on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `n` calls: ids random, random in rtvisor's range, or near the known calls;
/// random arguments. Contained when every call came back (any answer).
pub fn fuzz(n: u32) -> Outcome {
    const CASE: &str = "hypercall-fuzz";
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let (mut unsupported, mut answered) = (0u32, 0u32);
    for i in 0..n {
        let r = next(&mut s);
        let id = match i % 3 {
            0 => r,
            1 => 0xc600_0000 | (r & 0xffff),
            _ => 0xc600_0000 | (r & 0x1f),
        };
        if id == WATCHDOG_ARM {
            continue;
        }
        let ret = call(id, next(&mut s), next(&mut s), next(&mut s));
        if ret == NOT_SUPPORTED {
            unsupported += 1;
        } else {
            answered += 1;
        }
    }
    if n == 0 {
        return leak(CASE, format_args!("fuzz=0: nothing tried"));
    }
    contained(
        CASE,
        format_args!(
            "{} {} calls came back: {} not_supported (or #UD), {} other answers",
            unsupported + answered,
            instruction(),
            unsupported,
            answered
        ),
    )
}
