//! The machine contract's limits on a scenario (`crate::contract`): what the image
//! has room for, reported at the key that crosses it. A limit is a property of the
//! build, so each hint names the contract as the place to raise it.

use crate::contract::aarch64::{GUEST_RAM_IPA, IPA_LIMIT, VGIC_INTIDS};
use crate::contract::{x86_64 as x86, Arch};
use crate::contract::{MAX_SHARED_NAME, MAX_VCPUS, MAX_VMS, MAX_VM_NAME};
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::schema::{DeviceSpec, ModeSpec, VmSpec};
use crate::size::{hex, range, PAGE};

/// Where a limit is set.
const RAISE: &str = "crates/config/src/contract/mod.rs";

pub(super) fn rules(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    for (i, vm) in inp.scenario.vm.iter().enumerate() {
        let n = vm.name.get_ref();
        if i == MAX_VMS {
            let msg = format!(
                "VM `{n}` is VM number {}: an rtvisor image holds at most {MAX_VMS} VMs",
                i + 1
            );
            let hint = format!(
                "remove or merge VMs (this and every later [[vm]] is over the limit); \
                 MAX_VMS in {RAISE} sets it"
            );
            out.push(src.diag(vm.name.span(), msg, hint));
        }
        if n.len() > MAX_VM_NAME {
            let msg = format!(
                "VM name `{}...` is {} bytes long; at most {MAX_VM_NAME}",
                prefix(n, 16),
                n.len()
            );
            let hint = "shorten it: it prefixes every console line and names the VM's generated \
                        files"
                .to_owned();
            out.push(src.diag(vm.name.span(), msg, hint));
        }
        let vcpus = vm.cpus.get_ref().len();
        if vcpus > MAX_VCPUS {
            let msg = format!("VM `{n}` has {vcpus} vCPUs; a VM has at most {MAX_VCPUS}");
            let hint = format!(
                "list at most {MAX_VCPUS} CPUs in `cpus`, or split the work over two VMs; \
                 MAX_VCPUS in {RAISE} sets the limit"
            );
            out.push(src.diag(vm.cpus.span(), msg, hint));
        }
        match inp.board.arch() {
            Arch::Aarch64 => {
                ram(inp, vm, out);
                devices(inp, vm, out);
            }
            Arch::X86_64 => x86_vm(inp, vm, out),
        }
    }
    for r in &inp.scenario.shared_memory {
        let n = r.name.get_ref();
        if n.len() > MAX_SHARED_NAME {
            let msg = format!(
                "shared-memory name `{}...` is {} bytes long; at most {MAX_SHARED_NAME}",
                prefix(n, 16),
                n.len()
            );
            let hint = "shorten it: each peer's device tree has the node `uio-<name>`, and a \
                        device-tree node name has at most 31 characters"
                .to_owned();
            out.push(src.diag(r.name.span(), msg, hint));
        }
    }
}

/// The first `max` characters of `s`.
fn prefix(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(at, _)| &s[..at])
}

/// A VM's RAM must be inside the guest-physical space: at [`GUEST_RAM_IPA`], or for an
/// identity-mapped VM with a fixed base at that base. (An identity-mapped VM placed
/// automatically is checked in `layout`.)
fn ram(inp: &Inputs, vm: &VmSpec, out: &mut Vec<Diagnostic>) {
    let mem = &vm.memory;
    let size = mem.size.get_ref().0;
    let (ipa, span) = match (&mem.base, mem.identity) {
        (Some(base), true) => (*base.get_ref(), base.span()),
        (None, true) => return,
        (_, false) => (GUEST_RAM_IPA, mem.size.span()),
    };
    if ipa.saturating_add(size) > IPA_LIMIT {
        out.push(beyond_ipa(inp, vm, ipa, size, span));
    }
}

/// The error for identity-mapped RAM beyond the IPA limit.
pub(crate) fn beyond_ipa(
    inp: &Inputs,
    vm: &VmSpec,
    base: u64,
    size: u64,
    span: std::ops::Range<usize>,
) -> Diagnostic {
    let msg = format!(
        "RAM of VM `{}` (IPA {}) is beyond the guest-physical address space",
        vm.name.get_ref(),
        range(base, size)
    );
    let hint = format!(
        "stage-2 translates {} bits: guest RAM must end below {} (an identity-mapped VM's \
         RAM is at its host address); give it less memory or a lower `base`",
        IPA_LIMIT.trailing_zeros(),
        hex(IPA_LIMIT)
    );
    inp.scenario_src.diag(span, msg, hint)
}

