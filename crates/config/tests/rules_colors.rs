//! T0/T1: cache coloring rules (`[llc]`, `colors`, `shared-colors`), each asserting
//! the exact message, hint and location, and the colored layout of whole scenarios.
//!
//! Line map: 1-3 header; VM `a` lines 4-9 then its extra lines from 10; VM `b` after.
//! Every message is checked whole, so each test fails if its rule goes.

mod support;

use rtvisor_config::tables::RamMap;
use std::collections::BTreeMap;
use support::{assert_one, errors, rules_tree, scenario, vm, Tree};

/// A general VM on `cpus` with `size` of RAM and `extra` lines.
fn colored(name: &str, cpus: &str, size: &str, extra: &str) -> String {
    vm(
        name,
        "general",
        cpus,
        &format!("{{ size = \"{size}\" }}"),
        extra,
    )
}

/// Every host page of `ram`, by page address.
fn pages(ram: &RamMap) -> Vec<u64> {
    let mut out = Vec::new();
    for run in ram.runs() {
        out.extend((0..run.size / 0x1000).map(|p| run.hpa.raw() + p * 0x1000));
    }
    out
}

/// The plan of `s`, whose VMs must hold no host page twice; each colored VM's pages
/// are of its colors.
fn check_pages(t: &Tree, s: &str) -> rtvisor_config::Plan {
    let plan = rtvisor_config::check(&t.write("s.toml", s)).unwrap_or_else(|d| panic!("{d}"));
    let mut owner: BTreeMap<u64, &str> = BTreeMap::new();
    for vm in &plan.vms {
        let all = pages(&vm.ram);
        assert_eq!(all.len() as u64, vm.ram.size / 0x1000, "{}", vm.name);
        for p in all {
            if let Some(c) = vm.ram.colors {
                let color = (p / 0x1000) % u64::from(c.count);
                assert!(c.mask & (1 << color) != 0, "{}: page {p:#x}", vm.name);
            }
            if let Some(other) = owner.insert(p, &vm.name) {
                panic!("page {p:#x} is in VMs {other} and {}", vm.name);
            }
        }
    }
    plan
}

#[test]
fn colored_vms_get_pages_of_their_colors_only() {
    let t = rules_tree();
    let s = scenario(&[
        colored("a", "[1]", "16MiB", "colors = \"0-3\"\n"),
        colored("b", "[2]", "32MiB", "colors = \"4-31\"\n"),
        colored("c", "[3]", "16MiB", ""),
    ]);
    let plan = check_pages(&t, &s);
    let (a, b, c) = (&plan.vms[0].ram, &plan.vms[1].ram, &plan.vms[2].ram);
    assert_eq!(a.colors.map(|c| (c.count, c.mask)), Some((32, 0xf)));
    assert_eq!(b.colors.map(|c| (c.count, c.mask)), Some((32, 0xffff_fff0)));
    assert_eq!(c.colors, None);
    // The colored area starts where the hypervisor ends; `a` spans 16 MiB x 32 / 4.
    assert_eq!((a.hpa.raw(), a.host_span().size), (0x4220_0000, 128 << 20));
    assert_eq!(b.hpa.raw(), 0x4220_0000);
    // The uncolored VM is placed after the area.
    assert_eq!(c.hpa.raw(), 0x4220_0000 + (128 << 20));
    // The guest sees contiguous RAM.
    assert_eq!((a.ipa.raw(), a.size), (0x4000_0000, 16 << 20));
}

#[test]
fn shared_colors_in_both_vms_allow_overlap_without_sharing_pages() {
    let t = rules_tree();
    let s = scenario(&[
        colored(
            "a",
            "[1]",
            "16MiB",
            "colors = \"0-7\"\nshared-colors = true\n",
        ),
        colored(
            "b",
            "[2]",
            "16MiB",
            "colors = \"4-11\"\nshared-colors = true\n",
        ),
    ]);
    let plan = check_pages(&t, &s);
    // `b` starts after the periods `a` takes of colors 4-7.
    let period = 32 * 0x1000;
    assert_eq!(plan.vms[1].ram.hpa.raw(), 0x4220_0000 + 512 * period);
}

