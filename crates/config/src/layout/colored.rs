//! Host RAM of colored VMs.
//!
//! Every colored VM takes its pages from one *colored area*: a host region placed
//! first fit (2 MiB aligned, so aligned to a period of every board) before the
//! uncolored VMs. With `[hypervisor] colors`, the hypervisor's translation tables
//! (its whole table pool) take the area's first pages of its colors. The area is counted in periods (one page of each color); the
//! allocator gives a VM the same periods in each of its colors, after the last period
//! any of them already gave:
//!
//! ```text
//!   period   0    1    2    3    4  ...
//!   rt  0-3  rt   rt   rt   rt          (4 colors of 16, 4 periods: 16 pages)
//!   gp  4-15 gp   gp   gp               (12 colors, 3 periods: 36 pages)
//! ```
//!
//! Pages of colors no VM has are left unused (the area is as long as the VM that
//! needs the most periods of a color); so are those a VM's last period does not need.

use super::{first_fit, BLOCK};
use crate::coloring::{Coloring, PAGE};
use crate::contract::aarch64::HV_POOL_SIZE;
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::size::human;
use crate::tables::HvPages;
use crate::validate::colors::{color_count, parse_colors};
use rtvisor_addr::Hpa;

/// Gives each color its periods in turn.
#[derive(Debug, Clone)]
pub struct ColorAllocator {
    count: u8,
    /// The first free period of each color.
    next: [u64; 64],
}

impl ColorAllocator {
    /// An empty area of a board with `count` colors (1..=64).
    pub fn new(count: u8) -> Self {
        Self {
            count,
            next: [0; 64],
        }
    }

    /// `pages` pages of the colors in `mask` (non-zero, within the board's colors):
    /// the VM's first period; its guest page `k` is [`Coloring::page`] from there.
    pub fn alloc(&mut self, mask: u64, pages: u64) -> u64 {
        let own = u64::from(mask.count_ones());
        let periods = pages.div_ceil(own);
        let colors = (0..usize::from(self.count)).filter(|&c| mask & (1 << c) != 0);
        let start = colors.clone().map(|c| self.next[c]).max().unwrap_or(0);
        for c in colors {
            self.next[c] = start + periods;
        }
        start
    }

    /// Periods the area needs so far.
    pub fn periods(&self) -> u64 {
        self.next.iter().copied().max().unwrap_or(0)
    }

    /// Bytes of one period.
    pub fn period(&self) -> u64 {
        u64::from(self.count) * PAGE
    }
}

/// The colored area's pages: the hypervisor's (`[hypervisor] colors`) and each VM's
/// (`None` for an uncolored one).
#[derive(Debug, Default)]
pub(super) struct Placed {
    /// The hypervisor's table pages.
    pub hv: Option<HvPages>,
    /// Each VM's: the host start of its first period and its coloring.
    pub vms: Vec<Option<(u64, Coloring)>>,
}

