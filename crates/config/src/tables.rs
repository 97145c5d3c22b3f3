//! The static configuration tables linked into the hypervisor image.
//!
//! The build script of `crates/hypervisor` turns a validated scenario into one
//! `static CONFIG: Config` of these types. Every address here was checked on the host:
//! RAM regions lie in the board's RAM, do not overlap each other or the hypervisor, and
//! are 2 MiB aligned.

use crate::coloring::PAGE;
pub use crate::coloring::{Coloring, Run, Runs};
pub use ram::{RamMap, LOW_PRIVATE};

mod ram;
use rtvisor_addr::{Hpa, Ipa};

/// The whole static configuration.
#[derive(Debug)]
pub struct Config {
    /// FNV-1a 64 of the scenario, board and guest images; checked at boot against the
    /// payload so a hypervisor never runs with tables for another image.
    pub fingerprint: u64,
    /// Word-wise FNV-1a 64 over every VM's kernel, initrd and device tree as embedded (see
    /// [`crate::fingerprint::payload`]); the hypervisor recomputes it at boot and
    /// refuses to start VMs from a damaged or mismatched payload.
    pub payload_fingerprint: u64,
    /// Hypervisor-wide settings.
    pub hypervisor: HypervisorConfig,
    /// The VMs, in scenario order. A VM's index here is its VM id; its VMID is id + 1.
    pub vms: &'static [VmConfig],
}

/// Hypervisor-wide settings.
#[derive(Debug)]
pub struct HypervisorConfig {
    /// Host-physical region reserved for the hypervisor (image, page tables, stacks).
    pub memory: MemRegion<Hpa>,
    /// Log level at boot.
    pub log_level: LogLevel,
    /// Physical CPU count the scenario's board declares.
    pub board_cpus: u32,
    /// VM id that gets console input at boot (`None`: the hypervisor shell).
    pub console_input: Option<usize>,
    /// `[hypervisor] shell` is not `false` (the shell runs when a CPU is also free).
    pub shell: bool,
    /// The board is QEMU with Arm semihosting (board `[qemu] semihosting`): after a
    /// FATAL error the hypervisor ends QEMU with [`FATAL_EXIT_STATUS`].
    pub semihosting: bool,
    /// `[hypervisor] colors`: the pages its translation tables come from (`None`:
    /// the table pool inside its own memory).
    pub tables: Option<HvPages>,
}

/// Pages of the hypervisor's cache colors, for its translation tables: `size` bytes
/// of pages of `colors` from `hpa` on (the start of a period, as for a colored VM's
/// RAM), identity-mapped at EL2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HvPages {
    /// Host-physical start of the first period.
    pub hpa: Hpa,
    /// Bytes of its own pages (a multiple of 4 KiB).
    pub size: u64,
    /// Its colors.
    pub colors: Coloring,
}

impl HvPages {
    /// The host address of its page `k` (from 0), `None` past the last.
    pub fn page(&self, k: u64) -> Option<Hpa> {
        if k >= self.size / PAGE {
            return None;
        }
        self.hpa.checked_add(self.colors.page(k).0)
    }

    /// Its host-contiguous stretches: (host start, bytes).
    pub fn runs(&self) -> impl Iterator<Item = (Hpa, u64)> {
        let as_ram = RamMap {
            ipa: Ipa::new(0),
            hpa: self.hpa,
            size: self.size,
            colors: Some(self.colors),
            low: None,
        };
        as_ram.runs().map(|r| (r.hpa, r.size))
    }

    /// The host region that holds its pages (and those of other colors between).
    pub fn span(&self) -> MemRegion<Hpa> {
        MemRegion {
            base: self.hpa,
            size: self.colors.span(self.size),
        }
    }
}

/// The exit status of QEMU after a FATAL error of the hypervisor, on a board with
/// semihosting (EX_SOFTWARE of sysexits.h: an internal software error). The host
/// tools name the failure when they see it.
pub const FATAL_EXIT_STATUS: u32 = 70;

/// A half-open memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRegion<A> {
    /// First address.
    pub base: A,
    /// Size in bytes.
    pub size: u64,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Lifecycle events (default).
    Info,
    /// Everything, including each emulated access.
    Debug,
}

/// What a VM is for; `Rt` VMs never share a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmKind {
    /// Real-time VM.
    Rt,
    /// General-purpose VM.
    General,
}

/// How interrupts reach a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptMode {
    /// Emulated distributor/redistributor plus the hardware virtual CPU interface.
    Virtual,
    /// Physical interrupts of the VM's cores go straight to EL1.
    Direct,
}

/// How far a direct-mode guest is trusted with its cores' physical GIC CPU interface.
/// Meaningless (and [`DirectTrust::Untrusted`]) for virtual-mode VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectTrust {
    /// The guest's Group-1 CPU interface registers trap to EL2 (ICH_HCR_EL2.TALL1):
    /// each acknowledge and EOI costs an exit, and the hypervisor can always take the
    /// core back.
    Untrusted,
    /// The guest uses the physical CPU interface with no exit on its interrupt path.
    /// A guest that writes ICC_AP1R<n>_EL1 can raise its running priority above the
    /// hypervisor's interrupts and keep the core; the hypervisor then reports its vCPU
    /// unresponsive and never reuses its memory.
    Trusted,
}

/// What happens when a VM stops on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Stay stopped.
    Never,
    /// Restart after a crash (fault policy, watchdog), not after SYSTEM_OFF.
    OnCrash,
    /// Restart whenever it stops.
    Always,
}

