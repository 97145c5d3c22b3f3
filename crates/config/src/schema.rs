//! The serde schema of board and scenario TOML files.
//!
//! Keys are kebab-case, every table is `deny_unknown_fields`, and every value a rule
//! may point at is `Spanned` so that errors carry a line and column. Tables themselves
//! are never `Spanned`: toml 0.8 cannot span a dotted-key table (`memory.size = ...`). Addresses are integers
//! (write them in hex: `0x4000_0000`); sizes are integers or strings with a binary unit
//! (`"64MiB"`). INTIDs are GIC interrupt IDs: PPI n is INTID 16 + n, SPI n is 32 + n.
//!
//! A board's `arch` (default `aarch64`) says which of its tables it needs: `[gic]`,
//! `[timer]`, `[[cpu]] mpidr` and MMIO UARTs on aarch64; `[local-apic]`, `[[io-apic]]`,
//! `[[cpu]] apic-id` and I/O-port UARTs on x86_64, where interrupts are GSIs. Those
//! keys are optional here; `validate::arch` reports a key the board's architecture
//! does not have, or lacks, at its place.

pub use crate::contract::Arch;
pub use crate::pcie::PcieSpec;
pub use crate::qemu::{QemuBoardSpec, QemuDeviceSpec};
use crate::size::Size;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use toml::Spanned;

/// A board file: the hardware, not how it is partitioned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BoardFile {
    /// Board name, for messages.
    pub name: Spanned<String>,
    /// Architecture (default `aarch64`).
    pub arch: Option<Spanned<Arch>>,
    /// Physical CPUs; a CPU index in a scenario is a position in this list.
    #[serde(default)]
    pub cpu: Vec<CpuSpec>,
    /// RAM banks.
    #[serde(default)]
    pub ram: Vec<RegionSpec>,
    /// aarch64: the interrupt controller.
    pub gic: Option<GicSpec>,
    /// aarch64: the architected timer interrupts.
    pub timer: Option<TimerSpec>,
    /// x86_64: the local APIC (every CPU's, at one address).
    pub local_apic: Option<LocalApicSpec>,
    /// x86_64: the I/O APICs.
    #[serde(default)]
    pub io_apic: Vec<IoApicSpec>,
    /// UARTs; the hypervisor owns the one named as its console.
    #[serde(default)]
    pub uart: Vec<UartSpec>,
    /// Devices that can be passed through to a VM.
    #[serde(default)]
    pub device: Vec<DeviceSpec>,
    /// aarch64: PCIe host bridges (see [`crate::pcie`]); one VM gets each whole.
    #[serde(default)]
    pub pcie: Vec<PcieSpec>,
    /// The board is a QEMU machine (see [`crate::qemu`]).
    pub qemu: Option<QemuBoardSpec>,
    /// The last-level cache, for cache coloring (`[llc]`).
    pub llc: Option<LlcSpec>,
}

/// `[llc]`: the last-level cache, as the CPU's cache ID registers (CLIDR_EL1,
/// CCSIDR_EL1) or the device tree's cache nodes describe it. Its way size
/// (`size / ways`) divided by 4 KiB is the number of cache colors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LlcSpec {
    /// Total size.
    pub size: Spanned<Size>,
    /// Associativity.
    pub ways: Spanned<u32>,
    /// Line size in bytes.
    pub line: Spanned<u32>,
}

/// One physical CPU.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CpuSpec {
    /// aarch64: its MPIDR_EL1 affinity value.
    pub mpidr: Option<Spanned<u64>>,
    /// x86_64: its local APIC ID (x2APIC ID; the MADT's).
    pub apic_id: Option<Spanned<u32>>,
}

/// x86_64: `[local-apic]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LocalApicSpec {
    /// Its xAPIC register page (IA32_APIC_BASE; the MADT's).
    pub base: Spanned<u64>,
}

