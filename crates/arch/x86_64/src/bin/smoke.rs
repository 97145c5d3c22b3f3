//! The x86_64 smoke image: boots by Multiboot2, reports the vendor, the CPUs and
//! the memory, starts every AP, powers off. On the host it is an empty program.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}
