//! The one QEMU command-line builder. Every QEMU the project starts is a
//! [`QemuCommand`]: `rtvisor run`, and through `cargo xtask` the demo, `run`, the
//! system tests, the benchmark and the bare Linux boot.
//!
//! What it guarantees (DESIGN.md section 4, "a fresh machine"):
//! - the network is always stated: `-nic none` unless a NIC is among the devices.
//!   Otherwise QEMU adds its default PCI NIC, whose option ROM (`efi-virtio.rom`)
//!   comes from `ipxe-qemu`, a package QEMU only recommends;
//! - emulated devices go into named virtio-mmio transports
//!   (`bus=virtio-mmio-bus.N`), not into whichever is free in command-line order, or
//!   onto the PCIe host bridge's root bus (`bus=pcie.0`), on q35 at the slot of the
//!   function a VM is given (`bus=pcie.0,addr=03.0`, [`device_args`]);
//! - semihosting, on a board that offers it, is `target=gdb`: the hypervisor's
//!   SYS_EXIT_EXTENDED ends QEMU with its status, while the file and host-command
//!   calls go to a debugger that is not attached. QEMU lets EL1 use semihosting as
//!   well, and with `target=native` any guest could open host files or run host
//!   commands.

use rtvisor_config::qemu::QemuRun;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// The emulator, unless `RTVISOR_QEMU` names another.
pub const QEMU: &str = "qemu-system-aarch64";

/// The QEMU program to start: `$RTVISOR_QEMU` or [`QEMU`].
pub fn program() -> String {
    std::env::var("RTVISOR_QEMU").unwrap_or_else(|_| QEMU.to_owned())
}

/// QEMU's `virt` machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// EL2 is implemented (`virtualization=on`): a hypervisor boots there.
    pub el2: bool,
    /// The GIC architecture version.
    pub gic_version: u32,
}

/// The CPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuModel {
    /// Every feature QEMU has, with the cheap pointer-authentication algorithm
    /// (plain `-cpu max` is about three times slower under TCG).
    Max,
    /// A Cortex-A72: what the benchmark runs on.
    CortexA72,
}

impl CpuModel {
    fn arg(self) -> &'static str {
        match self {
            CpuModel::Max => "max,pauth-impdef=on",
            CpuModel::CortexA72 => "cortex-a72",
        }
    }
}

impl FromStr for CpuModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max" => Ok(CpuModel::Max),
            "cortex-a72" => Ok(CpuModel::CortexA72),
            _ => Err(format!("unknown CPU model `{s}`: use max or cortex-a72")),
        }
    }
}

/// `-icount`: one instruction takes 2^shift ns of virtual time, and with `sleep` off
/// the virtual clock does not wait for real time when all CPUs idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icount {
    pub shift: u8,
    pub sleep: bool,
}

impl Icount {
    /// The benchmark's clock: 1 instruction = 1 ns, deterministic.
    pub const BENCH: Icount = Icount {
        shift: 0,
        sleep: false,
    };
}

impl fmt::Display for Icount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sleep = if self.sleep { "on" } else { "off" };
        write!(f, "shift={},sleep={sleep}", self.shift)
    }
}

impl FromStr for Icount {
    type Err = String;
    /// `shift=N[,sleep=on|off]` (sleep defaults to off) or just `N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad -icount `{s}`: write shift=N,sleep=on|off (N 0..=10)");
        let (mut shift, mut sleep) = (None, false);
        for part in s.split(',') {
            match part.split_once('=') {
                None if shift.is_none() => shift = part.parse::<u8>().ok(),
                Some(("shift", n)) => shift = n.parse::<u8>().ok(),
                Some(("sleep", "on")) => sleep = true,
                Some(("sleep", "off")) => sleep = false,
                _ => return Err(bad()),
            }
        }
        match shift {
            Some(shift) if shift <= 10 => Ok(Icount { shift, sleep }),
            _ => Err(bad()),
        }
    }
}

/// Where the serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// `-nographic`: serial and monitor share the terminal; Ctrl-A X quits.
    Interactive,
    /// Serial on stdio only, no monitor, no display: for pipes (tests, `--duration`).
    Captured,
}

/// What QEMU boots (`-kernel`, QEMU's own loader): an ELF, an arm64 Image or a raw
/// binary, with an optional initrd and command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub append: Option<String>,
}

impl Boot {
    /// Just a kernel.
    pub fn kernel(path: &Path) -> Boot {
        Boot {
            kernel: path.to_path_buf(),
            initrd: None,
            append: None,
        }
    }
}

/// One QEMU invocation. Every field is stated; [`QemuCommand::args`] renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuCommand {
    pub program: String,
    pub machine: Machine,
    pub cpu: CpuModel,
    pub icount: Option<Icount>,
    pub smp: u32,
    pub memory_mib: u64,
    pub console: ConsoleMode,
    /// Emulated devices; without a NIC among them the line says `-nic none`.
    pub devices: Vec<Device>,
    /// Arm semihosting for the hypervisor's failure exit (see the module docs).
    pub semihosting: bool,
    pub boot: Boot,
    /// Anything else, appended last (a user's `-- QEMU ARGS`).
    pub extra: Vec<String>,
}

