//! Shell input: the bytes typed on the console while the shell has it, edited into
//! command lines that are echoed and executed.
//!
//! Enter (CR or LF) ends a line; an empty line does nothing. Backspace and DEL (what
//! terminals send for the erase key) take back the last character; terminal escape
//! sequences (arrow keys, a terminal's answers to queries) are dropped whole; other
//! control bytes are ignored and a tab counts as a space. A line longer than
//! [`COMMAND_MAX`] bytes is refused whole, with one message when it ends: a paste is
//! never cut into pieces that each run as a command.

use crate::{execute, ShellOps};
use rtvisor_core::console::EscFilter;

/// Longest command line, in bytes.
pub const COMMAND_MAX: usize = 200;

/// The command line being typed.
#[derive(Debug)]
pub struct Input {
    buf: [u8; COMMAND_MAX],
    /// Bytes in the line so far; past [`COMMAND_MAX`] only the first ones are kept.
    typed: usize,
    esc: EscFilter,
}

impl Default for Input {
    fn default() -> Self {
        Self::new()
    }
}

impl Input {
    /// Nothing typed yet.
    pub const fn new() -> Self {
        Self {
            buf: [0; COMMAND_MAX],
            typed: 0,
            esc: EscFilter::new(),
        }
    }

    /// Takes one typed byte; a byte that ends a line echoes it as `> line` and runs it.
    pub fn feed(&mut self, byte: u8, ops: &dyn ShellOps) {
        let Some(byte) = self.esc.pass(byte) else {
            return;
        };
        match byte {
            b'\r' | b'\n' => self.end(ops),
            0x08 | 0x7f => self.erase(),
            b'\t' => self.push(b' '),
            0x00..=0x1f => {}
            _ => self.push(byte),
        }
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.typed) {
            *slot = byte;
        }
        self.typed = self.typed.saturating_add(1);
    }

    /// Takes back the last character (all bytes of a UTF-8 one).
    fn erase(&mut self) {
        if self.typed > COMMAND_MAX {
            self.typed -= 1;
            return;
        }
        while self.typed > 0 {
            self.typed -= 1;
            // A UTF-8 continuation byte is part of the character before it.
            if self.buf[self.typed] & 0xc0 != 0x80 {
                break;
            }
        }
    }

    fn end(&mut self, ops: &dyn ShellOps) {
        let typed = core::mem::take(&mut self.typed);
        if typed > COMMAND_MAX {
            ops.out(format_args!(
                "line too long ({typed} bytes, at most {COMMAND_MAX}): ignored"
            ));
            return;
        }
        match core::str::from_utf8(&self.buf[..typed]) {
            Ok(line) if line.trim_ascii().is_empty() => {}
            Ok(line) => {
                ops.out(format_args!("> {line}"));
                execute(line, ops);
            }
            Err(_) => ops.out(format_args!("input is not UTF-8: ignored")),
        }
    }
}
