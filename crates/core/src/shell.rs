//! The hypervisor shell: commands typed on the physical console, described in a table
//! and executed against [`ShellOps`] (the hypervisor's view of its VMs). Parsing and
//! dispatch are here, arch-neutral and host-tested; the hypervisor feeds it lines.

use crate::vm::{StopReason, VmState};
use core::fmt;

/// What the shell needs from the hypervisor.
pub trait ShellOps {
    /// Number of VMs.
    fn vm_count(&self) -> usize;
    /// Name of VM `vm`.
    fn vm_name(&self, vm: usize) -> &str;
    /// State, restart count and last stop reason of VM `vm`.
    fn vm_status(&self, vm: usize) -> (VmState, u32, Option<StopReason>);
    /// Physical CPUs and RAM size (bytes) of VM `vm`.
    fn vm_resources(&self, vm: usize) -> (&[u32], u64);
    /// Stops VM `vm` (no restart policy applies).
    fn stop(&self, vm: usize);
    /// Boots VM `vm` from its images if it is stopped.
    fn start(&self, vm: usize);
    /// Restarts VM `vm` from its images.
    fn restart(&self, vm: usize);
    /// Gives console input to VM `vm` until the escape byte ([`CONSOLE_ESCAPE`]).
    fn console_to(&self, vm: usize);
    /// Prints one line of shell output.
    fn out(&self, args: fmt::Arguments<'_>);
}

/// The byte that takes console input back from a VM to the shell: Ctrl-] (0x1d), as
/// in telnet and `virsh console`.
pub const CONSOLE_ESCAPE: u8 = 0x1d;

/// The hypervisor's version string.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type Handler = fn(&[&str], &dyn ShellOps);

struct Command {
    words: &'static [&'static str],
    args: &'static str,
    help: &'static str,
    run: Handler,
}

const COMMANDS: &[Command] = &[
    Command {
        words: &["help"],
        args: "",
        help: "list the commands",
        run: help,
    },
    Command {
        words: &["version"],
        args: "",
        help: "hypervisor version",
        run: version,
    },
    Command {
        words: &["vm", "list"],
        args: "",
        help: "every VM: state, CPUs, memory, restarts, last stop",
        run: vm_list,
    },
    Command {
        words: &["vm", "info"],
        args: "NAME",
        help: "one VM in detail",
        run: vm_info,
    },
    Command {
        words: &["vm", "start"],
        args: "NAME",
        help: "boot a stopped VM",
        run: vm_start,
    },
    Command {
        words: &["vm", "stop"],
        args: "NAME",
        help: "stop a VM",
        run: vm_stop,
    },
    Command {
        words: &["vm", "restart"],
        args: "NAME",
        help: "restart a VM from its images",
        run: vm_restart,
    },
    Command {
        words: &["vm", "console"],
        args: "NAME",
        help: "type into a VM's console; Ctrl-] comes back",
        run: vm_console,
    },
];

/// Executes one command line.
pub fn execute(line: &str, ops: &dyn ShellOps) {
    let mut words = [""; 8];
    let mut n = 0;
    for w in line.split_whitespace() {
        if n == words.len() {
            ops.out(format_args!("too many words; try `help`"));
            return;
        }
        words[n] = w;
        n += 1;
    }
    if n == 0 {
        return;
    }
    let words = &words[..n];
    let found = COMMANDS
        .iter()
        .find(|c| words.len() >= c.words.len() && words[..c.words.len()] == *c.words);
    match found {
        Some(c) => {
            let args = &words[c.words.len()..];
            let wanted = if c.args.is_empty() { 0 } else { 1 };
            if args.len() != wanted {
                ops.out(format_args!("usage: {}", Usage(c)));
            } else {
                (c.run)(args, ops);
            }
        }
        None => ops.out(format_args!(
            "unknown command `{}`; try `help`",
            Words(words)
        )),
    }
}

fn help(_: &[&str], ops: &dyn ShellOps) {
    for c in COMMANDS {
        ops.out(format_args!("  {:<24} {}", Usage(c), c.help));
    }
}

struct Usage<'a>(&'a Command);

impl fmt::Display for Usage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = heapless_join(self.0.words);
        if !self.0.args.is_empty() {
            s.push(' ');
            s.push_str(self.0.args);
        }
        f.pad(s.as_str())
    }
}

