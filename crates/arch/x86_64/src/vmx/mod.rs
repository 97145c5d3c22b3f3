//! Intel VT-x: VMX root operation per CPU ([`probe`], [`on`]), the VMCS fields
//! ([`fields`]), controls computed from the capability MSRs ([`controls`]), the I/O
//! and MSR bitmaps ([`bitmaps`]), exit decoding ([`decode`]) and the engine that runs
//! a vCPU with VMLAUNCH/VMRESUME ([`engine`]; its controls in `setup`, its world
//! switch in `switch`). The tables and decoders are plain code
//! tested on the host; the rest exists only on the bare-metal target.

pub mod bitmaps;
pub mod controls;
pub mod decode;
pub mod fields;
pub mod vapic;

#[cfg(target_os = "none")]
pub mod apicv;
#[cfg(target_os = "none")]
mod direct;
#[cfg(target_os = "none")]
pub mod engine;
#[cfg(target_os = "none")]
mod host;
#[cfg(target_os = "none")]
mod on;
#[cfg(target_os = "none")]
mod setup;
#[cfg(target_os = "none")]
mod switch;
#[cfg(target_os = "none")]
mod vmcs;

#[cfg(target_os = "none")]
pub use on::{on, probe, VmxError};
