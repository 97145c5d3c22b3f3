//! Console multiplexing: each VM's output is collected line by line so that lines from
//! different VMs never interleave on the physical UART (`live.rs`: the terminal they
//! share). A VM's [`Console`] is its emulated UART (either model, `uart.rs`), the line
//! being assembled and the typed input waiting for room.

mod esc;
mod live;
mod uart;

pub use esc::EscFilter;
pub use live::Terminal;
pub use uart::{UartModel, VUart};

/// Longest line kept before it is flushed without a newline.
pub const LINE_MAX: usize = 200;

/// A line being assembled from a VM's transmitted bytes.
#[derive(Debug)]
pub struct LineBuf {
    buf: [u8; LINE_MAX],
    len: usize,
    esc: EscFilter,
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuf {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_MAX],
            len: 0,
            esc: EscFilter::new(),
        }
    }

    /// Forgets any partial line (VM restart).
    pub fn clear(&mut self) {
        self.len = 0;
        self.esc.reset();
    }

    /// Adds one byte; calls `flush` with a complete line (without its newline) when the
    /// byte ends it or the buffer is full. Carriage returns and terminal escape
    /// sequences ([`EscFilter`]: CSI such as a shell's cursor query, OSC, ...) are
    /// dropped, a backspace removes the last byte; other control bytes except tab are
    /// shown as `?`, so a guest cannot drive the host terminal.
    pub fn push(&mut self, byte: u8, flush: &mut dyn FnMut(&[u8])) {
        let Some(byte) = self.esc.pass(byte) else {
            return;
        };
        match byte {
            b'\n' => {
                flush(&self.buf[..self.len]);
                self.len = 0;
                return;
            }
            b'\r' => return,
            // Backspace takes back the last character (a shell erasing one).
            0x08 => {
                self.len = self.len.saturating_sub(1);
                return;
            }
            _ => {}
        }
        let shown = if byte == b'\t' || (0x20..0x7f).contains(&byte) {
            byte
        } else {
            b'?'
        };
        if self.len == LINE_MAX {
            flush(&self.buf[..self.len]);
            self.len = 0;
        }
        self.buf[self.len] = shown;
        self.len += 1;
    }

    /// Bytes of the partial line.
    pub fn pending(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The emulated console of a VM: its UART model, the line being assembled and the
/// input waiting.
#[derive(Debug)]
pub struct Console {
    /// The device model.
    pub uart: VUart,
    /// The partial output line.
    pub line: LineBuf,
    /// Typed input the UART has no room for yet.
    pub input: InputRing,
}

impl Console {
    /// A console with a UART of `model`, in reset state.
    pub const fn new(model: UartModel) -> Self {
        Self::with(VUart::new(model))
    }

    /// A console of a VM never loaded ([`VUart::unloaded`]); [`Console::reset`] at the
    /// VM's load gives its UART the reset values.
    pub const fn unloaded(model: UartModel) -> Self {
        Self::with(VUart::unloaded(model))
    }

    const fn with(uart: VUart) -> Self {
        Self {
            uart,
            line: LineBuf::new(),
            input: InputRing::new(),
        }
    }

    /// Moves waiting input into the UART while it has room.
    pub fn refill(&mut self) {
        while let Some(b) = self.input.peek() {
            if !self.uart.receive(b) {
                break;
            }
            self.input.pop();
        }
    }

    /// Back to reset state (VM restart): the UART, the partial line, waiting input.
    pub fn reset(&mut self) {
        self.uart.reset();
        self.line.clear();
        self.input.clear();
    }
}

/// Bytes typed for a VM that its UART's receive FIFO has no room for yet.
pub const INPUT_MAX: usize = 256;

/// A FIFO of console input waiting for the guest to read its UART.
#[derive(Debug)]
pub struct InputRing {
    buf: [u8; INPUT_MAX],
    head: usize,
    len: usize,
}

impl Default for InputRing {
    fn default() -> Self {
        Self::new()
    }
}

impl InputRing {
    /// An empty ring.
    pub const fn new() -> Self {
        Self {
            buf: [0; INPUT_MAX],
            head: 0,
            len: 0,
        }
    }

    /// Appends `byte`; `false` (dropped) when full.
    pub fn push(&mut self, byte: u8) -> bool {
        if self.len == INPUT_MAX {
            return false;
        }
        self.buf[(self.head + self.len) % INPUT_MAX] = byte;
        self.len += 1;
        true
    }

    /// The oldest byte, if any.
    pub fn peek(&self) -> Option<u8> {
        (self.len > 0).then(|| self.buf[self.head])
    }

    /// Removes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.head = (self.head + 1) % INPUT_MAX;
        self.len -= 1;
        Some(b)
    }

    /// Forgets everything (VM restart).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn feed(lb: &mut LineBuf, s: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in s {
            lb.push(b, &mut |l| out.push(l.to_vec()));
        }
        out
    }

    #[test]
    fn lines_are_split_on_newline_and_cr_dropped() {
        let mut lb = LineBuf::new();
        let out = feed(&mut lb, b"hello\r\nworld\npart");
        assert_eq!(out, [b"hello".to_vec(), b"world".to_vec()]);
        assert_eq!(lb.pending(), b"part");
    }

    #[test]
    fn long_line_is_flushed_in_pieces() {
        let mut lb = LineBuf::new();
        let long = [b'x'; LINE_MAX + 5];
        let out = feed(&mut lb, &long);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), LINE_MAX);
        assert_eq!(lb.pending().len(), 5);
    }

    #[test]
    fn input_ring_is_fifo_and_bounded() {
        let mut r = InputRing::new();
        assert_eq!(r.pop(), None);
        for i in 0..INPUT_MAX + 3 {
            assert_eq!(r.push(i as u8), i < INPUT_MAX);
        }
        assert_eq!(r.len(), INPUT_MAX);
        assert_eq!(r.pop(), Some(0));
        assert!(r.push(7));
        for i in 1..INPUT_MAX {
            assert_eq!(r.pop(), Some(i as u8));
        }
        assert_eq!(r.pop(), Some(7));
        assert!(r.is_empty());
        r.push(1);
        r.clear();
        assert_eq!(r.peek(), None);
    }

    #[test]
    fn backspace_takes_back_a_character() {
        let mut lb = LineBuf::new();
        let out = feed(&mut lb, b"# lx\x08s\x08\x08\x08\x08\x08ok\n");
        assert_eq!(out, [b"ok".to_vec()]);
    }

    #[test]
    fn control_bytes_are_neutralized() {
        let mut lb = LineBuf::new();
        let out = feed(&mut lb, b"a\x1b[2Jb\tc\x07\x1b[6n\x1bcd\n");
        assert_eq!(out, [b"ab\tc?d".to_vec()]);
        // An unterminated sequence ends at the newline, which still ends the line.
        let out = feed(&mut lb, b"x\x1b[12\ny\n");
        assert_eq!(out, [b"x".to_vec(), b"y".to_vec()]);
        // An OSC (a window title) goes whole, whether BEL or ST ends it.
        let out = feed(&mut lb, b"a\x1b]0;title\x07b\x1b]2;t\x1b\\c\n");
        assert_eq!(out, [b"abc".to_vec()]);
    }
}
