//! Terminal escape sequences, recognised so that they can be dropped whole: from a
//! guest's output (so it cannot drive the host terminal) and from typed input (the
//! keys a terminal sends as sequences: arrows, function keys, its answers to
//! queries).

/// Where the filter is in an escape sequence (ECMA-48).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not in one.
    Text,
    /// After ESC.
    Esc,
    /// In a control sequence `ESC [`, until its final byte (0x40..=0x7e).
    Csi,
    /// In an operating system command `ESC ]`, until BEL or ST (`ESC \`).
    Osc,
    /// After ESC inside an OSC: `\` ends it, anything else starts a new sequence.
    OscEsc,
    /// After `ESC O` (SS3): one more byte (keypad and cursor keys).
    Ss3,
    /// After ESC and intermediate bytes (0x20..=0x2f), until a final byte.
    Intermediate,
}

/// Passes the bytes of a stream that are not part of an escape sequence.
///
/// A newline or carriage return ends any sequence and passes (a line is never lost to
/// an unterminated sequence); CAN and SUB cancel a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscFilter {
    state: State,
}

impl Default for EscFilter {
    fn default() -> Self {
        Self::new()
    }
}

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;

impl EscFilter {
    /// Outside any sequence.
    pub const fn new() -> Self {
        Self { state: State::Text }
    }

    /// Forgets a sequence in progress.
    pub fn reset(&mut self) {
        self.state = State::Text;
    }

    /// `Some(byte)` when `byte` is text, `None` when it belongs to a sequence.
    ///
    /// One copy, called by a VM's console and by the shell's input: inlined into the
    /// console's byte path, it changes the register use of the emulated-device
    /// dispatch around it (`devices::emulate`), which the exit paths share.
    #[inline(never)]
    pub fn pass(&mut self, byte: u8) -> Option<u8> {
        use State::*;
        if self.state != Text && matches!(byte, b'\n' | b'\r' | CAN | SUB) {
            self.state = Text;
            return (!matches!(byte, CAN | SUB)).then_some(byte);
        }
        self.state = match (self.state, byte) {
            (Text, ESC) => Esc,
            (Text, _) => return Some(byte),
            (Esc | OscEsc, b'[') => Csi,
            (Esc | OscEsc, b']') => Osc,
            (Esc | OscEsc, b'O') => Ss3,
            (OscEsc, b'\\') => Text,
            (Esc | OscEsc | Intermediate, 0x20..=0x2f) => Intermediate,
            (_, ESC) if self.state != Osc => Esc,
            (Csi, 0x20..=0x3f) => Csi,
            (Osc, BEL) => Text,
            (Osc, ESC) => OscEsc,
            (Osc, _) => Osc,
            // The final byte of a sequence, or the one byte after ESC (or SS3).
            (Esc | OscEsc | Csi | Ss3 | Intermediate, _) => Text,
        };
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn text(bytes: &[u8]) -> Vec<u8> {
        let mut f = EscFilter::new();
        bytes.iter().filter_map(|&b| f.pass(b)).collect()
    }

    #[test]
    fn sequences_go_whole_and_text_stays() {
        assert_eq!(text(b"a\x1b[1;31mb\x1b[0mc"), b"abc"); // SGR colours
        assert_eq!(text(b"a\x1b(Bb\x1b#8c"), b"abc"); // charset, intermediates
        assert_eq!(text(b"a\x1b]8;;http://x\x1b\\b\x1b]8;;\x1b\\c"), b"abc"); // OSC 8 link
        assert_eq!(text(b"a\x1bOPb\x1b=c"), b"abc"); // F1 (SS3), keypad mode
                                                     // An ESC inside a CSI starts a new sequence; CAN cancels one.
        assert_eq!(text(b"a\x1b[12\x1b[Kb\x1b[3\x18c"), b"abc");
        // A line end always passes and ends the sequence.
        assert_eq!(text(b"a\x1b]0;x\nb\x1b[\rc"), b"a\nb\rc");
    }
}
