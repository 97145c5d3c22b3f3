//! The block loop of the payload fingerprint the hypervisor checks at boot
//! (`rtvisor_config::fingerprint::words_extend_by`): paired loads and one
//! multiply-add per word. Built for `aarch64-unknown-none-softfloat`, which may not
//! load unaligned words, the portable loop loads the tens of MiB of guest images byte
//! by byte (about 2.4 instructions a byte, most of a Linux VM's boot check).

use rtvisor_config::fingerprint::{word_step, WORD_PRIME};

/// Hashes `bytes` (a multiple of 32 bytes) into `state` word by word, as
/// [`word_step`] over each little-endian word in order.
///
/// Call it with the MMU on: the loads may be unaligned, which Normal memory allows
/// (SCTLR_EL2.A is clear, `mmu`); with the MMU off every access is to Device memory
/// and an unaligned one faults.
pub fn hash_blocks(state: u64, bytes: &[u8]) -> u64 {
    let mut s = state;
    let pairs = bytes.len() / 64;
    let p = bytes.as_ptr();
    if pairs > 0 {
        // SAFETY: reads `pairs` * 64 bytes from `p`, all inside `bytes`; no store.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldp {a}, {b}, [{p}], #16",
                "madd {s}, {s}, {m}, {a}",
                "madd {s}, {s}, {m}, {b}",
                "ldp {a}, {b}, [{p}], #16",
                "madd {s}, {s}, {m}, {a}",
                "madd {s}, {s}, {m}, {b}",
                "ldp {a}, {b}, [{p}], #16",
                "madd {s}, {s}, {m}, {a}",
                "madd {s}, {s}, {m}, {b}",
                "ldp {a}, {b}, [{p}], #16",
                "madd {s}, {s}, {m}, {a}",
                "madd {s}, {s}, {m}, {b}",
                "subs {n}, {n}, #1",
                "b.ne 2b",
                s = inout(reg) s, p = inout(reg) p => _, n = inout(reg) pairs => _,
                m = in(reg) WORD_PRIME, a = out(reg) _, b = out(reg) _,
                options(nostack, readonly)
            )
        };
    }
    // A last block of 32 bytes, if any, word by word.
    for c in bytes[pairs * 64..].chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        s = word_step(s, u64::from_le_bytes(w));
    }
    s
}
