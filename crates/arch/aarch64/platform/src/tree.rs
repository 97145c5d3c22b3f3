//! Device-tree reading helpers: properties, cells, `reg` with `ranges` translation,
//! interrupt specifiers and path matching. All fallible on malformed input, none
//! allocate.

use super::node::Node;
use rtvisor_addr::{HostRange, Hpa};

use super::validate::be32;
use super::PlatformError;

/// Default `#address-cells` / `#size-cells` when a node has none (DT spec 2.3.5).
const DEFAULT_ADDR_CELLS: u32 = 2;
const DEFAULT_SIZE_CELLS: u32 = 1;

/// A property's raw value.
pub(super) fn prop<'a>(node: Node<'a>, name: &str) -> Option<&'a [u8]> {
    node.property(name)
}

/// A one-cell property.
pub(super) fn prop_u32(node: Node<'_>, name: &str) -> Option<u32> {
    prop(node, name).and_then(|v| be32(v, 0))
}

/// A string property, without its terminating NUL.
pub(super) fn prop_str<'a>(node: Node<'a>, name: &str) -> Option<&'a str> {
    let v = prop(node, name)?;
    let v = v.strip_suffix(&[0]).unwrap_or(v);
    core::str::from_utf8(v).ok()
}

/// Whether any string of the node's `compatible` list satisfies `pred`.
pub(super) fn compatible(node: Node<'_>, pred: impl Fn(&str) -> bool) -> bool {
    prop(node, "compatible").is_some_and(|v| {
        v.split(|&b| b == 0)
            .filter_map(|s| core::str::from_utf8(s).ok())
            .any(|s| !s.is_empty() && pred(s))
    })
}

/// `status` absent, `"okay"` or `"ok"`.
pub(super) fn enabled(node: Node<'_>) -> bool {
    matches!(prop_str(node, "status"), None | Some("okay" | "ok"))
}

/// Node name without its unit address.
pub(super) fn base_name<'a>(node: Node<'a>) -> &'a str {
    split_at_byte(node.name, b'@').0
}

/// `s` split at its first `sep` (an ASCII byte): the part before it and, when there is
/// one, the part after. A byte search: `str`'s `char` patterns would bring in the char
/// searcher and `memchr` for these few splits.
pub(super) fn split_at_byte(s: &str, sep: u8) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == sep) {
        Some(i) => (s.get(..i).unwrap_or(s), s.get(i + 1..)),
        None => (s, None),
    }
}

/// Reads `n` cells (0, 1 or 2) from the front of `data` as one number.
pub(super) fn take_cells(data: &mut &[u8], n: u32) -> Option<u64> {
    let bytes = usize::try_from(n).ok()?.checked_mul(4)?;
    let (head, rest) = (data.get(..bytes)?, data.get(bytes..)?);
    let v = match n {
        0 => 0,
        1 => u64::from(be32(head, 0)?),
        2 => u64::from(be32(head, 0)?) << 32 | u64::from(be32(head, 4)?),
        _ => return None,
    };
    *data = rest;
    Some(v)
}

/// How a bus node's child addresses map into its parent's address space.
#[derive(Clone, Copy)]
pub(super) enum Ranges<'a> {
    /// The root: child addresses are CPU physical addresses.
    Root,
    /// No `ranges` property: child addresses are not CPU-addressable.
    None,
    /// Empty `ranges`: identity mapping.
    Identity,
    /// `(child, parent, length)` triples.
    Map(&'a [u8]),
}

/// The context a node's properties are read in: its parent bus.
pub(super) struct Bus<'p, 'a> {
    /// `#address-cells` of the bus (for its children's `reg`).
    pub addr_cells: u32,
    /// `#size-cells` of the bus.
    pub size_cells: u32,
    /// The bus's own `ranges`.
    pub ranges: Ranges<'a>,
    /// Interrupt parent phandle children inherit.
    pub irq_parent: Option<u32>,
    /// The rest of the stdout path, relative to this bus node, while the path
    /// from the root down to this node matches it.
    pub want: Option<&'a str>,
    /// The bus this bus node sits on (`None` for the root).
    pub up: Option<&'p Bus<'p, 'a>>,
}

impl<'p, 'a> Bus<'p, 'a> {
    /// The bus formed by `node` for its children; `up` is the bus `node` is on.
    pub fn of(node: Node<'a>, up: Option<&'p Bus<'p, 'a>>, want: Option<&'a str>) -> Self {
        let ranges = match (up, prop(node, "ranges")) {
            (None, _) => Ranges::Root,
            (Some(_), None) => Ranges::None,
            (Some(_), Some([])) => Ranges::Identity,
            (Some(_), Some(map)) => Ranges::Map(map),
        };
        Self {
            addr_cells: prop_u32(node, "#address-cells").unwrap_or(DEFAULT_ADDR_CELLS),
            size_cells: prop_u32(node, "#size-cells").unwrap_or(DEFAULT_SIZE_CELLS),
            ranges,
            irq_parent: prop_u32(node, "interrupt-parent").or(up.and_then(|b| b.irq_parent)),
            want,
            up,
        }
    }

    /// Translates `[addr, addr + size)` of this bus's child space to a CPU address.
    pub fn translate(&self, addr: u64, size: u64) -> Option<u64> {
        let mut addr = addr;
        let mut bus = self;
        loop {
            let up = match bus.ranges {
                Ranges::Root => return Some(addr),
                Ranges::None => return None,
                Ranges::Identity => bus.up?,
                Ranges::Map(map) => {
                    let up = bus.up?;
                    addr = map_range(map, bus, up.addr_cells, addr, size)?;
                    up
                }
            };
            bus = up;
        }
    }

