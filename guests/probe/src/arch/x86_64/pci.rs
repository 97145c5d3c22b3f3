//! PCI configuration space with a function given (`pci=BB:DD.F`, a function of the
//! host bridge the VM got by `devices`): the cases here attack what the VM sees of it
//! through CONFIG_ADDRESS/CONFIG_DATA (0xCF8/0xCFC) and its ECAM window; `virtio.rs`
//! drives the function itself.
//!
//! - `pci-foreign-config`: functions it was not given (q35's LPC, SATA and SMBus
//!   controllers, its VGA slot, the given device's other functions, buses past 0)
//!   read all-ones through both mechanisms and ignore writes to their command
//!   register, BARs and interrupt line; the host bridge at 00:00.0 is the emulated
//!   one (`1b36:0008`), whose writes (q35's PCIEXBAR at 0x60 among them) change
//!   nothing; the host's own ECAM window (`host-ecam=`) is not mapped.
//! - `pci-config-ports`: 0xCF8-0xCFF taken with odd widths and offsets (partial
//!   CONFIG_ADDRESS writes, byte and word data lanes, misaligned dwords), aimed at
//!   foreign functions and at the given function's BARs; nothing moves.
//! - `pci-bar-command`: the given function's BARs keep the host's addresses whatever
//!   is written (BAR sizing answers the mask, then the address again); its command
//!   register reads back the decoding the guest wrote, off and on, while the host
//!   function keeps decoding its fixed BARs (rtvisor shadows the guest's enables, so
//!   a guest sizing its BARs changes nothing on the host: docs/x86.md, "PCI
//!   pass-through"), and the function answers at its BAR throughout.

use guest_common::arch::cpu::{inb, inl, inw, outb, outl, outw};
use guest_common::BootInfo;

use super::mmio::load32;
use crate::report::{contained, leak, Outcome};

/// A function's address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

impl Bdf {
    pub const fn new(bus: u8, dev: u8, func: u8) -> Self {
        Self { bus, dev, func }
    }

    fn address(self, reg: u16) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.dev) << 11
            | u32::from(self.func) << 8
            | u32::from(reg & 0xfc)
    }

    /// Its 4 KiB in an ECAM window at `base`.
    fn ecam(self, base: usize) -> usize {
        base + ((usize::from(self.bus) << 20)
            | (usize::from(self.dev) << 15)
            | (usize::from(self.func) << 12))
    }
}

/// `pci=BB:DD.F`.
pub fn given(boot: &BootInfo) -> Option<Bdf> {
    let s = boot.args().get("pci")?;
    let (bus, rest) = s.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |s: &str| u8::from_str_radix(s, 16).ok();
    Some(Bdf::new(hex(bus)?, hex(dev)?, hex(func)?))
}

const ADDRESS: u16 = 0xcf8;
const DATA: u16 = 0xcfc;
/// The VM's ECAM window (its MCFG's).
const ECAM: usize = 0xe000_0000;
/// The emulated host bridge's vendor and device.
const BRIDGE_ID: u32 = 0x0008_1b36;
const ONES: u32 = u32::MAX;

pub fn read32(b: Bdf, reg: u16) -> u32 {
    outl(ADDRESS, b.address(reg));
    inl(DATA)
}

pub fn read16(b: Bdf, reg: u16) -> u16 {
    outl(ADDRESS, b.address(reg));
    inw(DATA + (reg & 2))
}

pub fn read8(b: Bdf, reg: u16) -> u8 {
    outl(ADDRESS, b.address(reg));
    inb(DATA + (reg & 3))
}

pub fn write32(b: Bdf, reg: u16, v: u32) {
    outl(ADDRESS, b.address(reg));
    outl(DATA, v);
}

pub fn write16(b: Bdf, reg: u16, v: u16) {
    outl(ADDRESS, b.address(reg));
    outw(DATA + (reg & 2), v);
}

pub fn write8(b: Bdf, reg: u16, v: u8) {
    outl(ADDRESS, b.address(reg));
    outb(DATA + (reg & 3), v);
}

/// Functions on q35 that are not the VM's (the given one's function 1 is added).
const FOREIGN: [Bdf; 8] = [
    Bdf::new(0, 0x1f, 0),
    Bdf::new(0, 0x1f, 2),
    Bdf::new(0, 0x1f, 3),
    Bdf::new(0, 1, 0),
    Bdf::new(0, 2, 0),
    Bdf::new(1, 0, 0),
    Bdf::new(0x80, 0, 0),
    Bdf::new(0xff, 0x1f, 7),
];

fn foreign(own: Bdf) -> impl Iterator<Item = Bdf> {
    let sibling = Bdf::new(own.bus, own.dev, own.func ^ 1);
    FOREIGN
        .into_iter()
        .chain([sibling])
        .filter(move |&b| b != own)
}

/// The given function's BARs as it reads them.
fn bars(own: Bdf) -> [u32; 6] {
    core::array::from_fn(|i| read32(own, 0x10 + 4 * i as u16))
}

