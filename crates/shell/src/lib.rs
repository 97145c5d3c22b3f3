//! The hypervisor shell: commands typed on the physical console, described in a table
//! and executed against [`ShellOps`] (the hypervisor's view of its VMs). Parsing and
//! dispatch are here, arch-neutral and host-tested; the hypervisor feeds it the bytes
//! typed (`input.rs` edits them into lines).
//! Lifecycle commands are in this file, the read-only views (`vcpu list`, `mem map`,
//! `irq stats`, `latency`) and `log level` in `view.rs`, `cpu stats` in `cpustats.rs`.
//!
//! Rules inside this crate: no `unsafe`, no allocation, no architecture-specific code.
//! It is its own crate so that the hypervisor's profile can build it for size: the
//! shell runs only on a CPU that hosts no vCPU, and nothing in it is on a guest's
//! exit path (docs/benchmark.md, "The hypervisor's size, sixth pass"). Code that a
//! guest's exits reach stays in rtvisor-core; what both share (the interrupt kinds
//! counted per CPU, what happens when no VM runs) is defined there.
#![no_std]
#![forbid(unsafe_code)]

// The tests run on the host.
#[cfg(test)]
extern crate std;

use core::fmt;
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_config::tables::{DeviceMap, HvPages, LogLevel, MemRegion, RamMap, VmKind};
use rtvisor_core::account::Account;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::mmio::Region;
use rtvisor_core::vm::{Power, StopReason, VmLife, VmState};
use text::{CpuList, LastStop, Small, Words};

mod cpustats;
mod input;
mod text;
mod view;

pub use input::{Input, COMMAND_MAX};
pub use rtvisor_core::account::IrqKind;
pub use rtvisor_core::handler::NoneRunning;
pub use view::LATENCY_MARK;

/// What the shell needs from the hypervisor.
pub trait ShellOps {
    /// Number of VMs.
    fn vm_count(&self) -> usize;
    /// Name of VM `vm`.
    fn vm_name(&self, vm: VmId) -> &str;
    /// State, restart count and last stop reason of VM `vm`.
    fn vm_status(&self, vm: VmId) -> (VmState, u32, Option<StopReason>);
    /// Physical CPUs and RAM size (bytes) of VM `vm`.
    fn vm_resources(&self, vm: VmId) -> (&[u32], u64);
    /// What VM `vm` is for.
    fn vm_kind(&self, vm: VmId) -> VmKind;
    /// RAM of VM `vm` and its backing.
    fn vm_ram(&self, vm: VmId) -> RamMap;
    /// Passed-through device `i` of VM `vm` (scenario order); `None` past the last.
    fn device(&self, vm: VmId, i: usize) -> Option<Mapping<'_>>;
    /// Shared-memory region `i` of VM `vm` (scenario order); `None` past the last.
    fn shared(&self, vm: VmId, i: usize) -> Option<Mapping<'_>>;
    /// Emulated region `i` of VM `vm` (in base order); `None` past the last.
    fn emulated(&self, vm: VmId, i: usize) -> Option<Region>;
    /// The host-physical region reserved for the hypervisor.
    fn hv_memory(&self) -> MemRegion<Hpa>;
    /// The pages of the hypervisor's cache colors its translation tables come from
    /// (`[hypervisor] colors`), if it has them.
    fn hv_tables(&self) -> Option<HvPages> {
        None
    }
    /// Run-time facts about vCPU `vcpu` of VM `vm` (`None` if the VM has no such
    /// vCPU).
    fn vcpu(&self, vm: VmId, vcpu: VcpuId) -> Option<VcpuInfo>;
    /// Number of physical CPUs.
    fn cpu_count(&self) -> usize;
    /// The physical CPU the shell runs on.
    fn shell_cpu(&self) -> Option<CpuId>;
    /// Interrupts counted on physical CPU `cpu` since boot, indexed like
    /// [`IrqKind::ALL`].
    fn irq_counts(&self, cpu: CpuId) -> [u64; IrqKind::COUNT];
    /// The interference accounting of physical CPU `cpu` since boot or the last
    /// [`ShellOps::reset_cpu_stats`].
    fn cpu_account(&self, cpu: CpuId) -> Account;
    /// Whether the hypervisor was built with the accounting (`[hypervisor]
    /// accounting = true`); without it there is nothing to show.
    fn accounting_built(&self) -> bool;
    /// Makes every CPU's accounting count from zero (for the shell).
    fn reset_cpu_stats(&self);
    /// Copies the last timer-latency line of VM `vm` (the guest's whole console line)
    /// into `buf`; returns its length and its age in milliseconds, `None` if it has
    /// printed none.
    fn latency(&self, vm: VmId, buf: &mut [u8]) -> Option<(usize, u64)>;
    /// The runtime log level.
    fn log_level(&self) -> LogLevel;
    /// Changes the runtime log level.
    fn set_log_level(&self, level: LogLevel);
    /// Stops VM `vm` (no restart policy applies).
    fn stop(&self, vm: VmId);
    /// Boots VM `vm` from its images if it is stopped.
    fn start(&self, vm: VmId);
    /// Restarts VM `vm` from its images.
    fn restart(&self, vm: VmId);
    /// Gives console input to VM `vm` until the escape byte ([`CONSOLE_ESCAPE`]).
    fn console_to(&self, vm: VmId);
    /// Prints one line of shell output.
    fn out(&self, args: fmt::Arguments<'_>);
}

/// A named region mapped into a VM's stage-2 (a device or shared memory), as
/// `mem map` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// Name from the board (device) or the scenario (shared memory).
    pub name: &'a str,
    /// Guest-physical base.
    pub ipa: Ipa,
    /// Host-physical base.
    pub hpa: Hpa,
    /// Size in bytes.
    pub size: u64,
    /// Whether the VM may write it.
    pub writable: bool,
}

