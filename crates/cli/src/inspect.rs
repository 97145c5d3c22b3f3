//! `rtvisor board inspect`: a flattened device tree -> the hardware a board file
//! describes. Reading is separate from rendering ([`crate::render`]) so tests can
//! check either half.
//!
//! Addresses are translated through every parent's `ranges` to CPU-physical
//! addresses; interrupts are decoded only when their parent is the GIC (3 cells:
//! type, number, flags; PPI n = INTID 16 + n, SPI n = INTID 32 + n).

use anyhow::{bail, Context, Result};
use fdt::node::FdtNode;
use fdt::Fdt;

pub use crate::dtprops::slug;
use crate::dtprops::{cells, compat, intid, join, prop_str, prop_u32};
use crate::inspect_pcie;
pub use crate::inspect_pcie::Pcie;

/// What a board file holds, read from a device tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub name: String,
    pub cpus: Vec<u64>,
    pub ram: Vec<(u64, u64)>,
    pub gic_version: u32,
    pub distributor: (u64, u64),
    /// base, size (one frame per CPU), stride.
    pub redistributors: (u64, u64, u64),
    /// Secure physical, physical, virtual, hypervisor timer INTIDs.
    pub timer: [u32; 4],
    pub uarts: Vec<Uart>,
    pub devices: Vec<Device>,
    pub pcie: Vec<Pcie>,
    /// The last-level cache from the device tree's cache nodes, if it has them.
    pub llc: Option<Llc>,
}

/// A cache as a device-tree cache node describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Llc {
    /// Its level (`cache-level`, else its place on the chain: L2 first).
    pub level: u32,
    pub size: u64,
    pub ways: u32,
    pub line: u32,
}

/// A UART.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uart {
    pub name: String,
    pub compatible: Vec<String>,
    pub base: u64,
    pub size: u64,
    pub irq: u32,
}

/// A device that can be passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub compatible: Vec<String>,
    pub base: u64,
    pub size: u64,
    pub irqs: Vec<u32>,
    pub edge: bool,
    pub dma: bool,
    pub dma_coherent: bool,
}

/// Options of the inspection.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Board name (default: a slug of the root `model` or `compatible`).
    pub name: Option<String>,
    /// Also list MMIO devices other than virtio-mmio transports.
    pub all_devices: bool,
}

const UART_COMPATIBLES: &[&str] = &[
    "arm,pl011",
    "arm,sbsa-uart",
    "ns16550a",
    "ns16550",
    "snps,dw-apb-uart",
];
/// Size of one GICv3 redistributor frame pair (RD_base + SGI_base).
const GICV3_REDIST_STRIDE: u64 = 0x2_0000;

/// One node, flattened: its CPU-physical register windows and raw interrupts.
struct Flat<'b, 'a> {
    node: FdtNode<'b, 'a>,
    regs: Vec<(u64, u64)>,
    /// `(type, number, flags)` when the interrupt parent is the GIC.
    irqs: Vec<(u32, u32, u32)>,
    under_gic: bool,
    /// Its parent's address space -> CPU-physical: (parent base, CPU base, length).
    xlat: Option<Vec<(u64, u64, u64)>>,
    /// Its parent's `#address-cells`.
    parent_ac: usize,
}

/// Reads `blob`. A malformed tree is an error, not a panic: [`crate::dtcheck`]
/// checks its whole structure before the `fdt` crate walks it.
pub fn inspect(blob: &[u8], opts: &Options) -> Result<Board> {
    crate::dtcheck::check(blob)?;
    // Belt and braces for builds with `panic = "unwind"` (the workspace aborts).
    match std::panic::catch_unwind(|| inspect_inner(blob, opts)) {
        Ok(r) => r,
        Err(_) => bail!("the device tree is malformed (its structure could not be walked)"),
    }
}

