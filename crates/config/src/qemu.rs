//! What a QEMU run of a scenario needs besides the image: the board's machine (CPUs,
//! RAM, GIC, whether it offers semihosting) and the emulated devices the scenario
//! plugs into the board's virtio-mmio transports and PCIe host bridges.
//!
//! ```toml
//! # board file: the board is a QEMU machine that offers semihosting (the hypervisor
//! # ends QEMU with a failure status after a FATAL error)
//! [qemu]
//! semihosting = true
//!
//! # scenario file: under QEMU, this transport (passed to a VM) gets a disk
//! [[qemu-device]]
//! transport = "virtio-mmio@0a003e00"
//! kind = "virtio-blk"
//! file = "../target/linux/disk.img"
//! read-only = true
//! ```
//!
//! On an x86_64 board (QEMU q35) the transport is a function a VM is given,
//! `transport = "pcie@b0000000/00:03.0"`, where QEMU plugs the device in.
//!
//! `rtvisor run` and `cargo xtask` both read [`QemuRun`] (through [`qemu_run`]) and
//! hand it to the one QEMU command-line builder (`rtvisor::qemu`). A hardware board
//! has no `[qemu]` table, and the hypervisor ignores `[[qemu-device]]`.

use crate::diag::Diagnostics;
use crate::load::load;
use crate::pcie::FunctionAddress;
use crate::validate;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The board's `[qemu]` table: the board is a QEMU machine.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QemuBoardSpec {
    /// QEMU offers Arm semihosting: after a FATAL error the hypervisor ends QEMU with
    /// a failure status (SYS_EXIT_EXTENDED); the command line enables it.
    #[serde(default)]
    pub semihosting: bool,
}

/// `[[qemu-device]]`: an emulated device a QEMU run plugs into a board transport.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QemuDeviceSpec {
    /// The board's virtio-mmio transport (a `[[device]]` name given to a VM), or its
    /// PCIe host bridge (a `[[pcie]]` name given to a VM); on x86_64 a function of
    /// the host bridge given to a VM (`BRIDGE/00:DD.0`).
    pub transport: Spanned<String>,
    /// What QEMU plugs in.
    pub kind: Spanned<QemuDeviceKindSpec>,
    /// `virtio-blk`: the disk image, relative to the scenario file.
    pub file: Option<Spanned<String>>,
    /// `virtio-blk`: the guest cannot write the disk.
    pub read_only: Option<Spanned<bool>>,
}

/// The kinds of `[[qemu-device]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QemuDeviceKindSpec {
    /// A virtio block device backed by a raw disk image.
    VirtioBlk,
    /// A virtio network device on QEMU's user-mode network (NAT to the host).
    VirtioNet,
}

/// Everything a QEMU run takes from the scenario and its board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuRun {
    /// The board's CPU count.
    pub cpus: u32,
    /// The board's RAM, all banks, in bytes.
    pub ram_bytes: u64,
    /// The board's GIC architecture version (0: no GIC, an x86_64 board).
    pub gic_version: u32,
    /// The board's `[qemu] semihosting`.
    pub semihosting: bool,
    /// The scenario's `[[qemu-device]]` entries, in file order.
    pub devices: Vec<QemuDevice>,
}

/// One `[[qemu-device]]`, resolved against the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuDevice {
    /// The board device name of the transport.
    pub transport: String,
    /// Its MMIO base (a host bridge's: its ECAM base).
    pub base: u64,
    /// The transport is a PCIe host bridge or a function of one: the device goes on
    /// its root bus.
    pub pcie: bool,
    /// The transport is a function of a host bridge (x86_64): the device goes at its
    /// address (bus 0, function 0). Else QEMU picks the first free slot.
    pub function: Option<FunctionAddress>,
    /// What is plugged in.
    pub kind: QemuDeviceKind,
}

/// A resolved device kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuDeviceKind {
    /// A disk: its image (absolute or relative to the working directory, as the
    /// scenario path was) and whether it is read-only.
    VirtioBlk { file: PathBuf, read_only: bool },
    /// A NIC on QEMU's user-mode network.
    VirtioNet,
}

/// Reads what a QEMU run of `scenario` needs: the board file's rules and the
/// `[[qemu-device]]` rules must hold (the rest of `check` is not needed: the guest
/// images need not exist yet).
pub fn qemu_run(scenario: &Path) -> Result<QemuRun, Diagnostics> {
    let (inputs, mut diags) = load(scenario)?;
    diags.extend(validate::board(&inputs));
    diags.extend(validate::qemu_devices(&inputs));
    if !diags.is_empty() {
        return Err(Diagnostics::sorted(diags));
    }
    let board = &inputs.board;
    let devices = inputs
        .scenario
        .qemu_device
        .iter()
        .filter_map(|q| {
            let name = q.transport.get_ref();
            let function = crate::pcie::find_function(&inputs, name);
            let bridge = match &function {
                Some((p, _)) => Some(*p),
                None => board.pcie.iter().find(|p| p.name.get_ref() == name),
            };
            let base = match bridge {
                Some(p) => p.ecam().0,
                None => *board
                    .device
                    .iter()
                    .find(|d| d.name.get_ref() == name)?
                    .base
                    .get_ref(),
            };
            let kind = match q.kind.get_ref() {
                QemuDeviceKindSpec::VirtioBlk => QemuDeviceKind::VirtioBlk {
                    file: inputs.scenario_src.resolve(q.file.as_ref()?.get_ref()),
                    read_only: q.read_only.as_ref().is_some_and(|r| *r.get_ref()),
                },
                QemuDeviceKindSpec::VirtioNet => QemuDeviceKind::VirtioNet,
            };
            Some(QemuDevice {
                transport: name.clone(),
                base,
                pcie: bridge.is_some(),
                function: match function {
                    Some((_, addr)) => Some(addr.ok()?),
                    None => None,
                },
                kind,
            })
        })
        .collect();
    Ok(QemuRun {
        cpus: board.cpu.len() as u32,
        ram_bytes: board.ram.iter().map(|r| r.size.get_ref().0).sum(),
        gic_version: board.gic.as_ref().map_or(0, |g| *g.version.get_ref()),
        semihosting: board.qemu.as_ref().is_some_and(|q| q.semihosting),
        devices,
    })
}
