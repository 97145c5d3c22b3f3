//! `[[qemu-device]]` on an x86_64 board (QEMU q35): the transport is a function of
//! the board's `[[pcie]]` that a VM is given (`pcie@b0000000/00:03.0`), and QEMU plugs
//! the device in at that address of its root bus (`bus=pcie.0,addr=03.0`), so the
//! function the VM is given is the device. Each function holds one device, as
//! function 0 of a slot q35 leaves free.

use super::qemu::Takes;
use crate::diag::{closest, Diagnostic};
use crate::load::Inputs;
use crate::pcie;
use std::ops::Range;

/// Slots of q35's root bus that QEMU fills itself: the host bridge (00), the VGA
/// (01), and the LPC, SATA and SMBus functions of the ICH9 (1f).
pub(crate) const Q35_SLOTS_TAKEN: [(u8, &str); 3] = [
    (0x00, "the host bridge"),
    (0x01, "the VGA"),
    (0x1f, "the ICH9's LPC, SATA and SMBus functions"),
];

/// The transport `name` (at `at`): `Some` when it is a function QEMU can plug a device
/// in at, else the errors and `None`.
pub(super) fn transport(
    inp: &Inputs,
    name: &str,
    at: Range<usize>,
    out: &mut Vec<Diagnostic>,
) -> Option<Takes> {
    let src = &inp.scenario_src;
    if pcie::find(inp, name).is_some() {
        let msg = format!(
            "[[qemu-device]] names host bridge `{name}` whole; on x86_64 it names a function \
             a VM is given"
        );
        let hint = format!(
            "write the function QEMU plugs the device in at, as the VM's `devices` lists it: \
             transport = \"{name}/00:03.0\" (a free slot of bus 00)"
        );
        out.push(src.diag(at, msg, hint));
        return None;
    }
    let Some((p, addr)) = pcie::find_function(inp, name) else {
        let msg = format!(
            "`{name}` is not a function of a PCIe host bridge of board `{}`",
            inp.board.name.get_ref()
        );
        let functions = inp
            .scenario
            .vm
            .iter()
            .flat_map(|vm| vm.devices.iter())
            .map(|d| d.get_ref().as_str())
            .filter(|d| pcie::find_function(inp, d).is_some());
        let hint = match (closest(name, functions), inp.board.pcie.first()) {
            (Some(best), _) => format!("did you mean `{best}`?"),
            (None, Some(b)) => format!(
                "on x86_64 QEMU devices are functions of the board's host bridge, named as \
                 `devices` names them (for example `{}/00:03.0`)",
                b.name.get_ref()
            ),
            (None, None) => "on x86_64 QEMU devices are functions of the board's host bridge; \
                             describe it with a [[pcie]] in the board file"
                .to_owned(),
        };
        out.push(src.diag(at, msg, hint));
        return None;
    };
    let b = p.name.get_ref();
    let Ok(addr) = addr else {
        // The VM's `devices` entry says why (pci_x86); an entry named nowhere else is
        // refused here.
        let msg = format!("`{name}` is not a function address");
        let hint = format!(
            "write `{b}/BB:DD.F`: bus and device in two lower-case hex digits, the function \
             from 0 to 7 (for example `{b}/00:03.0`)"
        );
        out.push(src.diag(at, msg, hint));
        return None;
    };
    let slot = format!("{b}/00:{:02x}.0", addr.dev);
    let refused = if addr.bus != 0 {
        Some((
            format!(
                "QEMU plugs devices into bus 00 of `{b}`; `{name}` is on bus {:02x}",
                addr.bus
            ),
            format!("give a function on bus 00, for example `{slot}`"),
        ))
    } else if addr.func != 0 {
        Some((
            format!(
                "`{name}` is function {} of its slot; QEMU plugs a device in as function 0",
                addr.func
            ),
            format!("use function 0: `{slot}`"),
        ))
    } else if let Some((_, what)) = Q35_SLOTS_TAKEN.iter().find(|(d, _)| *d == addr.dev) {
        Some((
            format!("slot {:02x} of QEMU q35's bus 00 holds {what}", addr.dev),
            format!("use a free slot, 02 to 1e (for example `{b}/00:03.0`)"),
        ))
    } else {
        None
    };
    if let Some((msg, hint)) = refused {
        out.push(src.diag(at, msg, hint));
        return None;
    }
    Some(Takes::One)
}
