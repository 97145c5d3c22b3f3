//! Emulated PCI configuration space (x86_64) of a VM that owns some of the host's PCI
//! functions: the guest sees its own functions only, at their host bus/device/function
//! numbers, through the port pair 0xCF8/0xCFC and through the ECAM (MMCONFIG) window.
//!
//! Model:
//! - [`ConfigAddress`] decodes CONFIG_ADDRESS (port 0xCF8: enable bit 31, bus 23:16,
//!   device 15:11, function 10:8, register 7:2); [`Bdf::from_ecam`] decodes an ECAM
//!   offset (bus 27:20, device 19:15, function 14:12, register 11:0).
//! - [`Bus`] holds the VM's functions. A function the VM does not own reads as all
//!   ones (no device there) and drops writes; so does a disabled CONFIG_ADDRESS. But
//!   00:00.0, unless the VM owns it, is an emulated read-only host bridge
//!   ([`HOST_BRIDGE`]), as every PC has one.
//! - [`Function`] is one owned function, probed once at boot ([`Function::probe`]):
//!   its BARs stay where the host firmware put them (a write of all ones is answered
//!   with the size mask, any other value is dropped), its command register takes only
//!   the I/O, memory, bus-master, parity, SERR and INTx-disable bits (the guest's I/O
//!   and memory enables are a shadow: the host's turn on with the guest's and stay
//!   on, across the VM's stops too, so a guest sizing its BARs changes no host
//!   decoding), the
//!   expansion ROM and the extended space (0x100 and up) read as zero, the interrupt
//!   line is the
//!   guest's own byte, and the capability list is walked once and shows only MSI,
//!   MSI-X, PCI Express and vendor-specific capabilities, relinked past the others.
//!   The header registers are a sorted table ([`header`]); capabilities are in [`cap`].
//! - MSI: the guest's message address and data are kept in a shadow that the guest
//!   reads back; a write that changes them returns [`Effect::Msi`] and the caller
//!   programs the host with [`Function::set_host_msi`] after [`msi::route`] turned the
//!   guest's message into one for the VM's own cores. The MSI-X table lives in a BAR
//!   and is modelled by [`msi::MsixTable`].
//! - Reset before the RAM is reused: [`Function::quiesce`] stops the function's DMA and
//!   interrupts and says how to reset it ([`ResetMethod`]).
//!
//! The host's configuration space is reached through [`HostConfig`] (32-bit aligned
//! accesses), which the hypervisor implements over the real ECAM window. Nothing a
//! guest writes reaches the host unfiltered, and nothing here panics on a guest value.

mod cap;
#[cfg(test)]
mod fake;
mod header;
mod layout;
pub mod msi;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_direct;
#[cfg(test)]
mod walk;

use crate::Width;
pub use cap::{Cap, CapKind, MAX_CAPS};
pub use layout::{BarError, MemBar, MsixLayout};

/// Size of one function's configuration space in the ECAM window.
pub const FUNCTION_SPACE: u64 = 0x1000;
/// Size of one bus in the ECAM window.
pub const BUS_SPACE: u64 = 0x10_0000;
/// The most functions a VM owns (the size of [`Bus`]'s table; the machine contract's).
pub const MAX_FUNCTIONS: usize = rtvisor_config::contract::x86_64::PCI_FUNCTIONS;
/// Number of BARs of a type-0 header.
pub const BARS: usize = 6;

/// A bus/device/function number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bdf {
    /// Bus.
    pub bus: u8,
    /// Device (0 to 31).
    pub dev: u8,
    /// Function (0 to 7).
    pub func: u8,
}

impl Bdf {
    /// A BDF, if the device and function numbers are in range.
    pub const fn new(bus: u8, dev: u8, func: u8) -> Option<Self> {
        if dev < 32 && func < 8 {
            Some(Self { bus, dev, func })
        } else {
            None
        }
    }

    /// The function and register an offset into an ECAM window (from bus 0) reaches,
    /// or `None` past the 256 buses a window can hold.
    pub const fn from_ecam(offset: u64) -> Option<(Self, u16)> {
        if offset >= 256 * BUS_SPACE {
            return None;
        }
        let bdf = Self {
            bus: (offset >> 20) as u8,
            dev: ((offset >> 15) & 0x1f) as u8,
            func: ((offset >> 12) & 0x7) as u8,
        };
        Some((bdf, (offset & 0xfff) as u16))
    }

    /// Offset of its configuration space in an ECAM window (from bus 0).
    pub const fn ecam_offset(self) -> u64 {
        ((self.bus as u64) << 20) | ((self.dev as u64) << 15) | ((self.func as u64) << 12)
    }
}

/// The value of CONFIG_ADDRESS (port 0xCF8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConfigAddress(pub u32);

impl ConfigAddress {
    /// Enable bit: CONFIG_DATA reaches configuration space only while it is set.
    pub const ENABLE: u32 = 1 << 31;

