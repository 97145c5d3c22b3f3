//! Strings that end up in a guest's device tree: a flattened device tree stores
//! strings NUL-terminated and node names in a restricted alphabet, so a value that
//! breaks either is refused here, at its key, rather than by the generator. The
//! `{tsc-khz}` placeholder of `bootargs` (`crate::bootfill`) is x86_64's: on an
//! aarch64 board it would reach the guest unfilled, so it is refused there.

use crate::bootfill::TSC_KHZ;
use crate::contract::Arch;
use crate::diag::{Diagnostic, Source};
use crate::load::Inputs;
use crate::schema::BoardFile;

/// Longest device-tree node name (Devicetree Specification 2.2.1), without the
/// unit address.
const NODE_NAME_MAX: usize = 31;

/// `bootargs` becomes `/chosen/bootargs`.
pub(super) fn scenario(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    for vm in &inp.scenario.vm {
        let Some(args) = &vm.bootargs else { continue };
        if let Some(at) = args.get_ref().find('\0') {
            let msg = format!(
                "bootargs of VM `{}` contain a NUL character (at byte {at})",
                vm.name.get_ref()
            );
            let hint = "the device tree stores the command line as one NUL-terminated string; \
                        remove the \\u0000 (separate arguments with spaces)"
                .to_owned();
            out.push(inp.scenario_src.diag(args.span(), msg, hint));
        }
        let placeholder = core::str::from_utf8(TSC_KHZ).unwrap_or_default();
        if inp.board.arch() == Arch::Aarch64 && args.get_ref().contains(placeholder) {
            let msg = format!(
                "bootargs of VM `{}` contain `{placeholder}`, but board `{}` is aarch64: \
                 the placeholder is filled (with the measured TSC rate) on x86_64 only",
                vm.name.get_ref(),
                inp.board.name.get_ref()
            );
            let hint = format!(
                "remove `{placeholder}`: an aarch64 guest reads its counter's rate from \
                 CNTFRQ_EL0; on an x86_64 board write e.g. tsc_early_khz={placeholder}"
            );
            out.push(inp.scenario_src.diag(args.span(), msg, hint));
        }
    }
}

/// A passed-through device appears as node `<name before @>@<base>`, with its
/// `compatible` strings.
pub(super) fn board(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    for d in &b.device {
        let name = d.name.get_ref();
        let node = name.split('@').next().unwrap_or(name);
        if !node_name_valid(node) {
            let msg = format!(
                "device name `{name}` does not start with a device-tree node name \
                 (`{node}` before the `@`)"
            );
            let hint = format!(
                "a VM given this device sees it as node `<name>@<base>`: start the name with \
                 a letter, then up to {} letters, digits or `,._+-`, e.g. `virtio-mmio@0a000000`",
                NODE_NAME_MAX - 1
            );
            out.push(src.diag(d.name.span(), msg, hint));
        }
        if d.compatible.0.iter().any(|c| c.contains('\0')) {
            let msg = format!("a `compatible` string of device `{name}` contains a NUL character");
            let hint = "device-tree strings are NUL-terminated; list several strings as \
                        compatible = [\"vendor,model\", \"generic\"]"
                .to_owned();
            out.push(src.diag(d.name.span(), msg, hint));
        }
    }
}

/// Devicetree Specification 2.2.1: 1 to 31 characters, a letter first, then letters,
/// digits and `,._+-`.
fn node_name_valid(node: &str) -> bool {
    let valid = |c: char| c.is_ascii_alphanumeric() || ",._+-".contains(c);
    node.len() <= NODE_NAME_MAX
        && node.starts_with(|c: char| c.is_ascii_alphabetic())
        && node.chars().all(valid)
}
