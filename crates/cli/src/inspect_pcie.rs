//! PCIe host bridges in a device tree (`device_type = "pci"`, generic ECAM): the
//! ECAM window (`reg`), the I/O, 32-bit and 64-bit windows (`ranges`), the buses, and
//! the four INTx SPIs of a standard swizzle (`interrupt-map`), as `[[pcie]]` records
//! them. A bridge whose interrupt map is not that swizzle onto the GIC is skipped with
//! a note: the guest device tree could not state it.

use crate::dtprops::{cells, compat, join, prop_u32};
use fdt::node::FdtNode;

/// A host bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcie {
    pub name: String,
    pub compatible: Vec<String>,
    /// ECAM base and size (CPU-physical).
    pub ecam: (u64, u64),
    /// First and last bus.
    pub buses: (u32, u32),
    /// Windows: (space: 1 I/O, 2 32-bit, 3 64-bit memory; CPU base; PCI base; size).
    pub windows: Vec<(u32, u64, u64, u64)>,
    /// INTA..INTD of device 0.
    pub intx: [u32; 4],
    pub dma_coherent: bool,
}

/// The compatible strings of a generic ECAM host bridge.
pub const ECAM_COMPATIBLES: &[&str] = &["pci-host-ecam-generic", "pci-host-cam-generic"];

/// Reads bridge `node`: `regs` are its CPU-physical `reg` windows, `to_cpu` turns an
/// address of its parent's space into a CPU-physical one, `parent_ac` is the parent's
/// `#address-cells`, `gic` the GIC's phandle and `#address-cells`. `Err` says why the
/// bridge is skipped.
pub fn read(
    node: &FdtNode<'_, '_>,
    regs: &[(u64, u64)],
    to_cpu: &dyn Fn(u64) -> Option<u64>,
    parent_ac: usize,
    gic: (Option<u32>, usize),
) -> Result<Pcie, String> {
    let name = node.name.to_owned();
    let &ecam = regs.first().ok_or("no ECAM window in `reg`")?;
    let buses = match node.property("bus-range").map(|p| cells(p.value, 1)) {
        Some(mut c) => match (c.next(), c.next()) {
            (Some(a), Some(b)) => (a[0] as u32, b[0] as u32),
            _ => return Err("a malformed bus-range".into()),
        },
        None => (0, ((ecam.1 >> 20).max(1) - 1).min(255) as u32),
    };
    let mut windows = Vec::new();
    if let Some(r) = node.property("ranges") {
        for c in cells(r.value, 3 + parent_ac + 2) {
            let space = ((c[0] >> 24) & 3) as u32;
            let pci = join(&c[1..3]);
            let parent = join(&c[3..3 + parent_ac]);
            let size = join(&c[3 + parent_ac..]);
            let cpu = to_cpu(parent).ok_or("a window outside its parent's address space")?;
            if space != 0 {
                windows.push((space, cpu, pci, size));
            }
        }
    }
    let intx = swizzle(node, gic)?;
    Ok(Pcie {
        name,
        compatible: compat(node),
        ecam,
        buses,
        windows,
        intx,
        dma_coherent: node.property("dma-coherent").is_some(),
    })
}

/// The INTx SPIs of device 0 (as INTIDs), when the map is the standard swizzle:
/// mask `<0x1800 0 0 7>`, and device d's pin p maps to device 0's pin
/// ((d + p - 1) mod 4) + 1, for every row.
fn swizzle(
    node: &FdtNode<'_, '_>,
    (gic, gic_ac): (Option<u32>, usize),
) -> Result<[u32; 4], String> {
    let mask: Vec<u64> = node
        .property("interrupt-map-mask")
        .map(|p| cells(p.value, 1).map(|c| c[0]).collect())
        .unwrap_or_default();
    if mask != [0x1800, 0, 0, 7] || prop_u32(node, "#interrupt-cells") != Some(1) {
        return Err("its interrupt-map is not the standard swizzle (mask <0x1800 0 0 7>)".into());
    }
    let map = node
        .property("interrupt-map")
        .ok_or("no interrupt-map (no INTx)")?;
    let mut rows = Vec::new();
    for c in cells(map.value, 4 + 1 + gic_ac + 3) {
        if Some(c[4] as u32) != gic || c[5 + gic_ac] != 0 {
            return Err("an INTx line that is not a GIC SPI".into());
        }
        let dev = ((c[0] >> 11) & 3) as u32;
        let pin = c[3] as u32;
        rows.push((dev, pin, 32 + c[6 + gic_ac] as u32));
    }
    let mut intx = [0; 4];
    for &(_, pin, intid) in rows.iter().filter(|r| r.0 == 0) {
        if let Some(slot) = intx.get_mut((pin as usize).wrapping_sub(1)) {
            *slot = intid;
        }
    }
    let swizzled = rows.len() == 16
        && intx.iter().all(|&i| i != 0)
        && rows
            .iter()
            .all(|&(d, p, i)| (1..=4).contains(&p) && intx[((d + p - 1) % 4) as usize] == i);
    match swizzled {
        true => Ok(intx),
        false => Err("its interrupt-map is not the standard swizzle of four SPIs".into()),
    }
}
