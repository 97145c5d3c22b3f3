//! The pages a translation-table pool hands out, in order: one region, or the pages
//! of the hypervisor's cache colors (`[hypervisor] colors`). Plain arithmetic, so the
//! host tests check it; the pool itself is `crate::memory::TablePool`.

use rtvisor_addr::HostRange;
use rtvisor_config::coloring::Coloring;
use rtvisor_config::tables::HvPages;

/// Where a pool's pages are and how many it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pages {
    /// One region from here, or colored pages from this first period's start.
    base: u64,
    /// Pages it has.
    count: u64,
    /// The colors of a colored pool.
    colors: Option<Coloring>,
    /// Pages handed out.
    used: u64,
}

impl Pages {
    /// No pages.
    pub const EMPTY: Self = Self {
        base: 0,
        count: 0,
        colors: None,
        used: 0,
    };

    /// The pages of `region`.
    pub fn region(region: HostRange) -> Self {
        Self {
            base: region.base().raw(),
            count: region.size() / 0x1000,
            colors: None,
            used: 0,
        }
    }

    /// The pages of colored `pages`.
    pub fn colored(pages: &HvPages) -> Self {
        Self {
            base: pages.hpa.raw(),
            count: pages.size / 0x1000,
            colors: Some(pages.colors),
            used: 0,
        }
    }

    /// The address of page `k`, `None` past the last.
    pub fn page(&self, k: u64) -> Option<u64> {
        if k >= self.count {
            return None;
        }
        let off = match self.colors {
            Some(c) => c.page(k).0,
            None => k * 0x1000,
        };
        self.base.checked_add(off)
    }

    /// The next page, counted as handed out.
    pub fn take(&mut self) -> Option<u64> {
        let page = self.page(self.used)?;
        self.used += 1;
        Some(page)
    }

    /// Pages handed out so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtvisor_addr::Hpa;

    #[test]
    fn a_colored_pool_hands_out_pages_of_its_colors_once() {
        let hv = HvPages {
            hpa: Hpa::new(0x4220_0000),
            size: 256 * 0x1000,
            colors: Coloring {
                count: 32,
                mask: 0b1001_0110,
            },
        };
        let mut p = Pages::colored(&hv);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(page) = p.take() {
            let color = (page / 0x1000) % 32;
            assert!(
                hv.colors.mask & (1 << color) != 0,
                "{page:#x}: color {color}"
            );
            assert!(seen.insert(page), "{page:#x} twice");
            assert_eq!(Some(Hpa::new(page)), hv.page(p.used() - 1));
        }
        assert_eq!((seen.len(), p.used()), (256, 256));
        assert_eq!(p.take(), None);
    }

    #[test]
    fn a_region_pool_hands_out_its_pages_in_order() {
        let r = HostRange::new(Hpa::new(0x4100_0000), 3 * 0x1000).unwrap();
        let mut p = Pages::region(r);
        let got: std::vec::Vec<u64> = core::iter::from_fn(|| p.take()).collect();
        assert_eq!(got, [0x4100_0000, 0x4100_1000, 0x4100_2000]);
    }
}