fn inspect_inner(blob: &[u8], opts: &Options) -> Result<Board> {
    let fdt = Fdt::new(blob).map_err(|e| anyhow::anyhow!("invalid device tree: {e:?}"))?;
    let root = fdt
        .find_node("/")
        .context("the device tree has no root node")?;
    let gic = fdt
        .all_nodes()
        .find(|n| {
            compat(n)
                .iter()
                .any(|c| c.starts_with("arm,gic") || c.ends_with("-gic"))
        })
        .context("no GIC node (compatible \"arm,gic-v3\") in the device tree")?;
    let gic_phandle = prop_u32(&gic, "phandle").or_else(|| prop_u32(&gic, "linux,phandle"));
    let mut flat = Vec::new();
    let identity = vec![(0, 0, u64::MAX)];
    walk(
        root,
        Some(&identity),
        None,
        gic_phandle,
        None,
        false,
        &mut flat,
    );

    let name = match &opts.name {
        Some(n) => n.clone(),
        None => {
            let model = root.property("model").and_then(|p| p.as_str());
            let first = compat(&root).into_iter().next();
            slug(
                model
                    .map(str::to_owned)
                    .or(first)
                    .as_deref()
                    .unwrap_or("board"),
            )
        }
    };
    let cpus = read_cpus(&fdt)?;
    let ram: Vec<(u64, u64)> = flat
        .iter()
        .filter(|f| prop_str(&f.node, "device_type") == Some("memory"))
        .flat_map(|f| f.regs.iter().copied())
        .filter(|r| r.1 > 0)
        .collect();
    if ram.is_empty() {
        bail!("no memory node (device_type = \"memory\") in the device tree");
    }
    let (gic_version, distributor, redistributors) = read_gic(&flat, cpus.len() as u64)?;
    let timer = read_timer(&flat)?;
    let mut uarts = Vec::new();
    let mut devices = Vec::new();
    for f in &flat {
        let c = compat(&f.node);
        let Some(&(base, size)) = f.regs.first() else {
            continue;
        };
        let is_gic = c
            .iter()
            .any(|c| c.starts_with("arm,gic") || c.ends_with("-gic"));
        if f.under_gic || is_gic || c.is_empty() || prop_str(&f.node, "device_type").is_some() {
            continue;
        }
        if c.iter().any(|c| UART_COMPATIBLES.contains(&c.as_str())) {
            match f.irqs.first() {
                Some(&(kind, n, _)) => uarts.push(Uart {
                    name: String::new(),
                    compatible: c,
                    base,
                    size,
                    irq: intid(kind, n),
                }),
                None => eprintln!("note: UART `{}` has no GIC interrupt; skipped", f.node.name),
            }
            continue;
        }
        let virtio = c.iter().any(|c| c == "virtio,mmio");
        let skip = c
            .iter()
            .any(|c| c.contains("timer") || c.contains("psci") || c == "simple-bus");
        if !(virtio || opts.all_devices && !skip) {
            continue;
        }
        let coherent = f.node.property("dma-coherent").is_some();
        let stem = f
            .node
            .name
            .split('@')
            .next()
            .unwrap_or("device")
            .replace('_', "-");
        // One device per register window: QEMU's flash node holds both banks.
        for &(base, size) in &f.regs {
            devices.push(Device {
                name: format!("{stem}@{base:08x}"),
                compatible: c.clone(),
                base,
                size,
                irqs: f.irqs.iter().map(|&(k, n, _)| intid(k, n)).collect(),
                edge: !f.irqs.is_empty()
                    && f.irqs
                        .iter()
                        .all(|&(_, _, fl)| fl & 0xf == 1 || fl & 0xf == 2),
                dma: virtio || coherent,
                dma_coherent: coherent,
            });
        }
    }
    let gic_ac = prop_u32(&gic, "#address-cells").unwrap_or(0) as usize;
    let mut pcie = Vec::new();
    for f in flat.iter().filter(|f| {
        prop_str(&f.node, "device_type") == Some("pci")
            && compat(&f.node)
                .iter()
                .any(|c| inspect_pcie::ECAM_COMPATIBLES.contains(&c.as_str()))
    }) {
        let to_cpu = |a: u64| {
            let x = f.xlat.as_deref()?;
            let &(b, root, _) = x.iter().find(|&&(b, _, l)| a >= b && a - b < l)?;
            Some(root + (a - b))
        };
        match inspect_pcie::read(
            &f.node,
            &f.regs,
            &to_cpu,
            f.parent_ac,
            (gic_phandle, gic_ac),
        ) {
            Ok(p) => pcie.push(p),
            Err(why) => eprintln!("note: PCIe host bridge `{}` skipped: {why}", f.node.name),
        }
    }
    uarts.sort_by_key(|u| u.base);
    for (i, u) in uarts.iter_mut().enumerate() {
        u.name = format!("uart{i}");
    }
    devices.sort_by_key(|d| d.base);
    Ok(Board {
        name,
        cpus,
        ram,
        gic_version,
        distributor,
        redistributors,
        timer,
        uarts,
        devices,
        pcie,
        llc: read_llc(&fdt),
    })
}

