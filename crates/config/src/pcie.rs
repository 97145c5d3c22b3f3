//! PCIe host bridges: a board's generic ECAM host bridge (`pci-host-ecam-generic`,
//! QEMU `virt`'s) and how one identity-mapped VM gets it whole.
//!
//! ```toml
//! [[pcie]]
//! name = "pcie@10000000"
//! compatible = "pci-host-ecam-generic"
//! ecam = { base = 0x40_1000_0000, size = "256MiB" }   # configuration space
//! bus-range = [0, 255]
//! pio = { base = 0x3eff_0000, size = "64KiB", pci-address = 0 }
//! mmio32 = { base = 0x1000_0000, size = 0x2eff_0000 }
//! mmio64 = { base = 0x80_0000_0000, size = "512GiB" }
//! intx = [35, 36, 37, 38]    # INTA..INTD of device 0
//! dma-coherent = true
//! ```
//!
//! A VM that lists the bridge in `devices` gets its ECAM and windows mapped 1:1 and
//! its four INTx SPIs; the guest enumerates the bus and assigns BARs itself. Device d's
//! pin p (1 = INTA) raises `intx[(d + p - 1) % 4]`: the standard swizzle, which the
//! guest device tree states as QEMU's does (`interrupt-map-mask = <0x1800 0 0 7>`).
//! There is no MSI: the tree has no `msi-map` or `msi-parent` (docs/architecture.md).

use crate::contract::aarch64::IPA_LIMIT;
use crate::load::Inputs;
use crate::plan::DevicePlan;
use crate::schema::{Compatible, RegionSpec, Trigger, VmSpec};
use crate::size::{Size, PAGE};
use rtvisor_addr::Hpa;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// A board's `[[pcie]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PcieSpec {
    /// Name a scenario's `devices` refers to (by convention `pcie@<32-bit window>`,
    /// QEMU's node name).
    pub name: Spanned<String>,
    /// Device-tree compatible strings (`pci-host-ecam-generic`).
    pub compatible: Compatible,
    /// The ECAM configuration space: 1 MiB per bus.
    pub ecam: RegionSpec,
    /// First and last bus number (default: 0 to what the ECAM window holds).
    pub bus_range: Option<Spanned<[u32; 2]>>,
    /// The I/O-port window.
    pub pio: Option<WindowSpec>,
    /// The 32-bit memory window.
    pub mmio32: Option<WindowSpec>,
    /// The 64-bit memory window.
    pub mmio64: Option<WindowSpec>,
    /// The SPIs (INTIDs) of INTA, INTB, INTC and INTD of device 0 (level-sensitive).
    pub intx: Spanned<Vec<Spanned<u32>>>,
    /// Devices' DMA is cache-coherent (`dma-coherent` in the guest device tree).
    #[serde(default)]
    pub dma_coherent: bool,
}

/// One window of a host bridge: where the CPU sees it and the PCI address there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WindowSpec {
    /// CPU-physical base.
    pub base: Spanned<u64>,
    /// Size.
    pub size: Spanned<Size>,
    /// PCI bus address at `base` (default: 0 for I/O, `base` for memory).
    pub pci_address: Option<Spanned<u64>>,
}

/// The address space of a window (bits 24-25 of a PCI address's high cell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// I/O ports.
    Io,
    /// 32-bit memory.
    Mem32,
    /// 64-bit memory.
    Mem64,
}

impl Space {
    /// The high cell of a `ranges` entry in this space.
    pub fn phys_hi(self) -> u32 {
        match self {
            Space::Io => 0x0100_0000,
            Space::Mem32 => 0x0200_0000,
            Space::Mem64 => 0x0300_0000,
        }
    }

    /// What a message calls it.
    pub fn label(self) -> &'static str {
        match self {
            Space::Io => "I/O window",
            Space::Mem32 => "32-bit memory window",
            Space::Mem64 => "64-bit memory window",
        }
    }
}

/// A window, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its space.
    pub space: Space,
    /// CPU-physical base (the guest's too: mapped 1:1).
    pub cpu: u64,
    /// PCI bus address at `cpu`.
    pub pci: u64,
    /// Size.
    pub size: u64,
}

impl PcieSpec {
    /// The ECAM window: (base, size).
    pub fn ecam(&self) -> (u64, u64) {
        (*self.ecam.base.get_ref(), self.ecam.size.get_ref().0)
    }

    /// First and last bus.
    pub fn buses(&self) -> (u32, u32) {
        match &self.bus_range {
            Some(r) => (r.get_ref()[0], r.get_ref()[1]),
            None => (0, ((self.ecam().1 >> 20).max(1) - 1).min(255) as u32),
        }
    }

