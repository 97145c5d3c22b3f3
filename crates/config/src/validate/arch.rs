//! What each architecture has. A board's `arch` (default `aarch64`) decides which
//! tables it needs and which keys a scenario on it may use: a key only the other
//! architecture has, or a value only the other one takes, is reported at the key with
//! what this architecture does instead; a board that lacks one of its architecture's
//! tables is told which. Both are tables ([`FOREIGN`], [`NEEDED`]) of key paths
//! looked up in the file as written (`crate::keypath`), so one rule covers every way
//! of writing the key.

use crate::contract::Arch;
use crate::diag::{Diagnostic, Severity, Source};
use crate::keypath::{Located, Seg};
use crate::load::Inputs;
use crate::schema::BoardFile;

/// Which file a rule reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum File {
    Board,
    Scenario,
}

/// A key (or a value of it) that only some boards take.
struct Foreign {
    file: File,
    /// From the file's root; `*` is every element of an array.
    path: &'static [&'static str],
    /// The value it is about (`None`: any value).
    value: Option<&'static str>,
    /// The architecture of the boards it fires on.
    on: Arch,
    severity: Severity,
    /// `{board}`: the board's name; `{vm}`: the `[[vm]]`'s name.
    message: &'static str,
    hint: &'static str,
}

const fn error(
    file: File,
    path: &'static [&'static str],
    value: Option<&'static str>,
    on: Arch,
    message: &'static str,
    hint: &'static str,
) -> Foreign {
    Foreign {
        file,
        path,
        value,
        on,
        severity: Severity::Error,
        message,
        hint,
    }
}

use Arch::{Aarch64 as A64, X86_64 as X86};
use File::{Board as B, Scenario as S};

