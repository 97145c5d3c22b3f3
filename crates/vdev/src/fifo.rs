//! [`ByteFifo`]: the receive FIFO of the UART models, a ring of at most `N` bytes that a
//! device may use with a smaller depth (a 1-byte holding register with its FIFO off).

/// A ring of at most `N` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteFifo<const N: usize> {
    buf: [u8; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Default for ByteFifo<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ByteFifo<N> {
    /// An empty FIFO.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    /// Appends `byte` unless the FIFO holds `depth` bytes (or `N`) already.
    pub fn push(&mut self, byte: u8, depth: usize) -> bool {
        if self.len >= depth.min(N) {
            return false;
        }
        let Some(slot) = self.buf.get_mut((self.head + self.len) % N) else {
            return false;
        };
        *slot = byte;
        self.len += 1;
        true
    }

    /// Takes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.buf.get(self.head).copied();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        byte
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Bytes held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_order_depth_and_wrap() {
        let mut f = ByteFifo::<4>::new();
        assert!(f.push(1, 1));
        assert!(!f.push(2, 1), "depth 1 holds one");
        assert_eq!((f.pop(), f.pop()), (Some(1), None));
        for round in 0..3u8 {
            for b in 0..4 {
                assert!(f.push(round * 4 + b, 16), "N bounds a larger depth");
            }
            assert!(!f.push(0xff, 16));
            for b in 0..4 {
                assert_eq!(f.pop(), Some(round * 4 + b));
            }
        }
        f.push(9, 4);
        f.clear();
        assert!(f.is_empty() && f.pop().is_none());
    }
}
