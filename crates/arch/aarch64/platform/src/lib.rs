//! The host platform, read once at boot from the device tree the hypervisor receives
//! in `x0`: RAM banks, CPUs, the GIC, the console UART, PSCI and the timer PPIs.
//!
//! ```text
//!   dtb bytes --validate::check--> structurally sound FDT --node::Tree--> nodes
//!             --scan::Scan::walk--> raw findings --Scan::finish--> Platform
//! ```
//!
//! Rules:
//! - No allocation, no panic on any input: the tree is checked structurally
//!   (module `validate`), then read by `node` (name, properties, children; one
//!   parser, bounds-checked at every read).
//! - `#address-cells`/`#size-cells` are honoured (1 or 2 address cells, 0 to 2 size
//!   cells, DT spec defaults 2/1), and `reg` addresses are translated through the
//!   `ranges` of every bus up to the root; a bus without `ranges` is not
//!   CPU-addressable.
//! - Nodes with `status` other than `"okay"`/`"ok"` are ignored, with their subtree
//!   (CPU nodes excepted: every `/cpus/cpu*` node is listed).
//! - Missing or malformed information is a [`PlatformError`] naming it; optional
//!   parts (UART, PSCI, timer) are `None` when absent and an error when malformed.
//! - No `unsafe`: this is parsing, run once at boot. It is its own crate, re-exported
//!   as `rtvisor_arch_aarch64::platform`, so that the hypervisor's profile can build
//!   it for size; nothing in it is on a guest's exit path (docs/benchmark.md, "The
//!   hypervisor's size, sixth pass").
#![no_std]
#![forbid(unsafe_code)]

use rtvisor_addr::HostRange;

mod node;
mod scan;
mod tree;
mod validate;

/// Most CPUs a platform may have (the machine contract's limit).
pub const MAX_CPUS: usize = rtvisor_config::contract::MAX_CPUS;
/// Most RAM banks a platform may have (the machine contract's limit).
pub const MAX_MEM_BANKS: usize = rtvisor_config::contract::MAX_RAM_BANKS;

/// What the hypervisor needs to know about the machine it runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    /// RAM banks from the `reg` of every enabled `device_type = "memory"` node, in
    /// tree order; zero-sized entries are dropped.
    pub memory: [Option<HostRange>; MAX_MEM_BANKS],
    /// `reg` (MPIDR affinity) of each `/cpus/cpu*` node, in tree order; the first
    /// `cpu_count` entries are valid.
    pub cpus: [u64; MAX_CPUS],
    /// Number of CPUs.
    pub cpu_count: usize,
    /// The interrupt controller.
    pub gic: GicInfo,
    /// The console UART: the PL011 named by `/chosen/stdout-path` (directly or via
    /// `/aliases`), else the first enabled `arm,pl011` node.
    pub uart: Option<HostRange>,
    /// The console UART's interrupt (INTID), when it is wired to the GIC.
    pub uart_irq: Option<u32>,
    /// How to call PSCI firmware (`method` of the `arm,psci*` node).
    pub psci: Option<Conduit>,
    /// INTIDs of the architected timer (`arm,armv8-timer`/`arm,armv7-timer`), in
    /// binding order: secure physical, non-secure physical, virtual, hypervisor.
    pub timer_ppis: Option<[u32; 4]>,
}

/// The GIC the hypervisor owns (the first enabled GIC node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicInfo {
    /// Architecture version: 3 (`arm,gic-v3`, also used by GICv4) or 2.
    pub version: u8,
    /// Distributor (first `reg` region).
    pub dist: HostRange,
    /// Second `reg` region: the first redistributor region on GICv3; on GICv2 the
    /// CPU interface (GICC), which has no redistributor.
    pub redist: HostRange,
    /// Virtual interface maintenance interrupt (INTID), from the GIC's `interrupts`.
    pub maintenance_irq: Option<u32>,
}

/// PSCI calling convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `HVC #0`.
    Hvc,
    /// `SMC #0`.
    Smc,
}

