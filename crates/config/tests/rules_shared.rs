//! T0: one test per `[[shared-memory]]` rule, each asserting the exact message, hint
//! and location, plus how regions are placed.
//!
//! Line map: 1-3 header; VM `a` (CPU 1) lines 4-9, VM `b` (CPU 2) lines 10-15; the
//! first `[[shared-memory]]` block starts at line 16 (name 17, size 18, then `base`
//! on 19 if given, then peers), see [`region`].

mod support;

use support::{assert_one, errors, gp, rules_tree, scenario, vm};

const PEERS: &str = r#"[{ vm = "a", access = "rw" }, { vm = "b", access = "ro" }]"#;

/// A `[[shared-memory]]` block: header, name, size, optional base, peers.
fn region(name: &str, size: &str, base: Option<&str>, peers: &str) -> String {
    let base = base.map_or(String::new(), |b| format!("base = {b}\n"));
    format!("[[shared-memory]]\nname = \"{name}\"\nsize = {size}\n{base}peers = {peers}\n")
}

/// VMs `a` and `b`, then `regions`.
fn two_vms(regions: &[String]) -> String {
    let mut parts = vec![gp("a", "[1]"), gp("b", "[2]")];
    parts.extend_from_slice(regions);
    scenario(&parts)
}

fn stats(peers: &str) -> String {
    region("stats", "\"64KiB\"", None, peers)
}

#[test]
fn a_valid_region_is_placed_and_mapped() {
    let t = rules_tree();
    let path = t.write("s.toml", two_vms(&[stats(PEERS)]));
    let plan = rtvisor_config::check(&path).unwrap_or_else(|d| panic!("{d}"));
    let r = &plan.shared[0];
    assert_eq!(
        (r.name.as_str(), r.hpa.raw(), r.size),
        ("stats", 0x4420_0000, 0x1_0000),
        "first fit after the VMs (hypervisor ends at 0x4220_0000, a and b take 32 MiB)"
    );
    let a = &plan.vms[0].shared[0];
    let b = &plan.vms[1].shared[0];
    assert_eq!(
        (a.ipa.raw(), a.hpa.raw(), a.writable),
        (0x1000_0000, 0x4420_0000, true)
    );
    assert_eq!(
        (b.ipa.raw(), b.hpa.raw(), b.writable),
        (0x1000_0000, 0x4420_0000, false)
    );
}

#[test]
fn automatic_vm_memory_avoids_a_fixed_region() {
    let t = rules_tree();
    let s = two_vms(&[region("stats", "\"64KiB\"", Some("0x4220_0000"), PEERS)]);
    let plan = rtvisor_config::check(&t.write("s.toml", s)).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(plan.shared[0].hpa.raw(), 0x4220_0000);
    assert_eq!(
        plan.vms[0].ram.hpa.raw(),
        0x4240_0000,
        "next 2 MiB boundary"
    );
}

