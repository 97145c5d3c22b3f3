//! Cache coloring: which host pages back a colored VM's RAM.
//!
//! A physically indexed last-level cache maps a host page to a set of cache lines by
//! the address bits just above the page offset; pages whose addresses agree in those
//! bits compete for the same lines. With `C` = LLC way size / 4 KiB, host page `n`
//! has color `n mod C`, and VMs given disjoint colors cannot evict each other's lines.
//!
//! A colored VM's RAM is described by three numbers, computed on the host: the host
//! base of its first *period* (`C` consecutive pages, one of each color, aligned to
//! `C` pages), the board's color count `C`, and the VM's color mask. Guest page `k`
//! is the `(k mod p)`-th page of its colors in period `k div p` (`p` = the number of
//! its colors):
//!
//! ```text
//!   host   | c0 c1 c2 c3 c4 c5 c6 c7 | c0 c1 c2 c3 c4 c5 c6 c7 | ...   (C = 8)
//!   colors 0-1,4: guest pages 0 1 . . 2 . . . | 3 4 . . 5 . . . | ...
//! ```
//!
//! Consecutive colors of the mask form host runs that are contiguous in both spaces;
//! stage-2 maps run by run and the loader copies piece by piece. The description is
//! a few bytes whatever the VM's size; nothing is allocated at run time.

use rtvisor_addr::{Hpa, Ipa};

/// Size of a page (the unit of a color).
pub const PAGE: u64 = 0x1000;

/// The most colors a board may have (a mask is a `u64`).
pub const MAX_COLORS: u32 = 64;

/// How a colored VM's RAM is spread over host pages (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coloring {
    /// The board's color count `C` (LLC way size / 4 KiB), 1..=64.
    pub count: u8,
    /// The VM's colors: bit `c` set for color `c`; never 0, no bit at or above `count`.
    pub mask: u64,
}

/// A stretch of guest RAM contiguous in both guest- and host-physical space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Guest-physical start.
    pub ipa: Ipa,
    /// Host-physical start.
    pub hpa: Hpa,
    /// Length in bytes (a multiple of 4 KiB).
    pub size: u64,
}

impl Coloring {
    /// The number of colors in the mask (`p`).
    pub const fn own(&self) -> u64 {
        self.mask.count_ones() as u64
    }

    /// Bytes of one period (`C` pages).
    pub const fn period(&self) -> u64 {
        self.count as u64 * PAGE
    }

    /// Host bytes spanned by `size` bytes of RAM from the first period's start.
    pub const fn span(&self, size: u64) -> u64 {
        let pages = size.div_ceil(PAGE);
        pages.div_ceil(self.own()) * self.period()
    }

    /// Host offset (from the first period's start) of guest page `k`, and how many
    /// pages from it on are host-contiguous within its run.
    pub fn page(&self, k: u64) -> (u64, u64) {
        let p = self.own();
        let (period, mut j) = (k / p, k % p);
        let mut color = 0;
        let mut bits = self.mask;
        // The j-th set bit: clear the lowest set bit j times.
        while j > 0 {
            bits &= bits - 1;
            j -= 1;
        }
        if bits != 0 {
            color = u64::from(bits.trailing_zeros());
        }
        // The run goes on while the next colors are in the mask.
        let ones = (self.mask >> color).trailing_ones() as u64;
        ((period * self.count as u64 + color) * PAGE, ones)
    }

    /// The color of host page at `hpa`.
    pub const fn color_of(count: u8, hpa: u64) -> u64 {
        (hpa / PAGE) % count as u64
    }
}

/// A color mask written as a list of colors and ranges (`0-3,8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorList(pub u64);

impl core::fmt::Display for ColorList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (mut c, mut sep) = (0u32, "");
        while c < 64 {
            if self.0 & (1 << c) == 0 {
                c += 1;
                continue;
            }
            let start = c;
            while c < 64 && self.0 & (1 << c) != 0 {
                c += 1;
            }
            match c - 1 - start {
                0 => write!(f, "{sep}{start}")?,
                _ => write!(f, "{sep}{start}-{}", c - 1)?,
            }
            sep = ",";
        }
        Ok(())
    }
}

/// Iterator over the runs of a colored RAM map (see [`crate::tables::RamMap::runs`]).
#[derive(Debug, Clone)]
pub struct Runs {
    pub(crate) ipa: Ipa,
    pub(crate) hpa: Hpa,
    pub(crate) size: u64,
    pub(crate) coloring: Option<Coloring>,
    /// The private host pages of an identity-mapped x86_64 VM's first MiB.
    pub(crate) low: Option<Hpa>,
    pub(crate) done: u64,
}

