//! Virtual devices for rtvisor, written as plain state machines over offsets.
//!
//! A device here knows nothing about guests, vCPUs, page tables or interrupts
//! controllers: it receives `(offset, width, value)` from whoever decoded the
//! trapped access and answers with a value or a [`MmioError`]. Side effects that
//! leave the device (a transmitted byte, an interrupt line) are returned or exposed
//! as state; the caller routes them.
//!
//! Rules inside this crate:
//! - `no_std`, no allocation, no `unsafe`.
//! - Nothing a guest controls reaches a panic: no indexing with guest offsets, no
//!   `unwrap` on guest data, no unchecked arithmetic on guest values.
//! - Registers are described in sorted `&'static` tables ([`regs::RegTable`]) and
//!   found by binary search; device code never decodes offsets in a long `match`.
//! - What to do with an access that fails ([`MmioError`]) is the caller's policy
//!   (read-as-zero / write-ignored, or an abort injected into the guest).
#![no_std]
#![forbid(unsafe_code)]

pub mod cfi;
pub mod fifo;
pub mod gicpass;
pub mod ioapic;
pub mod pcicfg;
pub mod pit;
pub mod pl011;
pub mod pl061;
pub mod regs;
#[cfg(any(test, feature = "testkit"))]
pub mod rng;
pub mod rtc;
pub mod uart16550;
pub mod vgic;
pub mod x2apic;

/// Size of one MMIO access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Width {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Half,
    /// 32 bits.
    Word,
    /// 64 bits.
    Double,
}

impl Width {
    /// Number of bytes accessed.
    pub const fn bytes(self) -> u64 {
        match self {
            Width::Byte => 1,
            Width::Half => 2,
            Width::Word => 4,
            Width::Double => 8,
        }
    }

    /// From log2 of the size in bytes (the encoding of ESR_ELx.ISS.SAS on aarch64).
    pub const fn from_log2(log2: u32) -> Option<Self> {
        match log2 {
            0 => Some(Width::Byte),
            1 => Some(Width::Half),
            2 => Some(Width::Word),
            3 => Some(Width::Double),
            _ => None,
        }
    }

    /// A mask with the low `bytes() * 8` bits set.
    pub const fn mask(self) -> u64 {
        match self {
            Width::Byte => 0xff,
            Width::Half => 0xffff,
            Width::Word => 0xffff_ffff,
            Width::Double => u64::MAX,
        }
    }
}

/// Why a device refused an access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MmioError {
    /// No register at this offset.
    NoRegister,
    /// The register exists but not for this access size, or the access is not
    /// naturally aligned.
    BadWidth,
    /// A write to a read-only register.
    ReadOnly,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(Width::Byte.bytes(), 1);
        assert_eq!(Width::Half.bytes(), 2);
        assert_eq!(Width::Word.bytes(), 4);
        assert_eq!(Width::Double.bytes(), 8);
        for l in 0..4 {
            let w = Width::from_log2(l).unwrap();
            assert_eq!(w.bytes(), 1 << l);
            assert_eq!(w.mask(), u64::MAX >> (64 - 8 * w.bytes()));
        }
        assert_eq!(Width::from_log2(4), None);
    }
}