/// x86_64: one `[[io-apic]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IoApicSpec {
    /// Its I/O APIC ID.
    pub id: Spanned<u32>,
    /// Its register window (4 KiB).
    pub base: Spanned<u64>,
    /// The GSI of its first pin.
    pub gsi_base: Spanned<u32>,
}

/// An MMIO or RAM region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegionSpec {
    /// First address.
    pub base: Spanned<u64>,
    /// Size.
    pub size: Spanned<Size>,
}

/// The GIC.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GicSpec {
    /// Architecture version; 3 is supported.
    pub version: Spanned<u32>,
    /// Distributor registers.
    pub distributor: RegionSpec,
    /// Redistributor frames, one per CPU in CPU order.
    pub redistributors: RedistSpec,
}

/// The redistributor region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RedistSpec {
    /// First frame.
    pub base: Spanned<u64>,
    /// Total size of all frames.
    pub size: Spanned<Size>,
    /// Distance between two CPUs' frames.
    pub stride: Spanned<Size>,
}

/// Generic timer interrupts (INTIDs of PPIs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimerSpec {
    /// Secure EL1 physical timer (device-tree PPI 13: INTID 29).
    pub secure_physical_intid: Spanned<u32>,
    /// Non-secure EL1 physical timer (PPI 14: INTID 30).
    pub physical_intid: Spanned<u32>,
    /// EL1 virtual timer (PPI 11: INTID 27).
    pub virtual_intid: Spanned<u32>,
    /// EL2 physical timer (PPI 10: INTID 26).
    pub hyp_intid: Spanned<u32>,
}

/// A UART.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UartSpec {
    /// Name a scenario refers to.
    pub name: Spanned<String>,
    /// Device-tree compatible strings.
    pub compatible: Compatible,
    /// aarch64: MMIO base.
    pub base: Option<Spanned<u64>>,
    /// aarch64: MMIO size.
    pub size: Option<Spanned<Size>>,
    /// x86_64: first I/O port (a 16550 has 8).
    pub port: Option<Spanned<u16>>,
    /// INTID (aarch64) or GSI (x86_64).
    pub irq: Spanned<u32>,
}

/// A device that can be passed through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeviceSpec {
    /// Name a scenario refers to (by convention `<kind>@<base>`).
    pub name: Spanned<String>,
    /// Device-tree compatible strings.
    pub compatible: Compatible,
    /// MMIO base.
    pub base: Spanned<u64>,
    /// MMIO size.
    pub size: Spanned<Size>,
    /// INTIDs (aarch64) or GSIs (x86_64) it raises.
    #[serde(default)]
    pub irqs: Vec<Spanned<u32>>,
    /// Trigger of its interrupts.
    #[serde(default)]
    pub irq_trigger: Trigger,
    /// Whether it can master DMA (then its VM must be identity-mapped: no IOMMU).
    pub dma: bool,
    /// Whether its DMA is cache-coherent (`dma-coherent` in the guest device tree).
    #[serde(default)]
    pub dma_coherent: bool,
}

/// Interrupt trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Level-sensitive, active high.
    #[default]
    Level,
    /// Rising edge.
    Edge,
}

/// `compatible = "a"` or `compatible = ["a", "b"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compatible(pub Vec<String>);

