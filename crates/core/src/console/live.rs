//! The physical terminal shared by every VM's console lines and the hypervisor's
//! messages.
//!
//! The VM with the console input has its partial line (a prompt, what is typed at it)
//! shown as it grows, on the terminal's last line. Anything else printed meanwhile
//! first erases that line (CR, then `ESC [ K`: erase to the end of the line), is
//! printed, and the partial line is drawn again below it; its complete line then only
//! adds what is not shown yet. So what is typed appears once, and lines from
//! different sources never mix. If the VM lost the console input meanwhile, its
//! partial line is not drawn again: the complete line is printed whole when it comes.
//! A reader of the raw byte stream (a log) takes the text after the last `CR ESC [ K`
//! of a line as that line.

use super::LINE_MAX;
use crate::ids::VmId;

/// Erases the terminal's current line.
pub const ERASE_LINE: &[u8] = b"\r\x1b[K";

/// What the terminal shows: whole lines, and at most one partial line.
#[derive(Debug)]
pub struct Terminal {
    open: Option<Open>,
    /// Whether `open` is erased for a moment (between `suspend` and `resume`).
    hidden: bool,
}

/// The partial line on the terminal.
#[derive(Debug)]
struct Open {
    vm: VmId,
    name: &'static str,
    /// What is shown after the `[name] ` prefix.
    text: [u8; LINE_MAX],
    len: usize,
}

impl Open {
    fn shown(&self) -> &[u8] {
        &self.text[..self.len]
    }
    fn draw(&self, out: &mut dyn FnMut(&[u8])) {
        prefixed(self.name, self.shown(), out);
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

impl Terminal {
    /// A terminal with no partial line.
    pub const fn new() -> Self {
        Self {
            open: None,
            hidden: false,
        }
    }

    /// Before printing something that is not the partial line's VM's: erases the
    /// partial line.
    pub fn suspend(&mut self, out: &mut dyn FnMut(&[u8])) {
        if self.open.is_some() && !self.hidden {
            out(ERASE_LINE);
            self.hidden = true;
        }
    }

    /// After it: draws the partial line again if its VM still has the console input
    /// (`focus`), else forgets it.
    pub fn resume(&mut self, focus: Option<VmId>, out: &mut dyn FnMut(&[u8])) {
        if !self.hidden {
            return;
        }
        self.hidden = false;
        match &self.open {
            Some(o) if Some(o.vm) == focus => o.draw(out),
            _ => self.open = None,
        }
    }

    /// Prints one complete line of VM `vm` as `[name] text`.
    pub fn vm_line(
        &mut self,
        focus: Option<VmId>,
        vm: VmId,
        name: &str,
        text: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) {
        if let Some(o) = self.open.as_ref().filter(|o| o.vm == vm && !self.hidden) {
            // This VM's partial line is on the terminal: it becomes the line.
            let rest = text.strip_prefix(o.shown());
            if rest.is_none() {
                out(ERASE_LINE);
            }
            match rest {
                Some(rest) => out(rest),
                None => prefixed(name, text, out),
            }
            out(b"\r\n");
            self.open = None;
            return;
        }
        self.suspend(out);
        prefixed(name, text, out);
        out(b"\r\n");
        self.resume(focus, out);
    }

    /// Shows the partial line `pending` of VM `vm`, which has the console input: what
    /// is not on the terminal yet is added, a shortened line (backspace) is erased
    /// back.
    pub fn vm_partial(
        &mut self,
        vm: VmId,
        name: &'static str,
        pending: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) {
        let pending = &pending[..pending.len().min(LINE_MAX)];
        let o = match &mut self.open {
            Some(o) if o.vm == vm && !self.hidden => o,
            _ => {
                if pending.is_empty() {
                    return;
                }
                // Another VM's partial line (it lost the input) goes.
                self.suspend(out);
                self.hidden = false;
                prefixed(name, &[], out);
                self.open.insert(Open {
                    vm,
                    name,
                    text: [0; LINE_MAX],
                    len: 0,
                })
            }
        };
        let same = o
            .shown()
            .iter()
            .zip(pending)
            .take_while(|(a, b)| a == b)
            .count();
        for _ in same..o.len {
            out(b"\x08 \x08");
        }
        out(&pending[same..]);
        o.text[same..pending.len()].copy_from_slice(&pending[same..]);
        o.len = pending.len();
    }
}

/// `[name] text`.
fn prefixed(name: &str, text: &[u8], out: &mut dyn FnMut(&[u8])) {
    out(b"[");
    out(name.as_bytes());
    out(b"] ");
    out(text);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// A terminal screen: what a user sees after the bytes (CR, LF, backspace and
    /// erase-to-end-of-line are what the hypervisor sends besides text).
    #[derive(Default)]
    struct Screen {
        rows: Vec<Vec<u8>>,
        col: usize,
        esc: Vec<u8>,
    }

    impl Screen {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                if self.rows.is_empty() {
                    self.rows.push(Vec::new());
                }
                let row = self.rows.last_mut().unwrap();
                if !self.esc.is_empty() || b == 0x1b {
                    self.esc.push(b);
                    if self.esc == b"\x1b[K" {
                        row.truncate(self.col);
                        self.esc.clear();
                    }
                    assert!(self.esc.len() < 3, "unexpected escape {:?}", self.esc);
                    continue;
                }
                match b {
                    b'\r' => self.col = 0,
                    b'\n' => {
                        self.rows.push(Vec::new());
                        self.col = 0;
                    }
                    0x08 => self.col = self.col.saturating_sub(1),
                    _ => {
                        if self.col < row.len() {
                            row[self.col] = b;
                        } else {
                            row.push(b);
                        }
                        self.col += 1;
                    }
                }
            }
        }
        fn lines(&self) -> Vec<String> {
            let mut v: Vec<String> = self
                .rows
                .iter()
                .map(|r| String::from_utf8_lossy(r).trim_end().into())
                .collect();
            if v.last().is_some_and(|l| l.is_empty()) {
                v.pop();
            }
            v
        }
    }

