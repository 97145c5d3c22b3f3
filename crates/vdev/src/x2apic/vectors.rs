//! The 256-bit vector sets of an x2APIC (IRR, ISR, TMR).

/// 256 bits, one per vector, and which of their eight words are not zero (so the
/// highest vector is found without a scan: it is looked up before every entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vectors {
    words: [u32; 8],
    /// Bit n: word n is not zero.
    busy: u8,
}

impl Vectors {
    /// No vector set.
    pub const EMPTY: Vectors = Vectors {
        words: [0; 8],
        busy: 0,
    };
    /// Bit n: word n is not zero.
    pub const fn busy(&self) -> u8 {
        self.busy
    }
    /// Word `n` (vectors `32n..32n+31`); 0 past the last.
    pub fn word(&self, n: usize) -> u32 {
        self.words.get(n).copied().unwrap_or(0)
    }
    /// Sets word `n` (vectors `32n..32n+31`) to `w`.
    pub fn set_word(&mut self, n: usize, w: u32) {
        if let Some(x) = self.words.get_mut(n) {
            *x = w;
            if w != 0 {
                self.busy |= 1 << n;
            } else {
                self.busy &= !(1 << n);
            }
        }
    }
    /// Sets or clears vector `v`.
    pub fn set(&mut self, v: u8, on: bool) {
        let n = usize::from(v / 32);
        if let Some(w) = self.words.get_mut(n) {
            let bit = 1u32 << (v % 32);
            *w = if on { *w | bit } else { *w & !bit };
            if *w != 0 {
                self.busy |= 1 << n;
            } else {
                self.busy &= !(1 << n);
            }
        }
    }
    /// Whether vector `v` is set.
    pub fn get(&self, v: u8) -> bool {
        self.word(usize::from(v / 32)) & (1 << (v % 32)) != 0
    }
    /// The highest vector set.
    pub fn highest(&self) -> Option<u8> {
        if self.busy == 0 {
            return None;
        }
        let n = 7 - self.busy.leading_zeros();
        let w = self.word(n as usize);
        (w != 0).then(|| (n * 32 + 31 - w.leading_zeros()) as u8)
    }
}
