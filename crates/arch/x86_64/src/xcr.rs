//! A guest's XSETBV: which XCR0 values it may set. Both engines trap the
//! instruction (VT-x always exits on it; the SVM engine sets its intercept so both
//! vendors answer alike); the backend checks the value here, then writes the
//! physical XCR0, which the guest uses as its own.
//!
//! Neither vendor switches XCR0 between guest and host, and the hypervisor does not
//! need to: it is built soft-float for `x86_64-unknown-none` (no SSE, AVX or x87 code,
//! no XSAVE), so it has no extended state of its own that XCR0 would govern. One
//! vCPU runs per CPU; the engines set XCR0 back to x87 only when a vCPU starts, so
//! nothing of a VM's previous life or of another VM reaches it.

/// XCR0 at reset: x87 only.
pub const XCR0_RESET: u64 = 1;

const X87: u64 = 1 << 0;
const SSE: u64 = 1 << 1;
const AVX: u64 = 1 << 2;
/// MPX: BNDREGS and BNDCSR.
const MPX: u64 = 3 << 3;
/// AVX-512: opmask, ZMM_Hi256, Hi16_ZMM.
const AVX512: u64 = 7 << 5;
/// AMX: TILECFG and TILEDATA.
const AMX: u64 = 3 << 17;

/// The XCR0 bits the CPU supports, from CPUID leaf 0xD subleaf 0 (EAX low half,
/// EDX high half): only user state; supervisor state (IA32_XSS) never appears there.
pub const fn supported(leaf_d0: [u32; 4]) -> u64 {
    (leaf_d0[3] as u64) << 32 | leaf_d0[0] as u64
}

/// Whether a guest's XSETBV of `value` into XCR `xcr` is one the CPU would take
/// when it supports the XCR0 bits `supported`; else the guest gets #GP(0). Only XCR0
/// exists here; x87 is always on; AVX needs SSE; AVX-512 needs AVX and comes whole;
/// MPX and AMX come in pairs; no bit the CPU lacks.
pub const fn xsetbv_ok(xcr: u32, value: u64, supported: u64) -> bool {
    xcr == 0
        && value & !supported == 0
        && value & X87 != 0
        && (value & AVX == 0 || value & SSE != 0)
        && whole(value, AVX512)
        && (value & AVX512 == 0 || value & AVX != 0)
        && whole(value, MPX)
        && whole(value, AMX)
}

/// Whether `value` has all of `group`'s bits or none.
const fn whole(value: u64, group: u64) -> bool {
    value & group == 0 || value & group == group
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU with x87, SSE, AVX, MPX, AVX-512, PKRU (bit 9) and AMX.
    const RICH: u64 = 0x6_02FF;

    #[test]
    fn supported_bits_come_from_leaf_d() {
        assert_eq!(supported([0x2FF, 0x1234, 0x5678, 0x1]), 0x1_0000_02FF);
        assert_eq!(supported([7, 0, 0, 0]), 7);
    }

    #[test]
    fn valid_combinations_pass() {
        for v in [1, 3, 7, 0x1F, 0xE7, 0x2E7, 0x6_0007, RICH] {
            assert!(xsetbv_ok(0, v, RICH), "{v:#x}");
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        // x87 off, AVX without SSE, half of AVX-512, AVX-512 without AVX, half of
        // MPX or AMX.
        for v in [0, 2, 6, 5, 0x27, 0x67, 0xE3, 0xE1, 0xF, 0x2_0007, 0x4_0007] {
            assert!(!xsetbv_ok(0, v, RICH), "{v:#x}");
        }
        // A bit the CPU lacks: AVX on an SSE-only CPU; a supervisor bit (PT, 8);
        // a reserved high bit.
        assert!(!xsetbv_ok(0, 7, 3));
        assert!(!xsetbv_ok(0, 0x103, RICH));
        assert!(!xsetbv_ok(0, 1 << 63 | 1, RICH));
        // Only XCR0 exists.
        assert!(!xsetbv_ok(1, 1, RICH));
        assert!(!xsetbv_ok(u32::MAX, 3, RICH));
        assert_eq!(XCR0_RESET, 1);
        assert!(xsetbv_ok(0, XCR0_RESET, 1));
    }
}