#[test]
fn overlapping_colors_need_shared_colors_in_both() {
    let t = rules_tree();
    let s = scenario(&[
        colored(
            "a",
            "[1]",
            "16MiB",
            "colors = \"0-7\"\nshared-colors = true\n",
        ),
        colored("b", "[2]", "16MiB", "colors = \"4-11\"\n"),
    ]);
    assert_one(
        &t,
        &s,
        18,
        10,
        "VM `b` shares colors 4-7 with VM `a`",
        "VMs with common colors evict each other's lines from the LLC; give them disjoint \
         colors, or set shared-colors = true in both",
    );
}

#[test]
fn a_color_the_board_lacks_is_refused_at_the_key() {
    let t = rules_tree();
    let s = scenario(&[colored("a", "[1]", "16MiB", "colors = \"0-3, 32\"\n")]);
    assert_one(
        &t,
        &s,
        10,
        10,
        "colors of VM `a`: color 32 does not exist: the board's LLC has 32 colors (0-31)",
        "list colors and ranges from 0 to 31, like \"0-3,8\"",
    );
}

#[test]
fn an_identity_mapped_vm_cannot_be_colored() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", identity = true }",
        "colors = \"0-3\"\n",
    )]);
    assert_one(
        &t,
        &s,
        10,
        10,
        "VM `a` is identity-mapped and cannot be colored",
        "an identity-mapped VM sees its RAM at its host addresses, so its RAM must be one \
         host region; colored RAM is made of scattered pages of its colors. Remove colors, \
         or identity (a VM with DMA devices needs identity: without an IOMMU they use host \
         addresses)",
    );
}

#[test]
fn colors_need_an_llc_on_the_board() {
    let t = rules_tree();
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap();
    let start = board.find("[llc]").unwrap();
    let end = start + board[start..].find("\n\n").unwrap();
    t.write(
        "board.toml",
        format!("{}{}", &board[..start], &board[end..]),
    );
    let s = scenario(&[colored("a", "[1]", "16MiB", "colors = \"0-3\"\n")]);
    assert_one(
        &t,
        &s,
        10,
        10,
        "VM `a` is given cache colors, but board `qemu-virt-aarch64` has no [llc]",
        "describe the last-level cache in the board file ([llc] size, ways, line; `rtvisor \
         board inspect` writes it), or remove colors",
    );
}

#[test]
fn a_colored_vm_that_does_not_fit_is_refused_at_its_colors() {
    let t = rules_tree();
    // 256 MiB from 1 color of 32 spans 8 GiB.
    let s = scenario(&[colored("a", "[1]", "256MiB", "colors = \"5\"\n")]);
    assert_one(
        &t,
        &s,
        10,
        10,
        "no room for the colored VMs' pages: their colors need a host region of 8 GiB \
         (each VM spans its size x 32 / the number of its colors)",
        "give colored VMs more colors or less memory, or the other VMs less; `rtvisor \
         check` prints the map",
    );
}

#[test]
fn a_malformed_llc_is_refused_at_its_key() {
    let t = rules_tree();
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap();
    t.write("board.toml", board.replace("ways = 16", "ways = 3"));
    let s = scenario(&[colored("a", "[1]", "16MiB", "")]);
    let errs = errors(&t, &s);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "board.toml");
    assert_eq!(
        (errs[0].3.as_str(), errs[0].4.as_str()),
        (
            "[llc] size 2 MiB is not 3 ways of a power-of-two size",
            "give the cache's total size: sets x ways x line"
        )
    );
}

#[test]
fn colored_ram_is_bounded_by_the_table_pool() {
    let t = rules_tree();
    let s = scenario(&[
        colored("a", "[1]", "128MiB", "colors = \"0-15\"\n"),
        colored("b", "[2]", "130MiB", "colors = \"16-31\"\n"),
    ]);
    assert_one(
        &t,
        &s,
        17,
        10,
        "the colored VMs have 258 MiB of RAM; at most 256 MiB can be colored",
        "stage-2 maps colored RAM page by page, and its tables come from the hypervisor's \
         1 MiB table pool; color less memory",
    );
}
