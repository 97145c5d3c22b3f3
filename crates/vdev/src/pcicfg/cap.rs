//! The capability list a guest sees: walked once at probe time from the host's list,
//! keeping MSI, MSI-X, PCI Express and vendor-specific capabilities (virtio finds its
//! structures through the last) and relinking the list past the others. Reads of a
//! kept capability come from the host with its next pointer replaced; writes are
//! filtered per kind (MSI goes to the shadow, MSI-X takes only its enable and mask
//! bits, PCI Express only the device control bits listed in [`EXPRESS_DEVCTL`],
//! vendor-specific ones are read-only). Bytes 0x40 to 0xFF outside a kept capability
//! read as zero.

use super::{msi, Bdf, HostConfig, ProbeError};

/// The most capabilities a guest sees of one function.
pub const MAX_CAPS: usize = 8;
/// The most list entries followed (a list that loops is refused).
const MAX_STEPS: usize = 48;
/// Status register: the function has a capability list.
pub(super) const STATUS_CAP_LIST: u32 = 1 << 20;
/// PCI Express device control bits a guest may change: error reporting enables (3:0),
/// relaxed ordering (4) and no snoop (11). Not the payload and read-request sizes
/// (the fabric's), and not the function-level reset (bit 15), which the hypervisor
/// owns: a reset would clear the BARs under a guest that may re-enable decoding.
pub(super) const EXPRESS_DEVCTL: u32 = 0x081f;
/// PCI Express device status bits a guest may clear (write 1): the error bits.
const EXPRESS_DEVSTA_W1C: u32 = 0x000f << 16;
/// PCI Express device capabilities: function-level reset capable.
pub(super) const EXPRESS_FLR_CAPABLE: u32 = 1 << 28;
/// MSI-X message control: enable (15) and function mask (14), in the cap's dword.
pub(super) const MSIX_ENABLE: u32 = 1 << 31;
/// MSI-X function mask.
pub(super) const MSIX_MASK_ALL: u32 = 1 << 30;

/// The kinds of capability a guest sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    /// MSI (ID 0x05).
    Msi {
        /// 64-bit message address.
        wide: bool,
        /// Per-vector masking.
        masking: bool,
    },
    /// MSI-X (ID 0x11).
    Msix,
    /// PCI Express (ID 0x10).
    Express,
    /// Vendor-specific (ID 0x09).
    Vendor,
}

/// A kept capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// Its offset in configuration space.
    pub offset: u16,
    /// Its length in bytes, a multiple of 4.
    pub len: u16,
    /// What it is.
    pub kind: CapKind,
}

impl Cap {
    const NONE: Self = Self {
        offset: 0,
        len: 0,
        kind: CapKind::Vendor,
    };

    fn holds(&self, reg: u16) -> bool {
        reg >= self.offset && reg - self.offset < self.len
    }
}

/// Walks the host's list of `bdf`: the kept capabilities in order and their number.
pub(super) fn walk(
    host: &mut dyn HostConfig,
    bdf: Bdf,
) -> Result<([Cap; MAX_CAPS], usize), ProbeError> {
    let mut caps = [Cap::NONE; MAX_CAPS];
    let mut n = 0;
    if host.read(bdf, 0x04) & STATUS_CAP_LIST == 0 {
        return Ok((caps, 0));
    }
    let mut ptr = (host.read(bdf, 0x34) & 0xfc) as u16;
    for _ in 0..MAX_STEPS {
        if ptr == 0 {
            return Ok((caps, n));
        }
        if ptr < 0x40 {
            return Err(ProbeError::BadCapabilities);
        }
        let head = host.read(bdf, ptr);
        let next = ((head >> 8) & 0xfc) as u16;
        if let Some((kind, len)) = kind_of(head) {
            let len = len.next_multiple_of(4);
            if ptr + len > 0x100 || n == MAX_CAPS {
                return Err(ProbeError::BadCapabilities);
            }
            caps[n] = Cap {
                offset: ptr,
                len,
                kind,
            };
            n += 1;
        }
        ptr = next;
    }
    Err(ProbeError::BadCapabilities)
}

/// The kind and length of a capability from its first dword, if a guest sees it.
fn kind_of(head: u32) -> Option<(CapKind, u16)> {
    let control = head >> 16;
    match head & 0xff {
        0x05 => {
            let wide = control & (1 << 7) != 0;
            let masking = control & (1 << 8) != 0;
            let len = 12 + 4 * u16::from(wide) + 8 * u16::from(masking);
            Some((CapKind::Msi { wide, masking }, len))
        }
        0x11 => Some((CapKind::Msix, 12)),
        // Version 1 ends after the slot registers; version 2 adds the "2" registers.
        0x10 if control & 0xf >= 2 => Some((CapKind::Express, 0x3c)),
        0x10 => Some((CapKind::Express, 0x24)),
        0x09 => Some((CapKind::Vendor, (((head >> 16) & 0xff) as u16).max(4))),
        _ => None,
    }
}

