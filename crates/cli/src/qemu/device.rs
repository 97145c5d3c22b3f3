//! Emulated devices and where they go: in QEMU `virt`, a virtio-mmio transport, or the
//! root bus of the PCIe host bridge (`pcie.0`; QEMU picks the first free slot); in
//! QEMU q35, a fixed slot of its root bus (`bus=pcie.0,addr=03.0`), the function a VM
//! is given. Those are modern-only virtio devices (`disable-legacy=on`: no I/O BAR,
//! which the hypervisor does not pass through) whose DMA goes through the machine's
//! IOMMU (`iommu_platform=on`: q35 then gets VT-d, `qemu::needs_iommu`; without it
//! QEMU's virtio devices bypass one), and a NIC has no option ROM
//! (`romfile=`: nothing boots from it, and `efi-virtio.rom` comes from `ipxe-qemu`, a
//! package QEMU only recommends).

use rtvisor_config::qemu::{QemuDevice, QemuDeviceKind};
use std::fmt;
use std::path::PathBuf;

/// One of the virtio-mmio transports of QEMU `virt`: 32 of 0x200 bytes from
/// 0x0a00_0000, transport n on bus `virtio-mmio-bus.n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport(pub(super) u8);

impl Transport {
    const BASE: u64 = 0x0a00_0000;
    const SIZE: u64 = 0x200;
    const COUNT: u64 = 32;

    /// The transport whose registers start at `base`, if one does.
    pub fn at(base: u64) -> Option<Transport> {
        let off = base.checked_sub(Self::BASE)?;
        let n = off / Self::SIZE;
        (off.is_multiple_of(Self::SIZE) && n < Self::COUNT).then_some(Transport(n as u8))
    }

    fn bus(self) -> String {
        format!("virtio-mmio-bus.{}", self.0)
    }
}

/// Where a device is plugged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A virtio-mmio transport (`virtio-*-device`).
    Mmio(Transport),
    /// The PCIe host bridge's root bus (`virtio-*-pci`).
    Pcie,
    /// A slot of the root bus, as function 0 (`virtio-*-pci`, modern only).
    PciSlot(u8),
}

impl Slot {
    /// The `-device` driver of virtio device `kind` (`blk`, `net`) here.
    fn driver(self, kind: &str) -> String {
        match self {
            Slot::Mmio(_) => format!("virtio-{kind}-device"),
            Slot::Pcie | Slot::PciSlot(_) => format!("virtio-{kind}-pci"),
        }
    }

    /// Its bus, and for a slot its address and the modern-only device.
    fn bus(self) -> String {
        match self {
            Slot::Mmio(t) => t.bus(),
            Slot::Pcie => "pcie.0".to_owned(),
            Slot::PciSlot(dev) => {
                format!("pcie.0,addr={dev:02x}.0,disable-legacy=on,iommu_platform=on")
            }
        }
    }

    /// What a NIC here adds: no option ROM in a fixed slot (see the module docs).
    fn nic_extra(self) -> &'static str {
        match self {
            Slot::PciSlot(_) => ",romfile=",
            Slot::Mmio(_) | Slot::Pcie => "",
        }
    }
}

/// An emulated device in a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// A disk backed by a raw image.
    VirtioBlk {
        transport: Slot,
        file: PathBuf,
        read_only: bool,
    },
    /// A NIC on QEMU's user-mode network (NAT to the host).
    VirtioNet { transport: Slot },
}

/// A `[[qemu-device]]` whose transport is not one of QEMU virt's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotATransport {
    pub name: String,
    pub base: u64,
}

impl fmt::Display for NotATransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` at {:#x} is not a virtio-mmio transport of QEMU virt \
             (32 of 0x200 bytes from 0x0a000000)",
            self.name, self.base
        )
    }
}

impl std::error::Error for NotATransport {}

impl Device {
    /// The device a scenario's `[[qemu-device]]` describes.
    pub fn from_scenario(d: &QemuDevice) -> Result<Device, NotATransport> {
        let transport = match (d.function, d.pcie) {
            (Some(f), _) => Slot::PciSlot(f.dev),
            (None, true) => Slot::Pcie,
            (None, false) => Slot::Mmio(Transport::at(d.base).ok_or_else(|| NotATransport {
                name: d.transport.clone(),
                base: d.base,
            })?),
        };
        Ok(match &d.kind {
            QemuDeviceKind::VirtioBlk { file, read_only } => Device::VirtioBlk {
                transport,
                file: file.clone(),
                read_only: *read_only,
            },
            QemuDeviceKind::VirtioNet => Device::VirtioNet { transport },
        })
    }

    /// Whether it is plugged into a fixed slot of q35, a function a VM is given.
    pub(super) fn in_slot(&self) -> bool {
        let (Device::VirtioBlk { transport, .. } | Device::VirtioNet { transport }) = self;
        matches!(transport, Slot::PciSlot(_))
    }

    pub(super) fn is_nic(&self) -> bool {
        matches!(self, Device::VirtioNet { .. })
    }

    /// Its options; `n` makes the backend ids unique.
    pub(super) fn args(&self, n: usize) -> [String; 4] {
        match self {
            Device::VirtioBlk {
                transport,
                file,
                read_only,
            } => {
                // QEMU option values escape a comma by doubling it.
                let file = file.display().to_string().replace(',', ",,");
                let ro = if *read_only { ",readonly=on" } else { "" };
                [
                    "-drive".into(),
                    format!("if=none,file={file},format=raw,id=rtvdisk{n}{ro}"),
                    "-device".into(),
                    format!(
                        "{},drive=rtvdisk{n},bus={}",
                        transport.driver("blk"),
                        transport.bus()
                    ),
                ]
            }
            Device::VirtioNet { transport } => [
                "-netdev".into(),
                format!("user,id=rtvnet{n}"),
                "-device".into(),
                format!(
                    "{},netdev=rtvnet{n},bus={}{}",
                    transport.driver("net"),
                    transport.bus(),
                    transport.nic_extra()
                ),
            ],
        }
    }
}
