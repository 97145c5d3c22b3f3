//! A function's type-0 header as the guest sees it: a sorted table of dword
//! registers (offset, count, what the guest gets), the probe that fills a
//! [`Function`], and the quiesce and reset steps before its VM's RAM is reused.

use super::cap::{self, CapKind};
use super::msi::{MsiMsg, MsiShadow};
use super::{command, Bar, Bdf, Function, HostConfig, ProbeError, ResetMethod, BARS};

/// What a header register gives the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reg {
    /// The host's value; writes are dropped.
    Host,
    /// Command and status, filtered.
    Command,
    /// A BAR, fixed where the host put it.
    Bar,
    /// Reads as zero (CardBus CIS, expansion ROM, reserved), writes are dropped.
    Zero,
    /// The capability pointer of the kept list.
    CapPtr,
    /// The guest's interrupt line byte over the host's pin and latency bytes.
    Interrupt,
}

/// The header's dword registers, sorted by offset: (offset, dwords, kind).
const HEADER: [(u16, u16, Reg); 11] = [
    (0x00, 1, Reg::Host), // vendor and device ID
    (0x04, 1, Reg::Command),
    (0x08, 1, Reg::Host), // revision and class
    (0x0c, 1, Reg::Host), // cache line, latency, header type, BIST
    (0x10, BARS as u16, Reg::Bar),
    (0x28, 1, Reg::Zero), // CardBus CIS pointer
    (0x2c, 1, Reg::Host), // subsystem IDs
    (0x30, 1, Reg::Zero), // expansion ROM: not shown
    (0x34, 1, Reg::CapPtr),
    (0x38, 1, Reg::Zero),
    (0x3c, 1, Reg::Interrupt),
];

/// The register holding dword `reg` (below 0x40).
fn header_reg(reg: u16) -> Option<Reg> {
    let i = HEADER.partition_point(|&(off, n, _)| off + 4 * n <= reg);
    HEADER
        .get(i)
        .filter(|&&(off, _, _)| off <= reg)
        .map(|&(_, _, r)| r)
}

impl Function {
    /// Probes host function `bdf` for a VM (at boot, before any guest runs): its BARs
    /// and their sizes (decoding is off while they are sized) and its capabilities.
    pub fn probe(host: &mut dyn HostConfig, bdf: Bdf) -> Result<Self, ProbeError> {
        if host.read(bdf, 0x00) & 0xffff == 0xffff {
            return Err(ProbeError::Absent);
        }
        if (host.read(bdf, 0x0c) >> 16) & 0x7f != 0 {
            return Err(ProbeError::NotEndpoint);
        }
        let (caps, ncaps) = cap::walk(host, bdf)?;
        let cmd = host.read(bdf, 0x04) & 0xffff;
        host.write(bdf, 0x04, cmd & !(command::IO | command::MEMORY));
        let mut bars = [Bar::default(); BARS];
        for (i, bar) in bars.iter_mut().enumerate() {
            let reg = 0x10 + 4 * i as u16;
            let value = host.read(bdf, reg);
            host.write(bdf, reg, u32::MAX);
            let mask = host.read(bdf, reg);
            host.write(bdf, reg, value);
            *bar = Bar {
                value,
                mask,
                sizing: false,
            };
        }
        // INTx stays off until its line is routed to the VM (`intx`).
        host.write(bdf, 0x04, cmd | command::INTX_DISABLE);
        Ok(Self {
            bdf,
            bars,
            caps,
            ncaps,
            int_line: 0xff,
            line_reset: 0xff,
            intx: false,
            msi: MsiShadow::default(),
            decode: cmd & command::DECODE,
        })
    }

    /// The capabilities the guest sees.
    pub fn caps(&self) -> &[cap::Cap] {
        &self.caps[..self.ncaps]
    }

    /// The interrupt pin the function raises (1 = INTA to 4 = INTD), if any: the
    /// host's interrupt pin register.
    pub fn int_pin(&self, host: &mut dyn HostConfig) -> Option<u8> {
        let pin = (host.read(self.bdf, 0x3c) >> 8) as u8;
        (1..=4).contains(&pin).then_some(pin)
    }

    /// The interrupt line the guest reads now and after each reset: `gsi`, where the
    /// VM's I/O APIC sees its INTx (a GSI past 254 reads as 0xff, unknown); from now
    /// on the guest may clear INTx disable.
    pub fn set_int_line(&mut self, gsi: u32) {
        self.line_reset = u8::try_from(gsi)
            .ok()
            .filter(|&g| g != 0xff)
            .unwrap_or(0xff);
        self.int_line = self.line_reset;
        self.intx = true;
    }

