//! Shell input: the bytes typed on the console while the shell has it, edited into
//! command lines that are echoed and executed.

use super::{execute, ShellOps};
use crate::console::{LineBuf, LINE_MAX};

/// Longest command line, in bytes.
pub const COMMAND_MAX: usize = LINE_MAX;

/// The command line being typed.
#[derive(Debug, Default)]
pub struct Input {
    line: LineBuf,
}

impl Input {
    /// Nothing typed yet.
    pub const fn new() -> Self {
        Self {
            line: LineBuf::new(),
        }
    }

    /// Takes one typed byte; a byte that ends a line echoes it as `> line` and runs it.
    pub fn feed(&mut self, byte: u8, ops: &dyn ShellOps) {
        let b = if byte == b'\r' { b'\n' } else { byte };
        self.line.push(b, &mut |l: &[u8]| {
            let line = core::str::from_utf8(l).unwrap_or("");
            ops.out(format_args!("> {line}"));
            execute(line, ops);
        });
    }
}
