//! Cache coloring: the board's `[llc]` and the scenario's `colors` and
//! `shared-colors` (the mechanism is in [`crate::coloring`], the allocation in
//! `layout::colored`).

use crate::coloring::{MAX_COLORS, PAGE};
use crate::contract::aarch64::HV_POOL_SIZE;
use crate::diag::{Diagnostic, Source};
use crate::load::Inputs;
use crate::schema::{BoardFile, LlcSpec, VmSpec};
use crate::size::{human, MIB};

/// Colored RAM, all VMs together: stage-2 maps it with 4 KiB pages, one table page per
/// 2 MiB, and those tables may take at most half of the hypervisor's table pool.
pub const COLORED_RAM_MAX: u64 = HV_POOL_SIZE / 2 / PAGE * 2 * MIB;

/// The number of colors `[llc]` gives, if it is well formed.
pub(crate) fn color_count(llc: &LlcSpec) -> Option<u32> {
    let (size, ways) = (llc.size.get_ref().0, u64::from(*llc.ways.get_ref()));
    if ways == 0 || size == 0 || !size.is_multiple_of(ways) {
        return None;
    }
    let way = size / ways;
    if !way.is_power_of_two() || way < PAGE || way / PAGE > u64::from(MAX_COLORS) {
        return None;
    }
    u32::try_from(way / PAGE).ok()
}

/// `[llc]` on its own.
pub(super) fn board(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let Some(llc) = &b.llc else { return };
    let (size, ways, line) = (
        llc.size.get_ref().0,
        *llc.ways.get_ref(),
        *llc.line.get_ref(),
    );
    if ways == 0 {
        let hint = "give the associativity: CCSIDR_EL1.Associativity + 1, or the cache \
                    node's cache-size / (cache-sets x cache-line-size)";
        out.push(src.diag(llc.ways.span(), "[llc] ways is 0".into(), hint.into()));
        return;
    }
    if !line.is_power_of_two() || !(16..=256).contains(&line) {
        let msg = format!("[llc] line = {line} is not a cache line size");
        let hint = "a line is a power of two from 16 to 256 bytes (64 on Cortex-A cores)";
        out.push(src.diag(llc.line.span(), msg, hint.into()));
    }
    let way = size / u64::from(ways);
    if size == 0 || !size.is_multiple_of(u64::from(ways)) || !way.is_power_of_two() {
        let msg = format!(
            "[llc] size {} is not {ways} ways of a power-of-two size",
            human(size)
        );
        let hint = "give the cache's total size: sets x ways x line";
        out.push(src.diag(llc.size.span(), msg, hint.into()));
        return;
    }
    if way < PAGE || way / PAGE > u64::from(MAX_COLORS) {
        let msg = format!(
            "[llc] way size {} gives {} colors of 4 KiB; rtvisor colors from 1 to \
             {MAX_COLORS}",
            human(way),
            way as f64 / PAGE as f64
        );
        let hint = "check size and ways; a cache whose way is smaller than a page cannot \
                    be colored by pages";
        out.push(src.diag(llc.size.span(), msg, hint.into()));
    }
}

/// Parses a color list (`"0-3,8,10-11"`) against `count` colors: the mask, or what
/// is wrong with it.
pub fn parse_colors(text: &str, count: u32) -> Result<u64, String> {
    let mut mask = 0u64;
    for item in text.split(',').map(str::trim) {
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("`{item}` is not a color or a range of colors (`a-b`)"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("range `{item}` runs backwards"));
        }
        if hi >= count {
            return Err(format!(
                "color {hi} does not exist: the board's LLC has {count} colors (0-{})",
                count - 1
            ));
        }
        for c in lo..=hi {
            if mask & (1 << c) != 0 {
                return Err(format!("color {c} is listed twice"));
            }
            mask |= 1 << c;
        }
    }
    Ok(mask)
}

