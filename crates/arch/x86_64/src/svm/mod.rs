//! AMD-V: SVM turned on per CPU ([`probe`]), the VMCB ([`vmcb`]), the I/O and MSR
//! permission maps ([`maps`]), exit decoding ([`decode`]) and the engine that runs a
//! vCPU with VMRUN ([`engine`]). The layouts and decoders are plain code tested on
//! the host; the rest exists only on the bare-metal target.

pub mod decode;
pub mod maps;
pub mod vmcb;

#[cfg(target_os = "none")]
mod direct;
#[cfg(target_os = "none")]
pub mod engine;
#[cfg(target_os = "none")]
mod on;

#[cfg(target_os = "none")]
pub use on::{probe, SvmError};