/// Passed-through devices are mapped 1:1, and a virtual-mode VM gets their interrupts
/// through the emulated GIC, which models INTIDs below [`VGIC_INTIDS`].
fn devices(inp: &Inputs, vm: &VmSpec, out: &mut Vec<Diagnostic>) {
    let n = vm.name.get_ref();
    let virtual_mode = vm
        .interrupt_mode
        .as_ref()
        .is_none_or(|m| *m.get_ref() == ModeSpec::Virtual);
    for name in &vm.devices {
        let Some(d) = board_device(inp, name.get_ref()) else {
            continue; // reported by `devices`
        };
        let (base, size) = (*d.base.get_ref(), d.size.get_ref().0);
        if base.saturating_add(size.max(PAGE)) > IPA_LIMIT {
            let msg = format!(
                "device `{}` ({}) is beyond the guest-physical address space of VM `{n}`",
                name.get_ref(),
                range(base, size)
            );
            let hint = format!(
                "devices are mapped at their host address and stage-2 translates {} bits \
                 (below {}); this device cannot be passed through",
                IPA_LIMIT.trailing_zeros(),
                hex(IPA_LIMIT)
            );
            out.push(inp.scenario_src.diag(name.span(), msg, hint));
        }
        let high: Vec<String> = d
            .irqs
            .iter()
            .map(|i| *i.get_ref())
            .filter(|&i| i >= VGIC_INTIDS)
            .map(|i| i.to_string())
            .collect();
        if virtual_mode && !high.is_empty() {
            let msg = format!(
                "INTID {} of device `{}` is beyond what the emulated GIC of VM `{n}` models \
                 (INTIDs below {VGIC_INTIDS})",
                high.join(", "),
                name.get_ref()
            );
            let hint = format!(
                "the guest would never see this interrupt; give the device to an rt VM with \
                 interrupt-mode = \"direct\", or raise VGIC_INTIDS in {}",
                "crates/config/src/contract/aarch64.rs"
            );
            out.push(inp.scenario_src.diag(name.span(), msg, hint));
        }
    }
}

/// An x86_64 VM: RAM below the 32-bit hole, devices in the 32-bit map with GSIs below
/// the doorbells', a command line that fits.
fn x86_vm(inp: &Inputs, vm: &VmSpec, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let n = vm.name.get_ref();
    let size = vm.memory.size.get_ref().0;
    if size > x86::GUEST_RAM_LIMIT {
        let msg = format!(
            "VM `{n}` has {} of RAM; an x86_64 VM has at most {}",
            crate::size::human(size),
            crate::size::human(x86::GUEST_RAM_LIMIT)
        );
        let hint = "its RAM runs from guest-physical 0 to below the 32-bit hole at \
                    0xc000_0000 (shared memory, the APICs); give it at most \"3GiB\""
            .to_owned();
        out.push(src.diag(vm.memory.size.span(), msg, hint));
    }
    if let Some(args) = &vm.bootargs {
        let len = args.get_ref().len();
        if len > x86::CMDLINE_MAX {
            let msg = format!(
                "bootargs of VM `{n}` are {len} bytes long; at most {}",
                x86::CMDLINE_MAX
            );
            let hint =
                "Linux on x86 reads at most 2047 bytes of command line; shorten it".to_owned();
            out.push(src.diag(args.span(), msg, hint));
        }
    }
    for name in &vm.devices {
        let Some(d) = board_device(inp, name.get_ref()) else {
            continue; // reported by `devices`
        };
        let (base, size) = (*d.base.get_ref(), d.size.get_ref().0);
        if base.saturating_add(size.max(PAGE)) > x86::GPA_LIMIT {
            let msg = format!(
                "device `{}` ({}) is above the 4 GiB guest map of VM `{n}`",
                name.get_ref(),
                range(base, size)
            );
            let hint = "devices are mapped at their host address, and an x86_64 VM's map is \
                        32-bit; this device cannot be passed through"
                .to_owned();
            out.push(src.diag(name.span(), msg, hint));
        }
        let high: Vec<String> = d
            .irqs
            .iter()
            .map(|i| *i.get_ref())
            .filter(|&i| i >= x86::DEVICE_GSIS)
            .map(|i| i.to_string())
            .collect();
        if !high.is_empty() {
            let msg = format!(
                "GSI {} of device `{}` is beyond the device GSIs of VM `{n}`'s I/O APIC \
                 (below {})",
                high.join(", "),
                name.get_ref(),
                x86::DEVICE_GSIS
            );
            let hint = format!(
                "GSIs {} and up are the shared-memory doorbells; the guest would never see \
                 this interrupt (DEVICE_GSIS in crates/config/src/contract/x86_64.rs)",
                x86::DEVICE_GSIS
            );
            out.push(src.diag(name.span(), msg, hint));
        }
    }
}

fn board_device<'a>(inp: &'a Inputs, name: &str) -> Option<&'a DeviceSpec> {
    inp.board.device.iter().find(|d| d.name.get_ref() == name)
}