    /// The function and register (a dword offset below 0x100) it selects, if enabled.
    pub const fn target(self) -> Option<(Bdf, u16)> {
        if self.0 & Self::ENABLE == 0 {
            return None;
        }
        let bdf = Bdf {
            bus: (self.0 >> 16) as u8,
            dev: ((self.0 >> 11) & 0x1f) as u8,
            func: ((self.0 >> 8) & 0x7) as u8,
        };
        Some((bdf, (self.0 & 0xfc) as u16))
    }
}

/// The host's configuration space as the hypervisor reaches it. `reg` is a multiple
/// of 4 below 0x1000.
pub trait HostConfig {
    /// Reads the dword at `reg` of `bdf`.
    fn read(&mut self, bdf: Bdf, reg: u16) -> u32;
    /// Writes the dword at `reg` of `bdf`.
    fn write(&mut self, bdf: Bdf, reg: u16, value: u32);
}

/// What a guest write asks of the caller beyond the configuration space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// The MSI shadow of function `index` of the bus changed: route its message again
    /// ([`Function::msi`]) and program the host ([`Function::set_host_msi`]).
    Msi {
        /// The function's index in the bus.
        index: usize,
    },
}

/// Why a host function cannot be given to a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    /// No function answers at that BDF.
    Absent,
    /// It is a bridge (header type 1 or 2), not an endpoint.
    NotEndpoint,
    /// Its capability list loops, leaves the header or has more than [`MAX_CAPS`]
    /// capabilities the guest would see.
    BadCapabilities,
}

/// How a quiesced function is brought back to its reset state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMethod {
    /// A function-level reset (PCI Express device control bit 15): `reg` is the
    /// device control register; the BARs are to be written back after it.
    Flr {
        /// The device control register's offset.
        reg: u16,
    },
    /// The virtio reset: write 0 to the device status byte of the common
    /// configuration structure, in BAR `bar` at `offset`.
    VirtioStatus {
        /// The BAR.
        bar: u8,
        /// Offset of the device status byte in it.
        offset: u32,
    },
    /// Neither: the function was only stopped (no DMA, no interrupts, no decoding).
    StopOnly,
}

/// Bus master, memory space and I/O space enables, and INTx disable.
mod command {
    pub const IO: u32 = 1 << 0;
    pub const MEMORY: u32 = 1 << 1;
    pub const MASTER: u32 = 1 << 2;
    pub const PARITY: u32 = 1 << 6;
    pub const SERR: u32 = 1 << 8;
    pub const INTX_DISABLE: u32 = 1 << 10;
    /// I/O and memory space decoding: shadowed for the guest ([`super::Function`]).
    pub const DECODE: u32 = IO | MEMORY;
    /// What a guest may set.
    pub const GUEST: u32 = IO | MEMORY | MASTER | PARITY | SERR | INTX_DISABLE;
    /// Status bits a guest may clear (write 1): parity, aborts, SERR.
    pub const STATUS_W1C: u32 = 0xf900;
}

/// One BAR as the guest sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bar {
    /// The host's value (address and flag bits), fixed.
    pub value: u32,
    /// What the BAR reads after all ones were written (0: not implemented).
    pub mask: u32,
    /// All ones were written: the next read returns `mask`.
    sizing: bool,
}

/// A function the VM owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Its BDF (the host's and the guest's).
    pub bdf: Bdf,
    /// Its BARs (the upper half of a 64-bit BAR is a BAR of its own).
    pub bars: [Bar; BARS],
    /// The capabilities the guest sees, in list order.
    caps: [Cap; MAX_CAPS],
    /// How many of `caps` are used.
    ncaps: usize,
    /// The interrupt line byte (the guest's; the host's is not shown).
    int_line: u8,
    /// What the interrupt line reads after a reset: the GSI of its INTx in the VM
    /// (as firmware leaves it), else 0xff (unknown).
    line_reset: u8,
    /// Its INTx reaches its own VM ([`Function::set_int_line`]). Until it does, INTx
    /// disable stays set on the host whatever the guest writes: an unrouted line
    /// could be another VM's GSI, or a line nothing ends.
    intx: bool,
    /// The MSI shadow: the guest's message and enable.
    msi: msi::MsiShadow,
    /// The guest's I/O and memory space enables, which it reads back. Clearing one
    /// does not reach the host: the BARs never move (sizing is emulated), so the host
    /// function keeps decoding what the guest (or the firmware) enabled, also across
    /// the VM's stops ([`Function::quiesce`] clears only this view).
    decode: u32,
}

