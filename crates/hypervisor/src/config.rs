//! The static tables generated from the scenario by build.rs.

include!(concat!(env!("OUT_DIR"), "/config.rs"));

/// Most VMs one image can hold.
pub const MAX_VMS: usize = 8;

const _: () = assert!(
    CONFIG_VM_COUNT <= MAX_VMS,
    "too many VMs for this hypervisor build"
);