/// Depth-first walk. `xlat` maps this node's `reg` addresses to CPU-physical ones
/// (`None`: not memory-mapped, e.g. under `/cpus` or an I2C bus).
fn walk<'b, 'a>(
    node: FdtNode<'b, 'a>,
    xlat: Option<&[(u64, u64, u64)]>,
    parent_cells: Option<(usize, usize)>,
    gic_phandle: Option<u32>,
    inherited_parent: Option<u32>,
    under_gic: bool,
    out: &mut Vec<Flat<'b, 'a>>,
) {
    let ipar = prop_u32(&node, "interrupt-parent").or(inherited_parent);
    let regs = match (xlat, parent_cells, node.property("reg")) {
        (Some(x), Some((ac, sc)), Some(p)) => cells(p.value, ac + sc)
            .filter_map(|c| {
                let (a, s) = (join(&c[..ac]), join(&c[ac..]));
                x.iter()
                    .find(|&&(cb, _, len)| a >= cb && a - cb < len)
                    .map(|&(cb, pb, _)| (pb + (a - cb), s))
            })
            .collect(),
        _ => Vec::new(),
    };
    let irqs = match (ipar, node.property("interrupts")) {
        (Some(ip), Some(p)) if Some(ip) == gic_phandle => cells(p.value, 3)
            .map(|c| (c[0] as u32, c[1] as u32, c[2] as u32))
            .collect(),
        _ => Vec::new(),
    };
    let is_gic = gic_phandle.is_some() && prop_u32(&node, "phandle") == gic_phandle;
    let own = (
        prop_u32(&node, "#address-cells").unwrap_or(2) as usize,
        prop_u32(&node, "#size-cells").unwrap_or(1) as usize,
    );
    // Children of the root see the root's cells; deeper ones go through `ranges`.
    let child_xlat: Option<Vec<(u64, u64, u64)>> = match (parent_cells, xlat) {
        (None, Some(x)) => Some(x.to_vec()),
        (Some((pac, _)), Some(x)) => match node.property("ranges") {
            Some(r) if r.value.is_empty() => Some(x.to_vec()),
            Some(r) => Some(
                cells(r.value, own.0 + pac + own.1)
                    .filter_map(|c| {
                        let (cb, pb) = (join(&c[..own.0]), join(&c[own.0..own.0 + pac]));
                        let len = join(&c[own.0 + pac..]);
                        x.iter()
                            .find(|&&(b, _, l)| pb >= b && pb - b < l)
                            .map(|&(b, root, _)| (cb, root + (pb - b), len))
                    })
                    .collect(),
            ),
            None => None,
        },
        _ => None,
    };
    out.push(Flat {
        node,
        regs,
        irqs,
        under_gic,
        xlat: xlat.map(<[_]>::to_vec),
        parent_ac: parent_cells.map_or(2, |c| c.0),
    });
    for child in node.children() {
        let child_gic = under_gic || is_gic;
        walk(
            child,
            child_xlat.as_deref(),
            Some(own),
            gic_phandle,
            ipar,
            child_gic,
            out,
        );
    }
}