/// What is missing from, or wrong in, the device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// Not a usable FDT: too short, bad magic, version other than 17-compatible, or
    /// blocks outside `totalsize`/the buffer.
    BadHeader,
    /// The structure block is malformed (tokens, nesting, names, property bounds).
    BadStructure,
    /// Nodes nest deeper than this parser accepts.
    TooDeep,
    /// A cell-count property is malformed or unusable; names the property or node kind.
    BadCells(&'static str),
    /// A `reg` is missing, has the wrong length, wraps, or is not CPU-addressable;
    /// names the node kind (`"memory"`, `"cpu"`, `"gic"`, `"uart"`).
    BadReg(&'static str),
    /// An interrupt specifier is malformed or of the wrong type; names the node kind.
    BadInterrupts(&'static str),
    /// Another property has a value this parser does not understand.
    BadProperty(&'static str),
    /// No memory node with a non-empty bank.
    NoMemory,
    /// More than [`MAX_MEM_BANKS`] RAM banks.
    TooManyMemoryBanks,
    /// No `/cpus/cpu*` node.
    NoCpus,
    /// More than [`MAX_CPUS`] CPUs.
    TooManyCpus,
    /// No enabled GICv2/GICv3 node.
    NoGic,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadHeader => f.write_str("not a valid FDT (v17) header"),
            Self::BadStructure => f.write_str("malformed device-tree structure block"),
            Self::TooDeep => f.write_str("device-tree nodes nested too deeply"),
            Self::BadCells(k) => write!(f, "bad cell count for {k}"),
            Self::BadReg(k) => write!(f, "missing or malformed reg in {k} node"),
            Self::BadInterrupts(k) => write!(f, "missing or malformed interrupts in {k} node"),
            Self::BadProperty(k) => write!(f, "unsupported {k}"),
            Self::NoMemory => f.write_str("no memory node"),
            Self::TooManyMemoryBanks => write!(f, "more than {MAX_MEM_BANKS} memory banks"),
            Self::NoCpus => f.write_str("no cpu nodes under /cpus"),
            Self::TooManyCpus => write!(f, "more than {MAX_CPUS} cpus"),
            Self::NoGic => f.write_str("no GICv2/GICv3 interrupt controller"),
        }
    }
}

/// Parses the host device tree.
///
/// Not inlined: this crate builds for size, and its code keeps that only when it is not
/// pasted into the hypervisor crate's boot entry, which builds at level 2.
#[inline(never)]
pub fn parse(dtb: &[u8]) -> Result<Platform, PlatformError> {
    let root = validate::check(dtb)?
        .root()
        .ok_or(PlatformError::BadStructure)?;
    let stdout = stdout_path(root);
    let root_bus = tree::Bus::of(root, None, stdout.and_then(|p| p.strip_prefix('/')));
    let mut scan = scan::Scan::default();
    for node in root.children() {
        scan.walk(node, &root_bus, 2)?;
    }
    scan.finish()
}

/// `/chosen/stdout-path` without its `:options`, resolved through `/aliases` when
/// it does not start with `/`.
fn stdout_path<'a>(root: node::Node<'a>) -> Option<&'a str> {
    let child = |name: &str| root.children().find(|n| n.name == name);
    let chosen = child("chosen")?;
    let path = tree::prop_str(chosen, "stdout-path")
        .or_else(|| tree::prop_str(chosen, "linux,stdout-path"))?;
    let path = tree::split_at_byte(path, b':').0;
    if path.starts_with('/') {
        return Some(path);
    }
    tree::prop_str(child("aliases")?, path).filter(|p| p.starts_with('/'))
}

impl Platform {
    /// The valid CPU entries.
    pub fn cpus(&self) -> &[u64] {
        self.cpus.get(..self.cpu_count).unwrap_or(&[])
    }

    /// The RAM banks.
    pub fn memory_banks(&self) -> impl Iterator<Item = HostRange> + '_ {
        self.memory.iter().flatten().copied()
    }

    /// Index (in tree order) of the CPU whose affinity is `mpidr`'s; only
    /// Aff3..Aff0 (bits 39:32 and 23:0) are compared.
    pub fn cpu_index(&self, mpidr: u64) -> Option<usize> {
        const AFF: u64 = 0xff_00ff_ffff;
        self.cpus().iter().position(|&c| c & AFF == mpidr & AFF)
    }

    /// Whether `r` lies wholly inside one RAM bank (an empty `r` never does). Not inlined,
    /// for the reason given at [`parse`].
    #[inline(never)]
    pub fn ram_contains(&self, r: HostRange) -> bool {
        self.memory_banks()
            .any(|bank| bank.contains_span(r.base(), r.size()))
    }
}

#[cfg(test)]
mod tests;
