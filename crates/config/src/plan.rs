//! The resolved scenario: every address decided, every blob read, every device tree
//! generated. Tables (`codegen`) and `rtvisor check`'s map are printed from this.

use crate::contract::Arch;
use crate::schema::{FormatSpec, Trigger};
use crate::tables::{
    CounterOffset, DirectTrust, InterruptMode, LogLevel, MemRegion, RamMap, RestartPolicy, VmKind,
};
use rtvisor_addr::{Hpa, Ipa};
use std::path::PathBuf;

/// A validated, fully placed scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario file (as named by the user, normalised).
    pub scenario: PathBuf,
    /// The board file.
    pub board: PathBuf,
    /// The board's name.
    pub board_name: String,
    /// The board's architecture: on x86_64 a VM's `dtb` is its boot data (ACPI tables
    /// and PVH start info, [`crate::acpi`]) and `dtb_ipa` where it goes.
    pub arch: Arch,
    /// Hypervisor-wide settings.
    pub hypervisor: HypervisorPlan,
    /// Generic timer INTIDs: secure physical, physical, virtual, hypervisor (zero on
    /// x86_64).
    pub timer_intids: [u32; 4],
    /// The VMs, in scenario order (index = VM id).
    pub vms: Vec<VmPlan>,
    /// Shared-memory regions, in declaration order.
    pub shared: Vec<SharedRegionPlan>,
    /// FNV-1a 64 of scenario, board and blobs (see [`crate::fingerprint`]).
    pub fingerprint: u64,
    /// Every file the plan was made from: what a build script reruns on.
    pub inputs: Vec<PathBuf>,
    /// What is legal but probably not meant (e.g. an image linked for another
    /// address); `rtvisor check` and `build` print them.
    pub warnings: Vec<crate::Diagnostic>,
}

/// Hypervisor-wide settings.
#[derive(Debug, Clone)]
pub struct HypervisorPlan {
    /// Its own memory.
    pub memory: MemRegion<Hpa>,
    /// How far its base lies above the start of the first RAM bank: the arm64 Image
    /// header's `text_offset` (aarch64).
    pub text_offset: u64,
    /// Boot log level.
    pub log_level: LogLevel,
    /// The UART it owns.
    pub console: UartPlan,
    /// CPUs on the board.
    pub board_cpus: u32,
    /// MPIDR of each board CPU, by CPU index (aarch64).
    pub board_mpidrs: Vec<u64>,
    /// APIC ID of each board CPU, by CPU index (x86_64).
    pub board_apic_ids: Vec<u32>,
    /// VM id that gets console input at boot (`None`: the shell).
    pub console_input: Option<usize>,
    /// The board's `[qemu] semihosting`.
    pub semihosting: bool,
    /// `[hypervisor] accounting`: built with the `accounting` feature.
    pub accounting: bool,
    /// `[hypervisor] shell` is not `false`: the image has the shell when a CPU is
    /// free for it.
    pub shell: bool,
    /// `[hypervisor] colors`: the colored pages of its translation tables.
    pub tables: Option<crate::tables::HvPages>,
}

/// A board UART.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UartPlan {
    /// Board name of the UART.
    pub name: String,
    /// MMIO base (zero for a UART at I/O ports).
    pub base: Hpa,
    /// MMIO size.
    pub size: u64,
    /// First I/O port (x86_64).
    pub port: Option<u16>,
    /// INTID (aarch64) or GSI (x86_64).
    pub irq: u32,
}