/// Places the colored area, the hypervisor's pages first (it allocates before any VM
/// runs), then each colored VM's, and pushes the area into `taken`. `None` after an
/// error.
pub(super) fn place(
    inp: &Inputs,
    banks: &[(u64, u64)],
    taken: &mut Vec<(u64, u64)>,
    out: &mut Vec<Diagnostic>,
) -> Option<Placed> {
    let vms = &inp.scenario.vm;
    let hv_colors = inp.scenario.hypervisor.colors.as_ref();
    if hv_colors.is_none() && vms.iter().all(|vm| vm.colors.is_none()) {
        return Some(Placed {
            hv: None,
            vms: vec![None; vms.len()],
        });
    }
    // Reported by validate: no [llc], a malformed one, a bad list.
    let count = u8::try_from(inp.board.llc.as_ref().and_then(color_count)?).ok()?;
    let mut alloc = ColorAllocator::new(count);
    let hv = match hv_colors {
        Some(c) => {
            let mask = parse_colors(c.get_ref(), u32::from(count)).ok()?;
            Some((alloc.alloc(mask, HV_POOL_SIZE / PAGE), mask))
        }
        None => None,
    };
    let mut firsts = Vec::new();
    for vm in vms {
        let Some(colors) = &vm.colors else {
            firsts.push(None);
            continue;
        };
        let mask = parse_colors(colors.get_ref(), u32::from(count)).ok()?;
        let pages = vm.memory.size.get_ref().0 / PAGE;
        firsts.push(Some((alloc.alloc(mask, pages), mask)));
    }
    let size = alloc.periods() * alloc.period();
    let Some(area) = first_fit(banks, taken, size, BLOCK.max(alloc.period())) else {
        let first = hv_colors.or_else(|| vms.iter().find_map(|vm| vm.colors.as_ref()))?;
        let msg = format!(
            "no room for the colored pages: their colors need a host region of {} \
             (each VM spans its size x {count} / the number of its colors; the \
             hypervisor's tables {} x {count} / the number of its colors)",
            human(size),
            human(HV_POOL_SIZE)
        );
        let hint = "give colored VMs more colors or less memory, or the other VMs less; \
                    `rtvisor check` prints the map";
        out.push(inp.scenario_src.diag(first.span(), msg, hint.into()));
        return None;
    };
    taken.push((area, size));
    let period = alloc.period();
    let at = |start: u64, mask: u64| (area + start * period, Coloring { count, mask });
    Some(Placed {
        hv: hv.map(|(start, mask)| {
            let (hpa, colors) = at(start, mask);
            HvPages {
                hpa: Hpa::new(hpa),
                size: HV_POOL_SIZE,
                colors,
            }
        }),
        vms: firsts
            .into_iter()
            .map(|f| f.map(|(start, mask)| at(start, mask)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coloring::Coloring;
    use crate::tables::RamMap;
    use rtvisor_addr::{Hpa, Ipa};
    use std::collections::BTreeMap;

    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Random VMs, overlapping colors or not, in one area: each page of each VM is of
    /// its colors, inside the area, and no page goes to two VMs.
    #[test]
    fn vms_in_one_area_never_share_a_page() {
        let mut s = 0x2545_f491_4f6c_dd1d;
        for case in 0..200 {
            let count = 1u8 << (1 + rng(&mut s) % 6);
            let mut alloc = ColorAllocator::new(count);
            let mut vms = Vec::new();
            for _ in 0..1 + rng(&mut s) % 5 {
                let all = u64::MAX >> (64 - u32::from(count));
                let mask = (rng(&mut s) & all).max(1);
                let pages = 1 + rng(&mut s) % 300;
                vms.push((alloc.alloc(mask, pages), mask, pages));
            }
            let area = 0x4000_0000;
            let end = area + alloc.periods() * alloc.period();
            let mut owner = BTreeMap::new();
            for (i, &(first, mask, pages)) in vms.iter().enumerate() {
                let ram = RamMap {
                    ipa: Ipa::new(0x4000_0000),
                    hpa: Hpa::new(area + first * alloc.period()),
                    size: pages * PAGE,
                    colors: Some(Coloring { count, mask }),
                    low: None,
                };
                for run in ram.runs() {
                    for p in 0..run.size / PAGE {
                        let hpa = run.hpa.raw() + p * PAGE;
                        assert!(hpa >= area && hpa < end, "case {case}: outside the area");
                        let color = Coloring::color_of(count, hpa);
                        assert!(mask & (1 << color) != 0, "case {case}: wrong color");
                        if let Some(j) = owner.insert(hpa, i) {
                            panic!("case {case}: page {hpa:#x} given to VMs {j} and {i}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shared_colors_take_later_periods() {
        let mut a = ColorAllocator::new(16);
        assert_eq!(a.alloc(0xf, 16), 0);
        assert_eq!(a.alloc(0xfff0, 36), 0);
        // Colors 3-4 overlap both: after the first VM's 4 periods.
        assert_eq!(a.alloc(0x18, 4), 4);
        assert_eq!(a.periods(), 6);
    }
}