    /// Its windows, in the order I/O, 32-bit, 64-bit.
    pub fn windows(&self) -> Vec<(Window, &WindowSpec)> {
        [
            (Space::Io, &self.pio),
            (Space::Mem32, &self.mmio32),
            (Space::Mem64, &self.mmio64),
        ]
        .into_iter()
        .filter_map(|(space, w)| {
            let w = w.as_ref()?;
            let cpu = *w.base.get_ref();
            let default = if space == Space::Io { 0 } else { cpu };
            let pci = w.pci_address.as_ref().map_or(default, |p| *p.get_ref());
            let size = w.size.get_ref().0;
            Some((
                Window {
                    space,
                    cpu,
                    pci,
                    size,
                },
                w,
            ))
        })
        .collect()
    }

    /// The INTx INTIDs.
    pub fn intx(&self) -> Vec<u32> {
        self.intx.get_ref().iter().map(|i| *i.get_ref()).collect()
    }
}

/// A host bridge as one VM has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciePlan {
    /// Board name (the guest's node name).
    pub name: String,
    /// Compatible strings.
    pub compatible: Vec<String>,
    /// ECAM (base, size), mapped 1:1.
    pub ecam: (u64, u64),
    /// First and last bus.
    pub buses: (u32, u32),
    /// The windows the VM has (mapped 1:1).
    pub windows: Vec<Window>,
    /// Windows of the board the VM cannot have: beyond its guest-physical space.
    pub left_out: Vec<Window>,
    /// INTA..INTD of device 0.
    pub intx: [u32; 4],
    /// `dma-coherent`.
    pub dma_coherent: bool,
}

impl PciePlan {
    /// The INTID of device `dev`'s pin `pin` (1 = INTA .. 4 = INTD): the swizzle.
    pub fn intid(&self, dev: u32, pin: u32) -> u32 {
        self.intx[((dev + pin + 3) % 4) as usize]
    }
}

/// The board's host bridge called `name`.
pub(crate) fn find<'a>(inp: &'a Inputs, name: &str) -> Option<&'a PcieSpec> {
    inp.board.pcie.iter().find(|p| p.name.get_ref() == name)
}

/// A function of a host bridge, as an x86_64 VM's `devices` names it:
/// `BRIDGE/BB:DD.F` (bus and device in two hex digits, function 0 to 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FunctionAddress {
    /// Bus.
    pub bus: u8,
    /// Device (0 to 0x1f).
    pub dev: u8,
    /// Function (0 to 7).
    pub func: u8,
}

impl std::fmt::Display for FunctionAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.dev, self.func)
    }
}

impl FunctionAddress {
    /// Parses `BB:DD.F`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let two = |t: &str| {
            (t.len() == 2
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| u8::from_str_radix(t, 16).ok())
            .flatten()
        };
        let (bus, rest) = s.split_once(':').ok_or("no `:` after the bus")?;
        let (dev, func) = rest.split_once('.').ok_or("no `.` before the function")?;
        let bus = two(bus).ok_or("the bus is not two lower-case hex digits")?;
        let dev = two(dev).ok_or("the device is not two lower-case hex digits")?;
        if dev > 0x1f {
            return Err("the device is above 1f");
        }
        let func = match func.as_bytes() {
            [f @ b'0'..=b'7'] => f - b'0',
            _ => return Err("the function is not one digit from 0 to 7"),
        };
        Ok(Self { bus, dev, func })
    }
}

/// A `devices` entry that names a function of a board's host bridge
/// (`BRIDGE/BB:DD.F`): the bridge and the parsed address.
pub(crate) fn find_function<'a>(
    inp: &'a Inputs,
    name: &str,
) -> Option<(&'a PcieSpec, Result<FunctionAddress, &'static str>)> {
    let (bridge, addr) = name.split_once('/')?;
    Some((find(inp, bridge)?, FunctionAddress::parse(addr)))
}

/// Whether a window at `base` of `size` bytes lies inside the guest-physical space.
pub(crate) fn fits(base: u64, size: u64) -> bool {
    base.checked_add(size).is_some_and(|end| end <= IPA_LIMIT)
}

