//! A host function in memory for the tests of the configuration space.

use super::*;

/// A host function in memory, with BARs that answer sizing as hardware does and a
/// status register whose error bits clear on a write of 1. Every write is logged.
pub(super) struct FakeHost {
    pub(super) bdf: Bdf,
    space: [u32; 1024],
    bar_size: [u32; BARS],
    writes: [(u16, u32); 64],
    pub(super) nwrites: usize,
}

pub(super) const BLK: Bdf = Bdf {
    bus: 0,
    dev: 3,
    func: 0,
};

impl FakeHost {
    /// A virtio-blk-like function: a 4 KiB I/O-less memory BAR 1, a 64-bit 16 KiB
    /// BAR 4/5, capabilities PM (hidden) at 0x40, MSI-X at 0x50, vendor (virtio
    /// common config in BAR 4 at 0) at 0x60, MSI (64-bit, masking) at 0x70.
    pub(super) fn virtio() -> Self {
        let mut h = Self {
            bdf: BLK,
            space: [0; 1024],
            bar_size: [0, 0x1000, 0, 0, 0x4000, 0],
            writes: [(0, 0); 64],
            nwrites: 0,
        };
        h.set(0x00, 0x1042_1af4);
        h.set(0x04, 0x0010_0007 | (1 << 24)); // caps, master data parity error
        h.set(0x08, 0x0100_0000);
        h.set(0x0c, 0x0080_0000); // multi-function bit, type 0
        h.set(0x14, 0xc000_1000);
        h.set(0x20, 0x0000_000c); // 64-bit prefetchable
        h.set(0x24, 0x0000_0008); // at 0x8_0000_0000
        h.set(0x30, 0xfffe_0000); // a ROM: hidden
        h.set(0x34, 0x40);
        h.set(0x3c, 0x0000_010b); // pin INTA, host line 11
        h.set(0x40, 0x0003_5001); // PM -> 0x50
        h.set(0x50, 0x0001_6011); // MSI-X, 2 entries -> 0x60
        h.set(0x54, 0x0000_2001); // table in BAR 1 at 0x2000
        h.set(0x60, 0x0110_7009); // vendor, len 16, cfg_type 1 -> 0x70
        h.set(0x64, 0x0000_0004); // BAR 4
        h.set(0x68, 0x0000_0000); // offset 0
        h.set(0x70, 0x0186_0005); // MSI 64-bit + masking, MMC 8 -> end
        h
    }

    pub(super) fn set(&mut self, reg: u16, v: u32) {
        self.space[usize::from(reg / 4)] = v;
    }

    /// Makes BAR `i` answer sizing as a BAR of `size` bytes.
    pub(super) fn set_bar_size(&mut self, i: usize, size: u32) {
        self.bar_size[i] = size;
    }

    pub(super) fn get(&self, reg: u16) -> u32 {
        self.space[usize::from(reg / 4)]
    }

    pub(super) fn wrote(&self, reg: u16) -> Option<u32> {
        self.writes[..self.nwrites]
            .iter()
            .rev()
            .find(|w| w.0 == reg)
            .map(|w| w.1)
    }
}

impl HostConfig for FakeHost {
    fn read(&mut self, bdf: Bdf, reg: u16) -> u32 {
        if bdf != self.bdf {
            return u32::MAX;
        }
        self.get(reg)
    }

    fn write(&mut self, bdf: Bdf, reg: u16, value: u32) {
        assert_eq!(bdf, self.bdf, "a write reached another function");
        if self.nwrites < self.writes.len() {
            self.writes[self.nwrites] = (reg, value);
            self.nwrites += 1;
        }
        let v = match reg {
            0x04 => {
                let status = (self.get(0x04) >> 16) & !((value >> 16) & 0xf900);
                (status << 16) | (value & 0xffff)
            }
            0x10..=0x27 => {
                let i = usize::from((reg - 0x10) / 4);
                let size = self.bar_size[i];
                let flags = self.get(reg) & 0xf;
                if size == 0 && i != 5 {
                    0
                } else if i == 5 {
                    value // the high half of the 64-bit BAR: all bits
                } else {
                    (value & !(size - 1)) | flags
                }
            }
            _ => value,
        };
        self.set(reg, v);
    }
}
