//! The configuration fingerprint: FNV-1a 64.
//!
//! The host hashes, in this order, the scenario file bytes, the board file bytes, then
//! for each VM in scenario order its kernel blob (after ELF flattening) and its initrd
//! blob if it has one. The result is [`crate::tables::Config::fingerprint`]; an image
//! builder that embeds the blobs recomputes it to prove tables and payload match.
//! The payload fingerprint, which the hypervisor recomputes at every boot, hashes the
//! blobs word by word with one multiply-add a word ([`words_extend`]) to keep that
//! check cheap.

/// FNV-1a 64 offset basis: the hash of no bytes.
pub const FNV1A64_INIT: u64 = 0xcbf2_9ce4_8422_2325;
const FNV1A64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues an FNV-1a 64 hash `state` over `bytes`.
pub const fn fnv1a64_extend(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(FNV1A64_PRIME);
        i += 1;
    }
    state
}

/// FNV-1a 64 of `bytes`.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_extend(FNV1A64_INIT, bytes)
}

/// Continues the word-wise payload hash `state` over `bytes`: its length first (as
/// one word), then each little-endian 64-bit word, then the 0-7 bytes left one by
/// one, each as `state * FNV prime + word` (mod 2^64).
///
/// The hypervisor hashes tens of MiB of guest images at every boot with this, and
/// under QEMU's `-icount` every instruction counts: one multiply-add per 8 bytes
/// (AArch64 `madd`) and a load per 16 (with the byte-wise `fnv1a64_extend` the check of
/// a 35 MiB Linux payload took 0.2 s of a 1.2 s Linux boot; docs/benchmark.md). The
/// prime is odd, so each step is a bijection of the state: two inputs of the same
/// length that differ in one word (or byte) always hash differently, and the length
/// word separates inputs of different lengths. It detects damaged and mismatched
/// images; it is not a defence against someone who forges an image (nothing but a
/// signature is).
pub fn words_extend(state: u64, bytes: &[u8]) -> u64 {
    words_extend_by(state, bytes, blocks)
}

/// One step of [`words_extend`]: `state * FNV prime + word` (mod 2^64).
pub const fn word_step(state: u64, word: u64) -> u64 {
    state.wrapping_mul(FNV1A64_PRIME).wrapping_add(word)
}

/// The FNV prime [`word_step`] multiplies by.
pub const WORD_PRIME: u64 = FNV1A64_PRIME;

/// [`words_extend`], with its whole 32-byte blocks hashed by `blocks` (given the
/// state and the blocks, a multiple of 32 bytes; it must do what [`word_step`] over
/// each little-endian word in order does). The hypervisor passes a loop of paired
/// loads and multiply-adds (`rtvisor_arch_aarch64::memory::hash_blocks`): built for a
/// target that may not load unaligned words, the portable loop loads byte by byte.
/// Not inlined: the hypervisor runs it once per blob at boot, one copy is enough.
#[inline(never)]
pub fn words_extend_by(state: u64, bytes: &[u8], blocks: fn(u64, &[u8]) -> u64) -> u64 {
    let mut s = word_step(state, bytes.len() as u64);
    let whole = bytes.len() / 32 * 32;
    let (head, rest) = bytes.split_at(whole);
    s = blocks(s, head);
    let words = rest.chunks_exact(8);
    let tail = words.remainder();
    for c in words {
        s = word_step(s, word(c));
    }
    tail.iter().fold(s, |s, &b| word_step(s, u64::from(b)))
}

/// The little-endian word of 8 bytes.
fn word(c: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(c);
    u64::from_le_bytes(b)
}

/// The portable block loop of [`words_extend`] ([`words_extend_by`]): four words an
/// iteration.
pub fn blocks(mut s: u64, bytes: &[u8]) -> u64 {
    for c in bytes.chunks_exact(32) {
        s = word_step(s, word(&c[..8]));
        s = word_step(s, word(&c[8..16]));
        s = word_step(s, word(&c[16..24]));
        s = word_step(s, word(&c[24..]));
    }
    s
}

/// Continues the payload fingerprint with one VM's blobs: kernel, initrd (if any),
/// device tree, each with [`words_extend`]. Over every VM in order it gives
/// [`crate::tables::Config::payload_fingerprint`], which the hypervisor recomputes over
/// the bytes it carries at boot.
pub fn payload_extend(state: u64, kernel: &[u8], initrd: Option<&[u8]>, dtb: &[u8]) -> u64 {
    payload_extend_by(state, kernel, initrd, dtb, blocks)
}

