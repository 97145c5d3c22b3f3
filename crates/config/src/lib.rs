//! Board and scenario configuration for rtvisor.
//!
//! Two halves:
//! - the `no_std` half ([`tables`], [`fingerprint`], [`contract`], [`guest`]): the
//!   plain, `'static` types that the hypervisor's build script emits as Rust source and
//!   links into the image, and the machine contract (capacity limits, the guest-physical
//!   map and its emulated devices) that the validator, the hypervisor and the docs all
//!   read. The hypervisor never parses TOML; it only reads these tables.
//! - the `std` half (feature `std`): the serde schema of board and scenario TOML files
//!   ([`schema`]), validation with precise, located errors ([`check`], [`Diagnostics`]),
//!   resolution of the memory layout ([`Plan`], `layout`), generation of each VM's
//!   device tree ([`dtgen`]; on x86_64 its ACPI tables and PVH start info, [`acpi`])
//!   and code generation of the tables and the hypervisor's
//!   linker script ([`emit`]). The pipeline is linear: [`check`] parses, validates and
//!   lays out once; [`emit`] generates from the plan.
//!
//! Rules inside this crate: no `unsafe`; every error names the file, line and column,
//! says what is wrong and how to fix it, and one run reports every error, not the first.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

pub mod bootfill;
pub mod coloring;
pub mod contract;
pub mod fingerprint;
pub mod guest;
pub mod ramfill;
pub mod tables;

#[cfg(feature = "std")]
pub mod acpi;
#[cfg(feature = "std")]
pub mod bootimage;
#[cfg(feature = "std")]
pub mod codegen;
#[cfg(feature = "std")]
pub mod diag;
#[cfg(feature = "std")]
pub mod dtgen;
#[cfg(feature = "std")]
pub mod elf;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "std")]
pub mod image_x86;
#[cfg(feature = "std")]
mod keypath;
#[cfg(feature = "std")]
mod keys;
#[cfg(feature = "std")]
pub mod layout;
#[cfg(feature = "std")]
pub mod linker;
#[cfg(feature = "std")]
mod load;
#[cfg(feature = "std")]
mod parse;
#[cfg(feature = "std")]
pub mod pcie;
#[cfg(feature = "std")]
pub mod plan;
#[cfg(feature = "std")]
pub mod qemu;
#[cfg(feature = "std")]
pub mod schema;
#[cfg(feature = "std")]
pub mod size;
#[cfg(feature = "std")]
mod validate;

#[cfg(feature = "std")]
pub use codegen::emit;
#[cfg(feature = "std")]
pub use diag::{Diagnostic, Diagnostics, Severity};
#[cfg(feature = "std")]
pub use load::{check, check_board};
#[cfg(feature = "std")]
pub use plan::Plan;
#[cfg(feature = "std")]
pub use qemu::qemu_run;
