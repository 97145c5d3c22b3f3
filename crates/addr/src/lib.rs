//! Typed addresses for rtvisor.
//!
//! Rules inside this crate:
//! - `Hpa` is a host-physical address, `Ipa` a guest-physical (intermediate physical)
//!   address, `Gva` a guest-virtual address. They never convert into each other
//!   implicitly; a translation is always an explicit, checked step.
//! - No arithmetic operators: use `checked_add`, `offset_from`, `align_up`,
//!   `align_down`, so that every overflow is a visible `Option`.
//! - A value that a guest supplied is a claim, not an address: it becomes an `Ipa`
//!   inside a [`GuestRange`] only after [`GuestRange::contains`] checked it.
#![no_std]
#![forbid(unsafe_code)]

mod range;
pub use range::{GuestRange, HostRange};

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a raw address.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }
            /// The raw value.
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// `self + off`, or `None` on overflow.
            pub const fn checked_add(self, off: u64) -> Option<Self> {
                match self.0.checked_add(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// `self - off`, or `None` on underflow.
            pub const fn checked_sub(self, off: u64) -> Option<Self> {
                match self.0.checked_sub(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// Distance from `base` up to `self`, or `None` when `self < base`.
            pub const fn offset_from(self, base: Self) -> Option<u64> {
                self.0.checked_sub(base.0)
            }
            /// Whether `self` is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                debug_assert!(align.is_power_of_two());
                self.0 & (align - 1) == 0
            }
            /// Rounds down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                debug_assert!(align.is_power_of_two());
                Self(self.0 & !(align - 1))
            }
            /// Rounds up to a multiple of `align` (a power of two), `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                debug_assert!(align.is_power_of_two());
                match self.0.checked_add(align - 1) {
                    Some(v) => Some(Self(v & !(align - 1))),
                    None => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl core::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address_type!(
    /// Host-physical address.
    Hpa
);
address_type!(
    /// Guest-physical (intermediate physical) address: what a guest calls physical.
    Ipa
);
address_type!(
    /// Guest-virtual address.
    Gva
);

/// Page sizes used by stage-1 and stage-2 translation with the 4 KiB granule.
pub const PAGE_4K: u64 = 0x1000;
/// 2 MiB block.
pub const BLOCK_2M: u64 = 0x20_0000;
/// 1 GiB block.
pub const BLOCK_1G: u64 = 0x4000_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        let a = Hpa::new(0x4020_1234);
        assert_eq!(a.align_down(PAGE_4K), Hpa::new(0x4020_1000));
        assert_eq!(a.align_up(BLOCK_2M), Some(Hpa::new(0x4040_0000)));
        assert!(!a.is_aligned(PAGE_4K));
        assert!(Hpa::new(0x4020_0000).is_aligned(BLOCK_2M));
        assert_eq!(Hpa::new(u64::MAX).align_up(PAGE_4K), None);
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(Ipa::new(u64::MAX).checked_add(1), None);
        assert_eq!(Ipa::new(0x1000).checked_add(0x10), Some(Ipa::new(0x1010)));
        assert_eq!(Ipa::new(0x10).checked_sub(0x20), None);
        assert_eq!(Ipa::new(0x1010).offset_from(Ipa::new(0x1000)), Some(0x10));
        assert_eq!(Ipa::new(0x1000).offset_from(Ipa::new(0x1010)), None);
    }

    #[test]
    fn debug_names_the_space() {
        extern crate std;
        use std::format;
        assert_eq!(format!("{:?}", Ipa::new(0x900_0000)), "Ipa(0x9000000)");
    }
}
