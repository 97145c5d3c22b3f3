//! Address ranges: half-open `[base, base + size)` regions in one address space.

use crate::{Hpa, Ipa};

macro_rules! range_type {
    ($(#[$doc:meta])* $name:ident, $addr:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub struct $name {
            base: $addr,
            size: u64,
        }

        impl $name {
            /// A range of `size` bytes from `base`; `None` if it would wrap around.
            pub const fn new(base: $addr, size: u64) -> Option<Self> {
                match base.raw().checked_add(size) {
                    Some(_) => Some(Self { base, size }),
                    None => None,
                }
            }
            /// First address.
            pub const fn base(&self) -> $addr {
                self.base
            }
            /// Size in bytes.
            pub const fn size(&self) -> u64 {
                self.size
            }
            /// One past the last address (cannot overflow: checked at construction).
            pub const fn end(&self) -> $addr {
                $addr::new(self.base.raw() + self.size)
            }
            /// Whether `addr` lies inside.
            pub const fn contains(&self, addr: $addr) -> bool {
                addr.raw() >= self.base.raw() && addr.raw() - self.base.raw() < self.size
            }
            /// Whether `[addr, addr + len)` lies wholly inside (`len` 0 is never inside).
            pub const fn contains_span(&self, addr: $addr, len: u64) -> bool {
                if len == 0 || !self.contains(addr) {
                    return false;
                }
                len - 1 <= self.end().raw() - 1 - addr.raw()
            }
            /// Whether the two ranges share at least one byte.
            pub const fn overlaps(&self, other: &Self) -> bool {
                self.size != 0
                    && other.size != 0
                    && self.base.raw() < other.end().raw()
                    && other.base.raw() < self.end().raw()
            }
        }
    };
}

range_type!(
    /// A range of host-physical addresses.
    HostRange,
    Hpa
);
range_type!(
    /// A range of guest-physical addresses.
    GuestRange,
    Ipa
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_and_spans() {
        let r = GuestRange::new(Ipa::new(0x4000_0000), 0x1000).unwrap();
        assert!(r.contains(Ipa::new(0x4000_0fff)));
        assert!(!r.contains(Ipa::new(0x4000_1000)));
        assert!(!r.contains(Ipa::new(0x3fff_ffff)));
        assert!(r.contains_span(Ipa::new(0x4000_0ff8), 8));
        assert!(!r.contains_span(Ipa::new(0x4000_0ffc), 8));
        assert!(!r.contains_span(Ipa::new(0x4000_0000), 0));
        assert_eq!(r.end(), Ipa::new(0x4000_1000));
    }

    #[test]
    fn wrapping_range_is_refused() {
        assert!(HostRange::new(Hpa::new(u64::MAX - 1), 4).is_none());
    }

    #[test]
    fn overlap() {
        let a = HostRange::new(Hpa::new(0x1000), 0x1000).unwrap();
        let b = HostRange::new(Hpa::new(0x1fff), 0x10).unwrap();
        let c = HostRange::new(Hpa::new(0x2000), 0x10).unwrap();
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }
}
