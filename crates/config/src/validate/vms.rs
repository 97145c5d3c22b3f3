//! Rules on the scenario's VMs: names, CPUs, memory, consoles, image files.

use crate::diag::{closest, Diagnostic};
use crate::layout::hv_region;
use crate::load::Inputs;
use crate::schema::{KindSpec, ModeSpec, TrustSpec, VmSpec};
use crate::size::{align_up, hex, human, overlaps, range, within, MIB};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use toml::Spanned;

const BLOCK: u64 = 2 * MIB;

pub(super) fn names(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    if inp.scenario.vm.is_empty() {
        let hint = "add a [[vm]] table; see scenarios/demo.toml".to_owned();
        out.push(src.diag(0..0, "the scenario defines no VM".into(), hint));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref().as_str();
        if n.is_empty()
            || !n
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            let msg = format!("VM name `{n}` is not made of lowercase letters, digits and `-`");
            let hint = format!(
                "use a name like `{}`: it prefixes console lines and names generated files",
                suggest_name(n)
            );
            out.push(src.diag(vm.name.span(), msg, hint));
        }
        if let Some(&first) = seen.get(n) {
            let (line, _) = src.line_col(first);
            let hint = format!("the first VM named `{n}` is at line {line}; rename one of them");
            out.push(src.diag(vm.name.span(), format!("VM name `{n}` is used twice"), hint));
        } else {
            seen.insert(n, vm.name.span().start);
        }
        if let Some(mode) = &vm.interrupt_mode {
            if *mode.get_ref() == ModeSpec::Direct && *vm.kind.get_ref() == KindSpec::General {
                let msg = format!("VM `{n}` is `general` but asks for interrupt-mode = \"direct\"");
                let hint = "direct interrupt delivery is for rt VMs; set kind = \"rt\" or \
                            interrupt-mode = \"virtual\""
                    .to_owned();
                out.push(src.diag(mode.span(), msg, hint));
            }
        }
        // On x86_64 direct-trust is refused at its key (`arch.rs`): no GIC warning.
        let gic = inp.board.arch() == crate::contract::Arch::Aarch64;
        let trusted = vm
            .direct_trust
            .as_ref()
            .filter(|t| gic && is_direct(vm) && *t.get_ref() == TrustSpec::Trusted);
        if let Some(trust) = trusted {
            let msg = format!(
                "VM `{n}` is trusted with its cores' physical GIC CPU interface \
                 (direct-trust = \"trusted\")"
            );
            let hint = "a guest that writes ICC_AP1R0_EL1 keeps its cores from the hypervisor, \
                        which then reports the VM unresponsive and neither restarts it nor \
                        reuses its memory; keep \"trusted\" for guests you wrote or audited, \
                        else use \"untrusted\" (an exit per interrupt acknowledge and end)"
                .to_owned();
            out.push(src.warn(trust.span(), msg, hint));
        }
        if let Some(trust) = vm.direct_trust.as_ref().filter(|_| gic && !is_direct(vm)) {
            let msg =
                format!("VM `{n}` sets direct-trust but its interrupt-mode is not \"direct\"");
            let hint = "direct-trust says how far a direct-mode guest is trusted with the \
                        physical GIC CPU interface; remove it, or set interrupt-mode = \"direct\""
                .to_owned();
            out.push(src.diag(trust.span(), msg, hint));
        }
    }
}

pub(super) fn suggest_name(n: &str) -> String {
    let s: String = n
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() {
        "vm0".to_owned()
    } else {
        s
    }
}

fn is_rt(vm: &VmSpec) -> bool {
    *vm.kind.get_ref() == KindSpec::Rt
}

pub(super) fn is_direct(vm: &VmSpec) -> bool {
    vm.interrupt_mode
        .as_ref()
        .is_some_and(|m| *m.get_ref() == ModeSpec::Direct)
}