    /// The node's `reg` entries as CPU-physical ranges. Errors name `kind`.
    pub fn reg(
        &self,
        node: Node<'a>,
        kind: &'static str,
    ) -> Result<RegIter<'_, 'a>, PlatformError> {
        let data = prop(node, "reg").ok_or(PlatformError::BadReg(kind))?;
        if !matches!(self.addr_cells, 1 | 2) || self.size_cells > 2 {
            return Err(PlatformError::BadCells(kind));
        }
        let stride = (self.addr_cells + self.size_cells) as usize * 4;
        if data.is_empty() || !data.len().is_multiple_of(stride) {
            return Err(PlatformError::BadReg(kind));
        }
        Ok(RegIter {
            bus: self,
            data,
            kind,
        })
    }

    /// The first `reg` entry.
    pub fn first_reg(
        &self,
        node: Node<'a>,
        kind: &'static str,
    ) -> Result<HostRange, PlatformError> {
        self.reg(node, kind)?
            .next()
            .unwrap_or(Err(PlatformError::BadReg(kind)))
    }
}

/// Applies one level of `ranges`.
fn map_range(
    map: &[u8],
    bus: &Bus<'_, '_>,
    parent_cells: u32,
    addr: u64,
    size: u64,
) -> Option<u64> {
    let mut data = map;
    while !data.is_empty() {
        let child = take_cells(&mut data, bus.addr_cells)?;
        let parent = take_cells(&mut data, parent_cells)?;
        let len = take_cells(&mut data, bus.size_cells)?;
        let off = addr.checked_sub(child)?;
        if off < len && size <= len - off {
            return parent.checked_add(off);
        }
    }
    None
}

/// Iterator over translated `reg` entries.
pub(super) struct RegIter<'p, 'a> {
    bus: &'p Bus<'p, 'a>,
    data: &'a [u8],
    kind: &'static str,
}

impl Iterator for RegIter<'_, '_> {
    type Item = Result<HostRange, PlatformError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let bad = PlatformError::BadReg(self.kind);
        let entry = (|| {
            let addr = take_cells(&mut self.data, self.bus.addr_cells)?;
            let size = take_cells(&mut self.data, self.bus.size_cells)?;
            let cpu = self.bus.translate(addr, size)?;
            HostRange::new(Hpa::new(cpu), size)
        })();
        if entry.is_none() {
            self.data = &[];
        }
        Some(entry.ok_or(bad))
    }
}

/// The stdout path left to match below `node`, given what was left at its bus.
/// `Some("")` means `node` is the stdout node itself.
pub(super) fn descend<'a>(want: Option<&'a str>, node: Node<'_>) -> Option<&'a str> {
    let want = want.filter(|w| !w.is_empty())?;
    let (comp, rest) = split_at_byte(want, b'/');
    let hit = if comp.bytes().any(|b| b == b'@') {
        comp == node.name
    } else {
        comp == base_name(node)
    };
    hit.then_some(rest.unwrap_or(""))
}

/// A node's interrupt specifiers, kept raw until the GIC is known.
#[derive(Clone, Copy)]
pub(super) struct Irqs<'a> {
    /// Effective interrupt parent for `interrupts`.
    pub parent: Option<u32>,
    /// The specifier cells.
    pub data: &'a [u8],
    /// From `interrupts-extended` (each entry starts with a phandle).
    pub extended: bool,
}

impl<'a> Irqs<'a> {
    /// The node's interrupts, if it has any.
    pub fn of(node: Node<'a>, bus: &Bus<'_, 'a>) -> Option<Self> {
        if let Some(data) = prop(node, "interrupts-extended") {
            return Some(Self {
                parent: None,
                data,
                extended: true,
            });
        }
        let parent = prop_u32(node, "interrupt-parent").or(bus.irq_parent);
        prop(node, "interrupts").map(|data| Self {
            parent,
            data,
            extended: false,
        })
    }

    /// The `(type, number)` of entry `index` when it targets the GIC whose phandle
    /// is `gic` and whose specifiers have `cells` cells; `Ok(None)` when it targets
    /// another controller.
    pub fn spec(
        &self,
        gic: Option<u32>,
        cells: u32,
        index: usize,
        kind: &'static str,
    ) -> Result<Option<(u32, u32)>, PlatformError> {
        let bad = PlatformError::BadInterrupts(kind);
        let stride = (cells as usize + usize::from(self.extended)) * 4;
        if cells < 2 || !self.data.len().is_multiple_of(stride) {
            return Err(bad);
        }
        let at = index.checked_mul(stride).ok_or(bad)?;
        let mut entry = self.data.get(at..).filter(|e| !e.is_empty()).ok_or(bad)?;
        let parent = if self.extended {
            take_cells(&mut entry, 1).map(|p| p as u32)
        } else {
            self.parent
        };
        if parent.is_some() && parent != gic {
            return Ok(None);
        }
        let ty = be32(entry, 0).ok_or(bad)?;
        let num = be32(entry, 4).ok_or(bad)?;
        Ok(Some((ty, num)))
    }
}

/// GIC specifier type cells.
pub(super) const SPI: u32 = 0;
/// See [`SPI`].
pub(super) const PPI: u32 = 1;

/// INTID of a GIC `(type, number)` specifier: SPI n is n + 32, PPI n is n + 16.
pub(super) fn intid(ty: u32, num: u32) -> Option<u32> {
    match ty {
        SPI if num < 988 => Some(num + 32),
        PPI if num < 16 => Some(num + 16),
        _ => None,
    }
}
