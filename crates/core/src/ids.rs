//! Typed indices: a VM ([`VmId`], its place in the configuration), a vCPU of a VM
//! ([`VcpuId`], its place in the VM's `cpus`), a physical CPU ([`CpuId`], its place in
//! the order the platform lists CPUs). They do not mix, and "none" is an `Option`,
//! never a reserved value; [`AtomicId`] keeps an `Option` of one in an atomic word.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

/// What the typed indices share.
pub trait Id: Copy {
    /// The id of index `i`.
    fn from_index(i: usize) -> Self;
    /// Its index.
    fn to_index(self) -> usize;
}

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(usize);

        impl $name {
            /// The id of index `i`.
            #[inline(always)]
            pub const fn new(i: usize) -> Self {
                Self(i)
            }

            /// Its index.
            #[inline(always)]
            pub const fn index(self) -> usize {
                self.0
            }
        }

        impl Id for $name {
            #[inline(always)]
            fn from_index(i: usize) -> Self {
                Self(i)
            }
            #[inline(always)]
            fn to_index(self) -> usize {
                self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

index_type!(
    /// A VM: its index in the configuration's VM table.
    VmId
);
index_type!(
    /// A vCPU of one VM: its index in the VM's `cpus` (vCPU 0 boots the VM).
    VcpuId
);
index_type!(
    /// A physical CPU: its index in the order the platform lists CPUs (the host
    /// device tree's `/cpus`, the ACPI MADT).
    CpuId
);

/// An `Option` of a typed index in an atomic word: 0 is `None`, `i + 1` is index `i`.
#[derive(Debug)]
pub struct AtomicId<T> {
    raw: AtomicUsize,
    _id: PhantomData<fn() -> T>,
}

impl<T: Id> AtomicId<T> {
    /// `None`.
    pub const fn none() -> Self {
        Self {
            raw: AtomicUsize::new(0),
            _id: PhantomData,
        }
    }

    fn encode(v: Option<T>) -> usize {
        v.map_or(0, |id| id.to_index().wrapping_add(1))
    }

    fn decode(raw: usize) -> Option<T> {
        raw.checked_sub(1).map(T::from_index)
    }

    /// The value.
    pub fn load(&self, order: Ordering) -> Option<T> {
        Self::decode(self.raw.load(order))
    }

    /// Sets the value.
    pub fn store(&self, v: Option<T>, order: Ordering) {
        self.raw.store(Self::encode(v), order);
    }

    /// Sets the value; returns the old one.
    pub fn swap(&self, v: Option<T>, order: Ordering) -> Option<T> {
        Self::decode(self.raw.swap(Self::encode(v), order))
    }

    /// Sets `v` if the value is `None`; returns whether it did.
    pub fn set_if_none(&self, v: T, order: Ordering) -> bool {
        self.raw
            .compare_exchange(0, Self::encode(Some(v)), order, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn an_atomic_id_holds_none_and_every_index() {
        let a: AtomicId<CpuId> = AtomicId::none();
        assert_eq!(a.load(Ordering::Relaxed), None);
        assert!(a.set_if_none(CpuId::new(0), Ordering::Relaxed));
        assert_eq!(a.load(Ordering::Relaxed), Some(CpuId::new(0)));
        assert!(!a.set_if_none(CpuId::new(3), Ordering::Relaxed));
        assert_eq!(a.swap(None, Ordering::Relaxed), Some(CpuId::new(0)));
        a.store(Some(CpuId::new(7)), Ordering::Relaxed);
        assert_eq!(a.load(Ordering::Relaxed).map(CpuId::index), Some(7));
    }

    #[test]
    fn ids_show_their_index() {
        assert_eq!(std::format!("{} {}", VmId::new(2), VcpuId::new(0)), "2 0");
        assert_eq!(std::format!("[{:>3}]", CpuId::new(1)), "[  1]");
        assert_eq!(VcpuId::new(5).index(), 5);
    }
}