pub fn foreign_config(boot: &BootInfo, own: Bdf) -> Outcome {
    const CASE: &str = "pci-foreign-config";
    let bridge = Bdf::new(0, 0, 0);
    let mut n = 0;
    for b in foreign(own) {
        write32(b, 0x04, 0x0000_0147);
        write32(b, 0x10, 0);
        write16(b, 0x14, 0xffff);
        write8(b, 0x3c, 5);
        let ecam = load32(b.ecam(ECAM)).unwrap_or(ONES);
        for (what, v) in [
            ("id", read32(b, 0)),
            ("command", read32(b, 4)),
            ("bar0", read32(b, 0x10)),
            ("ecam id", ecam),
        ] {
            if v != ONES {
                return leak(
                    CASE,
                    format_args!("{:02x}:{:02x}.{} {what} reads {v:#x}", b.bus, b.dev, b.func),
                );
            }
        }
        n += 1;
    }
    // The host bridge: q35's PCIEXBAR (0x60, where the host's ECAM is), its command
    // register and its id.
    write32(bridge, 0x60, 0);
    write32(bridge, 0x64, 0);
    write32(bridge, 0x04, 0);
    write32(bridge, 0x00, 0);
    let id = (read32(bridge, 0), load32(bridge.ecam(ECAM)).unwrap_or(0));
    let pciexbar = read32(bridge, 0x60);
    if id != (BRIDGE_ID, BRIDGE_ID) {
        return leak(CASE, format_args!("host bridge id {:#x}/{:#x}", id.0, id.1));
    }
    if pciexbar != 0 {
        return leak(
            CASE,
            format_args!("host bridge reg 0x60 reads {pciexbar:#x}"),
        );
    }
    let host = match crate::report::number(boot, "host-ecam") {
        Some(at) => load32(Bdf::new(0, 0x1f, 0).ecam(at as usize)),
        None => Ok(ONES),
    };
    match host {
        Ok(ONES) | Err(_) => contained(
            CASE,
            format_args!("{n} foreign functions all-ones through 0xCFC and ECAM, writes dropped; host bridge emulated {BRIDGE_ID:#x}; host ECAM not mapped"),
        ),
        Ok(v) => leak(CASE, format_args!("the host's ECAM reads {v:#x}")),
    }
}

pub fn config_ports(own: Bdf) -> Outcome {
    const CASE: &str = "pci-config-ports";
    let before = bars(own);
    let victim = Bdf::new(0, 0x1f, 0);
    // Partial CONFIG_ADDRESS writes: a byte and a word lane at a time.
    outl(ADDRESS, victim.address(0x10));
    outb(ADDRESS, 0x14);
    outw(ADDRESS + 2, 0x80ff);
    outb(ADDRESS + 1, 0xf8);
    let _ = (inl(DATA), inw(DATA + 2), inb(DATA + 3));
    outl(DATA, 0);
    // Odd data lanes and misaligned dwords, aimed at the given function's BARs and
    // at a foreign function.
    for target in [own, victim] {
        for reg in [0x10u16, 0x14, 0x18, 0x1c, 0x20, 0x24] {
            outl(ADDRESS, target.address(reg));
            outb(DATA + 1, 0x12);
            outb(DATA + 3, 0xfe);
            outw(DATA + 2, 0xdead);
            outw(DATA + 1, 0xbeef);
            outl(DATA + 1, 0x1234_5678);
            outl(DATA + 2, 0x1234_5678);
            outl(DATA + 3, 0x1234_5678);
            let _ = (inl(DATA + 1), inw(DATA + 3), inb(DATA + 2));
        }
    }
    // A word at 0xCF9 (a byte there is the reset register) and at 0xCFA.
    outw(ADDRESS + 1, 0);
    outw(ADDRESS + 2, 0x8000);
    outl(ADDRESS, 0);
    let after = bars(own);
    let victim_id = read32(victim, 0);
    let bridge = read32(Bdf::new(0, 0, 0), 0);
    match (after == before, victim_id, bridge) {
        (true, ONES, BRIDGE_ID) => contained(
            CASE,
            format_args!("odd widths at 0xCF8-0xCFF: BARs unchanged, foreign still all-ones"),
        ),
        (false, _, _) => leak(
            CASE,
            format_args!("BARs {:#x?} became {:#x?}", before, after),
        ),
        _ => leak(
            CASE,
            format_args!("00:1f.0 reads {victim_id:#x}, the bridge {bridge:#x}"),
        ),
    }
}

pub fn bar_command(own: Bdf, alive: impl Fn() -> bool) -> Outcome {
    const CASE: &str = "pci-bar-command";
    let before = bars(own);
    let mut masks = 0;
    for i in 0..6u16 {
        let reg = 0x10 + 4 * i;
        for v in [0x1234_5000, 0, 0xffff_fff0] {
            write32(own, reg, v);
        }
        write16(own, reg, 0);
        write8(own, reg + 3, 0xc0);
        // Sizing: the mask, then the address written back.
        write32(own, reg, ONES);
        let mask = read32(own, reg);
        if mask != before[usize::from(i)] && before[usize::from(i)] != 0 {
            masks += 1;
        }
        write32(own, reg, before[usize::from(i)]);
    }
    let after = bars(own);
    if after != before {
        return leak(
            CASE,
            format_args!("BARs {:#x?} became {:#x?}", before, after),
        );
    }
    // Every command bit, then decoding off (the guest's view; the host function
    // keeps its fixed BARs decoded), then memory and bus mastering on.
    const DECODE: u16 = 0x0003;
    write16(own, 0x04, 0xffff);
    let all = read16(own, 0x04);
    write16(own, 0x04, 0);
    let (off_reads, off) = (read16(own, 0x04) & DECODE, alive());
    write16(own, 0x04, 0x0006);
    let (on_reads, on) = (read16(own, 0x04) & DECODE, alive());
    match (off_reads, on_reads, off, on) {
        (0, 0x0002, true, true) => contained(
            CASE,
            format_args!(
                "BARs fixed ({masks} sized), command {all:#06x} after 0xffff; decoding off and on as written, the function answering throughout"
            ),
        ),
        _ => leak(
            CASE,
            format_args!(
                "decoding reads {off_reads:#x} after 0 and {on_reads:#x} after 6; the function answers with it off: {off}, on: {on}"
            ),
        ),
    }
}
