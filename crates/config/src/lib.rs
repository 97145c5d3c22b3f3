//! Board and scenario configuration for rtvisor.
//!
//! Two halves:
//! - the `no_std` half ([`tables`]): the plain, `'static` types that the hypervisor's
//!   build script emits as Rust source and links into the image. The hypervisor never
//!   parses TOML; it only reads these tables.
//! - the `std` half (feature `std`): the serde schema of board and scenario TOML files,
//!   validation with precise, located errors, resolution of the memory layout, code
//!   generation of the tables and generation of each VM's device tree.
//!
//! Rules inside this crate: no `unsafe`; every error names the file, the field and a fix.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod tables;