pub(super) fn cpus(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let (src, vms) = (&inp.scenario_src, &inp.scenario.vm);
    let ncpu = inp.board.cpu.len() as u32;
    let board = inp.board.name.get_ref();
    let used: BTreeSet<u32> = vms
        .iter()
        .flat_map(|v| v.cpus.get_ref().iter().map(|c| *c.get_ref()))
        .collect();
    let free: Vec<String> = (0..ncpu)
        .filter(|c| !used.contains(c))
        .map(|c| c.to_string())
        .collect();
    let free = if free.is_empty() {
        "; no CPU is free".to_owned()
    } else {
        format!("; free CPUs: {}", free.join(", "))
    };
    let mut owner: BTreeMap<u32, &VmSpec> = BTreeMap::new();
    for vm in vms {
        let n = vm.name.get_ref();
        if vm.cpus.get_ref().is_empty() {
            let hint = "list the physical CPUs its vCPUs run on, e.g. cpus = [1]".to_owned();
            out.push(src.diag(vm.cpus.span(), format!("VM `{n}` has no CPUs"), hint));
        }
        let mut mine = BTreeSet::new();
        for c in vm.cpus.get_ref() {
            let cpu = *c.get_ref();
            let at = c.span();
            if cpu >= ncpu {
                let msg = format!("CPU {cpu} of VM `{n}` is not on board `{board}`");
                let hint = match ncpu {
                    0 => format!("board `{board}` declares no CPU"),
                    _ => format!(
                        "board `{board}` has CPUs 0 to {} (positions in its [[cpu]] list)",
                        ncpu - 1
                    ),
                };
                out.push(src.diag(at, msg, hint));
            } else if !mine.insert(cpu) {
                let hint = format!("each vCPU needs its own physical CPU; remove the second {cpu}");
                out.push(src.diag(at, format!("CPU {cpu} is listed twice in VM `{n}`"), hint));
            } else if let Some(first) = owner.get(&cpu) {
                let (a, b) = (first.name.get_ref(), n);
                let (msg, hint) = if is_rt(first) || is_rt(vm) {
                    let (rt, other) = if is_rt(first) { (a, b) } else { (b, a) };
                    (
                        format!("CPU {cpu} of real-time VM `{rt}` is also given to VM `{other}`"),
                        format!("a real-time VM never shares a CPU; give `{other}` a different CPU{free}"),
                    )
                } else if is_direct(first) || is_direct(vm) {
                    let (d, other) = if is_direct(first) { (a, b) } else { (b, a) };
                    (
                        format!("CPU {cpu} of VM `{d}` (interrupt-mode \"direct\") is also given to VM `{other}`"),
                        format!("a direct-mode VM owns its CPUs' interrupts; give `{other}` a different CPU{free}"),
                    )
                } else {
                    (
                        format!("CPU {cpu} is given to both VM `{a}` and VM `{b}`"),
                        format!("vCPUs are pinned 1:1 to physical CPUs, nothing is time-shared; give each VM its own CPUs{free}"),
                    )
                };
                out.push(src.diag(at, msg, hint));
            } else {
                owner.insert(cpu, vm);
            }
        }
    }
}

/// Zero or not a multiple of 2 MiB: `what` names the owner ("VM `a`", "hypervisor").
fn size_rule(
    inp: &Inputs,
    what: &str,
    size: &Spanned<crate::size::Size>,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let src = &inp.scenario_src;
    let s = size.get_ref().0;
    if s == 0 {
        let hint = "give it at least 2 MiB, e.g. size = \"64MiB\"".to_owned();
        out.push(src.diag(size.span(), format!("memory size of {what} is zero"), hint));
        return false;
    }
    if !s.is_multiple_of(BLOCK) {
        let up = align_up(s, BLOCK).map_or_else(
            || "a smaller size".to_owned(),
            |u| format!("\"{}\"", human(u).replace(' ', "")),
        );
        let msg = format!(
            "memory size of {what} ({}) is not a multiple of 2 MiB",
            human(s)
        );
        let hint = format!("memory is mapped in 2 MiB blocks; use {up}");
        out.push(src.diag(size.span(), msg, hint));
        return false;
    }
    true
}

/// `[hypervisor] memory.base`, on either architecture, is 2 MiB aligned (the error
/// names the aligned bases either side).
pub(super) fn hv_base_aligned(
    base: u64,
    span: std::ops::Range<usize>,
    inp: &Inputs,
    out: &mut Vec<Diagnostic>,
) -> bool {
    if base.is_multiple_of(BLOCK) {
        return true;
    }
    let msg = format!("hypervisor memory base {} is not 2 MiB aligned", hex(base));
    let up = align_up(base, BLOCK).map(hex).unwrap_or_default();
    let hint = format!("use {} or {up}", hex(base & !(BLOCK - 1)));
    out.push(inp.scenario_src.diag(span, msg, hint));
    false
}

/// `[hypervisor] memory.base` (aarch64): 2 MiB aligned and at least 2 MiB into the
/// first RAM bank, as the arm64 Image header's `text_offset` must be (QEMU moves an
/// image whose offset is below 4 KiB 2 MiB up, past its boot stub).
fn hv_base_rule(
    base: u64,
    bank: u64,
    span: std::ops::Range<usize>,
    inp: &Inputs,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let src = &inp.scenario_src;
    if !hv_base_aligned(base, span.clone(), inp, out) {
        return false;
    }
    if base < bank.saturating_add(BLOCK) {
        let msg = format!(
            "hypervisor memory base {} is less than 2 MiB into the first RAM bank ({})",
            hex(base),
            hex(bank)
        );
        let hint = format!(
            "the image's load offset (text_offset) from the bank's start must be at least \
             2 MiB; use {} or higher",
            hex(bank.saturating_add(BLOCK))
        );
        out.push(src.diag(span, msg, hint));
        return false;
    }
    true
}