fn read_cpus(fdt: &Fdt<'_>) -> Result<Vec<u64>> {
    let cpus_node = fdt
        .find_node("/cpus")
        .context("no /cpus node in the device tree")?;
    let ac = prop_u32(&cpus_node, "#address-cells").unwrap_or(1) as usize;
    let mut out = Vec::new();
    for c in cpus_node.children() {
        if prop_str(&c, "device_type") != Some("cpu") {
            continue;
        }
        if prop_str(&c, "status").is_some_and(|s| s != "okay" && s != "ok") {
            continue;
        }
        let reg = c
            .property("reg")
            .with_context(|| format!("CPU node `{}` has no reg", c.name))?;
        let first = cells(reg.value, ac)
            .next()
            .with_context(|| format!("CPU `{}`: bad reg", c.name))?;
        out.push(join(&first));
    }
    if out.is_empty() {
        bail!("no CPU nodes (device_type = \"cpu\") under /cpus");
    }
    Ok(out)
}

/// The last cache on the first CPU's `next-level-cache` chain that gives its size,
/// sets and line size (the devicetree specification's cache properties; a cache's
/// ways are size / (sets x line)). `None` when the tree describes no caches, as
/// QEMU's does not: the CPU's CLIDR_EL1/CCSIDR_EL1 then tell (the hypervisor logs
/// them at boot).
fn read_llc(fdt: &Fdt<'_>) -> Option<Llc> {
    let cpus = fdt.find_node("/cpus")?;
    let cpu = cpus
        .children()
        .find(|c| prop_str(c, "device_type") == Some("cpu"))?;
    let mut at = cpu;
    let mut found = None;
    for level in 2..10 {
        let Some(next) = prop_u32(&at, "next-level-cache").and_then(|p| fdt.find_phandle(p)) else {
            break;
        };
        let size = prop_u32(&next, "cache-size").map(u64::from);
        let sets = prop_u32(&next, "cache-sets");
        let line =
            prop_u32(&next, "cache-line-size").or_else(|| prop_u32(&next, "cache-block-size"));
        if let (Some(size), Some(sets), Some(line)) = (size, sets, line) {
            let per_way = u64::from(sets) * u64::from(line);
            if per_way > 0 && size % per_way == 0 {
                let ways = u32::try_from(size / per_way).ok()?;
                let level = prop_u32(&next, "cache-level").unwrap_or(level);
                found = Some(Llc {
                    level,
                    size,
                    ways,
                    line,
                });
            }
        }
        at = next;
    }
    found
}

type GicInfo = (u32, (u64, u64), (u64, u64, u64));

fn read_gic(flat: &[Flat<'_, '_>], ncpus: u64) -> Result<GicInfo> {
    let f = flat
        .iter()
        .find(|f| {
            compat(&f.node)
                .iter()
                .any(|c| c.starts_with("arm,gic") || c.ends_with("-gic"))
        })
        .context("no GIC node")?;
    let c = compat(&f.node);
    if !c.iter().any(|c| c == "arm,gic-v3" || c == "arm,gic-v4") {
        bail!(
            "the GIC is `{}`; rtvisor needs a GICv3 (start QEMU with gic-version=3)",
            c.join("\", \"")
        );
    }
    let (Some(&dist), Some(&(rbase, rsize))) = (f.regs.first(), f.regs.get(1)) else {
        bail!(
            "GIC node `{}`: reg lacks the distributor or redistributor region",
            f.node.name
        );
    };
    let stride = f
        .node
        .property("redistributor-stride")
        .and_then(|p| cells(p.value, 2).next().map(|c| join(&c)))
        .unwrap_or(GICV3_REDIST_STRIDE);
    // A region is often sized for the most CPUs the machine could have: keep ours.
    let size = rsize.min(ncpus * stride);
    Ok((3, dist, (rbase, size, stride)))
}

fn read_timer(flat: &[Flat<'_, '_>]) -> Result<[u32; 4]> {
    let f = flat
        .iter()
        .find(|f| {
            compat(&f.node)
                .iter()
                .any(|c| c == "arm,armv8-timer" || c == "arm,armv7-timer")
        })
        .context("no architected timer node (compatible \"arm,armv8-timer\")")?;
    if f.irqs.len() < 4 {
        bail!(
            "timer node `{}` lists {} GIC interrupts, expected 4",
            f.node.name,
            f.irqs.len()
        );
    }
    let id = |i: usize| intid(f.irqs[i].0, f.irqs[i].1);
    Ok([id(0), id(1), id(2), id(3)])
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