impl Iterator for Runs {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        if self.done >= self.size {
            return None;
        }
        let private = crate::tables::LOW_PRIVATE.min(self.size);
        if let Some(low) = self.low.filter(|_| self.done < private) {
            let run = Run {
                ipa: self.ipa.checked_add(self.done)?,
                hpa: low.checked_add(self.done)?,
                size: private - self.done,
            };
            self.done = private;
            return Some(run);
        }
        let (off, len) = match self.coloring {
            None => (self.done, self.size - self.done),
            Some(c) => {
                let (host, pages) = c.page(self.done / PAGE);
                (host, (pages * PAGE).min(self.size - self.done))
            }
        };
        let run = Run {
            ipa: self.ipa.checked_add(self.done)?,
            hpa: self.hpa.checked_add(off)?,
            size: len,
        };
        self.done += len;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::RamMap;

    /// xorshift64: deterministic, so a failure names its case.
    pub(crate) fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// A random board color count (a power of two, 1..=64) and non-empty mask.
    pub(crate) fn random_coloring(s: &mut u64) -> Coloring {
        let count = 1u8 << (rng(s) % 7);
        let all = if count == 64 {
            u64::MAX
        } else {
            (1 << count) - 1
        };
        let mut mask = rng(s) & all;
        if mask == 0 {
            mask = 1 << (rng(s) % u64::from(count));
        }
        Coloring { count, mask }
    }

    #[test]
    fn every_page_has_one_of_its_colors_and_none_is_given_twice() {
        let mut s = 0x9e37_79b9_7f4a_7c15;
        for case in 0..300 {
            let c = random_coloring(&mut s);
            let pages = 1 + rng(&mut s) % 700;
            let ram = RamMap {
                ipa: Ipa::new(0x4000_0000),
                hpa: Hpa::new(0x8000_0000 + (rng(&mut s) % 16) * c.period()),
                size: pages * PAGE,
                colors: Some(c),
                low: None,
            };
            let span = ram.host_span();
            let mut seen = std::collections::BTreeSet::new();
            let mut next_ipa = ram.ipa;
            for run in ram.runs() {
                assert_eq!(run.ipa, next_ipa, "case {case}: runs leave a gap");
                next_ipa = run.ipa.checked_add(run.size).unwrap();
                for p in 0..run.size / PAGE {
                    let hpa = run.hpa.raw() + p * PAGE;
                    let color = Coloring::color_of(c.count, hpa);
                    assert!(
                        c.mask & (1 << color) != 0,
                        "case {case}: {hpa:#x} color {color}"
                    );
                    assert!(seen.insert(hpa), "case {case}: {hpa:#x} given twice");
                    assert!(hpa >= span.base.raw() && hpa < span.base.raw() + span.size);
                    let ipa = run.ipa.checked_add(p * PAGE + 8).unwrap();
                    assert_eq!(
                        ram.translate(ipa, 8),
                        Some(Hpa::new(hpa + 8)),
                        "case {case}"
                    );
                }
            }
            assert_eq!(seen.len() as u64, pages, "case {case}");
            assert_eq!(next_ipa.raw(), 0x4000_0000 + ram.size);
            assert_eq!(ram.translate(next_ipa, 1), None);
            // A copy that crosses runs comes back in pieces that cover it exactly.
            let (mut at, mut left) = (ram.ipa.checked_add(PAGE / 2).unwrap(), ram.size - PAGE);
            while left > 0 {
                let (hpa, n) = ram.piece(at, left).unwrap();
                assert!(n > 0 && n <= left);
                assert_eq!(ram.translate(at, n), Some(hpa));
                at = at.checked_add(n).unwrap();
                left -= n;
            }
        }
    }

    #[test]
    fn pages_follow_the_mask_period_by_period() {
        let c = Coloring {
            count: 8,
            mask: 0b1_0011,
        };
        let pages: [u64; 6] = core::array::from_fn(|k| c.page(k as u64).0 / PAGE);
        assert_eq!(pages, [0, 1, 4, 8, 9, 12]);
        assert_eq!(c.page(0).1, 2);
        assert_eq!(c.page(1).1, 1);
        assert_eq!(c.page(2).1, 1);
        assert_eq!(c.span(6 * PAGE), 2 * 8 * PAGE);
        assert_eq!(c.span(7 * PAGE), 3 * 8 * PAGE);
    }
}