pub(super) fn memory(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let banks: Vec<(u64, u64)> = inp
        .board
        .ram
        .iter()
        .map(|r| (*r.base.get_ref(), r.size.get_ref().0))
        .collect();
    let bank_list = banks
        .iter()
        .map(|&(b, s)| range(b, s))
        .collect::<Vec<_>>()
        .join(", ");
    let hv = hv_region(&inp.board, &inp.scenario);
    let hv_spec = &inp.scenario.hypervisor;
    if let Some((base, size)) = hv {
        let (ok, span) = match &hv_spec.memory {
            Some(m) => (
                size_rule(inp, "the hypervisor", &m.size, out),
                m.size.span(),
            ),
            None => (true, inp.scenario.hypervisor.console.span()),
        };
        let fixed = hv_spec.memory.as_ref().and_then(|m| m.base.as_ref());
        let base_ok = match (fixed, inp.board.arch()) {
            (Some(b), crate::contract::Arch::Aarch64) => {
                hv_base_rule(base, banks[0].0, b.span(), inp, out)
            }
            (Some(b), crate::contract::Arch::X86_64) => {
                super::identity_x86::hv_base(base, size, b.span(), inp, out)
            }
            (None, _) => true,
        };
        if ok && base_ok && !within(base, size, banks[0].0, banks[0].1) {
            let msg = format!(
                "hypervisor memory ({}) is not inside the first RAM bank",
                range(base, size)
            );
            let hint = match inp.board.arch() {
                crate::contract::Arch::Aarch64 => {
                    format!(
                        "it starts 2 MiB into the first RAM bank ({bank_list}), or at its \
                         `base`; make it smaller"
                    )
                }
                crate::contract::Arch::X86_64 => format!(
                    "it starts at {}, where GRUB loads it, in the first RAM bank ({bank_list}); \
                     make it smaller",
                    hex(base)
                ),
            };
            out.push(src.diag(span, msg, hint));
        }
    }
    let mut fixed: Vec<(&str, u64, u64)> = Vec::new();
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref();
        let mem = &vm.memory;
        let size = mem.size.get_ref().0;
        size_rule(inp, &format!("VM `{n}`"), &mem.size, out);
        if mem.identity && inp.board.arch() == crate::contract::Arch::X86_64 {
            super::identity_x86::vm(inp, vm, hv, &banks, &mut fixed, out);
            continue;
        }
        let Some(base_s) = &mem.base else { continue };
        let base = *base_s.get_ref();
        let at = base_s.span();
        if base % BLOCK != 0 {
            let msg = format!("memory base {} of VM `{n}` is not 2 MiB aligned", hex(base));
            let up = align_up(base, BLOCK).map(hex).unwrap_or_default();
            let hint = format!("use {} or {up}", hex(base & !(BLOCK - 1)));
            out.push(src.diag(at.clone(), msg, hint));
        }
        if size == 0 {
            continue;
        }
        if !banks.iter().any(|&(b, s)| within(base, size, b, s)) {
            let msg = format!(
                "memory of VM `{n}` ({}) is not inside the board's RAM",
                range(base, size)
            );
            let hint = format!("board `{}` RAM: {bank_list}", inp.board.name.get_ref());
            out.push(src.diag(at.clone(), msg, hint));
        }
        if let Some((hb, hs)) = hv.filter(|&(hb, hs)| overlaps(base, size, hb, hs)) {
            let msg = format!(
                "memory of VM `{n}` ({}) overlaps the hypervisor ({})",
                range(base, size),
                range(hb, hs)
            );
            let hint = format!(
                "use a base of {} or above, or leave out `base` to place it automatically",
                hex(hb.saturating_add(hs))
            );
            out.push(src.diag(at.clone(), msg, hint));
        }
        for &(other, ob, os) in &fixed {
            if overlaps(base, size, ob, os) {
                let msg = format!(
                    "memory of VM `{n}` ({}) overlaps VM `{other}` ({})",
                    range(base, size),
                    range(ob, os)
                );
                let hint = "move one of them, or leave out `base` to place memory automatically"
                    .to_owned();
                out.push(src.diag(at.clone(), msg, hint));
            }
        }
        fixed.push((n, base, size));
    }
}