/// Every VM's `colors`: a board with an `[llc]`, a list of its colors, not on an
/// identity-mapped or fixed-base VM, no overlap unless both VMs say `shared-colors`.
pub(super) fn scenario(inp: &Inputs, out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let count = inp.board.llc.as_ref().and_then(color_count);
    let mut given: Vec<(&VmSpec, u64)> = Vec::new();
    for vm in &inp.scenario.vm {
        let n = vm.name.get_ref();
        let Some(colors) = &vm.colors else {
            if vm.shared_colors {
                let msg = format!("VM `{n}` sets shared-colors but has no colors");
                let hint = "shared-colors lets a colored VM share colors with another; \
                            give it colors, or remove shared-colors";
                out.push(src.diag(vm.name.span(), msg, hint.into()));
            }
            continue;
        };
        let span = colors.span();
        if inp.board.llc.is_none() {
            let msg = format!(
                "VM `{n}` is given cache colors, but board `{}` has no [llc]",
                inp.board.name.get_ref()
            );
            let hint = "describe the last-level cache in the board file ([llc] size, ways, \
                        line; `rtvisor board inspect` writes it), or remove colors";
            out.push(src.diag(span.clone(), msg, hint.into()));
            continue;
        }
        let Some(count) = count else { continue }; // the board's [llc] is reported
        if vm.memory.identity {
            let msg = format!("VM `{n}` is identity-mapped and cannot be colored");
            let hint = "an identity-mapped VM sees its RAM at its host addresses, so its RAM \
                        must be one host region; colored RAM is made of scattered pages of \
                        its colors. Remove colors, or identity (a VM with DMA devices needs \
                        identity: without an IOMMU they use host addresses)";
            out.push(src.diag(span.clone(), msg, hint.into()));
        }
        if vm.memory.base.is_some() {
            let msg = format!("VM `{n}` has a fixed host base and colors");
            let hint = "a colored VM's RAM is made of pages of its colors, chosen by the \
                        layout; remove memory.base, or colors";
            out.push(src.diag(span.clone(), msg, hint.into()));
        }
        match parse_colors(colors.get_ref(), count) {
            Ok(mask) => given.push((vm, mask)),
            Err(e) => {
                let msg = format!("colors of VM `{n}`: {e}");
                let hint = format!(
                    "list colors and ranges from 0 to {}, like \"0-3,8\"",
                    count - 1
                );
                out.push(src.diag(span.clone(), msg, hint));
            }
        }
    }
    hypervisor(inp, count, &given, out);
    let total: u64 = given.iter().map(|(vm, _)| vm.memory.size.get_ref().0).sum();
    if let Some((last, _)) = given.last().filter(|_| total > COLORED_RAM_MAX) {
        let msg = format!(
            "the colored VMs have {} of RAM; at most {} can be colored",
            human(total),
            human(COLORED_RAM_MAX)
        );
        let hint = "stage-2 maps colored RAM page by page, and its tables come from the \
                    hypervisor's 1 MiB table pool; color less memory";
        if let Some(c) = &last.colors {
            out.push(src.diag(c.span(), msg, hint.into()));
        }
    }
    for (i, &(vm, mask)) in given.iter().enumerate() {
        for &(other, theirs) in &given[..i] {
            let common = mask & theirs;
            if common == 0 || (vm.shared_colors && other.shared_colors) {
                continue;
            }
            let msg = format!(
                "VM `{}` shares colors {} with VM `{}`",
                vm.name.get_ref(),
                list(common),
                other.name.get_ref()
            );
            let hint = "VMs with common colors evict each other's lines from the LLC; give \
                        them disjoint colors, or set shared-colors = true in both";
            if let Some(c) = &vm.colors {
                out.push(src.diag(c.span(), msg, hint.into()));
            }
        }
    }
}

/// `[hypervisor] colors`: a board with an `[llc]`, a list of its colors, none a VM's
/// unless both say `shared-colors`; `shared-colors` only with colors.
fn hypervisor(inp: &Inputs, count: Option<u32>, vms: &[(&VmSpec, u64)], out: &mut Vec<Diagnostic>) {
    let src = &inp.scenario_src;
    let hv = &inp.scenario.hypervisor;
    let Some(colors) = &hv.colors else {
        if hv.shared_colors {
            let msg = "[hypervisor] sets shared-colors but has no colors".to_owned();
            let hint = "shared-colors lets the hypervisor's colors overlap a VM's that also \
                        says so; give [hypervisor] colors, or remove shared-colors";
            out.push(src.diag(hv.console.span(), msg, hint.into()));
        }
        return;
    };
    if inp.board.llc.is_none() {
        let msg = format!(
            "the hypervisor is given cache colors, but board `{}` has no [llc]",
            inp.board.name.get_ref()
        );
        let hint = "describe the last-level cache in the board file ([llc] size, ways, \
                    line; `rtvisor board inspect` writes it), or remove colors from \
                    [hypervisor]";
        out.push(src.diag(colors.span(), msg, hint.into()));
        return;
    }
    let Some(count) = count else { return }; // the board's [llc] is reported
    let mask = match parse_colors(colors.get_ref(), count) {
        Ok(mask) => mask,
        Err(e) => {
            let msg = format!("colors of [hypervisor]: {e}");
            let hint = format!(
                "list colors and ranges from 0 to {}, like \"0-1\"",
                count - 1
            );
            out.push(src.diag(colors.span(), msg, hint));
            return;
        }
    };
    for &(vm, theirs) in vms {
        let common = mask & theirs;
        if common == 0 || (vm.shared_colors && hv.shared_colors) {
            continue;
        }
        let msg = format!(
            "the hypervisor shares colors {} with VM `{}`",
            list(common),
            vm.name.get_ref()
        );
        let hint = "the hypervisor's translation tables, read by every stage-2 walk, would \
                    evict the VM's lines and the VM theirs; give them disjoint colors, or \
                    set shared-colors = true in [hypervisor] and in the VM";
        out.push(src.diag(colors.span(), msg, hint.into()));
    }
}

/// A mask as a color list (`0-3,8`).
pub fn list(mask: u64) -> String {
    crate::coloring::ColorList(mask).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_lists_parse_and_print() {
        assert_eq!(parse_colors("0-3", 16), Ok(0xf));
        assert_eq!(parse_colors("0-1, 4,8-9", 16), Ok(0x313));
        assert!(parse_colors("3-1", 16).unwrap_err().contains("backwards"));
        assert!(parse_colors("16", 16).unwrap_err().contains("0-15"));
        assert!(parse_colors("1,0-2", 16).unwrap_err().contains("twice"));
        assert!(parse_colors("a", 16).is_err());
        assert!(parse_colors("", 16).is_err());
        assert_eq!(list(0x313), "0-1,4,8-9");
        assert_eq!(list(1 << 63), "63");
    }
}
