//! The configuration fingerprint: FNV-1a 64.
//!
//! The host hashes, in this order, the scenario file bytes, the board file bytes, then
//! for each VM in scenario order its kernel blob (after ELF flattening) and its initrd
//! blob if it has one. The result is [`crate::tables::Config::fingerprint`]; an image
//! builder that embeds the blobs recomputes it to prove tables and payload match.
//! The payload fingerprint, which the hypervisor recomputes at every boot, hashes the
//! blobs word by word ([`words_extend`]) to keep that check cheap.

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

/// Continues a word-wise FNV-1a 64 hash `state` over `bytes`: its length first (as one
/// word), then each little-endian 64-bit word, then the 0-7 bytes left one by one.
///
/// The hypervisor hashes tens of MiB of guest images at boot with this: one
/// multiply per 8 bytes instead of per byte (with `fnv1a64_extend` the check of a
/// 35 MiB Linux payload took 0.2 s of a 1.2 s Linux boot; docs/benchmark.md). Each
/// step `(state ^ word) * prime` is a bijection of the state, so two payloads of the
/// same length that differ in one word always hash differently.
pub fn words_extend(state: u64, bytes: &[u8]) -> u64 {
    let step = |s: u64, w: u64| (s ^ w).wrapping_mul(FNV1A64_PRIME);
    let word = |c: &[u8]| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        u64::from_le_bytes(b)
    };
    let mut s = step(state, bytes.len() as u64);
    // Four words an iteration: the loop's own instructions are a third of the cost.
    let blocks = bytes.chunks_exact(32);
    let rest = blocks.remainder();
    for c in blocks {
        s = step(s, word(&c[..8]));
        s = step(s, word(&c[8..16]));
        s = step(s, word(&c[16..24]));
        s = step(s, word(&c[24..]));
    }
    let words = rest.chunks_exact(8);
    let tail = words.remainder();
    for c in words {
        s = step(s, word(c));
    }
    fnv1a64_extend(s, tail)
}

/// Continues the payload fingerprint with one VM's blobs: kernel, initrd (if any),
/// device tree, each with [`words_extend`]. Over every VM in order it gives
/// [`crate::tables::Config::payload_fingerprint`], which the hypervisor recomputes over
/// the bytes it carries at boot.
pub fn payload_extend(state: u64, kernel: &[u8], initrd: Option<&[u8]>, dtb: &[u8]) -> u64 {
    let mut s = words_extend(state, kernel);
    if let Some(i) = initrd {
        s = words_extend(s, i);
    }
    words_extend(s, dtb)
}

/// The payload fingerprint of the tables' own blobs.
pub fn payload(vms: &[crate::tables::VmConfig]) -> u64 {
    vms.iter().fold(FNV1A64_INIT, |s, vm| {
        payload_extend(
            s,
            vm.kernel.bytes,
            vm.initrd.as_ref().map(|i| i.bytes),
            vm.dtb,
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
        let step = |s: u64, w: u64| (s ^ w).wrapping_mul(FNV1A64_PRIME);
        let mut s = step(state, bytes.len() as u64);
        let whole = bytes.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            let w = (0..8).fold(0u64, |w, k| w | u64::from(bytes[i + k]) << (8 * k));
            s = step(s, w);
        }
        fnv1a64_extend(s, &bytes[whole..])
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
        // Known value: the length word, then one word.
        let one = (FNV1A64_INIT ^ 8).wrapping_mul(FNV1A64_PRIME);
        let want = (one ^ 0x0807_0605_0403_0201).wrapping_mul(FNV1A64_PRIME);
        assert_eq!(words_extend(FNV1A64_INIT, &[1, 2, 3, 4, 5, 6, 7, 8]), want);
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
