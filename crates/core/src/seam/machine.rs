//! The machine-side traits: [`Stage2`] (a VM's second-stage translation), [`Timer`]
//! (the hypervisor's own clock) and [`Console`] (the physical console).

use rtvisor_addr::{Hpa, Ipa};

/// What a second-stage mapping maps, which decides its attributes and permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemKind {
    /// The VM's RAM: normal write-back memory, read, write and execute.
    Ram,
    /// A device passed through: device memory, read and write, never executed.
    Device,
    /// Shared memory with other VMs: normal memory, never executed; written only
    /// when `writable`.
    Shared {
        /// The VM may write it.
        writable: bool,
    },
}

/// A VM's second-stage translation: guest-physical to host-physical (aarch64: stage-2
/// tables and a VMID; x86_64: EPT or NPT and a VPID or ASID).
///
/// The tables are built at boot; a VM sees its RAM, its devices and its shared memory,
/// nothing else. Addresses are the backend's page size apart (4 KiB).
pub trait Stage2 {
    /// Why a map or unmap failed.
    type Error: core::fmt::Debug;

    /// Maps `size` bytes from `ipa` to `hpa` as `kind` (larger pages where both are
    /// aligned to one).
    fn map(&mut self, ipa: Ipa, hpa: Hpa, size: u64, kind: MemKind) -> Result<(), Self::Error>;

    /// Removes the mappings of `size` bytes from `ipa`; the range must cover whole
    /// mappings. The translation stays cached until [`flush`](Self::flush).
    fn unmap(&mut self, ipa: Ipa, size: u64) -> Result<(), Self::Error>;

    /// Drops every cached translation of this VM, on every CPU.
    fn flush(&self);

    /// Makes this CPU translate the guest's accesses through these tables from its
    /// next guest entry (call it on a CPU that runs a vCPU of this VM, with no guest
    /// running on it).
    fn activate(&self);
}

/// The hypervisor's own clock and timer on each CPU (aarch64: the generic counter and
/// the EL2 physical timer; x86_64: the TSC and the LAPIC timer). Its interrupt reaches
/// the hypervisor whatever a guest masks.
pub trait Timer {
    /// The clock, in ticks: monotonic and the same on every CPU.
    fn now() -> u64;
    /// Ticks per second.
    fn frequency() -> u64;
    /// Fires this CPU's timer when the clock reaches `deadline`.
    fn arm(deadline: u64);
    /// Stops this CPU's timer.
    fn disarm();
}

/// The physical console the hypervisor owns (aarch64: a PL011; x86_64: a 16550).
/// VM lines and hypervisor messages are multiplexed onto it as `[name] text`.
pub trait Console {
    /// Sends one byte (waits while the transmitter is full).
    fn put(byte: u8);
    /// A received byte, if one waits.
    fn get() -> Option<u8>;
}