/// Keys and values of one architecture, on a board of the other.
const FOREIGN: [Foreign; 18] = [
    error(
        B,
        &["gic"],
        None,
        X86,
        "board `{board}` is x86_64 but has a [gic] (an Arm GIC)",
        "an x86_64 board describes its interrupt controllers in [local-apic] and \
         [[io-apic]]; remove [gic], or set arch = \"aarch64\"",
    ),
    error(
        B,
        &["timer"],
        None,
        X86,
        "board `{board}` is x86_64 but has a [timer] (the Arm generic timer's INTIDs)",
        "x86_64 VMs keep time with the local APIC timer and the TSC; remove [timer]",
    ),
    error(
        B,
        &["cpu", "*", "mpidr"],
        None,
        X86,
        "`mpidr` is an Arm CPU's affinity, but board `{board}` is x86_64",
        "give each x86_64 CPU its local APIC ID instead: apic-id = N (as the MADT lists it)",
    ),
    error(
        B,
        &["uart", "*", "base"],
        None,
        X86,
        "a memory-mapped UART `base`, but board `{board}` is x86_64",
        "an x86_64 UART is at an I/O port: port = 0x3f8 (COM1), without base and size",
    ),
    error(
        B,
        &["uart", "*", "size"],
        None,
        X86,
        "a memory-mapped UART `size`, but board `{board}` is x86_64",
        "a 16550 has 8 I/O ports from its `port`; remove size",
    ),
    error(
        B,
        &["qemu", "semihosting"],
        Some("true"),
        X86,
        "semihosting is Arm's, but board `{board}` is x86_64",
        "remove it: on x86_64 a FATAL error of the hypervisor halts every CPU",
    ),
    error(
        B,
        &["local-apic"],
        None,
        A64,
        "board `{board}` is aarch64 but has a [local-apic]",
        "for a PC board write arch = \"x86_64\"; an aarch64 board describes its GIC in [gic]",
    ),
    error(
        B,
        &["io-apic"],
        None,
        A64,
        "board `{board}` is aarch64 but has an [[io-apic]]",
        "for a PC board write arch = \"x86_64\"; an aarch64 board describes its GIC in [gic]",
    ),
    error(
        B,
        &["cpu", "*", "apic-id"],
        None,
        A64,
        "`apic-id` is an x86 CPU's, but board `{board}` is aarch64",
        "give each aarch64 CPU its MPIDR: mpidr = 0x..., or write arch = \"x86_64\"",
    ),
    error(
        B,
        &["uart", "*", "port"],
        None,
        A64,
        "`port` is an x86 I/O port, but board `{board}` is aarch64",
        "an aarch64 UART is memory-mapped: base = 0x0900_0000, size = 0x1000",
    ),
    error(
        S,
        &["vm", "*", "direct-trust"],
        None,
        X86,
        "`direct-trust` is trust in a guest with the physical GIC CPU interface, but \
         board `{board}` is x86_64",
        "on x86_64, interrupt-mode = \"direct\" is LAPIC pass-through, whose trust \
         rules are not defined yet; remove direct-trust",
    ),
    error(
        S,
        &["vm", "*", "kernel", "format"],
        Some("linux-image"),
        X86,
        "format = \"linux-image\" (the arm64 Linux Image) of VM `{vm}`, but board \
         `{board}` is x86_64",
        "x86_64 takes format = \"elf\": a PVH ELF (Linux's vmlinux, or a guest with the \
         XEN_ELFNOTE_PHYS32_ENTRY note; bzImage comes later), or \"raw\", loaded and \
         entered at 0x10_0000",
    ),
    error(
        S,
        &["vm", "*", "dtb-ipa"],
        None,
        X86,
        "`dtb-ipa` places VM `{vm}`'s device tree, but board `{board}` is x86_64: an \
         x86_64 VM gets ACPI tables and a PVH start info at fixed addresses instead",
        "remove dtb-ipa (docs/scenario.md, \"The generated ACPI tables and PVH start info\")",
    ),
    error(
        S,
        &["vm", "*", "flash"],
        None,
        X86,
        "`flash` gives VM `{vm}` QEMU virt's CFI flash banks, but board `{board}` is \
         x86_64, whose VMs have no flash",
        "remove flash; an x86_64 VM boots its kernel (format = \"elf\") directly",
    ),
    error(
        B,
        &["llc"],
        None,
        X86,
        "board `{board}` is x86_64 but has an [llc]: cache coloring is implemented for \
         aarch64 boards only",
        "remove [llc]; on x86_64 the cache is partitioned by the CPU's own means (Intel \
         CAT), which rtvisor does not drive yet",
    ),
    error(
        S,
        &["vm", "*", "colors"],
        None,
        X86,
        "VM `{vm}` is given cache colors, but board `{board}` is x86_64: cache coloring \
         is implemented for aarch64 boards only",
        "remove colors",
    ),
    error(
        S,
        &["hypervisor", "colors"],
        None,
        X86,
        "the hypervisor is given cache colors, but board `{board}` is x86_64: cache \
         coloring is implemented for aarch64 boards only",
        "remove colors from [hypervisor]",
    ),
    Foreign {
        file: S,
        path: &["vm", "*", "interrupt-mode"],
        value: Some("direct"),
        on: X86,
        severity: Severity::Warning,
        message: "on x86_64, interrupt-mode = \"direct\" is LAPIC pass-through: VM `{vm}` \
                  uses its cores' physical local APICs and TSC-deadline timers",
        hint: "the hypervisor keeps the ICR (IPIs go to the VM's own cores only), \
               IA32_APIC_BASE, and the NMI and INIT that take a core back whatever the guest \
               masks; the VM's emulated devices (COM1, doorbells) interrupt its cores as \
               physical fixed IPIs, routed by its I/O APIC, CPU 0 watches its watchdog, and \
               on AMD-V each write to its xAPIC page is an exit",
    },
];

/// A key a board of one architecture must have.
struct Needed {
    on: Arch,
    /// The table that holds it: `[]` the root, `["cpu"]` every `[[cpu]]`.
    within: &'static [&'static str],
    key: &'static str,
    hint: &'static str,
}

/// Every board's tables, per architecture.
const NEEDED: [Needed; 9] = [
    Needed {
        on: A64,
        within: &[],
        key: "gic",
        hint: "an aarch64 board describes its GICv3: [gic] with version, distributor and \
               redistributors (docs/scenario.md); for a PC board write arch = \"x86_64\"",
    },
    Needed {
        on: A64,
        within: &[],
        key: "timer",
        hint: "an aarch64 board lists its generic timer's INTIDs in [timer] \
               (docs/scenario.md); for a PC board write arch = \"x86_64\"",
    },
    Needed {
        on: A64,
        within: &["cpu"],
        key: "mpidr",
        hint: "add its MPIDR_EL1 affinity: mpidr = 0x...",
    },
    Needed {
        on: A64,
        within: &["uart"],
        key: "base",
        hint: "an aarch64 UART is memory-mapped: add base = 0x... and size = 0x1000",
    },
    Needed {
        on: A64,
        within: &["uart"],
        key: "size",
        hint: "add the size of its register window, e.g. size = 0x1000",
    },
    Needed {
        on: X86,
        within: &[],
        key: "local-apic",
        hint: "an x86_64 board names its local APIC's address: [local-apic] base = \
               0xfee0_0000 (the MADT's)",
    },
    Needed {
        on: X86,
        within: &[],
        key: "io-apic",
        hint: "an x86_64 board lists its I/O APICs: [[io-apic]] with id, base and gsi-base \
               (the MADT's)",
    },
    Needed {
        on: X86,
        within: &["cpu"],
        key: "apic-id",
        hint: "add its local APIC ID: apic-id = N (as the MADT lists it)",
    },
    Needed {
        on: X86,
        within: &["uart"],
        key: "port",
        hint: "an x86_64 UART is at an I/O port: add port = 0x3f8 (COM1)",
    },
];