/// One VM.
#[derive(Debug)]
pub struct VmConfig {
    /// Name, also the console prefix `[name] `.
    pub name: &'static str,
    /// Real-time or general purpose.
    pub kind: VmKind,
    /// Physical CPU index (position in the board's CPU list) of each vCPU: vCPU `i`
    /// runs on `cpus[i]`, pinned.
    pub cpus: &'static [u32],
    /// RAM: guest-physical base and the host-physical region backing it.
    pub ram: RamMap,
    /// The kernel image, copied into RAM at every (re)start.
    pub kernel: ImagePlacement,
    /// The initrd, if any.
    pub initrd: Option<ImagePlacement>,
    /// The VM's device tree blob (generated on the host), placed at `dtb_ipa`.
    pub dtb: &'static [u8],
    /// Where the device tree goes; x0 of vCPU 0 at entry.
    pub dtb_ipa: Ipa,
    /// Entry point of vCPU 0.
    pub entry: Ipa,
    /// Guest-physical base of the VM's emulated PL011 (4 KiB).
    pub uart: Ipa,
    /// Interrupt delivery mode.
    pub interrupt_mode: InterruptMode,
    /// Direct mode: whether the guest is trusted with the physical CPU interface.
    pub direct_trust: DirectTrust,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Devices passed through: MMIO mapped 1:1 in stage-2, interrupts routed to the VM.
    pub devices: &'static [DeviceMap],
    /// PCI functions given to this (identity-mapped, x86_64) VM one by one.
    pub pci: &'static [PciFunctionMap],
    /// With `pci`: the guest-physical 32-bit memory windows of the VM's host bridge
    /// (its DSDT's `PCI0`; the contract's `PCI_MMIO_WINDOWS`). Every BAR of its
    /// functions must lie inside one: BARs are mapped 1:1 where the host firmware
    /// put them and the guest claims them as they are. Empty without `pci`.
    pub pci_windows: &'static [MemRegion<Ipa>],
    /// Shared-memory regions this VM is a peer of, in scenario declaration order
    /// (empty when none). Peers of one region share its `hpa` and `size`.
    pub shared: &'static [SharedMap],
    /// What the VM's virtual counter reads.
    pub counter_offset: CounterOffset,
    /// Initial contents of its CFI flash banks (`None`: erased), copied in at every
    /// start; the rest of each bank reads as erased (0xFF).
    pub flash: [Option<&'static [u8]>; 2],
}

/// What CNTVOFF_EL2 holds while a VM runs (scenario `counter-offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterOffset {
    /// 0: CNTVCT_EL0 reads the physical count, as on bare QEMU (the default).
    Zero,
    /// The physical count when the VM last (re)started: its virtual counter starts
    /// near 0. QEMU 7.2 can freeze when such a guest parks its compare value near 0
    /// with the timer enabled (docs/scenario.md).
    VmStart,
}

/// An image and where it goes in guest RAM.
#[derive(Debug)]
pub struct ImagePlacement {
    /// The bytes, embedded in the hypervisor image.
    pub bytes: &'static [u8],
    /// Guest-physical load address.
    pub load: Ipa,
}

/// A passed-through device.
#[derive(Debug)]
pub struct DeviceMap {
    /// Name from the board file.
    pub name: &'static str,
    /// Guest-physical base of the mapped pages (equal to `hpa` today: devices are
    /// mapped 1:1).
    pub ipa: Ipa,
    /// Host-physical base of the mapped pages.
    pub hpa: Hpa,
    /// Size of the mapped pages in bytes (multiple of 4 KiB).
    pub size: u64,
    /// The device's own registers (the board's `reg`), inside the mapped pages
    /// (devices that share a page, such as virtio-mmio transports, each have theirs).
    pub regs: MemRegion<Hpa>,
    /// GIC INTIDs the device raises.
    pub irqs: &'static [u32],
    /// Whether they are edge-triggered (else level-sensitive, active high).
    pub edge: bool,
    /// A virtio-mmio transport's register base (`compatible = "virtio,mmio"`): the
    /// hypervisor resets it when the VM stops or restarts, so it stops DMA into the
    /// VM's RAM. `None` for other devices.
    pub virtio_mmio: Option<Hpa>,
}

/// A PCI function given to an x86_64 VM (`devices = ["BRIDGE/BB:DD.F"]`). The guest
/// sees it at the host's bus, device and function numbers, through its emulated
/// configuration space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciFunctionMap {
    /// The scenario's name for it (`pcie@b0000000/00:03.0`).
    pub name: &'static str,
    /// Bus number.
    pub bus: u8,
    /// Device number (0 to 31).
    pub dev: u8,
    /// Function number (0 to 7).
    pub func: u8,
    /// Host-physical base of its host bridge's ECAM window (bus 0's space).
    pub ecam: Hpa,
    /// The GSIs of INTA to INTD of device 0 on its bridge (level-triggered); pin `p`
    /// (1 = INTA) of device `d` raises `intx[(d + p - 1) % 4]`.
    pub intx: [u32; 4],
}

/// A shared-memory region as one VM maps it: normal memory, read-only in stage-2
/// unless `writable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedMap {
    /// Region name from the scenario (`[[shared-memory]] name`).
    pub name: &'static str,
    /// Guest-physical base in this VM (4 KiB aligned; 2 MiB when `size` is a multiple
    /// of 2 MiB and the address was chosen automatically).
    pub ipa: Ipa,
    /// Host-physical base (same alignment rule), outside every VM's RAM and the
    /// hypervisor's.
    pub hpa: Hpa,
    /// Size in bytes (a non-zero multiple of 4 KiB).
    pub size: u64,
    /// Whether this VM may write it (`access = "rw"`).
    pub writable: bool,
    /// Position in the scenario's `[[shared-memory]]` list: the number a peer rings.
    pub index: usize,
    /// The INTID (an SPI) its doorbell raises in this VM.
    pub doorbell: u32,
}
