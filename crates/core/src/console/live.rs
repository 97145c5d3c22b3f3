//! The physical terminal shared by every VM's console lines and the hypervisor's
//! messages. The VM with the console input has its partial line (a prompt, what is
//! typed at it) shown as it grows; anything else printed first ends that line.

/// What the terminal shows: whole lines, and at most one open partial line.
#[derive(Debug)]
pub struct Terminal {
    /// The VM whose partial line is on the terminal's last line, if any.
    vm: Option<usize>,
    /// Bytes of it on the terminal, after the `[name] ` prefix.
    shown: usize,
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

impl Terminal {
    /// A terminal with no open line.
    pub const fn new() -> Self {
        Self { vm: None, shown: 0 }
    }

    /// Before a line that is not the open VM's is printed.
    pub fn suspend(&mut self, out: &mut dyn FnMut(&[u8])) {
        if self.vm.take().is_some() {
            out(b"\r\n");
            self.shown = 0;
        }
    }

    /// After such a line; `focus` is the VM that has the console input.
    pub fn resume(&mut self, _focus: Option<usize>, _out: &mut dyn FnMut(&[u8])) {}

    /// Prints one complete line of VM `vm` as `[name] text`.
    pub fn vm_line(
        &mut self,
        focus: Option<usize>,
        vm: usize,
        name: &str,
        text: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) {
        if self.vm == Some(vm) && self.shown <= text.len() {
            out(&text[self.shown..]);
            self.vm = None;
            self.shown = 0;
        } else {
            self.suspend(out);
            prefixed(name, text, out);
            self.resume(focus, out);
        }
        out(b"\r\n");
    }

    /// Shows the partial line `pending` of VM `vm` (it has the console input) as far
    /// as it is not on the terminal yet; a shortened line (backspace) is erased back.
    pub fn vm_partial(
        &mut self,
        vm: usize,
        name: &str,
        pending: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) {
        if self.vm != Some(vm) {
            if pending.is_empty() {
                return;
            }
            self.suspend(out);
            prefixed(name, &[], out);
            self.vm = Some(vm);
            self.shown = 0;
        }
        while self.shown > pending.len() {
            out(b"\x08 \x08");
            self.shown -= 1;
        }
        out(&pending[self.shown..]);
        self.shown = pending.len();
    }
}

/// `[name] text`.
fn prefixed(name: &str, text: &[u8], out: &mut dyn FnMut(&[u8])) {
    out(b"[");
    out(name.as_bytes());
    out(b"] ");
    out(text);
}
