//! A VM's guest RAM and the host pages behind it: one host region, the pages of some
//! cache colors, or (an identity-mapped x86_64 VM) the host's own addresses with a
//! private first MiB.

use super::MemRegion;
use crate::coloring::{Coloring, Runs, PAGE};
use rtvisor_addr::{Hpa, Ipa};

/// Guest RAM and its backing: one host region, or (colored) the pages of some cache
/// colors from `hpa` on ([`crate::coloring`]). The guest sees contiguous RAM either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamMap {
    /// Guest-physical base.
    pub ipa: Ipa,
    /// Host-physical base; colored: the start of the first period (aligned to one
    /// LLC way).
    pub hpa: Hpa,
    /// Size in bytes (multiple of 2 MiB).
    pub size: u64,
    /// The cache colors of its host pages (`None`: one contiguous host region).
    pub colors: Option<Coloring>,
    /// An identity-mapped x86_64 VM (`ipa` = `hpa` = 0): the host pages behind its
    /// first [`LOW_PRIVATE`] bytes, which stay its own (boot data, real-mode
    /// memory) while the rest is at the same host address. `None` otherwise.
    pub low: Option<Hpa>,
}

/// The guest-physical bytes from 0 that an identity-mapped x86_64 VM keeps in private
/// host pages (the host's own first MiB is the firmware's).
pub const LOW_PRIVATE: u64 = crate::contract::x86_64::KERNEL_MIN_GPA;

impl RamMap {
    /// Host address behind guest address `ipa`, if `[ipa, ipa+len)` is RAM and
    /// contiguous in host memory (always, unless colored: then within one run).
    pub fn translate(&self, ipa: Ipa, len: u64) -> Option<Hpa> {
        match self.piece(ipa, len) {
            Some((hpa, n)) if n == len => Some(hpa),
            _ => None,
        }
    }

    /// The host address behind `ipa` and how many of the `len` bytes from it are
    /// host-contiguous, if `[ipa, ipa+len)` is RAM; copy a range piece by piece.
    pub fn piece(&self, ipa: Ipa, len: u64) -> Option<(Hpa, u64)> {
        let off = ipa.offset_from(self.ipa)?;
        if len == 0 || off >= self.size || len > self.size - off {
            return None;
        }
        if let Some(low) = self.low.filter(|_| off < LOW_PRIVATE) {
            return Some((low.checked_add(off)?, len.min(LOW_PRIVATE - off)));
        }
        match self.colors {
            None => Some((self.hpa.checked_add(off)?, len)),
            Some(c) => {
                let (host, pages) = c.page(off / PAGE);
                let inner = off % PAGE;
                let room = (pages * PAGE - inner).min(len);
                Some((self.hpa.checked_add(host + inner)?, room))
            }
        }
    }

    /// The host region that holds every page of this RAM (colored: also the pages of
    /// other colors between them; identity-mapped on x86_64: all but the private low
    /// pages, which are [`Self::low_span`]).
    pub fn host_span(&self) -> MemRegion<Hpa> {
        let size = match self.colors {
            None => self.size,
            Some(c) => c.span(self.size),
        };
        match self.low {
            None => MemRegion {
                base: self.hpa,
                size,
            },
            Some(_) => MemRegion {
                base: self.hpa.checked_add(LOW_PRIVATE).unwrap_or(self.hpa),
                size: size.saturating_sub(LOW_PRIVATE),
            },
        }
    }

    /// The private host pages behind an identity-mapped x86_64 VM's first
    /// [`LOW_PRIVATE`] bytes, if it has them.
    pub fn low_span(&self) -> Option<MemRegion<Hpa>> {
        self.low.map(|base| MemRegion {
            base,
            size: LOW_PRIVATE.min(self.size),
        })
    }

    /// The stretches contiguous in both spaces, in guest order.
    pub fn runs(&self) -> Runs {
        Runs {
            ipa: self.ipa,
            hpa: self.hpa,
            size: self.size,
            coloring: self.colors,
            low: self.low,
            done: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_translation_is_bounded() {
        let ram = RamMap {
            ipa: Ipa::new(0x4000_0000),
            hpa: Hpa::new(0x4400_0000),
            size: 0x20_0000,
            colors: None,
            low: None,
        };
        assert_eq!(
            ram.translate(Ipa::new(0x4000_1000), 8),
            Some(Hpa::new(0x4400_1000))
        );
        assert_eq!(
            ram.translate(Ipa::new(0x401f_fff8), 8),
            Some(Hpa::new(0x441f_fff8))
        );
        assert_eq!(ram.translate(Ipa::new(0x401f_fffc), 8), None);
        assert_eq!(ram.translate(Ipa::new(0x3fff_f000), 8), None);
        assert_eq!(ram.translate(Ipa::new(0x4020_0000), 1), None);
    }

    #[test]
    fn identity_ram_keeps_its_first_mib_private() {
        let ram = RamMap {
            ipa: Ipa::new(0),
            hpa: Hpa::new(0),
            size: 0x400_0000,
            colors: None,
            low: Some(Hpa::new(0x3000_0000)),
        };
        assert_eq!(
            ram.translate(Ipa::new(0xe_0000), 8),
            Some(Hpa::new(0x300e_0000))
        );
        assert_eq!(
            ram.piece(Ipa::new(0xf_fff8), 16),
            Some((Hpa::new(0x300f_fff8), 8))
        );
        assert_eq!(
            ram.translate(Ipa::new(0x10_0000), 8),
            Some(Hpa::new(0x10_0000))
        );
        assert_eq!(
            ram.translate(Ipa::new(0x3ff_fff8), 8),
            Some(Hpa::new(0x3ff_fff8))
        );
        assert_eq!(ram.translate(Ipa::new(0x400_0000), 1), None);
        let runs: Vec<_> = ram
            .runs()
            .map(|r| (r.ipa.raw(), r.hpa.raw(), r.size))
            .collect();
        assert_eq!(
            runs,
            [
                (0, 0x3000_0000, 0x10_0000),
                (0x10_0000, 0x10_0000, 0x3f0_0000)
            ]
        );
        assert_eq!(ram.host_span().base, Hpa::new(0x10_0000));
        assert_eq!(ram.host_span().size, 0x3f0_0000);
        assert_eq!(ram.low_span().map(|s| s.base), Some(Hpa::new(0x3000_0000)));
    }
}