/// The board's architecture rules.
pub(super) fn board(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let located = Located::new(&src.text);
    foreign(src, &located, B, b, None, out);
    let arch = b.arch();
    let name = b.name.get_ref();
    for n in NEEDED.iter().filter(|n| n.on == arch) {
        let tables = match n.within {
            [] => vec![Vec::new()],
            [t] => (0..located.len(&[Seg::Key(t)]))
                .map(|i| vec![Seg::Key(t), Seg::Index(i)])
                .collect(),
            _ => Vec::new(),
        };
        for (i, table) in tables.iter().enumerate() {
            let mut path = table.clone();
            path.push(Seg::Key(n.key));
            if located.find(&path).is_some() {
                continue;
            }
            let (at, msg) = match n.within {
                [] => (
                    b.name.span(),
                    format!("board `{name}` ({}) has no `{}`", arch.name(), n.key),
                ),
                [t] => (
                    located.find(table).map_or(b.name.span(), |f| f.at),
                    format!(
                        "[[{t}]] number {} of board `{name}` has no `{}`",
                        i + 1,
                        n.key
                    ),
                ),
                _ => continue,
            };
            out.push(src.diag(at, msg, n.hint.to_owned()));
        }
    }
}

/// The scenario's keys on this board.
pub(super) fn scenario(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let located = Located::new(&inp.scenario_src.text);
    let names: Vec<&str> = inp
        .scenario
        .vm
        .iter()
        .map(|v| v.name.get_ref().as_str())
        .collect();
    foreign(
        &inp.scenario_src,
        &located,
        S,
        &inp.board,
        Some(&names),
        out,
    );
}

fn foreign(
    src: &Source,
    located: &Located,
    file: File,
    b: &BoardFile,
    vms: Option<&[&str]>,
    out: &mut Vec<Diagnostic>,
) {
    let arch = b.arch();
    for rule in FOREIGN.iter().filter(|r| r.file == file && r.on == arch) {
        for (path, vm) in expand(located, rule.path) {
            let Some(found) = located.find(&path) else {
                continue;
            };
            if rule.value.is_some() && found.value.as_deref() != rule.value {
                continue;
            }
            let vm_name = vm.and_then(|i| vms?.get(i).copied()).unwrap_or("?");
            let msg = rule
                .message
                .replace("{board}", b.name.get_ref())
                .replace("{vm}", vm_name);
            let hint = rule.hint.to_owned();
            out.push(match rule.severity {
                Severity::Error => src.diag(found.at, msg, hint),
                Severity::Warning => src.warn(found.at, msg, hint),
            });
        }
    }
}

/// Every concrete path of `pattern` in the file (`*` over each element), with the
/// index of the `[[vm]]` it is under, if any.
fn expand<'p>(located: &Located, pattern: &[&'p str]) -> Vec<(Vec<Seg<'p>>, Option<usize>)> {
    let mut paths: Vec<(Vec<Seg<'p>>, Option<usize>)> = vec![(Vec::new(), None)];
    for (k, seg) in pattern.iter().enumerate() {
        let mut next = Vec::new();
        for (path, vm) in paths {
            if *seg == "*" {
                for i in 0..located.len(&path) {
                    let mut p = path.clone();
                    p.push(Seg::Index(i));
                    let vm = if pattern[..k] == ["vm"] { Some(i) } else { vm };
                    next.push((p, vm));
                }
            } else {
                let mut p = path;
                p.push(Seg::Key(seg));
                next.push((p, vm));
            }
        }
        paths = next;
    }
    paths
}
