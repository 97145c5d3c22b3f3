//! Boot discovery from the device tree: where it is, the console, the PSCI conduit,
//! the bootargs and the number of CPUs.
//!
//! The DTB pointer from x0 is a claim: it is used only if a guarded read finds the
//! FDT magic and a sane size there; otherwise RAM base (0x4000_0000) is tried, since
//! QEMU does not set x0 for ELF kernels. Without a device tree, defaults are used
//! (PL011 at 0x0900_0000, HVC, no bootargs, 1 CPU).

use fdt::Fdt;

use super::{psci, uart};
use crate::args::Args;
use crate::guard;

/// FDT header magic (big-endian on memory).
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Where QEMU `virt` puts the device tree when x0 does not point at one.
pub const FALLBACK_DTB: usize = 0x4000_0000;
/// Largest device tree accepted.
const MAX_DTB_SIZE: usize = 2 << 20;

/// What the primary learned at boot; passed to the guest's main.
pub struct BootInfo {
    /// Address of the device tree in use, if one was found.
    pub dtb_addr: Option<usize>,
    /// The parsed device tree.
    pub fdt: Option<Fdt<'static>>,
    /// The command line (`/chosen/bootargs`), "" if none.
    pub bootargs: &'static str,
    /// Number of `cpu` nodes under `/cpus` (1 when unknown).
    pub dt_cpus: usize,
    /// The MPIDR (`reg`) of each `cpu` node, in tree order (vCPU index = position);
    /// the index itself where the tree does not say.
    pub cpu_mpidrs: [u64; MAX_DT_CPUS],
}

/// CPU nodes whose MPIDR is remembered.
pub const MAX_DT_CPUS: usize = 8;

const fn index_mpidrs() -> [u64; MAX_DT_CPUS] {
    let mut m = [0u64; MAX_DT_CPUS];
    let mut i = 0;
    while i < MAX_DT_CPUS {
        m[i] = i as u64;
        i += 1;
    }
    m
}

impl BootInfo {
    /// The MPIDR of vCPU `i` (for PSCI CPU_ON and SGI targets).
    pub fn cpu_mpidr(&self, i: usize) -> u64 {
        self.cpu_mpidrs.get(i).copied().unwrap_or(i as u64)
    }

    /// The vCPU count (`cpu` nodes, at least 1).
    pub fn cpu_count(&self) -> usize {
        self.dt_cpus
    }

    /// The hardware id (MPIDR) of vCPU `i`.
    pub fn cpu_id(&self, i: usize) -> u64 {
        self.cpu_mpidr(i)
    }

    /// The bootargs as `key=value` pairs.
    pub fn args(&self) -> Args<'static> {
        Args::new(self.bootargs)
    }

    /// Finds the device tree, configures the console and the PSCI conduit.
    pub(crate) fn discover(x0: usize) -> Self {
        let found = [x0, FALLBACK_DTB]
            .into_iter()
            .find_map(|addr| validate(addr).map(|fdt| (addr, fdt)));
        let Some((addr, fdt)) = found else {
            return Self {
                dtb_addr: None,
                fdt: None,
                bootargs: "",
                dt_cpus: 1,
                cpu_mpidrs: index_mpidrs(),
            };
        };
        if let Some(base) = uart_base(&fdt) {
            uart::set_base(base);
        }
        psci::set_smc_conduit(psci_method(&fdt) == Some("smc"));
        let bootargs = string_prop(&fdt, "/chosen", "bootargs").unwrap_or("");
        let dt_cpus = cpu_count(&fdt);
        let cpu_mpidrs = cpu_regs(&fdt);
        Self {
            dtb_addr: Some(addr),
            fdt: Some(fdt),
            bootargs,
            dt_cpus,
            cpu_mpidrs,
        }
    }
}

/// Returns the device tree at `addr` if it looks valid and is readable.
fn validate(addr: usize) -> Option<Fdt<'static>> {
    if addr == 0 || addr & 7 != 0 {
        return None;
    }
    let magic = guard::read_u32(addr).ok()?;
    let size = guard::read_u32(addr.checked_add(4)?).ok()?;
    let (magic, size) = (u32::from_be(magic), u32::from_be(size) as usize);
    if magic != FDT_MAGIC || !(40..=MAX_DTB_SIZE).contains(&size) {
        return None;
    }
    let last_word = addr.checked_add(size - 4)? & !3;
    guard::read_u32(last_word).ok()?;
    // SAFETY: the FDT header was read at `addr` and its first and last words are
    // readable (RAM, no faults); by the boot contract the device tree is neither
    // moved nor modified while the guest runs, so a 'static shared slice is valid.
    let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, size) };
    Fdt::new(bytes).ok()
}

/// A string property without its trailing NUL (tolerates empty values).
fn string_prop(fdt: &Fdt<'static>, node: &str, name: &str) -> Option<&'static str> {
    let value = fdt.find_node(node)?.property(name)?.value;
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    core::str::from_utf8(value).ok()
}

/// PL011 from `/chosen stdout-path` (options after ':' dropped), else the first
/// `arm,pl011` node.
fn uart_base(fdt: &Fdt<'static>) -> Option<usize> {
    let from_chosen = string_prop(fdt, "/chosen", "stdout-path")
        .map(|p| p.split(':').next().unwrap_or(p))
        .and_then(|p| fdt.find_node(p))
        .filter(|n| {
            n.compatible()
                .is_some_and(|c| c.all().any(|s| s == "arm,pl011"))
        });
    let node = from_chosen.or_else(|| fdt.find_compatible(&["arm,pl011"]))?;
    let base = node.reg()?.next()?.starting_address as usize;
    (base != 0).then_some(base)
}

/// `/psci` `method` ("hvc" or "smc").
fn psci_method(fdt: &Fdt<'static>) -> Option<&'static str> {
    string_prop(fdt, "/psci", "method")
}

fn cpu_count(fdt: &Fdt<'static>) -> usize {
    let Some(cpus) = fdt.find_node("/cpus") else {
        return 1;
    };
    let n = cpus
        .children()
        .filter(|c| c.name == "cpu" || c.name.starts_with("cpu@"))
        .count();
    n.max(1)
}

/// The `reg` (MPIDR, one or two cells) of each `cpu` node under `/cpus`.
fn cpu_regs(fdt: &Fdt<'static>) -> [u64; MAX_DT_CPUS] {
    let mut out = index_mpidrs();
    let Some(cpus) = fdt.find_node("/cpus") else {
        return out;
    };
    let nodes = cpus
        .children()
        .filter(|c| c.name == "cpu" || c.name.starts_with("cpu@"));
    for (slot, node) in out.iter_mut().zip(nodes) {
        let reg = node.property("reg").map(|p| p.value);
        *slot = match reg {
            Some(&[a, b, c, d]) => u64::from(u32::from_be_bytes([a, b, c, d])),
            Some(&[a, b, c, d, e, f, g, h]) => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => *slot,
        };
    }
    out
}