/// Offsets within an MSI capability.
pub(super) struct MsiRegs {
    pub address_hi: Option<u16>,
    pub data: u16,
    pub mask: Option<u16>,
}

impl MsiRegs {
    pub(super) const fn of(wide: bool, masking: bool) -> Self {
        let data = if wide { 0x0c } else { 0x08 };
        Self {
            address_hi: if wide { Some(0x08) } else { None },
            data,
            mask: if masking { Some(data + 4) } else { None },
        }
    }
}

/// The first capability of the list (the capability pointer), or 0.
pub(super) fn first(caps: &[Cap]) -> u32 {
    caps.first().map_or(0, |c| u32::from(c.offset))
}

/// The kept capability holding `reg`, and the offset of the next one (or 0).
pub(super) fn find(caps: &[Cap], reg: u16) -> Option<(Cap, u16)> {
    let i = caps.iter().position(|c| c.holds(reg))?;
    let next = caps.get(i + 1).map_or(0, |c| c.offset);
    Some((caps[i], next))
}

/// The dword at `reg` of a kept capability, as the guest reads it.
pub(super) fn read(
    host: &mut dyn HostConfig,
    bdf: Bdf,
    (cap, next): (Cap, u16),
    shadow: &msi::MsiShadow,
    reg: u16,
) -> u32 {
    let off = reg - cap.offset;
    if let CapKind::Msi { wide, masking } = cap.kind {
        let r = MsiRegs::of(wide, masking);
        if off == 4 {
            return shadow.address_lo;
        }
        if Some(off) == r.address_hi {
            return shadow.address_hi;
        }
        if off == r.data {
            return u32::from(shadow.data);
        }
    }
    let v = host.read(bdf, reg);
    if off != 0 {
        return v;
    }
    let v = (v & !0xff00) | (u32::from(next) << 8);
    match cap.kind {
        // One vector: no multiple-message capability or enable; the enable bit is
        // the guest's.
        CapKind::Msi { .. } => (v & !0x007f_0000) | (u32::from(shadow.enabled) << 16),
        // The table size the guest sees is what the hypervisor shadows: a driver
        // never picks an entry that would stay masked.
        CapKind::Msix => {
            let size = ((v >> 16) & 0x7ff).min(msi::MSIX_GUEST_ENTRIES as u32 - 1);
            (v & !(0x7ff << 16)) | (size << 16)
        }
        _ => v,
    }
}

/// Applies a guest write of the lanes `mask` of `value` to the dword at `reg` of a
/// kept capability; `true` if the MSI shadow changed.
pub(super) fn write(
    host: &mut dyn HostConfig,
    bdf: Bdf,
    cap: Cap,
    shadow: &mut msi::MsiShadow,
    reg: u16,
    value: u32,
    mask: u32,
) -> bool {
    let off = reg - cap.offset;
    let merge = |old: u32| (old & !mask) | (value & mask);
    match cap.kind {
        CapKind::Msi { wide, masking } => {
            let r = MsiRegs::of(wide, masking);
            if off == 0 && mask & (1 << 16) != 0 {
                shadow.enabled = value & (1 << 16) != 0;
            } else if off == 4 {
                shadow.address_lo = merge(shadow.address_lo);
            } else if Some(off) == r.address_hi {
                shadow.address_hi = merge(shadow.address_hi);
            } else if off == r.data {
                shadow.data = merge(u32::from(shadow.data)) as u16;
            } else if Some(off) == r.mask {
                let old = host.read(bdf, reg);
                host.write(bdf, reg, merge(old));
                return false;
            } else {
                return false;
            }
            true
        }
        CapKind::Msix if off == 0 => {
            let m = mask & (MSIX_ENABLE | MSIX_MASK_ALL);
            let old = host.read(bdf, reg);
            host.write(bdf, reg, (old & !m) | (value & m));
            false
        }
        CapKind::Express if off == 8 => {
            let m = mask & EXPRESS_DEVCTL;
            let old = host.read(bdf, reg) & 0xffff;
            let w1c = value & mask & EXPRESS_DEVSTA_W1C;
            host.write(bdf, reg, (old & !m) | (value & m) | w1c);
            false
        }
        _ => false,
    }
}
