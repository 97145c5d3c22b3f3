//! T0: the machine contract's limits (`rtvisor_config::contract`), each reported at the
//! key that crosses it. Every scenario here passed `check` before the contract was
//! enforced, and then failed at boot or at build.
//!
//! Line map of the helpers: 1-3 header (board, [hypervisor], console); the first
//! `[[vm]]` block is lines 4-9 (name 5, kind 6, cpus 7, memory 8, kernel 9).

mod support;

use support::{assert_one, errors, gp, rules_tree, scenario, vm, Flat, Tree};

/// A QEMU-virt-like board with `cpus` CPUs (one redistributor frame each) and the
/// `extra` TOML appended.
fn board(cpus: usize, extra: &str) -> String {
    let mut s = String::from("name = \"big\"\n");
    for i in 0..cpus {
        s += &format!("[[cpu]]\nmpidr = {i:#x}\n");
    }
    s += &format!(
        "[[ram]]\nbase = 0x4000_0000\nsize = \"2GiB\"\n[gic]\nversion = 3\n\
         distributor = {{ base = 0x0800_0000, size = 0x1_0000 }}\n\
         redistributors = {{ base = 0x080a_0000, size = {:#x}, stride = 0x2_0000 }}\n\
         [timer]\nsecure-physical-intid = 29\nphysical-intid = 30\nvirtual-intid = 27\n\
         hyp-intid = 26\n[[uart]]\nname = \"uart0\"\ncompatible = \"arm,pl011\"\n\
         base = 0x0900_0000\nsize = 0x1000\nirq = 33\n{extra}",
        cpus * 0x2_0000
    );
    s
}

fn tree(board_text: &str) -> Tree {
    let t = rules_tree();
    t.write("board.toml", board_text);
    t
}

fn has(all: &[Flat], line: usize, col: usize, message: &str, hint: &str) -> bool {
    all.iter()
        .any(|e| (e.1, e.2, e.3.as_str(), e.4.as_str()) == (line, col, message, hint))
}

#[test]
fn a_vm_with_more_vcpus_than_the_contract_allows_is_refused_at_its_cpus() {
    let t = tree(&board(12, ""));
    let s = scenario(&[gp("a", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]")]);
    let all = errors(&t, &s);
    let msg = "VM `a` has 11 vCPUs; a VM has at most 8";
    let hint = "list at most 8 CPUs in `cpus`, or split the work over two VMs; MAX_VCPUS in \
                crates/config/src/contract/mod.rs sets the limit";
    assert!(has(&all, 7, 8, msg, hint), "{all:#?}");
}

#[test]
fn a_board_with_more_cpus_than_the_contract_allows_is_refused_at_the_first_extra_cpu() {
    let t = tree(&board(12, ""));
    let all = errors(&t, &scenario(&[gp("a", "[1]")]));
    // The ninth [[cpu]] table starts at line 18, its mpidr at line 19.
    let msg = "board `big` has 12 CPUs; rtvisor drives at most 8";
    let hint = "a machine with more CPUs does not boot this build (its device tree lists them \
                all); MAX_CPUS in crates/config/src/contract/mod.rs sets the limit";
    assert_eq!(
        all,
        vec![("board.toml".into(), 19, 9, msg.into(), hint.into())]
    );
}

#[test]
fn a_ninth_vm_is_refused_at_its_name() {
    let t = tree(&board(10, ""));
    let vms: Vec<String> = (1..=9)
        .map(|i| gp(&format!("v{i}"), &format!("[{i}]")))
        .collect();
    let all = errors(&t, &scenario(&vms));
    // VM i starts at line 4 + 6 (i - 1); VM 9's name is at line 53.
    let msg = "VM `v9` is VM number 9: an rtvisor image holds at most 8 VMs";
    let hint = "remove or merge VMs (this and every later [[vm]] is over the limit); MAX_VMS in \
                crates/config/src/contract/mod.rs sets it";
    assert!(has(&all, 53, 8, msg, hint), "{all:#?}");
}

#[test]
fn a_300_character_vm_name_is_refused_before_it_reaches_a_file_name() {
    let t = rules_tree();
    let name = "a".repeat(300);
    let msg = format!(
        "VM name `{}...` is 300 bytes long; at most 32",
        "a".repeat(16)
    );
    let hint = "shorten it: it prefixes every console line and names the VM's generated files";
    assert_one(&t, &scenario(&[gp(&name, "[1]")]), 5, 8, &msg, hint);
}

#[test]
fn a_device_interrupt_the_emulated_gic_does_not_model_is_refused_in_virtual_mode() {
    let dev = "[[device]]\nname = \"dev\"\ncompatible = \"x\"\nbase = 0x0a00_0000\n\
               size = 0x1000\nirqs = [200]\ndma = false\n";
    let t = tree(&board(4, dev));
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\" }",
        "devices = [\"dev\"]\n",
    )]);
    let msg = "INTID 200 of device `dev` is beyond what the emulated GIC of VM `a` models \
               (INTIDs below 128)";
    let hint = "the guest would never see this interrupt; give the device to an rt VM with \
                interrupt-mode = \"direct\", or raise VGIC_INTIDS in \
                crates/config/src/contract/aarch64.rs";
    assert_one(&t, &s, 10, 12, msg, hint);
    // In direct mode the physical GIC delivers it: accepted.
    let direct = scenario(&[vm(
        "a",
        "rt",
        "[1]",
        "{ size = \"16MiB\" }",
        "devices = [\"dev\"]\ninterrupt-mode = \"direct\"\n",
    )]);
    assert_eq!(errors(&t, &direct), vec![]);
}

#[test]
fn identity_mapped_ram_beyond_the_ipa_space_is_refused() {
    let high = "[[ram]]\nbase = 0x80_0000_0000\nsize = \"1GiB\"\n";
    let t = tree(&board(4, high));
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", base = 0x80_0000_0000, identity = true }",
        "",
    )]);
    let msg = "RAM of VM `a` (IPA 0x80_0000_0000..0x80_0100_0000) is beyond the guest-physical \
               address space";
    let hint = "stage-2 translates 39 bits: guest RAM must end below 0x80_0000_0000 (an \
                identity-mapped VM's RAM is at its host address); give it less memory or a \
                lower `base`";
    assert_one(&t, &s, 8, 35, msg, hint);
}