/// A fixed-capacity string, enough for a command's usage.
struct Small {
    buf: [u8; 32],
    len: usize,
}

impl Small {
    fn push(&mut self, c: char) {
        let mut b = [0; 4];
        self.push_str(c.encode_utf8(&mut b));
    }
    fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

fn heapless_join(words: &[&str]) -> Small {
    let mut s = Small {
        buf: [0; 32],
        len: 0,
    };
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(w);
    }
    s
}

fn version(_: &[&str], ops: &dyn ShellOps) {
    ops.out(format_args!("rtvisor {VERSION}"));
}

fn find(name: &str, ops: &dyn ShellOps) -> Option<usize> {
    let vm = (0..ops.vm_count()).find(|&v| ops.vm_name(v) == name);
    if vm.is_none() {
        ops.out(format_args!("no VM named `{name}`; `vm list` shows them"));
    }
    vm
}

fn state_name(s: VmState) -> &'static str {
    match s {
        VmState::Running => "running",
        VmState::Stopped => "stopped",
    }
}

fn vm_list(_: &[&str], ops: &dyn ShellOps) {
    ops.out(format_args!(
        "{:<12} {:<8} {:<10} {:>8} {:>8}  last stop",
        "vm", "state", "cpus", "memory", "restarts"
    ));
    for vm in 0..ops.vm_count() {
        let (state, restarts, last) = ops.vm_status(vm);
        let (cpus, ram) = ops.vm_resources(vm);
        ops.out(format_args!(
            "{:<12} {:<8} {:<10} {:>7}M {:>8}  {}",
            ops.vm_name(vm),
            state_name(state),
            CpuList(cpus),
            ram >> 20,
            restarts,
            LastStop(last)
        ));
    }
}

fn vm_info(args: &[&str], ops: &dyn ShellOps) {
    let Some(vm) = find(args[0], ops) else { return };
    let (state, restarts, last) = ops.vm_status(vm);
    let (cpus, ram) = ops.vm_resources(vm);
    ops.out(format_args!(
        "vm {}: {}",
        ops.vm_name(vm),
        state_name(state)
    ));
    ops.out(format_args!(
        "  cpus {} (vCPU i on the i-th)",
        CpuList(cpus)
    ));
    ops.out(format_args!("  memory {} MiB", ram >> 20));
    ops.out(format_args!(
        "  restarts {restarts}, last stop: {}",
        LastStop(last)
    ));
}

fn vm_start(args: &[&str], ops: &dyn ShellOps) {
    if let Some(vm) = find(args[0], ops) {
        match ops.vm_status(vm).0 {
            VmState::Running => ops.out(format_args!("vm {} is already running", args[0])),
            VmState::Stopped => ops.start(vm),
        }
    }
}

fn vm_stop(args: &[&str], ops: &dyn ShellOps) {
    if let Some(vm) = find(args[0], ops) {
        match ops.vm_status(vm).0 {
            VmState::Stopped => ops.out(format_args!("vm {} is already stopped", args[0])),
            VmState::Running => ops.stop(vm),
        }
    }
}

fn vm_restart(args: &[&str], ops: &dyn ShellOps) {
    if let Some(vm) = find(args[0], ops) {
        ops.restart(vm);
    }
}

fn vm_console(args: &[&str], ops: &dyn ShellOps) {
    if let Some(vm) = find(args[0], ops) {
        ops.out(format_args!(
            "console input goes to vm {}; Ctrl-] returns to the shell",
            args[0]
        ));
        ops.console_to(vm);
    }
}

struct Words<'a>(&'a [&'a str]);

impl fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

struct CpuList<'a>(&'a [u32]);

impl fmt::Display for CpuList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = Small {
            buf: [0; 32],
            len: 0,
        };
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let mut b = [0u8; 10];
            s.push_str(fmt_u32(*c, &mut b));
        }
        f.pad(s.as_str())
    }
}

fn fmt_u32(mut v: u32, b: &mut [u8; 10]) -> &str {
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    core::str::from_utf8(&b[i..]).unwrap_or("")
}

struct LastStop(Option<StopReason>);

impl fmt::Display for LastStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}"),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests;