/// One VM, placed.
#[derive(Debug, Clone)]
pub struct VmPlan {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: VmKind,
    /// Physical CPU of each vCPU.
    pub cpus: Vec<u32>,
    /// RAM.
    pub ram: RamMap,
    /// Kernel, flattened.
    pub kernel: ImagePlan,
    /// Initrd.
    pub initrd: Option<ImagePlan>,
    /// Generated device tree.
    pub dtb: Vec<u8>,
    /// Where the device tree goes (x0 at entry).
    pub dtb_ipa: Ipa,
    /// Bytes free there before the next thing placed or the end of RAM.
    pub dtb_room: u64,
    /// Entry point of vCPU 0.
    pub entry: Ipa,
    /// Emulated PL011 base.
    pub uart: Ipa,
    /// Interrupt mode.
    pub interrupt_mode: InterruptMode,
    /// Direct mode: trust in the guest with the physical CPU interface.
    pub direct_trust: DirectTrust,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Passed-through devices, and the ECAM and windows of its PCIe host bridges.
    pub devices: Vec<DevicePlan>,
    /// Passed-through PCIe host bridges.
    pub pcie: Vec<crate::pcie::PciePlan>,
    /// PCI functions given one by one (x86_64).
    pub pci: Vec<crate::pcie::FunctionPlan>,
    /// With `pci`: the guest-physical 32-bit windows its functions' BARs must lie in,
    /// (base, size) (the contract's `PCI_MMIO_WINDOWS`, in its DSDT's `PCI0`).
    pub pci_windows: Vec<(u64, u64)>,
    /// Shared-memory regions this VM is a peer of, in declaration order.
    pub shared: Vec<SharedMapPlan>,
    /// Command line.
    pub bootargs: Option<String>,
    /// Board UART its console goes to.
    pub console: String,
    /// What its virtual counter reads.
    pub counter_offset: CounterOffset,
    /// Initial contents of its flash banks.
    pub flash: [Option<ImagePlan>; 2],
}

/// An image in guest RAM.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// Source file.
    pub path: PathBuf,
    /// Format (`None` for an initrd).
    pub format: Option<FormatSpec>,
    /// Bytes to copy at every (re)start.
    pub bytes: Vec<u8>,
    /// Guest-physical load address.
    pub load: Ipa,
}

/// A passed-through device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    /// Board name.
    pub name: String,
    /// Device-tree compatible strings.
    pub compatible: Vec<String>,
    /// Register window as the board gives it (device tree `reg`).
    pub base: Hpa,
    /// Its size.
    pub size: u64,
    /// The 4 KiB pages stage-2 maps 1:1 (base).
    pub page_base: Hpa,
    /// Size of the mapped pages.
    pub page_size: u64,
    /// INTIDs.
    pub irqs: Vec<u32>,
    /// Trigger of its interrupts.
    pub trigger: Trigger,
    /// DMA is cache-coherent.
    pub dma_coherent: bool,
    /// The PCIe host bridge this is a window of (its node describes it in the guest
    /// device tree); `None` for a device of its own.
    pub bridge: Option<String>,
}

/// A shared-memory region in host RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRegionPlan {
    /// Name.
    pub name: String,
    /// Host-physical base.
    pub hpa: Hpa,
    /// Size (multiple of 4 KiB).
    pub size: u64,
    /// Each peer VM's name and whether it may write, in the order given.
    pub peers: Vec<(String, bool)>,
}

/// A shared-memory region as one VM maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMapPlan {
    /// Region name.
    pub name: String,
    /// Guest-physical base in this VM.
    pub ipa: Ipa,
    /// Host-physical base.
    pub hpa: Hpa,
    /// Size (multiple of 4 KiB).
    pub size: u64,
    /// `access = "rw"`.
    pub writable: bool,
    /// Position in the scenario's `[[shared-memory]]` list (the doorbell number).
    pub index: usize,
    /// The INTID its doorbell raises in this VM.
    pub doorbell: u32,
}

impl ImagePlan {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.load.raw() + self.bytes.len() as u64
    }
}

impl Plan {
    /// The parts of the hypervisor an image of this plan is built without, as the
    /// hypervisor's `config.rs` decides them from the generated tables, on either
    /// architecture: `"direct mode"` when no VM is in direct mode (the GIC filter and
    /// direct SGIs on aarch64, LAPIC pass-through on x86_64), `"shell"` when the VMs
    /// take every CPU of the board. Empty: the full build.
    pub fn left_out(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self
            .vms
            .iter()
            .any(|vm| vm.interrupt_mode == InterruptMode::Direct)
        {
            out.push("direct mode");
        }
        let hosted: usize = self.vms.iter().map(|vm| vm.cpus.len()).sum();
        if !self.hypervisor.shell || hosted >= self.hypervisor.board_cpus as usize {
            out.push("shell");
        }
        out
    }
}

mod map;
pub mod words;
