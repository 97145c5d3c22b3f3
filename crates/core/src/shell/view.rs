//! Read-only views of the running hypervisor (`vcpu list`, `mem map`, `irq stats`,
//! `latency`) and `log level`. Each prints a header line, then one line per item.

use super::text::{Line, Secs, Size, Small};
use super::{IrqKind, Mapping, ShellOps};
use crate::console::LINE_MAX;
use crate::mmio::DeviceKind;
use core::fmt::{self, Write};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_config::tables::{LogLevel, VmKind};

/// What marks a guest's timer-latency summary line (rtbench's benchmark protocol);
/// the hypervisor keeps the last such line of each VM for `latency`.
pub const LATENCY_MARK: &str = "rtbench: result metric=timer";

/// Log levels and their names, most severe first.
const LEVELS: [(LogLevel, &str); 4] = [
    (LogLevel::Error, "error"),
    (LogLevel::Warn, "warn"),
    (LogLevel::Info, "info"),
    (LogLevel::Debug, "debug"),
];

pub(super) fn vcpu_list(_: &[&str], ops: &dyn ShellOps) {
    ops.out(format_args!(
        "{:<12} {:>4} {:>4}  {:<12} {:<8} {:>10}",
        "vm", "vcpu", "cpu", "mpidr", "power", "exits"
    ));
    for vm in 0..ops.vm_count() {
        for v in 0..ops.vm_resources(vm).0.len() {
            let i = ops.vcpu(vm, v);
            ops.out(format_args!(
                "{:<12} {:>4} {:>4}  {:<#12x} {:<8} {:>10}",
                ops.vm_name(vm),
                v,
                i.cpu,
                i.mpidr,
                i.power.name(),
                i.exits
            ));
        }
    }
}

/// One line of `mem map`.
struct MapLine<'a> {
    owner: &'a str,
    what: &'a str,
    name: &'a str,
    ipa: Option<Ipa>,
    hpa: Option<Hpa>,
    size: u64,
    access: &'a str,
}

impl MapLine<'_> {
    fn print(&self, ops: &dyn ShellOps) {
        ops.out(format_args!(
            "{:<12} {:<9} {:<10} {:<13} {:<13} {:>5}  {}",
            self.owner,
            self.what,
            self.name,
            Addr(self.ipa.map(Ipa::raw)),
            Addr(self.hpa.map(Hpa::raw)),
            Size(self.size),
            self.access
        ));
    }
}

/// An address in hex, `-` if none.
struct Addr(Option<u64>);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => f.pad(Small::of(format_args!("{a:#x}")).as_str()),
            None => f.pad("-"),
        }
    }
}

/// Short names of the emulated devices; one missing here shows its lower-cased
/// `Debug` name.
const DEVICE_NAMES: [(DeviceKind, &str); 5] = [
    (DeviceKind::GicDist, "gicd"),
    (DeviceKind::GicRedist, "gicr"),
    (DeviceKind::Pl011, "pl011"),
    (DeviceKind::Doorbell, "doorbell"),
    (DeviceKind::DoorbellGpio, "pl061"),
];

fn device_name(kind: DeviceKind) -> Small {
    match DEVICE_NAMES.iter().find(|(k, _)| *k == kind) {
        Some((_, n)) => Small::of(format_args!("{n}")),
        None => {
            let mut s = Small::of(format_args!("{kind:?}"));
            s.make_ascii_lowercase();
            s
        }
    }
}

pub(super) fn mem_map(_: &[&str], ops: &dyn ShellOps) {
    ops.out(format_args!(
        "{:<12} {:<9} {:<10} {:<13} {:<13} {:>5}  access",
        "owner", "region", "name", "ipa", "hpa", "size"
    ));
    let hv = ops.hv_memory();
    MapLine {
        owner: "rtvisor",
        what: "memory",
        name: "-",
        ipa: None,
        hpa: Some(hv.base),
        size: hv.size,
        access: "-",
    }
    .print(ops);
    for vm in 0..ops.vm_count() {
        let (owner, ram) = (ops.vm_name(vm), ops.vm_ram(vm));
        MapLine {
            owner,
            what: "ram",
            name: "-",
            ipa: Some(ram.ipa),
            hpa: Some(ram.hpa),
            size: ram.size,
            access: "rw",
        }
        .print(ops);
        mapped(ops, owner, "device", |i| ops.device(vm, i));
        mapped(ops, owner, "shared", |i| ops.shared(vm, i));
        for r in (0..).map_while(|i| ops.emulated(vm, i)) {
            let kind = device_name(r.kind);
            MapLine {
                owner,
                what: "emulated",
                name: kind.as_str(),
                ipa: Some(r.base),
                hpa: None,
                size: r.size,
                access: "trap",
            }
            .print(ops);
        }
    }
}

