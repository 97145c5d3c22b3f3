//! Rules on `[[qemu-device]]`: each names a transport of the board that a VM owns,
//! with the keys its kind takes. On aarch64 the transport is a virtio-mmio transport
//! (one device each) or a PCIe host bridge (any number of devices, QEMU picks the
//! slots); on x86_64 it is a function of the board's host bridge that a VM is given
//! (`qemu_x86`), one device each.

use crate::diag::{closest, Diagnostic};
use crate::load::Inputs;
use crate::qemu::{QemuDeviceKindSpec, QemuDeviceSpec};
use std::ops::Range;

/// The compatible string of a virtio-mmio transport.
const VIRTIO_MMIO: &str = "virtio,mmio";

/// What a transport takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Takes {
    /// One device.
    One,
    /// Any number (a host bridge's root bus).
    Many,
}

pub(crate) fn rules(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let x86 = inp.board.arch() == crate::contract::Arch::X86_64;
    let src = &inp.scenario_src;
    let mut seen: Vec<&str> = Vec::new();
    for q in &inp.scenario.qemu_device {
        let name = q.transport.get_ref().as_str();
        let at = q.transport.span();
        let takes = match x86 {
            true => super::qemu_x86::transport(inp, name, at.clone(), out),
            false => transport(inp, name, at.clone(), out),
        };
        let Some(takes) = takes else {
            continue;
        };
        if takes == Takes::One && seen.contains(&name) {
            let msg = format!("transport `{name}` gets two QEMU devices");
            out.push(src.diag(at, msg, "a transport holds one device".into()));
            continue;
        }
        seen.push(name);
        let owned = inp
            .scenario
            .vm
            .iter()
            .any(|vm| vm.devices.iter().any(|d| d.get_ref() == name));
        if !owned {
            let msg = format!("transport `{name}` is not passed to any VM");
            let hint = format!("add \"{name}\" to the `devices` of the VM that uses it");
            out.push(src.diag(at, msg, hint));
        }
        kind(inp, q, out);
    }
}

/// An aarch64 transport: a virtio-mmio transport or a PCIe host bridge of the board;
/// `None` after an error.
fn transport(
    inp: &Inputs,
    name: &str,
    at: Range<usize>,
    out: &mut Vec<Diagnostic>,
) -> Option<Takes> {
    let transports = inp
        .board
        .device
        .iter()
        .filter(|d| d.compatible.0.iter().any(|c| c == VIRTIO_MMIO));
    if crate::pcie::find(inp, name).is_some() {
        // A host bridge takes several devices (QEMU gives each its own slot).
        return Some(Takes::Many);
    }
    if transports.clone().any(|d| d.name.get_ref() == name) {
        return Some(Takes::One);
    }
    let msg = format!(
        "`{name}` is not a virtio-mmio transport or PCIe host bridge of board `{}`",
        inp.board.name.get_ref()
    );
    let names = transports
        .map(|d| d.name.get_ref().as_str())
        .chain(inp.board.pcie.iter().map(|p| p.name.get_ref().as_str()));
    let hint = match closest(name, names) {
        Some(best) => format!("did you mean `{best}`?"),
        None => "QEMU devices plug into the board's virtio-mmio transports and PCIe host \
                 bridges"
            .to_owned(),
    };
    out.push(inp.scenario_src.diag(at, msg, hint));
    None
}

/// The keys a device's kind takes.
fn kind(inp: &Inputs, q: &QemuDeviceSpec, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    match q.kind.get_ref() {
        QemuDeviceKindSpec::VirtioBlk if q.file.is_none() => {
            let msg = "a `virtio-blk` device needs its disk image".to_owned();
            let hint = "add file = \"path/to/disk.img\" (relative to this file)".to_owned();
            out.push(src.diag(q.kind.span(), msg, hint));
        }
        QemuDeviceKindSpec::VirtioNet => {
            for (key, span) in [
                ("file", q.file.as_ref().map(|f| f.span())),
                ("read-only", q.read_only.as_ref().map(|r| r.span())),
            ] {
                if let Some(span) = span {
                    let msg = format!("a `virtio-net` device takes no `{key}`");
                    out.push(src.diag(span, msg, format!("remove `{key}`")));
                }
            }
        }
        QemuDeviceKindSpec::VirtioBlk => {}
    }
}
