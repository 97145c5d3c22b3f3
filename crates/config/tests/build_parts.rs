//! T0: the parts of the hypervisor an image is built without (`Plan::left_out`), as the
//! hypervisor's `config.rs` decides them, on both architectures: the size report names
//! its build by them.

mod support;

use support::Tree;

fn left_out(t: &Tree, scenario: &str) -> Vec<&'static str> {
    rtvisor_config::check(&t.path(scenario))
        .unwrap_or_else(|e| panic!("{scenario}: {e:?}"))
        .left_out()
}

#[test]
fn direct_mode_is_left_out_without_a_direct_vm_on_either_architecture() {
    let t = Tree::with_repo_files("build-parts");
    // Virtual-mode VMs on CPUs 1-3 of four: the shell stays, the direct-mode code goes.
    assert_eq!(left_out(&t, "scenarios/x86-two-vms.toml"), ["direct mode"]);
    assert_eq!(
        left_out(&t, "tests/scenarios/x86-shell.toml"),
        ["direct mode"]
    );
    // LAPIC pass-through VMs, and CPU 0 free: nothing left out.
    assert!(left_out(&t, "tests/scenarios/x86-direct.toml").is_empty());
    // The same rule on aarch64: both modes and a free CPU is the full build.
    assert!(left_out(&t, "tests/scenarios/shm.toml").is_empty());
}

#[test]
fn shell_false_leaves_the_shell_out_although_a_cpu_is_free() {
    let t = Tree::with_repo_files("build-parts-shell");
    // The benchmark's rtvisor-virtual (one VM on CPUs 2-3 of four) and the size
    // table's copy of it with `shell = false`.
    for f in [
        "tests/bench/virtual.toml",
        "tests/bench/virtual-no-shell.toml",
    ] {
        t.write(f, std::fs::read(support::repo().join(f)).unwrap());
    }
    assert_eq!(left_out(&t, "tests/bench/virtual.toml"), ["direct mode"]);
    assert_eq!(
        left_out(&t, "tests/bench/virtual-no-shell.toml"),
        ["direct mode", "shell"]
    );
}
