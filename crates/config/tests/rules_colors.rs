//! T0/T1: cache coloring rules (`[llc]`, `colors`, `shared-colors`), each asserting
//! the exact message, hint and location, and the colored layout of whole scenarios.
//!
//! Line map: 1-3 header; VM `a` lines 4-9 then its extra lines from 10; VM `b` after.
//! Every message is checked whole, so each test fails if its rule goes.

mod support;

use rtvisor_config::tables::RamMap;
use std::collections::BTreeMap;
use support::{assert_one, errors, gp, rules_tree, scenario, vm, Tree};

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

/// Takes the `[llc]` table out of the tree's board.
fn drop_llc(t: &Tree) {
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap();
    let start = board.find("[llc]").unwrap();
    let end = start + board[start..].find("\n\n").unwrap();
    t.write(
        "board.toml",
        format!("{}{}", &board[..start], &board[end..]),
    );
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
    drop_llc(&t);
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
        "no room for the colored pages: their colors need a host region of 8 GiB (each \
         VM spans its size x 32 / the number of its colors; the hypervisor's tables 1 MiB \
         x 32 / the number of its colors)",
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

/// `s` with `lines` added to its `[hypervisor]` table (after `console`, line 3).
fn with_hv(s: String, lines: &str) -> String {
    s.replacen(
        "console = \"uart0\"\n",
        &format!("console = \"uart0\"\n{lines}"),
        1,
    )
}

/// Every page of the hypervisor's colored tables is of its colors, outside its own
/// memory and every VM's pages, and there are as many as its table pool has.
fn check_hv_pages(plan: &rtvisor_config::Plan) -> Vec<u64> {
    let hv = plan.hypervisor.tables.expect("colored tables");
    let mut pages = Vec::new();
    for (hpa, size) in hv.runs() {
        pages.extend((0..size / 0x1000).map(|p| hpa.raw() + p * 0x1000));
    }
    assert_eq!(pages.len() as u64, 1 << 8, "the 1 MiB table pool");
    let vm_pages: Vec<u64> = plan.vms.iter().flat_map(|vm| pages_of(&vm.ram)).collect();
    let own = plan.hypervisor.memory;
    for (k, &p) in pages.iter().enumerate() {
        let color = (p / 0x1000) % u64::from(hv.colors.count);
        assert!(
            hv.colors.mask & (1 << color) != 0,
            "page {p:#x}: color {color}"
        );
        assert!(!vm_pages.contains(&p), "page {p:#x} is also a VM's");
        assert!(p + 0x1000 <= own.base.raw() || p >= own.base.raw() + own.size);
        assert_eq!(hv.page(k as u64).map(|h| h.raw()), Some(p), "page {k}");
    }
    assert_eq!(hv.page(pages.len() as u64), None);
    pages
}

fn pages_of(ram: &RamMap) -> Vec<u64> {
    pages(ram)
}

#[test]
fn the_hypervisor_tables_take_pages_of_its_colors_only() {
    let t = rules_tree();
    let s = with_hv(
        scenario(&[
            colored("a", "[1]", "16MiB", "colors = \"2-7\"\n"),
            colored("b", "[2]", "32MiB", "colors = \"8-31\"\n"),
            colored("c", "[3]", "16MiB", ""),
        ]),
        "colors = \"0-1\"\n",
    );
    let plan = check_pages(&t, &s);
    let pages = check_hv_pages(&plan);
    // First in the colored area: 256 pages of 2 colors take 128 periods.
    let hv = plan.hypervisor.tables.unwrap();
    assert_eq!(
        (hv.hpa.raw(), hv.span().size),
        (0x4220_0000, 128 * 32 * 0x1000)
    );
    assert_eq!(pages[..3], [0x4220_0000, 0x4220_1000, 0x4222_0000]);
    let map = plan.map();
    assert!(
        map.contains(
            "  tables   HPA 0x4220_0000..0x4320_0000 (1 MiB of pages, colors 0-1 of 32: its pages \
         of the range; its image, data and stacks stay in its RAM)"
        ),
        "{map}"
    );
    // Without colors, no colored tables.
    let plain = rtvisor_config::check(&t.write("p.toml", scenario(&[gp("a", "[1]")]))).unwrap();
    assert_eq!(plain.hypervisor.tables, None);
}

#[test]
fn the_hypervisor_alone_may_be_colored() {
    let t = rules_tree();
    let s = with_hv(scenario(&[gp("a", "[1]")]), "colors = \"0-3\"\n");
    let plan = check_pages(&t, &s);
    check_hv_pages(&plan);
    // The uncolored VM goes after the colored area.
    let hv = plan.hypervisor.tables.unwrap().span();
    assert!(plan.vms[0].ram.hpa.raw() >= hv.base.raw() + hv.size);
}

#[test]
fn hypervisor_colors_shared_with_a_vm_need_shared_colors_in_both() {
    let t = rules_tree();
    let vms = || scenario(&[colored("a", "[1]", "16MiB", "colors = \"2-7\"\n")]);
    assert_one(
        &t,
        &with_hv(vms(), "colors = \"0-3\"\n"),
        4,
        10,
        "the hypervisor shares colors 2-3 with VM `a`",
        "the hypervisor's translation tables, read by every stage-2 walk, would evict the \
         VM's lines and the VM theirs; give them disjoint colors, or set shared-colors = \
         true in [hypervisor] and in the VM",
    );
    // Both say shared-colors: allowed, and still no page is given twice.
    let s = with_hv(
        scenario(&[colored(
            "a",
            "[1]",
            "16MiB",
            "colors = \"2-7\"\nshared-colors = true\n",
        )]),
        "colors = \"0-3\"\nshared-colors = true\n",
    );
    check_hv_pages(&check_pages(&t, &s));
}

#[test]
fn hypervisor_colors_are_checked_like_a_vms() {
    let t = rules_tree();
    let s = with_hv(scenario(&[gp("a", "[1]")]), "colors = \"0-32\"\n");
    assert_one(
        &t,
        &s,
        4,
        10,
        "colors of [hypervisor]: color 32 does not exist: the board's LLC has 32 colors (0-31)",
        "list colors and ranges from 0 to 31, like \"0-1\"",
    );
    let s = with_hv(scenario(&[gp("a", "[1]")]), "shared-colors = true\n");
    assert_one(
        &t,
        &s,
        3,
        11,
        "[hypervisor] sets shared-colors but has no colors",
        "shared-colors lets the hypervisor's colors overlap a VM's that also says so; give \
         [hypervisor] colors, or remove shared-colors",
    );
    drop_llc(&t);
    let s = with_hv(scenario(&[gp("a", "[1]")]), "colors = \"0-1\"\n");
    assert_one(
        &t,
        &s,
        4,
        10,
        "the hypervisor is given cache colors, but board `qemu-virt-aarch64` has no [llc]",
        "describe the last-level cache in the board file ([llc] size, ways, line; `rtvisor \
         board inspect` writes it), or remove colors from [hypervisor]",
    );
}