/// The host bridges VM `vm` lists in `devices`, each with the span that names it.
pub(crate) fn plans(inp: &Inputs, vm: &VmSpec) -> Vec<(PciePlan, Range<usize>)> {
    vm.devices
        .iter()
        .filter_map(|name| Some((find(inp, name.get_ref())?, name.span())))
        .map(|(p, span)| {
            let (mut windows, mut left_out) = (Vec::new(), Vec::new());
            for (w, _) in p.windows() {
                match fits(w.cpu, w.size) {
                    true => windows.push(w),
                    false => left_out.push(w),
                }
            }
            let intx = p.intx();
            let plan = PciePlan {
                name: p.name.get_ref().clone(),
                compatible: p.compatible.0.clone(),
                ecam: p.ecam(),
                buses: p.buses(),
                windows,
                left_out,
                intx: core::array::from_fn(|i| intx.get(i).copied().unwrap_or(0)),
                dma_coherent: p.dma_coherent,
            };
            (plan, span)
        })
        .collect()
}

impl PciePlan {
    /// What stage-2 maps 1:1: the ECAM (with the INTx interrupts) and each window,
    /// as devices of the bridge.
    pub fn device_plans(&self) -> Vec<DevicePlan> {
        let ecam = ("ECAM", self.ecam.0, self.ecam.1, self.intx.to_vec());
        let windows = self
            .windows
            .iter()
            .map(|w| (w.space.label(), w.cpu, w.size, Vec::new()));
        std::iter::once(ecam)
            .chain(windows)
            .map(|(what, base, size, irqs)| {
                let page_base = base & !(PAGE - 1);
                let page_end = base.saturating_add(size).div_ceil(PAGE) * PAGE;
                DevicePlan {
                    name: format!("{} {what}", self.name),
                    compatible: self.compatible.clone(),
                    base: Hpa::new(base),
                    size,
                    page_base: Hpa::new(page_base),
                    page_size: page_end - page_base,
                    irqs,
                    trigger: Trigger::Level,
                    dma_coherent: self.dma_coherent,
                    bridge: Some(self.name.clone()),
                }
            })
            .collect()
    }
}

/// The `interrupt-map` rows of a swizzled host bridge: (device, pin) for devices 0-3,
/// the rows the mask `<0x1800 0 0 7>` selects.
pub fn swizzle_rows() -> impl Iterator<Item = (u32, u32)> {
    (0..4).flat_map(|dev| (1..=4).map(move |pin| (dev, pin)))
}

/// `interrupt-map-mask` of a swizzled host bridge: the low two device-number bits
/// and the pin.
pub const INTERRUPT_MAP_MASK: [u32; 4] = [0x1800, 0, 0, 7];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_addresses_parse_in_one_form() {
        let f = FunctionAddress::parse("00:1f.7").unwrap();
        assert_eq!((f.bus, f.dev, f.func), (0, 0x1f, 7));
        assert_eq!(f.to_string(), "00:1f.7");
        assert_eq!(FunctionAddress::parse("0a:03.0").unwrap().bus, 10);
        for bad in [
            "0:3.0", "00:3.0", "00:20.0", "00:03.8", "00:03", "00.03:0", "0A:03.0", "",
        ] {
            assert!(FunctionAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_swizzle_is_qemu_virts() {
        let p = PciePlan {
            name: "pcie@10000000".into(),
            compatible: vec!["pci-host-ecam-generic".into()],
            ecam: (0x40_1000_0000, 0x1000_0000),
            buses: (0, 255),
            windows: Vec::new(),
            left_out: Vec::new(),
            intx: [35, 36, 37, 38],
            dma_coherent: true,
        };
        // QEMU virt's interrupt-map: device 1 INTA -> SPI 4 (INTID 36), device 3
        // INTD -> SPI 5 (INTID 37).
        assert_eq!(p.intid(0, 1), 35);
        assert_eq!(p.intid(1, 1), 36);
        assert_eq!(p.intid(1, 4), 35);
        assert_eq!(p.intid(3, 4), 37);
        assert_eq!(swizzle_rows().count(), 16);
    }
}

/// A function of a host bridge given to an x86_64 VM (`BRIDGE/BB:DD.F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPlan {
    /// The `devices` entry.
    pub name: String,
    /// Its address.
    pub addr: FunctionAddress,
    /// Host-physical base of the bridge's ECAM window.
    pub ecam: Hpa,
    /// The bridge's INTA..INTD GSIs of device 0.
    pub intx: [u32; 4],
}

/// The functions VM `vm` is given one by one, in `devices` order (those `validate`
/// refused are left out).
pub(crate) fn functions(inp: &Inputs, vm: &VmSpec) -> Vec<FunctionPlan> {
    vm.devices
        .iter()
        .filter_map(|d| {
            let (p, addr) = find_function(inp, d.get_ref())?;
            let intx: [u32; 4] = p.intx().try_into().ok()?;
            Some(FunctionPlan {
                name: d.get_ref().clone(),
                addr: addr.ok()?,
                ecam: Hpa::new(p.ecam().0),
                intx,
            })
        })
        .collect()
}