impl<'a> Mapping<'a> {
    /// A passed-through device as `mem map` shows it: read-write, at its own
    /// registers (devices that share a mapped page, such as virtio-mmio transports,
    /// each show theirs); at the mapped pages if its registers are not inside them.
    pub fn device(d: &'a DeviceMap) -> Self {
        let ipa = d
            .regs
            .base
            .offset_from(d.hpa)
            .and_then(|off| d.ipa.checked_add(off));
        let (ipa, hpa, size) = match ipa {
            Some(ipa) => (ipa, d.regs.base, d.regs.size),
            None => (d.ipa, d.hpa, d.size),
        };
        Self {
            name: d.name,
            ipa,
            hpa,
            size,
            writable: true,
        }
    }
}

/// Power state of one vCPU as `vcpu list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuPower {
    /// Running guest code (or handling one of its exits).
    On,
    /// Off; its physical CPU is parked.
    Off,
    /// Asked to start, not picked up yet.
    Pending,
    /// Asked to stop, not parked yet.
    Stopping,
}

impl VcpuPower {
    /// The power state of vCPU `vcpu` in its VM's lifecycle (a VM never booted has
    /// every vCPU off).
    pub fn of(life: &VmLife, vcpu: VcpuId) -> Self {
        match life.power(vcpu) {
            Power::On => Self::On,
            Power::Pending(_) => Self::Pending,
            Power::Stopping => Self::Stopping,
            Power::Off => Self::Off,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Pending => "pending",
            Self::Stopping => "stopping",
        }
    }
}

/// One vCPU as `vcpu list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcpuInfo {
    /// The physical CPU it is pinned to.
    pub cpu: CpuId,
    /// The CPU id the guest reads as its own (aarch64: its MPIDR affinity).
    pub cpu_id: u64,
    /// Its power state.
    pub power: VcpuPower,
    /// Guest exits taken on its physical CPU since boot (all runs of the VM).
    pub exits: u64,
}

/// The byte that takes console input back from a VM to the shell: Ctrl-] (0x1d), as
/// in telnet and `virsh console`.
pub const CONSOLE_ESCAPE: u8 = 0x1d;

/// The hypervisor's version string.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type Handler = fn(&[&str], &dyn ShellOps);

