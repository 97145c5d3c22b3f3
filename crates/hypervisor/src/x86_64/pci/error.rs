//! Why a PCI function, or its INTx line, is not given to its VM (said on the console
//! at boot, with the VM and the function named; the VM runs without it).

use core::fmt;
use rtvisor_vdev::pcicfg::{BarError, ProbeError};

/// Why a function is left out of its VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveError {
    /// Its device or function number is out of range.
    NoSuchFunction,
    /// The scenario lists it twice.
    Twice,
    /// More functions than a VM's bus holds.
    TooMany,
    /// Its configuration page is past the ECAM window.
    OutsideEcam,
    /// Its configuration page could not be mapped.
    ConfigUnmapped,
    /// The probe refused it.
    Probe(ProbeError),
    /// A BAR does not fit the VM's map ([`BarClash`]).
    Bar(BarClash),
    /// Its MSI-X table is not in a memory BAR.
    MsixNotInBar,
    /// Its MSI-X table runs past its BAR.
    MsixPastBar,
    /// Its MSI-X table's pages could not be mapped.
    MsixUnmapped,
    /// Every device vector of the hypervisor is taken.
    NoVectors,
    /// Interrupt remapping is on and its table has no room for the entries of
    /// another direct-mode function.
    NoRemapEntries,
    /// Its virtio status byte is not in a memory BAR.
    StatusNotInBar,
    /// Its virtio status byte's page could not be mapped.
    StatusUnmapped,
}

/// How a BAR does not fit the VM's guest-physical map (it is mapped 1:1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarClash {
    /// Smaller than a page, or not page-aligned.
    SubPage,
    /// Above 4 GiB.
    TooHigh,
    /// It overlaps a fixed region of the VM's map.
    Overlaps(Region),
    /// It overlaps a range the caller gave `MemBar::fits` past [`Region::ALL`].
    OverlapsOther,
    /// It is outside every PCI window of the VM's DSDT.
    OutsideWindows,
    /// It overlaps a shared-memory region.
    Shared,
}

/// A fixed region of an x86 VM's guest-physical map (`check_bar` gives
/// `MemBar::fits` their ranges in the order of [`Region::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Ram,
    Ecam,
    Doorbell,
    IoApic,
    LocalApic,
}

impl Region {
    /// Every region, in the order `check_bar` lists their ranges.
    pub const ALL: [Region; 5] = [
        Self::Ram,
        Self::Ecam,
        Self::Doorbell,
        Self::IoApic,
        Self::LocalApic,
    ];
}

impl From<BarError> for BarClash {
    fn from(e: BarError) -> Self {
        match e {
            BarError::SubPage => Self::SubPage,
            BarError::TooHigh => Self::TooHigh,
            BarError::Overlaps(i) => Region::ALL
                .get(i)
                .map_or(Self::OverlapsOther, |&r| Self::Overlaps(r)),
        }
    }
}

/// Why a function's INTx is not forwarded (the function stays, MSI or MSI-X only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The GSI is past the device pins of the VM's I/O APIC.
    PastDevicePins,
    /// Another VM's function raises that line.
    OtherVm,
    /// More lines than the hypervisor forwards.
    TooMany,
    /// The host has no I/O APIC.
    NoHostIoApic,
    /// The VM's first core has no APIC id that fits the I/O APIC.
    NoApic,
    /// The host's I/O APIC has no such pin.
    NoSuchPin,
    /// The host's I/O APIC refused the vector (not a device vector).
    BadVector,
    /// Every device vector of the hypervisor is taken.
    NoVectors,
    /// Interrupt remapping is on and the line's entry could not be set.
    RemapEntry,
}

impl fmt::Display for GiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            Self::NoSuchFunction => "no such function number",
            Self::Twice => "listed twice",
            Self::TooMany => "too many functions",
            Self::OutsideEcam => "outside the ECAM window",
            Self::ConfigUnmapped => "its ECAM page cannot be mapped",
            Self::Probe(ProbeError::Absent) => "no function answers at that address",
            Self::Probe(ProbeError::NotEndpoint) => "it is a bridge, not an endpoint",
            Self::Probe(ProbeError::BadCapabilities) => {
                "its capability list is malformed or too long"
            }
            Self::Bar(b) => return b.fmt(f),
            Self::MsixNotInBar => "its MSI-X table is not in a memory BAR",
            Self::MsixPastBar => "its MSI-X table runs past its BAR",
            Self::MsixUnmapped => "its MSI-X table cannot be mapped",
            Self::NoVectors => "the hypervisor has no interrupt vectors left for it",
            Self::NoRemapEntries => {
                "the interrupt remapping table has no entries left for it (192 are shared \
                 by the direct-mode functions, one per MSI-X entry and one for MSI)"
            }
            Self::StatusNotInBar => "its virtio status byte is not in a memory BAR",
            Self::StatusUnmapped => "its virtio status page cannot be mapped",
        };
        f.write_str(why)
    }
}

impl fmt::Display for BarClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let region = match self {
            Self::SubPage => {
                return f.write_str("a memory BAR is smaller than a page (it may share its page)")
            }
            Self::TooHigh => return f.write_str("a BAR lies above 4 GiB, past the guest-physical map"),
            Self::OutsideWindows => {
                return f.write_str(
                    "a BAR lies outside the VM's PCI windows (its DSDT's PCI0), where the guest would move it",
                )
            }
            Self::Shared => return f.write_str("a BAR overlaps a shared-memory region of the VM"),
            Self::OverlapsOther => return f.write_str("a BAR overlaps the VM's map"),
            Self::Overlaps(r) => match r {
                Region::Ram => "RAM",
                Region::Ecam => "ECAM window",
                Region::Doorbell => "doorbell page",
                Region::IoApic => "I/O APIC",
                Region::LocalApic => "local APIC",
            },
        };
        write!(f, "a BAR overlaps the VM's {region}")
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PastDevicePins => "the GSI is past the device pins of the VM's I/O APIC",
            Self::OtherVm => "another VM's function raises that line",
            Self::TooMany => "too many INTx lines",
            Self::NoHostIoApic => "the host has no I/O APIC",
            Self::NoApic => "the VM's first core has no APIC",
            Self::NoSuchPin => "the host's I/O APIC has no such pin",
            Self::BadVector => "the host's I/O APIC refused the vector",
            Self::NoVectors => "no interrupt vector left",
            Self::RemapEntry => "its interrupt remapping entry could not be set",
        })
    }
}
