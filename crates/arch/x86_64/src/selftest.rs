//! Faults on purpose, for the tests of the fatal path and of W^X (`fault=KIND` on the
//! smoke image's command line).

/// The faults [`provoke`] knows.
pub const KINDS: &[&str] = &["wx", "nx", "ud", "stack"];

/// Recurses until the stack runs into its guard page: a #PF that cannot be delivered
/// on the same stack, so a #DF on the double-fault stack.
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 32]);
    if depth == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(frame[1])
}

/// Provokes fault `kind`; returns only if `kind` is unknown or the fault did not
/// happen (which for `wx` and `nx` means W^X is broken).
pub fn provoke(kind: &str) {
    let code = provoke as fn(&str) as usize as *mut u8;
    let data = &crate::boot::STACK_SLOT as *const usize as u64;
    match kind {
        // SAFETY: a write to the hypervisor's own code, which must fault (#PF, error
        // code 3: present, write); if W^X were broken it would change one byte of
        // this function's first instruction after it ran.
        "wx" => unsafe { code.write_volatile(code.read_volatile()) },
        // SAFETY: a jump into read-only data (an 8-byte constant), which must fault
        // (#PF, error code 0x11: present, instruction fetch).
        "nx" => unsafe { core::arch::asm!("call {}", in(reg) data) },
        // SAFETY: an invalid opcode; the exception handler reports and halts.
        "ud" => unsafe { core::arch::asm!("ud2") },
        "stack" => {
            core::hint::black_box(recurse(0));
        }
        _ => {}
    }
}