struct Command {
    words: &'static [&'static str],
    /// Argument names; one in brackets is optional.
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
        help: "stop a VM (the last one too: the shell stays up)",
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
    Command {
        words: &["vcpu", "list"],
        args: "",
        help: "every vCPU: CPU, CPU id, power state, exits",
        run: view::vcpu_list,
    },
    Command {
        words: &["mem", "map"],
        args: "",
        help: "hypervisor memory; per VM RAM, devices, shared, emulated",
        run: view::mem_map,
    },
    Command {
        words: &["irq", "stats"],
        args: "",
        help: "interrupts per CPU (vtimer: exit path only)",
        run: view::irq_stats,
    },
    Command {
        words: &["cpu", "stats"],
        args: "[reset]",
        help: "EL2 entries by cause and time per CPU, own VM vs others",
        run: cpustats::cpu_stats,
    },
    Command {
        words: &["latency"],
        args: "",
        help: "last timer-latency figures of each rt VM",
        run: view::latency,
    },
    Command {
        words: &["log", "level"],
        args: "[LEVEL]",
        help: "show or set the log level: error|warn|info|debug",
        run: view::log_level,
    },
];

/// Executes one command line.
pub fn execute(line: &str, ops: &dyn ShellOps) {
    let mut words = [""; 8];
    let mut n = 0;
    for w in line.split_ascii_whitespace() {
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
            let names = c.args.split_ascii_whitespace();
            let most = names.clone().count();
            let least = names.filter(|a| !a.starts_with('[')).count();
            if !(least..=most).contains(&args.len()) {
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
        let mut s = Small::of(format_args!("{}", Words(self.0.words)));
        if !self.0.args.is_empty() {
            s.push_str(" ");
            s.push_str(self.0.args);
        }
        f.pad(s.as_str())
    }
}

fn version(_: &[&str], ops: &dyn ShellOps) {
    ops.out(format_args!("rtvisor {VERSION}"));
}

fn find(name: &str, ops: &dyn ShellOps) -> Option<VmId> {
    let vm = vms(ops).find(|&v| ops.vm_name(v) == name);
    if vm.is_none() {
        ops.out(format_args!("no VM named `{name}`; `vm list` shows them"));
    }
    vm
}

/// Every VM, in configuration order.
fn vms(ops: &dyn ShellOps) -> impl Iterator<Item = VmId> {
    (0..ops.vm_count()).map(VmId::new)
}

fn state_name(s: VmState) -> &'static str {
    match s {
        VmState::Running => "running",
        VmState::Stopped => "stopped",
        VmState::Stopping => "stopping",
        VmState::Unresponsive => "unresponsive",
    }
}

/// Says why VM `name` in `state` cannot be started or stopped now; `false` when it
/// can.
fn busy(name: &str, state: VmState, ops: &dyn ShellOps) -> bool {
    match state {
        VmState::Stopping => ops.out(format_args!(
            "vm {name} is stopping: its vCPUs have not all parked yet"
        )),
        VmState::Unresponsive => ops.out(format_args!(
            "vm {name} is unresponsive: a vCPU did not stop; its memory is not reused \
             until it does"
        )),
        VmState::Running | VmState::Stopped => return false,
    }
    true
}

fn vm_list(_: &[&str], ops: &dyn ShellOps) {
    ops.out(format_args!(
        "{:<12} {:<12} {:<10} {:>8} {:>8}  last stop",
        "vm", "state", "cpus", "memory", "restarts"
    ));
    for vm in vms(ops) {
        let (state, restarts, last) = ops.vm_status(vm);
        let (cpus, ram) = ops.vm_resources(vm);
        ops.out(format_args!(
            "{:<12} {:<12} {:<10} {:>7}M {:>8}  {}",
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
            state => _ = busy(args[0], state, ops),
        }
    }
}

fn vm_stop(args: &[&str], ops: &dyn ShellOps) {
    if let Some(vm) = find(args[0], ops) {
        match ops.vm_status(vm).0 {
            VmState::Stopped => ops.out(format_args!("vm {} is already stopped", args[0])),
            VmState::Running => ops.stop(vm),
            state => _ = busy(args[0], state, ops),
        }
    }
}

fn vm_restart(args: &[&str], ops: &dyn ShellOps) {
    if let Some(vm) = find(args[0], ops) {
        if !busy(args[0], ops.vm_status(vm).0, ops) {
            ops.restart(vm);
        }
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

#[cfg(test)]
mod tests;
