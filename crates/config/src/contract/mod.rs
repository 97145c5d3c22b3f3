//! The machine contract: what one rtvisor image can hold, and the machine every VM
//! sees. `no_std` and dependency-free, so that every side reads the same numbers:
//!
//! - the validator (`rtvisor check`) reports a scenario or board beyond a limit at the
//!   TOML key that crosses it, so `check` accepts exactly what boots;
//! - the hypervisor sizes its static tables from it (per-CPU state, VM slots, vCPU
//!   slots, stacks in the linker script) and builds each VM's emulated MMIO table from
//!   [`aarch64::EMULATED`];
//! - `core` and `vdev` size their per-vCPU state and the vGIC's INTID range from it;
//! - docs/scenario.md carries the same tables, rendered by [`render_markdown`] (a test
//!   compares them).
//!
//! Raising a limit is a change here and a rebuild: every array it sizes follows, and
//! the validator and the docs change with it.
//!
//! The architecture-independent limits are at the top; the guest-physical machine and
//! the interrupts the hypervisor keeps are per architecture ([`aarch64`], [`x86_64`];
//! a board file's `arch` says which, see [`Arch`]).

pub mod aarch64;
pub mod x86_64;

/// The architecture of a board, and of the image built for it (a board file's `arch`,
/// default `aarch64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Deserialize))]
pub enum Arch {
    /// AArch64 at EL2 with GICv3: [`aarch64`].
    #[default]
    #[cfg_attr(feature = "std", serde(rename = "aarch64"))]
    Aarch64,
    /// x86_64 with VT-x or AMD-V: [`x86_64`].
    #[cfg_attr(feature = "std", serde(rename = "x86_64"))]
    X86_64,
}

impl Arch {
    /// Its name in board files and messages.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        }
    }
}

/// Physical CPUs an image drives (per-CPU state, stacks, fast-path tables). A machine
/// whose device tree lists more does not boot.
pub const MAX_CPUS: usize = 8;
/// VMs one scenario may define.
pub const MAX_VMS: usize = 8;
/// vCPUs one VM may have (one physical CPU each).
pub const MAX_VCPUS: usize = 8;
/// RAM banks (`device_type = "memory"` ranges) the hypervisor reads from the host
/// device tree.
pub const MAX_RAM_BANKS: usize = 8;
/// `[[shared-memory]]` regions one scenario may define (each has its own doorbell
/// INTID, see [`aarch64::doorbell_intid`]).
pub const MAX_SHARED_REGIONS: usize = 16;
/// Longest VM name, in bytes: it prefixes console lines and names generated files.
pub const MAX_VM_NAME: usize = 32;
/// Longest `[[shared-memory]]` name, in bytes: `uio-<name>` is a device-tree node
/// name, at most 31 characters.
pub const MAX_SHARED_NAME: usize = 27;

/// The kinds of device the hypervisor emulates in a VM's guest-physical map or port
/// space (each architecture's table says where).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The GICv3 distributor (aarch64).
    GicDist,
    /// The GICv3 redistributors, one 128 KiB frame per vCPU (aarch64).
    GicRedist,
    /// The VM's console PL011 (aarch64).
    Pl011,
    /// The doorbell page: a 32-bit write of a shared-memory region's number to
    /// offset 0 rings it (as the DOORBELL_RING hypercall does).
    Doorbell,
    /// The doorbell GPIO, an emulated PL061 whose lines the doorbells toggle
    /// (aarch64).
    DoorbellGpio,
    /// QEMU `virt`'s CFI flash, both banks (rtvisor_vdev::cfi; aarch64).
    CfiFlash,
    /// The I/O APIC (x86_64).
    IoApic,
    /// The local APIC page of each vCPU (x86_64).
    LocalApic,
    /// The keyboard controller, for its reset command only (x86_64).
    KeyboardReset,
    /// The VM's console 16550 at COM1 (x86_64).
    Uart16550,
    /// The hardware-reduced ACPI sleep control and status registers (x86_64).
    SleepControl,
    /// The ACPI PM1a control register (x86_64).
    Pm1aControl,
    /// The reset control register, port 0xcf9 (x86_64).
    ResetControl,
    /// The 8254 interval timer, ports 0x40-0x43 (x86_64; `rtvisor_vdev::pit`).
    Pit,
    /// System control port B, port 0x61: the PIT's channel 2 gate and output
    /// (x86_64).
    PortB,
    /// The MC146818 real-time clock and CMOS RAM, ports 0x70-0x71 (x86_64;
    /// `rtvisor_vdev::rtc`).
    Rtc,
}

/// Where an emulated device's registers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Guest-physical memory (aarch64: a stage-2 data abort; x86_64: an EPT or NPT
    /// violation).
    Mmio,
    /// The I/O port space (x86_64: an IN/OUT exit).
    Io,
}