    const LINUX: VmId = VmId::new(1);
    const RT: VmId = VmId::new(0);

    struct Setup {
        t: Terminal,
        screen: Screen,
    }

    impl Setup {
        fn new() -> Self {
            Self {
                t: Terminal::new(),
                screen: Screen::default(),
            }
        }
        /// Linux (with the console input) has `pending` as its partial line.
        fn partial(&mut self, pending: &str) {
            let s = &mut self.screen;
            self.t
                .vm_partial(LINUX, "linux", pending.as_bytes(), &mut |b| s.write(b));
        }
        fn vm_line(&mut self, focus: Option<VmId>, vm: VmId, text: &str) {
            let s = &mut self.screen;
            let name = ["rt", "linux"][vm.index()];
            self.t
                .vm_line(focus, vm, name, text.as_bytes(), &mut |b| s.write(b));
        }
        /// A hypervisor message.
        fn message(&mut self, focus: Option<VmId>, text: &str) {
            let s = &mut self.screen;
            self.t.suspend(&mut |b| s.write(b));
            s.write(std::format!("[rtvisor] {text}\r\n").as_bytes());
            self.t.resume(focus, &mut |b| s.write(b));
        }
    }

    #[test]
    fn typed_text_shows_once_when_other_lines_come_between() {
        let mut s = Setup::new();
        s.partial("# ");
        s.partial("# l");
        s.vm_line(Some(LINUX), RT, "tick 1");
        s.partial("# ls");
        s.message(Some(LINUX), "note");
        s.vm_line(Some(LINUX), LINUX, "# ls");
        assert_eq!(
            s.screen.lines(),
            ["[rt] tick 1", "[rtvisor] note", "[linux] # ls"]
        );
    }

    #[test]
    fn the_prompt_stays_on_the_last_line() {
        let mut s = Setup::new();
        s.partial("# ");
        s.vm_line(Some(LINUX), RT, "tick 1");
        s.vm_line(Some(LINUX), RT, "tick 2");
        assert_eq!(
            s.screen.lines(),
            ["[rt] tick 1", "[rt] tick 2", "[linux] #"]
        );
        s.partial("# x");
        s.partial("# ");
        s.partial("# ok");
        s.vm_line(Some(LINUX), LINUX, "# ok");
        s.vm_line(Some(LINUX), LINUX, "done");
        assert_eq!(
            s.screen.lines(),
            ["[rt] tick 1", "[rt] tick 2", "[linux] # ok", "[linux] done"]
        );
    }

    #[test]
    fn a_vm_that_loses_the_input_has_its_line_printed_whole_once() {
        let mut s = Setup::new();
        s.partial("# l");
        s.message(None, "console input back to the shell");
        s.vm_line(None, RT, "tick");
        s.vm_line(None, LINUX, "# ls");
        assert_eq!(
            s.screen.lines(),
            [
                "[rtvisor] console input back to the shell",
                "[rt] tick",
                "[linux] # ls"
            ]
        );
    }
}