impl<'de> Deserialize<'de> for Compatible {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Compatible;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a compatible string or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Compatible, E> {
                Ok(Compatible(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Compatible, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                if out.is_empty() {
                    return Err(de::Error::custom("`compatible` needs at least one string"));
                }
                Ok(Compatible(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scenario file: how a board is partitioned into VMs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioFile {
    /// Board file, relative to the scenario file.
    pub board: Spanned<String>,
    /// Hypervisor-wide settings.
    pub hypervisor: HypervisorSpec,
    /// The VMs, in VM-id order.
    #[serde(default)]
    pub vm: Vec<VmSpec>,
    /// Memory shared between VMs, in declaration order.
    #[serde(default)]
    pub shared_memory: Vec<SharedMemorySpec>,
    /// Emulated devices a QEMU run plugs into transports (see [`crate::qemu`]).
    #[serde(default)]
    pub qemu_device: Vec<QemuDeviceSpec>,
}

/// `[hypervisor]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HypervisorSpec {
    /// Name of the board UART the hypervisor owns.
    pub console: Spanned<String>,
    /// Boot log level (default `info`).
    #[serde(default)]
    pub log_level: LogLevelSpec,
    /// The VM that gets the console's input at boot (default: the hypervisor
    /// shell). Ctrl-] gives it back to the shell; `vm console NAME` moves it.
    pub console_input: Option<Spanned<String>>,
    /// The hypervisor's own memory (default 32 MiB), placed at the first RAM bank's
    /// base + 2 MiB, where the boot loader puts the image, unless `base` says where.
    pub memory: Option<HvMemorySpec>,
    /// Build the hypervisor with the interference accounting of every entry into it,
    /// counts and time (the `accounting` feature; default false: it costs every
    /// entry a few instructions and two counter reads).
    #[serde(default)]
    pub accounting: bool,
    /// LLC colors of the pages the hypervisor allocates for itself (its translation
    /// tables; `"0-1"`; default: uncolored, inside its own memory).
    pub colors: Option<Spanned<String>>,
    /// Whether its colors may overlap a VM's that also says `shared-colors`.
    #[serde(default)]
    pub shared_colors: bool,
    /// The hypervisor shell on the console (default: there is one when a CPU of the
    /// board hosts no vCPU). `false` builds the image without it, as a deployed
    /// system may want (no commands on the serial line, a smaller image); `true`
    /// requires a free CPU for it.
    pub shell: Option<Spanned<bool>>,
}

/// `[hypervisor] memory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HvMemorySpec {
    /// Size.
    pub size: Spanned<Size>,
    /// Host-physical base (aarch64), 2 MiB aligned, at least 2 MiB into the first RAM
    /// bank: the image's `text_offset` is its distance from the bank's start, so a boot
    /// loader puts it there. Default: the bank's start + 2 MiB.
    pub base: Option<Spanned<u64>>,
}

/// Log level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum LogLevelSpec {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

/// `[[vm]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VmSpec {
    /// `[a-z0-9-]+`, unique.
    pub name: Spanned<String>,
    /// `rt` or `general`.
    pub kind: Spanned<KindSpec>,
    /// Physical CPU indices (into the board's CPU list); vCPU i runs on `cpus[i]`.
    pub cpus: Spanned<Vec<Spanned<u32>>>,
    /// RAM.
    pub memory: VmMemorySpec,
    /// Kernel image.
    pub kernel: KernelSpec,
    /// Initial ramdisk, relative to the scenario file.
    pub initrd: Option<Spanned<String>>,
    /// Where the device tree goes (IPA; default: where QEMU's `-kernel` puts it).
    pub dtb_ipa: Option<Spanned<u64>>,
    /// Command line (`/chosen/bootargs`).
    pub bootargs: Option<Spanned<String>>,
    /// Interrupt delivery (default `virtual`).
    pub interrupt_mode: Option<Spanned<ModeSpec>>,
    /// Direct mode only: whether the guest is trusted with its cores' physical GIC
    /// CPU interface (default `untrusted`: its Group-1 CPU interface registers trap).
    pub direct_trust: Option<Spanned<TrustSpec>>,
    /// Board UART its console output goes to (default: the hypervisor console).
    pub console: Option<Spanned<String>>,
    /// Board devices passed through.
    #[serde(default)]
    pub devices: Vec<Spanned<String>>,
    /// Restart policy (default `never`).
    #[serde(default)]
    pub restart: RestartSpec,
    /// The virtual counter's offset from the physical one (default `zero`).
    #[serde(default)]
    pub counter_offset: CounterOffsetSpec,
    /// Initial contents of the emulated CFI flash (default: erased).
    pub flash: Option<FlashSpec>,
    /// LLC colors of its RAM (`"0-3,8"`; default: uncolored, one host region).
    pub colors: Option<Spanned<String>>,
    /// Whether its colors may overlap another VM's that also says so.
    #[serde(default)]
    pub shared_colors: bool,
}

/// `[[vm]] flash`: files copied into the flash banks at every VM start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FlashSpec {
    /// Contents of the bank at 0x0 (firmware code), relative to the scenario file.
    pub bank0: Option<Spanned<String>>,
    /// Contents of the bank at 0x0400_0000 (variables, U-Boot's environment).
    pub bank1: Option<Spanned<String>>,
}

/// `[[vm]] memory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VmMemorySpec {
    /// Size, a multiple of 2 MiB.
    pub size: Spanned<Size>,
    /// Fixed host-physical base, 2 MiB aligned (default: first fit).
    pub base: Option<Spanned<u64>>,
    /// Guest RAM at the same address as host RAM (needed for DMA devices).
    #[serde(default)]
    pub identity: bool,
}

/// `[[vm]] kernel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KernelSpec {
    /// Image file, relative to the scenario file.
    pub path: Spanned<String>,
    /// How to place it (default `auto`: the content decides).
    pub format: Option<Spanned<FormatSpec>>,
}

