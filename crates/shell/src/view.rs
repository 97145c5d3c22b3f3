//! Read-only views of the running hypervisor (`vcpu list`, `mem map`, `irq stats`,
//! `latency`) and `log level`. Each prints a header line, then one line per item.

use crate::text::{width, Line, Secs, Size, Small, Text};
use crate::{Mapping, ShellOps};
use core::fmt::{self, Write};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_config::coloring::ColorList;
use rtvisor_config::tables::{LogLevel, VmKind};
use rtvisor_core::account::IrqKind;
use rtvisor_core::console::LINE_MAX;
use rtvisor_core::ids::{CpuId, VcpuId};
use rtvisor_core::mmio::DeviceKind;

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
        "vm", "vcpu", "cpu", "cpu-id", "power", "exits"
    ));
    for vm in crate::vms(ops) {
        for v in (0..ops.vm_resources(vm).0.len()).map(VcpuId::new) {
            let Some(i) = ops.vcpu(vm, v) else { continue };
            ops.out(format_args!(
                "{:<12} {:>4} {:>4}  {:<#12x} {:<8} {:>10}",
                ops.vm_name(vm),
                v,
                i.cpu,
                i.cpu_id,
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

/// Column widths of `mem map`: owner, region, name, ipa, hpa, size (the access
/// column is last and needs none).
struct Widths([usize; 6]);

impl Widths {
    /// Wide enough for the header.
    const HEADER: [&'static str; 6] = ["owner", "region", "name", "ipa", "hpa", "size"];

    fn new() -> Self {
        Self(Self::HEADER.map(str::len))
    }
}

impl MapLine<'_> {
    /// Widens `w` to fit this line.
    fn fit(&self, w: &mut Widths) {
        let cells = [
            width(format_args!("{}", self.owner)),
            width(format_args!("{}", self.what)),
            width(format_args!("{}", self.name)),
            width(format_args!("{}", Addr(self.ipa.map(Ipa::raw)))),
            width(format_args!("{}", Addr(self.hpa.map(Hpa::raw)))),
            width(format_args!("{}", Size(self.size))),
        ];
        for (w, c) in w.0.iter_mut().zip(cells) {
            *w = (*w).max(c);
        }
    }

    fn print(&self, ops: &dyn ShellOps, w: &Widths) {
        let [a, b, c, d, e, f] = w.0;
        ops.out(format_args!(
            "{:<a$} {:<b$} {:<c$} {:<d$} {:<e$} {:>f$}  {}",
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
const DEVICE_NAMES: [(DeviceKind, &str); 7] = [
    (DeviceKind::GicDist, "gicd"),
    (DeviceKind::GicRedist, "gicr"),
    (DeviceKind::Pl011, "pl011"),
    (DeviceKind::Doorbell, "doorbell"),
    (DeviceKind::DoorbellGpio, "pl061"),
    (DeviceKind::IoApic, "ioapic"),
    (DeviceKind::LocalApic, "lapic"),
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

/// `mem map`: every line is measured first, so that the columns line up whatever
/// the names and addresses.
pub(super) fn mem_map(_: &[&str], ops: &dyn ShellOps) {
    let mut w = Widths::new();
    map_lines(ops, &mut |l| l.fit(&mut w));
    let [a, b, c, d, e, f] = w.0;
    let [owner, region, name, ipa, hpa, size] = Widths::HEADER;
    ops.out(format_args!(
        "{owner:<a$} {region:<b$} {name:<c$} {ipa:<d$} {hpa:<e$} {size:>f$}  access"
    ));
    map_lines(ops, &mut |l| l.print(ops, &w));
}

/// Calls `each` with every line of `mem map` (after its header), in order.
fn map_lines(ops: &dyn ShellOps, each: &mut dyn FnMut(&MapLine<'_>)) {
    let hv = ops.hv_memory();
    each(&MapLine {
        owner: "rtvisor",
        what: "memory",
        name: "-",
        ipa: None,
        hpa: Some(hv.base),
        size: hv.size,
        access: "-",
    });
    // Its colored table pages: `hpa` is their first period, `size` their own bytes.
    if let Some(t) = ops.hv_tables() {
        let c = t.colors;
        let colors: Text<96> = Text::of(format_args!(
            "colors={}/{}",
            ColorList(c.mask),
            u32::from(c.count)
        ));
        each(&MapLine {
            owner: "rtvisor",
            what: "tables",
            name: colors.as_str(),
            ipa: None,
            hpa: Some(t.hpa),
            size: t.size,
            access: "-",
        });
    }
    for vm in crate::vms(ops) {
        let (owner, ram) = (ops.vm_name(vm), ops.vm_ram(vm));
        // A colored VM's RAM is named by its colors; `hpa` is its first period.
        let colors: Text<96> = match ram.colors {
            Some(c) => Text::of(format_args!(
                "colors={}/{}",
                ColorList(c.mask),
                u32::from(c.count)
            )),
            None => Text::of(format_args!("-")),
        };
        if ram.low.is_some() {
            // Identity-mapped (x86_64): the private first MiB, then the rest 1:1.
            for (run, name) in ram.runs().zip(["private", "identity"]) {
                each(&MapLine {
                    owner,
                    what: "ram",
                    name,
                    ipa: Some(run.ipa),
                    hpa: Some(run.hpa),
                    size: run.size,
                    access: "rw",
                });
            }
        } else {
            each(&MapLine {
                owner,
                what: "ram",
                name: colors.as_str(),
                ipa: Some(ram.ipa),
                hpa: Some(ram.hpa),
                size: ram.size,
                access: "rw",
            });
        }
        mapped(owner, "device", |i| ops.device(vm, i), each);
        mapped(owner, "shared", |i| ops.shared(vm, i), each);
        for r in (0..).map_while(|i| ops.emulated(vm, i)) {
            let kind = device_name(r.kind);
            each(&MapLine {
                owner,
                what: "emulated",
                name: kind.as_str(),
                ipa: Some(r.base),
                hpa: None,
                size: r.size,
                access: "trap",
            });
        }
    }
}

/// The lines of `nth(0)`, `nth(1)`, ... up to the first `None`.
fn mapped<'a>(
    owner: &str,
    what: &str,
    nth: impl Fn(usize) -> Option<Mapping<'a>>,
    each: &mut dyn FnMut(&MapLine<'_>),
) {
    for m in (0..).map_while(nth) {
        each(&MapLine {
            owner,
            what,
            name: m.name,
            ipa: Some(m.ipa),
            hpa: Some(m.hpa),
            size: m.size,
            access: if m.writable { "rw" } else { "ro" },
        });
    }
}

/// What physical CPU `cpu` runs: `vm/vcpu`, `shell` or `-`.
pub(super) fn runs(cpu: CpuId, ops: &dyn ShellOps) -> Small {
    if ops.shell_cpu() == Some(cpu) {
        return Small::of(format_args!("shell"));
    }
    for vm in crate::vms(ops) {
        let cpus = ops.vm_resources(vm).0;
        if let Some(v) = cpus.iter().position(|&c| c as usize == cpu.index()) {
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
    for cpu in (0..ops.cpu_count()).map(CpuId::new) {
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
    for vm in crate::vms(ops).filter(|&v| ops.vm_kind(v) == VmKind::Rt) {
        any = true;
        let name = ops.vm_name(vm);
        let mut buf = [0u8; LINE_MAX];
        match ops.latency(vm, &mut buf) {
            Some((n, age_ms)) => {
                let line = crate::text::utf8_prefix(&buf[..n.min(LINE_MAX)]);
                // A plain window search: `str::split_once` with a `&str` pattern brings
                // in the two-way string searcher for this one line.
                let mark = LATENCY_MARK.as_bytes();
                let figures = line
                    .as_bytes()
                    .windows(mark.len())
                    .position(|w| w == mark)
                    .and_then(|at| line.get(at + mark.len()..))
                    .unwrap_or(line)
                    .trim_ascii();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_of_both_machines_have_short_names() {
        let name = |k| std::string::String::from(device_name(k).as_str());
        assert_eq!(name(DeviceKind::DoorbellGpio), "pl061");
        assert_eq!(name(DeviceKind::LocalApic), "lapic");
        assert_eq!(name(DeviceKind::IoApic), "ioapic");
        // Without a short name: the kind's own, lower-cased.
        assert_eq!(name(DeviceKind::CfiFlash), "cfiflash");
    }
}