#[test]
fn automatic_guest_addresses_skip_fixed_ones_and_align() {
    let t = rules_tree();
    let fixed = r#"[{ vm = "a", access = "rw", ipa = 0x1000_0000 }]"#;
    let s = two_vms(&[
        region("big", "\"2MiB\"", None, r#"[{ vm = "a", access = "rw" }]"#),
        region("small", "\"4KiB\"", None, fixed),
        region("tail", "\"4KiB\"", None, r#"[{ vm = "a", access = "rw" }]"#),
    ]);
    let plan = rtvisor_config::check(&t.write("s.toml", s)).unwrap_or_else(|d| panic!("{d}"));
    let got: Vec<(&str, u64)> = plan.vms[0]
        .shared
        .iter()
        .map(|m| (m.name.as_str(), m.ipa.raw()))
        .collect();
    assert_eq!(
        got,
        [
            ("big", 0x1020_0000),
            ("small", 0x1000_0000),
            ("tail", 0x1000_1000)
        ]
    );
}

#[test]
fn region_name_must_be_lowercase_digits_and_dashes() {
    let t = rules_tree();
    let s = two_vms(&[region("Stats_1", "\"64KiB\"", None, PEERS)]);
    let msg = "shared-memory name `Stats_1` is not made of lowercase letters, digits and `-`";
    let hint = "use a name like `stats-1`: it names the region's device-tree node in each peer";
    assert_one(&t, &s, 17, 8, msg, hint);
}

#[test]
fn region_names_are_unique() {
    let t = rules_tree();
    let s = two_vms(&[stats(PEERS), stats(PEERS)]);
    let hint = "the first region named `stats` is at line 17; rename one of them";
    assert_one(
        &t,
        &s,
        21,
        8,
        "shared-memory name `stats` is used twice",
        hint,
    );
}

#[test]
fn region_size_must_not_be_zero() {
    let t = rules_tree();
    let s = two_vms(&[region("stats", "0", None, PEERS)]);
    let hint = "give it at least 4 KiB, e.g. size = \"64KiB\"";
    assert_one(&t, &s, 18, 8, "size of shared memory `stats` is zero", hint);
}

#[test]
fn region_size_must_be_4kib_multiple() {
    let t = rules_tree();
    let s = two_vms(&[region("stats", "6000", None, PEERS)]);
    let msg = "size of shared memory `stats` (6000 bytes) is not a multiple of 4 KiB";
    let hint = "stage-2 maps whole 4 KiB pages; use \"8KiB\"";
    assert_one(&t, &s, 18, 8, msg, hint);
}

#[test]
fn region_base_must_be_4kib_aligned() {
    let t = rules_tree();
    let s = two_vms(&[region("stats", "\"64KiB\"", Some("0x7000_0800"), PEERS)]);
    let msg = "base 0x7000_0800 of shared memory `stats` is not 4 KiB aligned";
    assert_one(&t, &s, 19, 8, msg, "use 0x7000_0000 or 0x7000_1000");
}

#[test]
fn region_base_must_be_in_board_ram() {
    let t = rules_tree();
    // Below RAM and clear of the board's MMIO windows (the PCIe windows end at 0x3f00_0000).
    let s = two_vms(&[region("stats", "\"64KiB\"", Some("0x3f00_0000"), PEERS)]);
    let msg = "shared memory `stats` (0x3f00_0000..0x3f01_0000) is not inside the board's RAM";
    let hint = "board `qemu-virt-aarch64` RAM: 0x4000_0000..0xc000_0000";
    assert_one(&t, &s, 19, 8, msg, hint);
}

#[test]
fn region_must_not_overlap_the_hypervisor() {
    let t = rules_tree();
    let s = two_vms(&[region("stats", "\"64KiB\"", Some("0x4100_0000"), PEERS)]);
    let msg = "shared memory `stats` (0x4100_0000..0x4101_0000) overlaps the hypervisor \
               (0x4020_0000..0x4220_0000)";
    let hint = "use a base of 0x4220_0000 or above, or leave out `base` to place the region \
                automatically";
    assert_one(&t, &s, 19, 8, msg, hint);
}

#[test]
fn region_must_not_overlap_a_vm() {
    let t = rules_tree();
    let b = vm(
        "b",
        "general",
        "[2]",
        "{ size = \"16MiB\", base = 0x6000_0000 }",
        "",
    );
    let s = scenario(&[
        gp("a", "[1]"),
        b,
        region("stats", "\"64KiB\"", Some("0x6080_0000"), PEERS),
    ]);
    let msg = "shared memory `stats` (0x6080_0000..0x6081_0000) overlaps the memory of VM `b` \
               (0x6000_0000..0x6100_0000)";
    let hint = "move one of them, or leave out `base` to place the region automatically";
    assert_one(&t, &s, 19, 8, msg, hint);
}

#[test]
fn regions_must_not_overlap_each_other() {
    let t = rules_tree();
    let s = two_vms(&[
        region("one", "\"2MiB\"", Some("0x7000_0000"), PEERS),
        region("two", "\"64KiB\"", Some("0x701f_0000"), PEERS),
    ]);
    let msg = "shared memory `two` (0x701f_0000..0x7020_0000) overlaps shared memory `one` \
               (0x7000_0000..0x7020_0000)";
    let hint = "move one of them, or leave out `base` to place the region automatically";
    assert_one(&t, &s, 24, 8, msg, hint);
}

#[test]
fn region_needs_peers() {
    let t = rules_tree();
    let s = two_vms(&[stats("[]")]);
    let hint = "list the VMs that map it, e.g. peers = [{ vm = \"rt\", access = \"rw\" }]";
    assert_one(&t, &s, 19, 9, "shared memory `stats` has no peers", hint);
}

#[test]
fn peer_must_be_a_vm() {
    let t = rules_tree();
    let s = two_vms(&[stats(
        r#"[{ vm = "a", access = "rw" }, { vm = "zzzz", access = "ro" }]"#,
    )]);
    let msg = "peer `zzzz` of shared memory `stats` is not a VM of this scenario";
    let hint = "name a [[vm]] of this scenario (VMs: a, b)";
    assert_one(&t, &s, 19, 46, msg, hint);
}

#[test]
fn peer_typo_gets_a_suggestion() {
    let t = rules_tree();
    let s = scenario(&[
        gp("linux", "[1]"),
        gp("rt", "[2]"),
        stats(r#"[{ vm = "rt", access = "rw" }, { vm = "lnux", access = "ro" }]"#),
    ]);
    let msg = "peer `lnux` of shared memory `stats` is not a VM of this scenario";
    assert_one(
        &t,
        &s,
        19,
        47,
        msg,
        "did you mean `linux`? (VMs: linux, rt)",
    );
}

#[test]
fn peer_vm_listed_twice() {
    let t = rules_tree();
    let s = two_vms(&[stats(
        r#"[{ vm = "a", access = "rw" }, { vm = "a", access = "ro" }]"#,
    )]);
    let msg = "VM `a` is listed twice in the peers of shared memory `stats`";
    let hint = "a VM maps a region once; keep one entry (with access = \"rw\" if it writes)";
    assert_one(&t, &s, 19, 46, msg, hint);
}

#[test]
fn some_peer_must_write() {
    let t = rules_tree();
    let s = two_vms(&[stats(
        r#"[{ vm = "a", access = "ro" }, { vm = "b", access = "ro" }]"#,
    )]);
    let hint = "give at least one peer access = \"rw\"; a region nobody writes stays zero";
    assert_one(
        &t,
        &s,
        19,
        9,
        "no peer of shared memory `stats` can write it",
        hint,
    );
}

#[test]
fn access_is_ro_or_rw() {
    let t = rules_tree();
    let s = two_vms(&[stats(r#"[{ vm = "a", access = "wr" }]"#)]);
    let got = support::only(&t, &s);
    assert_eq!((got.1, got.2), (19, 31));
    assert!(
        got.3.starts_with("unknown variant `wr`, expected"),
        "{got:?}"
    );
}

#[test]
fn unknown_peer_key_is_reported() {
    let t = rules_tree();
    let s = two_vms(&[stats(r#"[{ vm = "a", acess = "rw" }]"#)]);
    let all = errors(&t, &s);
    let s = |x: &str| x.to_owned();
    assert_eq!(
        all,
        vec![
            (
                s("s.toml"),
                19,
                10,
                s("missing field `access`"),
                s("add `access` to this table; see docs/scenario.md")
            ),
            (
                s("s.toml"),
                19,
                22,
                s("unknown key `acess` in [[shared-memory]] peers"),
                s("did you mean `access`? (keys here: vm, access, ipa)")
            ),
        ]
    );
}

#[test]
fn peer_ipa_must_be_4kib_aligned() {
    let t = rules_tree();
    let s = two_vms(&[stats(r#"[{ vm = "a", access = "rw", ipa = 0x1000_0010 }]"#)]);
    let msg = "IPA 0x1000_0010 of shared memory `stats` in VM `a` is not 4 KiB aligned";
    assert_one(&t, &s, 19, 43, msg, "use 0x1000_0000 or 0x1000_1000");
}

#[test]
fn peer_ipa_must_be_in_the_guest_address_space() {
    let t = rules_tree();
    let s = two_vms(&[stats(
        r#"[{ vm = "a", access = "rw", ipa = 0x80_0000_0000 }]"#,
    )]);
    let msg = "shared memory `stats` in VM `a` (IPA 0x80_0000_0000..0x80_0001_0000) is beyond \
               the guest-physical address space";
    let hint = "stage-2 translates 39 bits of guest-physical address: keep it below 0x80_0000_0000";
    assert_one(&t, &s, 19, 43, msg, hint);
}

const WINDOW_HINT: &str =
    "pick another `ipa`, or leave it out to use the free space in 0x1000_0000..0x4000_0000";

#[test]
fn peer_ipa_must_not_overlap_ram() {
    let t = rules_tree();
    let s = two_vms(&[stats(r#"[{ vm = "a", access = "rw", ipa = 0x40ff_0000 }]"#)]);
    let msg = "shared memory `stats` in VM `a` (IPA 0x40ff_0000..0x4100_0000) overlaps its RAM \
               at 0x4000_0000";
    assert_one(&t, &s, 19, 43, msg, WINDOW_HINT);
}

#[test]
fn peer_ipa_must_not_overlap_emulated_devices() {
    let t = rules_tree();
    let s = two_vms(&[stats(r#"[{ vm = "a", access = "rw", ipa = 0x08ff_0000 }]"#)]);
    let msg = "shared memory `stats` in VM `a` (IPA 0x08ff_0000..0x0900_0000) overlaps the \
               emulated PL011 at 0x0900_0000";
    // 0x08ff_0000 + 64 KiB ends exactly at the PL011: no overlap. One page more does.
    assert_eq!(errors(&t, &s), vec![]);
    let s = two_vms(&[region(
        "stats",
        "\"68KiB\"",
        None,
        r#"[{ vm = "a", access = "rw", ipa = 0x08ff_0000 }]"#,
    )]);
    let msg = msg.replace("0x0900_0000)", "0x0900_1000)");
    assert_one(&t, &s, 19, 43, &msg, WINDOW_HINT);
}

#[test]
fn peer_ipa_must_not_overlap_a_passed_through_device() {
    let t = rules_tree();
    let a = vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", identity = true }",
        "devices = [\"virtio-mmio@0a003e00\"]\n",
    );
    let s = scenario(&[
        a,
        gp("b", "[2]"),
        stats(r#"[{ vm = "a", access = "rw", ipa = 0x0a00_3000 }]"#),
    ]);
    let msg = "shared memory `stats` in VM `a` (IPA 0x0a00_3000..0x0a01_3000) overlaps device \
               `virtio-mmio@0a003e00` at 0x0a00_3000";
    assert_one(&t, &s, 20, 43, msg, WINDOW_HINT);
}

#[test]
fn peer_ipa_must_not_overlap_another_region_of_the_vm() {
    let t = rules_tree();
    let s = two_vms(&[
        stats(r#"[{ vm = "a", access = "rw", ipa = 0x2000_0000 }]"#),
        region(
            "more",
            "\"4KiB\"",
            None,
            r#"[{ vm = "a", access = "rw", ipa = 0x2000_f000 }]"#,
        ),
    ]);
    let msg = "shared memory `more` in VM `a` (IPA 0x2000_f000..0x2001_0000) overlaps shared \
               memory `stats` at 0x2000_0000";
    assert_one(&t, &s, 23, 43, msg, WINDOW_HINT);
}

#[test]
fn no_room_in_host_ram() {
    let t = rules_tree();
    let s = two_vms(&[region("huge", "\"4GiB\"", None, PEERS)]);
    let msg = "no room for the 4 GiB of shared memory `huge` in the board's RAM";
    let hint = "make it smaller, or give the VMs less memory; `rtvisor check` prints the map";
    assert_one(&t, &s, 18, 8, msg, hint);
}

#[test]
fn no_room_in_the_guest_window() {
    let t = rules_tree();
    let s = two_vms(&[region(
        "big",
        "\"1GiB\"",
        None,
        r#"[{ vm = "a", access = "rw" }]"#,
    )]);
    let msg = "no room for shared memory `big` (1 GiB) in the shared-memory window of VM `a` \
               (0x1000_0000..0x4000_0000)";
    let hint = "give this peer an `ipa` outside the VM's RAM and devices";
    assert_one(&t, &s, 19, 17, msg, hint);
}

#[test]
fn each_region_has_a_doorbell_intid_counted_down_from_127() {
    let t = rules_tree();
    let s = two_vms(&[stats(PEERS), region("log", "\"4KiB\"", None, PEERS)]);
    let plan = rtvisor_config::check(&t.write("s.toml", s)).unwrap_or_else(|d| panic!("{d}"));
    let b = &plan.vms[1].shared;
    assert_eq!((b[0].index, b[0].doorbell), (0, 127));
    assert_eq!((b[1].index, b[1].doorbell), (1, 126));
}

#[test]
fn at_most_16_regions() {
    let t = rules_tree();
    let regions: Vec<String> = (0..17)
        .map(|i| region(&format!("r{i}"), "\"4KiB\"", None, PEERS))
        .collect();
    let s = two_vms(&regions);
    // The 17th block starts 16 blocks of 4 lines after line 16: its name is on 81.
    let msg = "shared memory `r16` is region 17 of at most 16";
    let hint = "each region needs its own doorbell interrupt; merge regions (one region can hold several buffers)";
    assert_one(&t, &s, 81, 8, msg, hint);
}

#[test]
fn doorbell_must_not_be_a_peer_device_interrupt() {
    let t = rules_tree();
    // A board device on INTID 127, given to VM `a`.
    let board = std::fs::read_to_string(t.path("board.toml")).unwrap()
        + "\n[[device]]\nname = \"dev@0c000000\"\ncompatible = \"x,y\"\nbase = 0x0c00_0000\nsize = 0x1000\nirqs = [127]\ndma = false\n";
    t.write("board.toml", board);
    let s = scenario(&[
        vm(
            "a",
            "general",
            "[1]",
            "{ size = \"16MiB\" }",
            "devices = [\"dev@0c000000\"]\n",
        ),
        gp("b", "[2]"),
        stats(PEERS),
    ]);
    let msg = "the doorbell of shared memory `stats` (INTID 127) is also the interrupt of device `dev@0c000000` of VM `a`";
    let hint = "region k rings INTID 127 - k, and the doorbell GPIO uses INTID 111, in every peer; move `stats` in the list or give the device to another VM";
    assert_one(&t, &s, 20, 17, msg, hint);
    // The doorbell GPIO's INTID 111 likewise.
    let board = std::fs::read_to_string(t.path("board.toml"))
        .unwrap()
        .replace("irqs = [127]", "irqs = [111]");
    t.write("board.toml", board);
    let msg = "the doorbell GPIO of shared memory `stats` (INTID 111) is also the interrupt of device `dev@0c000000` of VM `a`";
    assert_one(&t, &s, 20, 17, msg, hint);
    let _ = errors;
}
