//! `mode=takeback` is the aarch64 GIC priority attacks; x86 has none of those yet
//! (the hypervisor wins an x86 core back with INIT/NMI exiting, which a guest cannot
//! mask). It says so and powers off.

use guest_common::{power, println, BootInfo};

pub fn run(_boot: &BootInfo) -> ! {
    println!("probe-diag: mode=takeback has no x86_64 cases");
    power::system_off()
}
