//! Fakes for host tests of the exit handler and of a backend's pieces: a vCPU that
//! records how it was answered ([`FakeVcpu`]), a host that records every call
//! ([`FakeHost`]), an interrupt controller that records every access ([`FakeChip`]),
//! and two VMs built from real configuration tables around them ([`World`]), generic
//! over the interrupt controller so that a backend can put its own in.
//!
//! Built for `cargo test` of this crate and, with the `testkit` feature, for a
//! backend's tests; never part of the hypervisor.
#![allow(missing_docs)]

mod chip;
mod host;
mod machine;
mod rng;
mod world;

pub use chip::{ChipCall, FakeChip, TestChip, CHIP_PATTERN};
pub use host::{FakeHost, FakeVcpu, HostCall};
pub use machine::{Machine, AARCH64, X86_64};
pub use rng::Rng;
pub use world::{
    config, Outcome, Snapshot, Spec, Vm, World, DIRECT, DTB, ENTRY, RAM_BASE, RAM_SIZE, VIRT,
    VIRTIO_INTID, X86,
};