pub(super) fn consoles(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let hv = &inp.scenario.hypervisor.console;
    let vm_consoles = inp.scenario.vm.iter().filter_map(|v| v.console.as_ref());
    for c in std::iter::once(hv).chain(vm_consoles) {
        let name = c.get_ref().as_str();
        let uarts: Vec<&str> = inp
            .board
            .uart
            .iter()
            .map(|u| u.name.get_ref().as_str())
            .collect();
        if uarts.contains(&name) {
            continue;
        }
        let msg = format!(
            "console `{name}` is not a UART of board `{}`",
            inp.board.name.get_ref()
        );
        let list = if uarts.is_empty() {
            "none".to_owned()
        } else {
            uarts.join(", ")
        };
        let hint = match closest(name, uarts.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? (board UARTs: {list})"),
            None => format!("board UARTs: {list}"),
        };
        out.push(inp.scenario_src.diag(c.span(), msg, hint));
    }
}

/// `[hypervisor] console-input` names a VM.
pub(super) fn console_input(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let Some(c) = &inp.scenario.hypervisor.console_input else {
        return;
    };
    let name = c.get_ref().as_str();
    let names: Vec<&str> = inp
        .scenario
        .vm
        .iter()
        .map(|v| v.name.get_ref().as_str())
        .collect();
    if names.contains(&name) {
        return;
    }
    let msg = format!("console-input `{name}` is not a VM of this scenario");
    let hint = match closest(name, names.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? (remove the key to give input to the shell)"),
        None => "name a `[[vm]]`, or remove the key to give input to the shell".to_owned(),
    };
    out.push(inp.scenario_src.diag(c.span(), msg, hint));
}

/// `[hypervisor] shell`: `true` needs a CPU that hosts no vCPU (the shell runs only
/// there); `false` leaves nobody to read the console, so `console-input` would give
/// its VM nothing.
pub(super) fn shell(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let hv = &inp.scenario.hypervisor;
    let Some(shell) = &hv.shell else {
        return;
    };
    let src = &inp.scenario_src;
    let ncpu = inp.board.cpu.len();
    let used: BTreeSet<u32> = inp
        .scenario
        .vm
        .iter()
        .flat_map(|v| v.cpus.get_ref().iter().map(|c| *c.get_ref()))
        .collect();
    let free = (0..ncpu as u32).any(|c| !used.contains(&c));
    if *shell.get_ref() && !free {
        let msg = format!(
            "shell = true, but the VMs take every CPU of board `{}` ({ncpu}), and the shell runs only on a CPU that hosts no vCPU",
            inp.board.name.get_ref()
        );
        let hint = "leave a CPU out of every VM's `cpus`, or remove the key (the image is then built without the shell)".to_owned();
        out.push(src.diag(shell.span(), msg, hint));
    }
    if let (false, Some(c)) = (*shell.get_ref(), &hv.console_input) {
        let msg = format!(
            "console-input `{}` with shell = false: the shell CPU is what reads the console, so no VM would get input",
            c.get_ref()
        );
        let hint = "remove console-input, or remove shell = false".to_owned();
        out.push(src.diag(c.span(), msg, hint));
    }
}

/// The command that makes the file at `path` (a scenario's kernel or initrd), by
/// where the project's commands put their output.
fn provider(path: &str) -> &'static str {
    let p = path.replace('\\', "/");
    if p.contains("target/linux-x86/") {
        "fetch Debian's amd64 kernel and build its initramfs (`cargo xtask linux --x86`)"
    } else if p.contains("target/linux/") {
        "fetch Debian's arm64 kernel and build its initramfs (`cargo xtask linux`)"
    } else if p.contains("target/u-boot/") {
        "fetch Debian's U-Boot (`cargo xtask u-boot`)"
    } else {
        "build the guests (`cargo xtask build --guests-only`)"
    }
}

pub(super) fn images(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref();
        let kernel = &vm.kernel.path;
        let all = std::iter::once(("kernel image", kernel))
            .chain(vm.initrd.iter().map(|i| ("initrd", i)));
        for (what, path) in all {
            let resolved = src.resolve(path.get_ref());
            if resolved.is_file() {
                continue;
            }
            let state = if resolved.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            let msg = format!("{what} `{}` of VM `{n}` {state}", path.get_ref());
            let hint = format!(
                "looked for {}; paths are relative to {}; {}, or fix the path",
                resolved.display(),
                src.path.display(),
                provider(path.get_ref())
            );
            out.push(src.diag(path.span(), msg, hint));
        }
    }
}