/// A VM's configuration space: its functions, and CONFIG_ADDRESS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bus {
    functions: [Option<Function>; MAX_FUNCTIONS],
    address: ConfigAddress,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with no function.
    pub const fn new() -> Self {
        Self {
            functions: [None; MAX_FUNCTIONS],
            address: ConfigAddress(0),
        }
    }

    /// Adds a probed function; `false` if the table is full or the BDF is taken.
    pub fn add(&mut self, f: Function) -> bool {
        if self.functions.iter().flatten().any(|g| g.bdf == f.bdf) {
            return false;
        }
        match self.functions.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(f);
                true
            }
            None => false,
        }
    }

    /// The functions, with their indices.
    pub fn functions(&self) -> impl Iterator<Item = (usize, &Function)> {
        self.functions
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i, f.as_ref()?)))
    }

    /// Function `index`, for the caller's MSI routing and reset.
    pub fn function_mut(&mut self, index: usize) -> Option<&mut Function> {
        self.functions.get_mut(index)?.as_mut()
    }

    fn find(&mut self, bdf: Bdf) -> Option<(usize, &mut Function)> {
        self.functions
            .iter_mut()
            .enumerate()
            .find_map(|(i, f)| f.as_mut().filter(|f| f.bdf == bdf).map(|f| (i, f)))
    }

    /// A read of `width` at `reg` of `bdf` (any alignment the width allows inside
    /// one dword; a read across dwords reads as all ones).
    pub fn read(&mut self, host: &mut dyn HostConfig, bdf: Bdf, reg: u16, width: Width) -> u32 {
        let ones = width.mask() as u32;
        let Some(shift) = lane(reg, width) else {
            return ones;
        };
        match self.find(bdf) {
            Some((_, f)) => (f.read_dword(host, reg & !3) >> shift) & ones,
            None if bdf == HOST_BRIDGE => (host_bridge(reg & !3) >> shift) & ones,
            None => ones,
        }
    }

    /// A write of `width` at `reg` of `bdf`.
    pub fn write(
        &mut self,
        host: &mut dyn HostConfig,
        bdf: Bdf,
        reg: u16,
        width: Width,
        value: u32,
    ) -> Effect {
        let Some(shift) = lane(reg, width) else {
            return Effect::None;
        };
        let Some((index, f)) = self.find(bdf) else {
            return Effect::None;
        };
        let mask = (width.mask() as u32) << shift;
        let value = (value << shift) & mask;
        if f.write_dword(host, reg & !3, value, mask) {
            Effect::Msi { index }
        } else {
            Effect::None
        }
    }

    /// An access to the ECAM window at `offset` (from bus 0).
    pub fn ecam_read(&mut self, host: &mut dyn HostConfig, offset: u64, width: Width) -> u32 {
        match Bdf::from_ecam(offset) {
            Some((bdf, reg)) => self.read(host, bdf, reg, width),
            None => width.mask() as u32,
        }
    }

    /// A write to the ECAM window at `offset` (from bus 0).
    pub fn ecam_write(
        &mut self,
        host: &mut dyn HostConfig,
        offset: u64,
        width: Width,
        value: u32,
    ) -> Effect {
        match Bdf::from_ecam(offset) {
            Some((bdf, reg)) => self.write(host, bdf, reg, width, value),
            None => Effect::None,
        }
    }

    /// A port read at 0xCF8 to 0xCFF (`port` is the offset from 0xCF8). CONFIG_ADDRESS
    /// answers dword accesses only; other widths there read as all ones.
    pub fn port_read(&mut self, host: &mut dyn HostConfig, port: u16, width: Width) -> u32 {
        match port {
            0 if width == Width::Word => self.address.0,
            4..=7 => match self.address.target() {
                Some((bdf, reg)) => self.read(host, bdf, reg + (port - 4), width),
                None => width.mask() as u32,
            },
            _ => width.mask() as u32,
        }
    }

    /// A port write at 0xCF8 to 0xCFF (`port` is the offset from 0xCF8).
    pub fn port_write(
        &mut self,
        host: &mut dyn HostConfig,
        port: u16,
        width: Width,
        value: u32,
    ) -> Effect {
        match port {
            0 if width == Width::Word => {
                // Bits 30:24 are reserved and 1:0 read as zero.
                self.address = ConfigAddress(value & 0x80ff_fffc);
                Effect::None
            }
            4..=7 => match self.address.target() {
                Some((bdf, reg)) => self.write(host, bdf, reg + (port - 4), width, value),
                None => Effect::None,
            },
            _ => Effect::None,
        }
    }
}

/// Where the VM's own host bridge answers, unless it owns a function there: a PC has
/// one at 00:00.0, and an OS may look for it before it trusts configuration
/// mechanism 1 (Linux's check of CONFIG_ADDRESS wants a host bridge or a VGA function
/// on bus 0 of a machine without a dated BIOS).
pub const HOST_BRIDGE: Bdf = Bdf {
    bus: 0,
    dev: 0,
    func: 0,
};

/// The emulated host bridge's header dword at `reg`: a PCI Express host bridge
/// (class 06:00:00, header type 0, no BAR, no capability, 1b36:0008 as QEMU's
/// generic one), read-only; the rest of its space reads as zero.
const fn host_bridge(reg: u16) -> u32 {
    match reg {
        0x00 => 0x0008_1b36,
        0x08 => 0x0600_0000,
        _ => 0,
    }
}

/// The shift of an access of `width` at `reg` within its dword, if it is naturally
/// aligned, inside one dword and inside the 4 KiB space.
fn lane(reg: u16, width: Width) -> Option<u32> {
    let bytes = width.bytes() as u16;
    if reg >= FUNCTION_SPACE as u16 || bytes > 4 || !reg.is_multiple_of(bytes) {
        return None;
    }
    Some(u32::from(reg & 3) * 8)
}
