//! VM-execution, exit and entry controls from the capability MSRs (Intel SDM volume
//! 3, appendix A.3-A.5): the low half of a controls MSR holds the allowed-0 settings
//! (a 1 there must be 1), the high half the allowed-1 settings (a 0 there must be 0).
//! The TRUE_ MSRs, when IA32_VMX_BASIC bit 55 says they exist, let more default-1
//! bits be 0.

/// A control the CPU does not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// The controls field (its VMCS encoding).
    pub field: u32,
    /// The wanted bits the CPU cannot set.
    pub bits: u32,
}

/// The value of a controls field: `want` plus every bit the CPU requires, minus
/// nothing wanted. `optional` bits are set only when allowed.
pub fn adjust(field: u32, caps: u64, want: u32, optional: u32) -> Result<u32, Missing> {
    let (must, may) = (caps as u32, (caps >> 32) as u32);
    let missing = want & !may;
    if missing != 0 {
        return Err(Missing {
            field,
            bits: missing,
        });
    }
    Ok(want | must | (optional & may))
}

/// The capability MSR of each controls field: (plain, TRUE).
pub mod msr {
    pub const PIN: (u32, u32) = (0x481, 0x48D);
    pub const PROC: (u32, u32) = (0x482, 0x48E);
    pub const EXIT: (u32, u32) = (0x483, 0x48F);
    pub const ENTRY: (u32, u32) = (0x484, 0x490);
    /// Secondary controls have no TRUE MSR.
    pub const PROC2: u32 = 0x48B;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_bits_join_and_forbidden_ones_fail() {
        // Bits 1, 2, 4 must be 1; bits 0-7 and 31 may be 1.
        let caps = 0x8000_00FFu64 << 32 | 0x16;
        assert_eq!(adjust(0x4002, caps, 1 << 7, 0), Ok(0x96));
        assert_eq!(adjust(0x4002, caps, 1 << 31, 1 << 30), Ok(0x8000_0016));
        assert_eq!(adjust(0x4002, caps, 1 << 3, 1 << 5), Ok(0x3E));
        assert_eq!(
            adjust(0x4002, caps, 1 << 25 | 1, 0),
            Err(Missing {
                field: 0x4002,
                bits: 1 << 25
            })
        );
    }
}