impl QemuCommand {
    /// A hypervisor image on the machine of a scenario's board: EL2, the board's
    /// GIC, CPUs and RAM, the scenario's devices, semihosting if the board has it;
    /// `-cpu max`, console on the terminal.
    pub fn hypervisor(run: &QemuRun, image: &Path) -> Result<QemuCommand, NotATransport> {
        Ok(QemuCommand {
            program: program(),
            machine: Machine {
                el2: true,
                gic_version: run.gic_version,
            },
            cpu: CpuModel::Max,
            icount: None,
            smp: run.cpus,
            memory_mib: run.ram_bytes >> 20,
            console: ConsoleMode::Interactive,
            devices: run
                .devices
                .iter()
                .map(Device::from_scenario)
                .collect::<Result<_, _>>()?,
            semihosting: run.semihosting,
            boot: Boot::kernel(image),
            extra: Vec::new(),
        })
    }

    /// A guest that QEMU boots itself at EL1, with no hypervisor: GICv3, no EL2,
    /// `-cpu max`, no devices, console on the terminal.
    pub fn bare(smp: u32, memory_mib: u64, boot: Boot) -> QemuCommand {
        QemuCommand {
            program: program(),
            machine: Machine {
                el2: false,
                gic_version: 3,
            },
            cpu: CpuModel::Max,
            icount: None,
            smp,
            memory_mib,
            console: ConsoleMode::Interactive,
            devices: Vec::new(),
            semihosting: false,
            boot,
            extra: Vec::new(),
        }
    }

    /// The arguments, without the program.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        let el2 = if self.machine.el2 {
            "virtualization=on,"
        } else {
            ""
        };
        let machine = format!("virt,{el2}gic-version={}", self.machine.gic_version);
        push(&["-M", &machine, "-cpu", self.cpu.arg()]);
        if let Some(ic) = self.icount {
            push(&["-icount", &ic.to_string()]);
        }
        push(&[
            "-smp",
            &self.smp.to_string(),
            "-m",
            &memory(self.memory_mib),
        ]);
        push(&["-no-reboot"]);
        match self.console {
            ConsoleMode::Interactive => push(&["-nographic"]),
            ConsoleMode::Captured => {
                push(&["-display", "none", "-serial", "stdio", "-monitor", "none"])
            }
        }
        if !has_nic(&self.devices) {
            push(&["-nic", "none"]);
        }
        if self.semihosting {
            push(&["-semihosting-config", "enable=on,target=gdb"]);
        }
        push(&["-kernel", &self.boot.kernel.display().to_string()]);
        if let Some(initrd) = &self.boot.initrd {
            push(&["-initrd", &initrd.display().to_string()]);
        }
        if let Some(append) = &self.boot.append {
            push(&["-append", append]);
        }
        a.extend(device_args(&self.devices));
        a.extend(self.extra.iter().cloned());
        a
    }

    /// The command, ready to spawn.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(self.args());
        c
    }

    /// The command line as a user would type it.
    pub fn line(&self) -> String {
        std::iter::once(self.program.clone())
            .chain(self.args())
            .map(|s| quote(&s))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The options of `devices`, in order (backend ids numbered by position). The q35
/// machine of xtask's x86 runs renders its devices with this too.
pub fn device_args(devices: &[Device]) -> Vec<String> {
    devices
        .iter()
        .enumerate()
        .flat_map(|(n, d)| d.args(n))
        .collect()
}

/// The q35 IOMMU that `devices` need: VT-d (`intel-iommu`, 4-level tables, with
/// interrupt remapping) when one of them is a function a VM is given, so that the
/// hypervisor confines its DMA to that VM's memory and its interrupts to the ones
/// the hypervisor gave it (docs/x86.md, "PCI pass-through", DMA isolation).
pub fn needs_iommu(devices: &[Device]) -> Option<[&'static str; 2]> {
    devices
        .iter()
        .any(Device::in_slot)
        .then_some(["-device", "intel-iommu,aw-bits=48,intremap=on"])
}

/// Whether a NIC is among `devices` (else a command line says `-nic none`).
pub fn has_nic(devices: &[Device]) -> bool {
    devices.iter().any(Device::is_nic)
}

/// `-m`: whole GiB as `NG`, else `NM`.
fn memory(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}G", mib / 1024)
    } else {
        format!("{mib}M")
    }
}

/// `s` quoted for a POSIX shell when it needs to be.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

mod device;
mod exit;

pub use device::{Device, NotATransport, Slot, Transport};
pub use exit::{exit_result, QemuFailure};

#[cfg(test)]
mod tests;
