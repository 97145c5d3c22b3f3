//! T0: identity-mapped x86_64 VMs. Their RAM from 1 MiB is at the same host addresses,
//! their first MiB in private host pages; the hypervisor has to be moved out of the way
//! with `[hypervisor] memory.base`, whose x86_64 rules are here too.

mod support;

use support::{errors, fake_pvh_elf, repo, Flat, Tree};

const MIB: u64 = 1 << 20;

/// The q35 board as `board.toml` and a PVH guest `k.elf` linked at 16 MiB (as Debian's
/// vmlinux is).
fn tree() -> Tree {
    let t = Tree::new("identity-x86");
    let board = std::fs::read_to_string(repo().join("boards/qemu-q35-x86_64.toml")).unwrap();
    t.write("board.toml", board);
    t.write("k.elf", fake_pvh_elf(0x100_0000, 4096, 0x100_0010, 4));
    t
}

/// `hv` is the `[hypervisor]` memory line (or ""), then VM `linux` (identity, 64 MiB
/// unless `linux_mem` says) and VM `rt` (32 MiB, placed automatically).
fn scenario(hv: &str, linux_mem: &str) -> String {
    format!(
        "board = \"board.toml\"\n[hypervisor]\nconsole = \"com1\"\n{hv}\n\
         [[vm]]\nname = \"rt\"\nkind = \"rt\"\ncpus = [3]\nmemory = {{ size = \"32MiB\" }}\n\
         kernel = {{ path = \"k.elf\", format = \"elf\" }}\n\
         [[vm]]\nname = \"linux\"\nkind = \"general\"\ncpus = [1, 2]\nmemory = {linux_mem}\n\
         kernel = {{ path = \"k.elf\", format = \"elf\" }}\n"
    )
}

const IDENTITY: &str = "{ size = \"64MiB\", identity = true }";
const HV_HIGH: &str = "memory = { size = \"32MiB\", base = 0x1000_0000 }";

/// Line and column (1-based) of the `nth` (from 0) `needle` in `text`.
fn at(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let off = text.match_indices(needle).nth(nth).expect("needle").0;
    let line = text[..off].matches('\n').count() + 1;
    (line, off - text[..off].rfind('\n').map_or(0, |n| n + 1) + 1)
}

fn one(s: &str, needle: &str, nth: usize, message: &str, hint: &str) -> Vec<Flat> {
    let (line, col) = at(s, needle, nth);
    vec![("s.toml".into(), line, col, message.into(), hint.into())]
}

#[test]
fn an_identity_vm_keeps_its_first_mib_private_and_the_rest_one_to_one() {
    let t = tree();
    let s = scenario(HV_HIGH, IDENTITY);
    assert_eq!(errors(&t, &s), vec![]);
    let plan = rtvisor_config::check(&t.path("s.toml")).unwrap();
    let (rt, linux) = (&plan.vms[0], &plan.vms[1]);
    assert_eq!((linux.ram.ipa.raw(), linux.ram.hpa.raw()), (0, 0));
    assert_eq!(linux.entry.raw(), 0x100_0010, "the ELF at its link address");
    let low = linux.ram.low.expect("private low pages").raw();
    let hv = plan.hypervisor.memory;
    assert_eq!(hv.base.raw(), 0x1000_0000);
    // Nothing else is where the identity RAM is, and the private MiB and `rt` are
    // clear of it, of the hypervisor and of each other.
    let taken = [
        (MIB, 63 * MIB),
        (hv.base.raw(), hv.size),
        (low, MIB),
        (rt.ram.hpa.raw(), rt.ram.size),
    ];
    for (i, a) in taken.iter().enumerate() {
        for b in &taken[i + 1..] {
            assert!(
                a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0,
                "{a:x?} overlaps {b:x?}"
            );
        }
        assert!(a.0 >= 2 * MIB || i == 0, "{a:x?} in GRUB's area");
    }
    assert_eq!(rt.ram.low, None);
    let runs: Vec<_> = linux
        .ram
        .runs()
        .map(|r| (r.ipa.raw(), r.hpa.raw(), r.size))
        .collect();
    assert_eq!(runs, [(0, low, MIB), (MIB, MIB, 63 * MIB)]);
}