/// VM kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum KindSpec {
    Rt,
    General,
}

/// Trust in a direct-mode guest (`direct-trust`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum TrustSpec {
    Untrusted,
    Trusted,
}

/// Interrupt mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum ModeSpec {
    Virtual,
    Direct,
}

/// Restart policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum RestartSpec {
    #[default]
    Never,
    OnCrash,
    Always,
}

/// `counter-offset`: what CNTVOFF_EL2 holds while the VM runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CounterOffsetSpec {
    /// 0: the virtual counter reads the physical count (as on bare QEMU).
    #[default]
    Zero,
    /// The physical count at each (re)start of the VM: its virtual counter starts
    /// near 0.
    VmStart,
}

/// Kernel image format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatSpec {
    /// The content decides, as for QEMU `-kernel`: an ELF, an arm64 Image (by its
    /// header) or a headerless binary (the default).
    #[default]
    Auto,
    /// Headerless binary, loaded at RAM + 0x8_0000 and entered there.
    Raw,
    /// ELF64: PT_LOAD segments at their physical addresses, entered at `e_entry`.
    Elf,
    /// arm64 Linux `Image`, placed per its header.
    LinuxImage,
}

/// `[[shared-memory]]`: a region of host RAM mapped into several VMs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SharedMemorySpec {
    /// `[a-z0-9-]+`, unique among regions; names the guest device-tree node.
    pub name: Spanned<String>,
    /// Size, a non-zero multiple of 4 KiB.
    pub size: Spanned<Size>,
    /// Fixed host-physical base, 4 KiB aligned (default: first fit after the VMs).
    pub base: Option<Spanned<u64>>,
    /// The VMs that map it and how.
    pub peers: Spanned<Vec<PeerSpec>>,
}

/// One VM's view of a shared region: `{ vm = "rt", access = "rw", ipa = 0x... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PeerSpec {
    /// A `[[vm]]` name.
    pub vm: Spanned<String>,
    /// `ro` or `rw`.
    pub access: Spanned<AccessSpec>,
    /// Guest-physical base in that VM (default: first fit in the VM's shared-memory
    /// window, see `layout`).
    pub ipa: Option<Spanned<u64>>,
}

/// Access of a peer to a shared region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessSpec {
    /// Read-only: stage-2 refuses writes.
    Ro,
    /// Read-write.
    Rw,
}

impl BoardFile {
    /// Its architecture (`arch`, default aarch64).
    pub fn arch(&self) -> Arch {
        self.arch.as_ref().map(|a| *a.get_ref()).unwrap_or_default()
    }
}