/// [`payload_extend`] with the block loop `blocks` ([`words_extend_by`]).
fn payload_extend_by(
    state: u64,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    dtb: &[u8],
    blocks: fn(u64, &[u8]) -> u64,
) -> u64 {
    let mut s = words_extend_by(state, kernel, blocks);
    if let Some(i) = initrd {
        s = words_extend_by(s, i, blocks);
    }
    words_extend_by(s, dtb, blocks)
}

/// The payload fingerprint of the tables' own blobs.
pub fn payload(vms: &[crate::tables::VmConfig]) -> u64 {
    payload_by(vms, blocks)
}

/// [`payload`] with the block loop `blocks` ([`words_extend_by`]).
pub fn payload_by(vms: &[crate::tables::VmConfig], blocks: fn(u64, &[u8]) -> u64) -> u64 {
    vms.iter().fold(FNV1A64_INIT, |s, vm| {
        payload_extend_by(
            s,
            vm.kernel.bytes,
            vm.initrd.as_ref().map(|i| i.bytes),
            vm.dtb,
            blocks,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64_extend(fnv1a64(b"foo"), b"bar"), fnv1a64(b"foobar"));
    }

    /// `words_extend` as its doc defines it, one word at a time.
    fn words_reference(state: u64, bytes: &[u8]) -> u64 {
        let step = |s: u64, w: u64| s.wrapping_mul(FNV1A64_PRIME).wrapping_add(w);
        let mut s = step(state, bytes.len() as u64);
        let whole = bytes.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            let w = (0..8).fold(0u64, |w, k| w | u64::from(bytes[i + k]) << (8 * k));
            s = step(s, w);
        }
        bytes[whole..].iter().fold(s, |s, &b| step(s, u64::from(b)))
    }

    #[test]
    fn words_extend_is_its_definition_at_every_length() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..bytes.len() {
            assert_eq!(
                words_extend(FNV1A64_INIT, &bytes[..n]),
                words_reference(FNV1A64_INIT, &bytes[..n]),
                "{n} bytes"
            );
        }
        // Known values: the length word, then one word; then a lone byte.
        let one = FNV1A64_INIT.wrapping_mul(FNV1A64_PRIME).wrapping_add(8);
        let want = one
            .wrapping_mul(FNV1A64_PRIME)
            .wrapping_add(0x0807_0605_0403_0201);
        assert_eq!(words_extend(FNV1A64_INIT, &[1, 2, 3, 4, 5, 6, 7, 8]), want);
        assert_eq!(
            words_extend(FNV1A64_INIT, &[1, 2, 3, 4, 5, 6, 7, 8]),
            0x1039_960c_b8ee_7f86
        );
        let one = FNV1A64_INIT.wrapping_mul(FNV1A64_PRIME).wrapping_add(1);
        let want = one.wrapping_mul(FNV1A64_PRIME).wrapping_add(0xab);
        assert_eq!(words_extend(FNV1A64_INIT, &[0xab]), want);
    }

    #[test]
    fn a_block_loop_that_steps_each_word_gives_the_same_hash() {
        fn by_one(mut s: u64, b: &[u8]) -> u64 {
            assert_eq!(b.len() % 32, 0, "blocks get whole blocks");
            for c in b.chunks_exact(8) {
                s = word_step(s, u64::from_le_bytes(c.try_into().unwrap()));
            }
            s
        }
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 91 + 7) as u8).collect();
        for n in 0..bytes.len() {
            let b = &bytes[..n];
            assert_eq!(
                words_extend_by(FNV1A64_INIT, b, by_one),
                words_extend(FNV1A64_INIT, b),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn any_changed_byte_or_length_changes_the_payload_fingerprint() {
        let base: Vec<u8> = (0..100u8).collect();
        let fp = |k: &[u8]| payload_extend(FNV1A64_INIT, k, Some(b"initrd"), b"dtb");
        let want = fp(&base);
        for i in 0..base.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = base.clone();
                b[i] ^= bit;
                assert_ne!(fp(&b), want, "byte {i} bit {bit:#x}");
            }
        }
        assert_ne!(fp(&base[..99]), want);
        // Bytes moved from the kernel to the initrd: the lengths tell.
        let moved = payload_extend(FNV1A64_INIT, &base[..96], Some(&base[96..]), b"dtb");
        let whole = payload_extend(FNV1A64_INIT, &base, Some(b""), b"dtb");
        assert_ne!(moved, whole);
    }
}