/// One emulated device of every VM, as each architecture's table (`EMULATED`) lists
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmulatedDevice {
    /// What it is.
    pub kind: DeviceKind,
    /// Its name in messages ("emulated PL011").
    pub name: &'static str,
    /// Memory or I/O ports.
    pub space: Space,
    /// Guest-physical base, or first port.
    pub base: u64,
    /// Size in bytes or ports (per vCPU when `per_vcpu`).
    pub size: u64,
    /// One `size` frame per vCPU.
    pub per_vcpu: bool,
    /// The interrupt it raises, if it has one of its own (aarch64: its INTID;
    /// x86_64: its GSI).
    pub line: Option<u32>,
}

impl EmulatedDevice {
    /// Its size in a VM with `vcpus` vCPUs (at least one frame).
    pub const fn size_for(&self, vcpus: usize) -> u64 {
        match self.per_vcpu {
            true => self.size * if vcpus == 0 { 1 } else { vcpus as u64 },
            false => self.size,
        }
    }
}

/// How many of `devices` are in `space` (the size of a VM's dispatch table for it).
pub const fn count_in(devices: &[EmulatedDevice], space: Space) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < devices.len() {
        if devices[i].space as u8 == space as u8 {
            n += 1;
        }
        i += 1;
    }
    n
}

/// One limit, as the docs and `rtvisor check` describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What is limited.
    pub what: &'static str,
    /// The largest value accepted.
    pub max: u64,
    /// The scenario or board key that crosses it.
    pub key: &'static str,
}

/// Every limit a scenario or board can cross, for the docs.
pub const LIMITS: [Limit; 10] = [
    Limit {
        what: "physical CPUs on the board",
        max: MAX_CPUS as u64,
        key: "board `[[cpu]]`",
    },
    Limit {
        what: "RAM banks on the board",
        max: MAX_RAM_BANKS as u64,
        key: "board `[[ram]]`",
    },
    Limit {
        what: "VMs in a scenario",
        max: MAX_VMS as u64,
        key: "`[[vm]]`",
    },
    Limit {
        what: "vCPUs of one VM",
        max: MAX_VCPUS as u64,
        key: "`[[vm]] cpus`",
    },
    Limit {
        what: "bytes in a VM name",
        max: MAX_VM_NAME as u64,
        key: "`[[vm]] name`",
    },
    Limit {
        what: "shared-memory regions",
        max: MAX_SHARED_REGIONS as u64,
        key: "`[[shared-memory]]`",
    },
    Limit {
        what: "bytes in a shared-memory name",
        max: MAX_SHARED_NAME as u64,
        key: "`[[shared-memory]] name`",
    },
    Limit {
        what: "guest-physical address bits (stage-2 input size)",
        max: aarch64::IPA_BITS as u64,
        key: "identity-mapped `[[vm]] memory`, `devices`, `peers.ipa`",
    },
    Limit {
        what: "highest device INTID a virtual-mode VM receives",
        max: aarch64::VGIC_INTIDS as u64 - 1,
        key: "`[[vm]] devices` (board `[[device]] irqs`)",
    },
    Limit {
        what: "bytes of a VM's device tree at the start of its RAM",
        max: aarch64::DTB_MAX,
        key: "`[[vm]] bootargs`, `devices`",
    },
];

/// The tables of docs/scenario.md ("Limits" and "What a VM sees"), in Markdown: one
/// row per limit, then one per emulated device.
pub fn render_markdown(out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    writeln!(out, "| limit | at most | set by |")?;
    writeln!(out, "|---|---:|---|")?;
    for l in &LIMITS {
        writeln!(out, "| {} | {} | {} |", l.what, l.max, l.key)?;
    }
    writeln!(out)?;
    writeln!(out, "| emulated device | IPA | size | INTID |")?;
    writeln!(out, "|---|---|---|---|")?;
    for d in &aarch64::EMULATED {
        write!(out, "| {} | ", d.name)?;
        hex_grouped(out, d.base)?;
        write!(out, " | {} KiB", d.size >> 10)?;
        if d.per_vcpu {
            write!(out, " per vCPU")?;
        }
        write!(out, " | ")?;
        match d.line {
            Some(i) => writeln!(out, "{i} |")?,
            None => writeln!(out, "- |")?,
        }
    }
    Ok(())
}

/// `0x0800_0000`: eight hex digits in two groups (every guest device is below 4 GiB).
fn hex_grouped(out: &mut dyn core::fmt::Write, v: u64) -> core::fmt::Result {
    write!(out, "0x{:04x}_{:04x}", v >> 16, v & 0xffff)
}

// The limits fit what uses them: vCPU sets are u32 bitmaps in core and SGI targeting
// assumes Aff0 < 16; a VM's VMID is its id + 1 in 8 bits.
const _: () = assert!(MAX_VCPUS <= 16 && MAX_CPUS <= 64);
const _: () = assert!(MAX_VCPUS <= MAX_CPUS && MAX_VMS <= MAX_CPUS);
const _: () = assert!(MAX_VMS < 255);