    /// The guest's MSI message, if its MSI is enabled.
    pub fn msi(&self) -> Option<MsiMsg> {
        self.msi.message()
    }

    /// Programs the host's MSI capability with `host` (the routed guest message) and
    /// enables it, or disables MSI (`None`, or the guest's MSI is off).
    pub fn set_host_msi(&self, host: &mut dyn HostConfig, msg: Option<MsiMsg>) {
        let Some(c) = self
            .caps()
            .iter()
            .find(|c| matches!(c.kind, CapKind::Msi { .. }))
        else {
            return;
        };
        let CapKind::Msi { wide, masking } = c.kind else {
            return;
        };
        let r = cap::MsiRegs::of(wide, masking);
        let control = host.read(self.bdf, c.offset);
        // Off while the message changes; single message (MME 0).
        host.write(self.bdf, c.offset, control & !0x007f_0000);
        let Some(m) = msg.filter(|_| self.msi.enabled) else {
            return;
        };
        host.write(self.bdf, c.offset + 4, m.address as u32);
        if let Some(hi) = r.address_hi {
            host.write(self.bdf, c.offset + hi, (m.address >> 32) as u32);
        }
        let data = host.read(self.bdf, c.offset + r.data);
        host.write(
            self.bdf,
            c.offset + r.data,
            (data & !0xffff) | (m.data & 0xffff),
        );
        host.write(self.bdf, c.offset, (control & !0x007f_0000) | (1 << 16));
    }

    /// The dword at `reg` (a multiple of 4 below 0x1000) as the guest reads it.
    pub(super) fn read_dword(&mut self, host: &mut dyn HostConfig, reg: u16) -> u32 {
        if reg >= 0x100 {
            return 0;
        }
        if reg >= 0x40 {
            return match cap::find(self.caps(), reg) {
                Some(found) => cap::read(host, self.bdf, found, &self.msi, reg),
                None => 0,
            };
        }
        match header_reg(reg) {
            Some(Reg::Host) => host.read(self.bdf, reg),
            Some(Reg::Command) => {
                let v = (host.read(self.bdf, reg) & !command::DECODE) | self.decode;
                if self.ncaps == 0 {
                    v & !cap::STATUS_CAP_LIST
                } else {
                    v
                }
            }
            Some(Reg::Bar) => {
                let bar = &self.bars[usize::from((reg - 0x10) / 4) % BARS];
                if bar.sizing {
                    bar.mask
                } else {
                    bar.value
                }
            }
            Some(Reg::CapPtr) => cap::first(self.caps()),
            Some(Reg::Interrupt) => (host.read(self.bdf, reg) & !0xff) | u32::from(self.int_line),
            Some(Reg::Zero) | None => 0,
        }
    }

    /// Applies a guest write of the lanes `mask` of `value` to the dword at `reg`;
    /// `true` if the MSI shadow changed.
    pub(super) fn write_dword(
        &mut self,
        host: &mut dyn HostConfig,
        reg: u16,
        value: u32,
        mask: u32,
    ) -> bool {
        if reg >= 0x100 {
            return false;
        }
        if reg >= 0x40 {
            return match cap::find(self.caps(), reg) {
                Some((c, _)) => cap::write(host, self.bdf, c, &mut self.msi, reg, value, mask),
                None => false,
            };
        }
        match header_reg(reg) {
            Some(Reg::Command) => {
                let m = mask & command::GUEST;
                let old = host.read(self.bdf, reg) & 0xffff;
                let w1c = value & mask & (command::STATUS_W1C << 16);
                let off = if self.intx { 0 } else { command::INTX_DISABLE };
                self.decode = (self.decode & !m) | (value & m & command::DECODE);
                // Decoding only turns on here: Linux turns it off around each BAR it
                // sizes, and each toggle would remap the BARs on the host for nothing
                // (under QEMU 7.2's multi-threaded TCG, a remap can send another
                // vCPU's MMIO access in flight to the wrong region).
                let decode = (old | self.decode) & command::DECODE;
                let cmd = (old & !m) | (value & m);
                host.write(self.bdf, reg, (cmd & !command::DECODE) | decode | off | w1c);
            }
            Some(Reg::Bar) => {
                let bar = &mut self.bars[usize::from((reg - 0x10) / 4) % BARS];
                bar.sizing = mask == u32::MAX && value == u32::MAX;
            }
            Some(Reg::Interrupt) if mask & 0xff != 0 => self.int_line = value as u8,
            _ => {}
        }
        false
    }

