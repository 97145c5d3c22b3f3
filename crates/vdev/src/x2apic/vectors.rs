//! The 256-bit vector sets of IRR, ISR and TMR.

/// 256 bits, one per vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vectors(pub(super) [u32; 8]);

impl Vectors {
    pub(super) fn word(&self, n: usize) -> u32 {
        self.0.get(n).copied().unwrap_or(0)
    }
    pub(super) fn set(&mut self, v: u8, on: bool) {
        if let Some(w) = self.0.get_mut(usize::from(v / 32)) {
            let bit = 1u32 << (v % 32);
            *w = if on { *w | bit } else { *w & !bit };
        }
    }
    /// Whether vector `v` is set.
    pub fn get(&self, v: u8) -> bool {
        self.word(usize::from(v / 32)) & (1 << (v % 32)) != 0
    }
    /// The highest vector set.
    pub fn highest(&self) -> Option<u8> {
        (0..8usize).rev().find_map(|n| {
            let w = self.word(n);
            (w != 0).then(|| (n as u32 * 32 + 31 - w.leading_zeros()) as u8)
        })
    }
}