/// The lines of `nth(0)`, `nth(1)`, ... up to the first `None`.
fn mapped<'a>(
    ops: &dyn ShellOps,
    owner: &str,
    what: &str,
    nth: impl Fn(usize) -> Option<Mapping<'a>>,
) {
    for m in (0..).map_while(nth) {
        MapLine {
            owner,
            what,
            name: m.name,
            ipa: Some(m.ipa),
            hpa: Some(m.hpa),
            size: m.size,
            access: if m.writable { "rw" } else { "ro" },
        }
        .print(ops);
    }
}

/// What physical CPU `cpu` runs: `vm/vcpu`, `shell` or `-`.
fn runs(cpu: usize, ops: &dyn ShellOps) -> Small {
    if ops.shell_cpu() == Some(cpu) {
        return Small::of(format_args!("shell"));
    }
    for vm in 0..ops.vm_count() {
        let cpus = ops.vm_resources(vm).0;
        if let Some(v) = cpus.iter().position(|&c| c as usize == cpu) {
            return Small::of(format_args!("{}/{v}", ops.vm_name(vm)));
        }
    }
    Small::of(format_args!("-"))
}

pub(super) fn irq_stats(_: &[&str], ops: &dyn ShellOps) {
    let mut head = Line::new();
    let _ = write!(head, "{:<4} {:<14}", "cpu", "runs");
    for k in IrqKind::ALL {
        let _ = write!(head, " {:>9}", k.name());
    }
    ops.out(format_args!("{}", head.as_str()));
    for cpu in 0..ops.cpu_count() {
        let mut l = Line::new();
        let _ = write!(l, "{cpu:<4} {:<14}", runs(cpu, ops));
        for n in ops.irq_counts(cpu) {
            let _ = write!(l, " {n:>9}");
        }
        ops.out(format_args!("{}", l.as_str()));
    }
    ops.out(format_args!(
        "(vtimer: exit path only; ticks the vector's fast path injects are not counted)"
    ));
}

pub(super) fn latency(_: &[&str], ops: &dyn ShellOps) {
    let mut any = false;
    for vm in (0..ops.vm_count()).filter(|&v| ops.vm_kind(v) == VmKind::Rt) {
        any = true;
        let name = ops.vm_name(vm);
        let mut buf = [0u8; LINE_MAX];
        match ops.latency(vm, &mut buf) {
            Some((n, age_ms)) => {
                let line = super::text::utf8_prefix(&buf[..n.min(LINE_MAX)]);
                let figures = line
                    .split_once(LATENCY_MARK)
                    .map_or(line, |(_, rest)| rest)
                    .trim();
                ops.out(format_args!(
                    "{name:<12} timer {figures}  (age {})",
                    Secs(age_ms)
                ));
            }
            None => ops.out(format_args!("{name:<12} no figures yet")),
        }
    }
    if !any {
        ops.out(format_args!("no VM of kind rt"));
    }
}

fn level_name(level: LogLevel) -> &'static str {
    LEVELS
        .iter()
        .find(|(l, _)| *l == level)
        .map_or("?", |(_, n)| n)
}

pub(super) fn log_level(args: &[&str], ops: &dyn ShellOps) {
    let now = ops.log_level();
    let Some(&word) = args.first() else {
        ops.out(format_args!("log level {}", level_name(now)));
        return;
    };
    match LEVELS.iter().find(|(_, n)| *n == word) {
        Some(&(level, name)) => {
            ops.set_log_level(level);
            ops.out(format_args!("log level {name} (was {})", level_name(now)));
        }
        None => ops.out(format_args!(
            "unknown log level `{word}`: one of error|warn|info|debug"
        )),
    }
}
