//! The static tables generated from the scenario by build.rs, and the machine contract
//! they were validated against (`rtvisor_config::contract`): the limits below size the
//! hypervisor's static state, and the asserts tie the other crates' copies to it.

use rtvisor_config::contract;
use rtvisor_config::tables::InterruptMode;

include!(concat!(env!("OUT_DIR"), "/config.rs"));

/// Whether a VM of this scenario takes its interrupts directly (`interrupt-mode =
/// "direct"`). Decided when the image is built: without such a VM, every direct-mode
/// branch is a constant `false`, and the physical GIC filter and the rest of the
/// direct-mode code are not in the image (docs/benchmark.md, "The hypervisor's size").
pub const ANY_DIRECT: bool = {
    let mut i = 0;
    let mut any = false;
    while i < CONFIG_VM_COUNT {
        any |= matches!(CONFIG.vms[i].interrupt_mode, InterruptMode::Direct);
        i += 1;
    }
    any
};

/// Whether a VM of this scenario shares memory (`[[vm.shared]]`), so that doorbells
/// can ring. Decided when the image is built: without shared memory, a ring finds no
/// peer and the doorbell GPIO, which no guest's device tree lists then, is not
/// emulated, so neither's code is in the image.
pub const ANY_SHARED: bool = {
    let mut i = 0;
    let mut any = false;
    while i < CONFIG_VM_COUNT {
        any |= !CONFIG.vms[i].shared.is_empty();
        i += 1;
    }
    any
};

/// Whether the image has the shell: the scenario does not say `[hypervisor] shell =
/// false` and the board has a CPU that hosts no vCPU, where the shell can run. Decided
/// when the image is built: otherwise its commands, tables and texts are not in it.
pub const SHELL_CPU_FREE: bool = {
    let mut i = 0;
    let mut hosted = 0;
    while i < CONFIG_VM_COUNT {
        hosted += CONFIG.vms[i].cpus.len();
        i += 1;
    }
    CONFIG.hypervisor.shell && hosted < CONFIG.hypervisor.board_cpus as usize
};

/// Most VMs one image can hold.
pub const MAX_VMS: usize = contract::MAX_VMS;

// The validator refuses a scenario beyond these; a generated table that still crossed
// one would not compile.
const _: () = assert!(
    CONFIG_VM_COUNT <= MAX_VMS,
    "too many VMs for this hypervisor build"
);
const _: () = {
    let mut i = 0;
    while i < CONFIG_VM_COUNT {
        let vm = &CONFIG.vms[i];
        assert!(vm.cpus.len() <= contract::MAX_VCPUS);
        assert!(vm.shared.len() <= contract::MAX_SHARED_REGIONS);
        let mut c = 0;
        while c < vm.cpus.len() {
            assert!((vm.cpus[c] as usize) < contract::MAX_CPUS);
            c += 1;
        }
        i += 1;
    }
};

// Every side sizes and numbers its state from the contract (the backend checks its
// own pieces in its `config.rs`).
const _: () = assert!(crate::percpu::MAX_CPUS == contract::MAX_CPUS);
const _: () = assert!(rtvisor_core::vm::MAX_VCPUS == contract::MAX_VCPUS);