#[test]
fn the_hypervisor_in_the_way_is_named_with_the_base_that_clears_it() {
    let t = tree();
    let s = scenario("", IDENTITY);
    assert_eq!(
        errors(&t, &s),
        one(
            &s,
            "\"64MiB\"",
            0,
            "identity-mapped VM `linux` needs host RAM 0x0010_0000..0x0400_0000, where the \
             hypervisor is (0x0020_0000..0x0220_0000)",
            "move the hypervisor above it: [hypervisor] memory = { ..., base = 0x0400_0000 } \
             (or higher)",
        )
    );
}

#[test]
fn an_identity_vm_takes_no_base_and_only_one_is_identity() {
    let t = tree();
    let s = scenario(
        HV_HIGH,
        "{ size = \"64MiB\", identity = true, base = 0x400_0000 }",
    );
    assert_eq!(
        errors(&t, &s),
        one(
            &s,
            "0x400_0000",
            0,
            "identity-mapped x86_64 VM `linux` has a memory `base`",
            "remove base: an identity-mapped x86_64 VM's RAM is at host \
             0x0010_0000..0x0400_0000 (its guest addresses), its first MiB in private pages",
        )
    );
    let s = scenario(HV_HIGH, IDENTITY).replace(
        "{ size = \"32MiB\" }",
        "{ size = \"32MiB\", identity = true }",
    );
    assert_eq!(
        errors(&t, &s),
        one(
            &s,
            "\"64MiB\"",
            0,
            "identity-mapped VM `linux` needs host RAM 0x0010_0000..0x0400_0000, which VM `rt` \
             has (0x0010_0000..0x0200_0000)",
            "only one x86_64 VM can be identity-mapped, and a fixed `base` must leave its RAM \
             alone: if VM `rt` is identity-mapped too, make one of them identity = false; if \
             it has a `base`, move it clear of 0x0010_0000..0x0400_0000",
        )
    );
}

#[test]
fn an_x86_hypervisor_base_is_aligned_above_grub_and_below_4_gib() {
    let t = tree();
    let cases = [
        (
            "0x1010_0000",
            "hypervisor memory base 0x1010_0000 is not 2 MiB aligned",
            "use 0x1000_0000 or 0x1020_0000",
        ),
        (
            "0x0",
            "hypervisor memory base 0x0 is below 0x0020_0000",
            "below 0x0020_0000 is the firmware's and GRUB's memory; use 0x0020_0000 or higher",
        ),
    ];
    for (base, message, hint) in cases {
        let hv = format!("memory = {{ size = \"32MiB\", base = {base} }}");
        let s = scenario(&hv, "{ size = \"64MiB\" }");
        assert_eq!(errors(&t, &s), one(&s, base, 0, message, hint), "{base}");
    }
    // Above 4 GiB (a board with RAM there).
    let board = std::fs::read_to_string(repo().join("boards/qemu-q35-x86_64.toml"))
        .unwrap()
        .replace("size = 0x7fee_0000", "size = 0x1_7fee_0000");
    t.write("board.toml", board);
    let hv = "memory = { size = \"32MiB\", base = 0x1_0000_0000 }";
    let s = scenario(hv, "{ size = \"64MiB\" }");
    // (The board's APICs now overlap its RAM too: only the scenario's error is asked.)
    let mine: Vec<Flat> = errors(&t, &s)
        .into_iter()
        .filter(|e| e.0 == "s.toml")
        .collect();
    assert_eq!(
        mine,
        one(
            &s,
            "0x1_0000_0000",
            0,
            "hypervisor memory (0x1_0000_0000..0x1_0200_0000) ends above 4 GiB",
            "the hypervisor starts with the first 4 GiB mapped and must run from there; give \
             it a lower base",
        )
    );
}

#[test]
fn a_moved_hypervisor_leaves_the_rest_of_ram_to_the_vms() {
    // A plain scenario with the hypervisor high: the VMs go below it, from 2 MiB.
    let t = tree();
    let s = scenario(HV_HIGH, "{ size = \"64MiB\" }");
    assert_eq!(errors(&t, &s), vec![]);
    let plan = rtvisor_config::check(&t.path("s.toml")).unwrap();
    assert_eq!(plan.vms[0].ram.hpa.raw(), 2 * MIB);
    assert_eq!(plan.vms[1].ram.hpa.raw(), 34 * MIB);
    assert_eq!(plan.vms[1].ram.low, None);
}