    /// Stops the function before its VM's RAM is reused: no DMA, INTx disabled, MSI
    /// and MSI-X off (every MSI-X vector masked), the guest's shadows cleared (its
    /// decoding reads off). The host's decoding stays as it is: the BARs never move,
    /// nothing but the hypervisor reaches them while the VM is stopped, and each change
    /// of it remaps the BARs on the host (see the `decode` field). Returns how to
    /// reset it: a function-level reset where the function has one, else the virtio
    /// reset where it is a virtio device, else nothing more.
    pub fn quiesce(&mut self, host: &mut dyn HostConfig) -> ResetMethod {
        let decode = host.read(self.bdf, 0x04) & command::DECODE;
        host.write(self.bdf, 0x04, command::INTX_DISABLE | decode);
        for c in self.caps[..self.ncaps].iter() {
            let head = host.read(self.bdf, c.offset);
            match c.kind {
                CapKind::Msi { .. } => host.write(self.bdf, c.offset, head & !0x007f_0000),
                CapKind::Msix => host.write(
                    self.bdf,
                    c.offset,
                    (head & !cap::MSIX_ENABLE) | cap::MSIX_MASK_ALL,
                ),
                CapKind::Express | CapKind::Vendor => {}
            }
        }
        self.msi = MsiShadow::default();
        self.decode = 0;
        self.int_line = self.line_reset;
        self.bars.iter_mut().for_each(|b| b.sizing = false);
        self.reset_method(host)
    }

    /// How the function is brought back to its reset state: a function-level reset
    /// where its PCI Express capability offers one, else, for a virtio device (vendor
    /// 0x1af4), the virtio reset through the first common configuration structure
    /// its vendor capabilities name, else nothing more than stopping it.
    pub fn reset_method(&self, host: &mut dyn HostConfig) -> ResetMethod {
        let virtio = host.read(self.bdf, 0x00) & 0xffff == VIRTIO_VENDOR;
        let mut method = ResetMethod::StopOnly;
        for c in self.caps() {
            match c.kind {
                CapKind::Express
                    if host.read(self.bdf, c.offset + 4) & cap::EXPRESS_FLR_CAPABLE != 0 =>
                {
                    return ResetMethod::Flr { reg: c.offset + 8 };
                }
                // virtio: cfg_type 1 is the common configuration structure.
                CapKind::Vendor if virtio && method == ResetMethod::StopOnly => {
                    let head = host.read(self.bdf, c.offset);
                    let bar = (host.read(self.bdf, c.offset + 4) & 0xff) as u8;
                    if (head >> 24) == 1 && usize::from(bar) < BARS {
                        let offset = host.read(self.bdf, c.offset + 8);
                        method = ResetMethod::VirtioStatus {
                            bar,
                            offset: offset.saturating_add(VIRTIO_DEVICE_STATUS),
                        };
                    }
                }
                _ => {}
            }
        }
        method
    }

    /// Starts a function-level reset (after [`Function::quiesce`] returned
    /// [`ResetMethod::Flr`]); the caller waits 100 ms, then calls
    /// [`Function::restore`].
    pub fn start_flr(&self, host: &mut dyn HostConfig, reg: u16) {
        let devctl = host.read(self.bdf, reg) & 0xffff;
        host.write(self.bdf, reg, devctl | FLR);
    }

    /// Puts the BARs back where the host had them (a reset clears them), decoding off.
    pub fn restore(&self, host: &mut dyn HostConfig) {
        host.write(self.bdf, 0x04, command::INTX_DISABLE);
        for (i, bar) in self.bars.iter().enumerate() {
            host.write(self.bdf, 0x10 + 4 * i as u16, bar.value);
        }
    }
}

/// Device control: initiate function-level reset.
const FLR: u32 = 1 << 15;
/// The PCI vendor ID of virtio devices.
const VIRTIO_VENDOR: u32 = 0x1af4;
/// Offset of `device_status` in virtio's common configuration structure.
const VIRTIO_DEVICE_STATUS: u32 = 20;

#[cfg(test)]
mod table {
    use super::*;

    #[test]
    fn the_header_table_is_sorted_and_covers_the_header() {
        let mut next = 0;
        for &(off, n, _) in &HEADER {
            assert_eq!(off, next, "gap or overlap at {off:#x}");
            next = off + 4 * n;
        }
        assert_eq!(next, 0x40);
        assert_eq!(header_reg(0x14), Some(Reg::Bar));
        assert_eq!(header_reg(0x24), Some(Reg::Bar));
        assert_eq!(header_reg(0x28), Some(Reg::Zero));
        assert_eq!(header_reg(0x3c), Some(Reg::Interrupt));
        assert_eq!(header_reg(0x40), None);
    }
}
