//! The configuration fingerprint: FNV-1a 64.
//!
//! The host hashes, in this order, the scenario file bytes, the board file bytes, then
//! for each VM in scenario order its kernel blob (after ELF flattening) and its initrd
//! blob if it has one. The result is [`crate::tables::Config::fingerprint`]; an image
//! builder that embeds the blobs recomputes it to prove tables and payload match.

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

/// Continues the payload fingerprint with one VM's blobs: kernel, initrd (if any),
/// device tree. Over every VM in order it gives [`crate::tables::Config::payload_fingerprint`],
/// which the hypervisor recomputes over the bytes it carries at boot.
pub const fn payload_extend(state: u64, kernel: &[u8], initrd: Option<&[u8]>, dtb: &[u8]) -> u64 {
    let mut s = fnv1a64_extend(state, kernel);
    if let Some(i) = initrd {
        s = fnv1a64_extend(s, i);
    }
    fnv1a64_extend(s, dtb)
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
}
