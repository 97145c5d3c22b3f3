//! Which parts of a VM's RAM its (re)load zeroes: everything the images it copies
//! (kernel, initrd, device tree) do not cover, so that each byte is written once.

/// The parts of `[base, base + size)` that none of the half-open ranges `covered`
/// overlaps, in address order. `covered` is sorted in place; empty ranges are
/// ignored, and the ranges may overlap each other or reach past either end.
pub fn gaps(
    base: u64,
    size: u64,
    covered: &mut [(u64, u64)],
) -> impl Iterator<Item = (u64, u64)> + '_ {
    covered.sort_unstable();
    let end = base.saturating_add(size);
    let mut at = base;
    let mut ranges = covered.iter().filter(|r| r.1 > r.0);
    core::iter::from_fn(move || loop {
        if at >= end {
            return None;
        }
        let Some(&(s, e)) = ranges.next() else {
            let gap = (at, end - at);
            at = end;
            return Some(gap);
        };
        let (s, e) = (s.clamp(at, end), e.clamp(at, end));
        let gap = (at, s - at);
        at = at.max(e);
        if gap.1 > 0 {
            return Some(gap);
        }
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::gaps;
    use std::vec::Vec;

    fn run(base: u64, size: u64, covered: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut c = covered.to_vec();
        gaps(base, size, &mut c).collect()
    }

    #[test]
    fn the_gaps_are_what_no_image_covers() {
        assert_eq!(run(100, 50, &[]), [(100, 50)]);
        // Kernel at the start, device tree at the end, initrd in between (any order).
        assert_eq!(
            run(100, 100, &[(190, 200), (100, 120), (150, 160)]),
            [(120, 30), (160, 30)]
        );
        // Empty, overlapping, touching and outside ranges.
        assert_eq!(
            run(
                100,
                100,
                &[
                    (0, 0),
                    (130, 140),
                    (135, 150),
                    (150, 155),
                    (50, 105),
                    (250, 300)
                ]
            ),
            [(105, 25), (155, 45)]
        );
        assert_eq!(run(100, 100, &[(0, 500)]), []);
        assert_eq!(run(100, 0, &[]), []);
    }

    #[test]
    fn gaps_and_ranges_cover_each_byte_once() {
        // Brute force over small layouts: a byte is in exactly one gap iff no range
        // covers it.
        let layouts: [&[(u64, u64)]; 4] = [
            &[(3, 7)],
            &[(0, 2), (2, 4), (9, 12)],
            &[(5, 5), (1, 11), (4, 6)],
            &[(8, 20), (0, 1)],
        ];
        for covered in layouts {
            let g = run(0, 10, covered);
            for b in 0..10u64 {
                let in_gaps = g.iter().filter(|&&(s, n)| s <= b && b < s + n).count();
                let in_ranges = covered.iter().any(|&(s, e)| s <= b && b < e);
                assert_eq!(in_gaps, usize::from(!in_ranges), "byte {b} of {covered:?}");
            }
        }
    }
}
