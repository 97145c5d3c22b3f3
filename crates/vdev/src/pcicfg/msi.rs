//! Message-signalled interrupts of a passed-through function: the guest's messages
//! are kept in shadows (the MSI capability's in [`MsiShadow`], the MSI-X table's in
//! [`MsixTable`]) and never reach the device as written. The caller turns each into
//! the host's message with [`route`]: fixed delivery, edge, to the physical local
//! APIC of a core of the guest's VM, with a vector the hypervisor owns, which it maps
//! back to the guest's vector when it injects.
//!
//! A guest message that is not an interrupt to the local APICs (address bits 31:20
//! not 0xFEE), that asks for SMI, NMI, INIT, start-up or ExtINT delivery (which would
//! reach the host's core), or whose vector is below 32 (the exceptions') is refused ([`RouteError`]):
//! the caller leaves that vector masked on the device.
//!
//! A direct-mode VM (its vCPUs own their cores' local APICs, and read their cores'
//! APIC ids as their own) gets its messages through [`route_direct`] instead: the
//! guest's vector kept, fixed, physical, edge, to the core the guest named, which must
//! be one of its VM's; the device's interrupt then lands in the guest's own IDT with
//! no hypervisor code on the way. A logical destination or one outside the VM is
//! refused too, and so is the APIC's spurious vector 0xFF (on a core the hypervisor
//! holds, its gate does not end an interrupt).

use crate::Width;

/// An MSI message: address and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsiMsg {
    /// The message address.
    pub address: u64,
    /// The message data.
    pub data: u32,
}

/// The guest's MSI capability state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsiShadow {
    /// MSI enable.
    pub enabled: bool,
    /// Message address, low dword.
    pub address_lo: u32,
    /// Message address, high dword (64-bit capable functions).
    pub address_hi: u32,
    /// Message data.
    pub data: u16,
}

impl MsiShadow {
    /// The message, if MSI is enabled.
    pub fn message(&self) -> Option<MsiMsg> {
        self.enabled.then_some(MsiMsg {
            address: (u64::from(self.address_hi) << 32) | u64::from(self.address_lo),
            data: u32::from(self.data),
        })
    }
}

/// A guest message to the local APICs, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApicMsg {
    /// Destination (APIC ID, or a logical destination).
    pub dest: u8,
    /// Logical destination mode.
    pub logical: bool,
    /// Lowest-priority delivery (else fixed).
    pub lowest: bool,
    /// The vector.
    pub vector: u8,
}

/// Why a guest message is not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The address is not the local APICs' (0xFEEx_xxxx, below 4 GiB).
    NotApic,
    /// A delivery mode other than fixed and lowest priority.
    Mode,
    /// A vector below 32 (or, direct mode, the spurious vector 0xFF).
    Vector,
    /// Direct mode: a logical destination (the VM's cores are named by APIC id).
    Logical,
    /// Direct mode: the destination is not the APIC id of one of the VM's cores.
    Foreign,
}

/// Message address bits 31:20 of an interrupt to the local APICs.
pub const APIC_ADDRESS: u64 = 0xfee0_0000;

/// Decodes and checks a guest's message.
pub fn decode(msg: MsiMsg) -> Result<ApicMsg, RouteError> {
    if msg.address & !0xf_fffc != APIC_ADDRESS {
        return Err(RouteError::NotApic);
    }
    let lowest = match (msg.data >> 8) & 7 {
        0 => false,
        1 => true,
        _ => return Err(RouteError::Mode),
    };
    let vector = (msg.data & 0xff) as u8;
    // The exceptions' vectors: below 16 the APIC refuses them, and 16 to 31 would
    // reach the exception gates of a core the hypervisor holds.
    if vector < 32 {
        return Err(RouteError::Vector);
    }
    Ok(ApicMsg {
        dest: ((msg.address >> 12) & 0xff) as u8,
        logical: msg.address & (1 << 2) != 0,
        lowest,
        vector,
    })
}

/// The host's message: fixed delivery, edge, physical destination `host_apic` (an
/// xAPIC ID), vector `host_vector`.
pub const fn host_message(host_apic: u8, host_vector: u8) -> MsiMsg {
    MsiMsg {
        address: APIC_ADDRESS | ((host_apic as u64) << 12),
        data: host_vector as u32,
    }
}

/// Routes a guest message: `target` maps its destination to the xAPIC ID of a core
/// of the guest's VM (`None`: no vCPU of the VM is addressed), `vector` gives the
/// host vector the hypervisor set aside for it.
pub fn route(
    guest: MsiMsg,
    target: impl FnOnce(&ApicMsg) -> Option<u8>,
    host_vector: u8,
) -> Option<MsiMsg> {
    let m = decode(guest).ok()?;
    Some(host_message(target(&m)?, host_vector))
}

/// The spurious vector of every APIC the hypervisor sets up (never a device's).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// Routes a direct-mode guest's message: `cores` pairs, vCPU by vCPU, the APIC id the
/// guest reads as that vCPU's (CPUID, its MADT) with the xAPIC id of the physical core
/// that runs it (under rtvisor the two are the same). The host's message is the
/// guest's vector, fixed, edge, to the physical APIC of the core whose vCPU the guest
/// named; otherwise why not (the caller leaves the vector masked).
pub fn route_direct(guest: MsiMsg, cores: &[(u32, u32)]) -> Result<MsiMsg, RouteError> {
    let m = decode(guest)?;
    if m.vector == SPURIOUS_VECTOR {
        return Err(RouteError::Vector);
    }
    if m.logical {
        return Err(RouteError::Logical);
    }
    let apic = cores
        .iter()
        .find(|&&(named, _)| named == u32::from(m.dest))
        .and_then(|&(_, apic)| u8::try_from(apic).ok())
        .ok_or(RouteError::Foreign)?;
    Ok(host_message(apic, m.vector))
}

/// The most MSI-X entries a guest sees of one function (the table size its
/// capability shows, and what the hypervisor shadows and gives host vectors to).
pub const MSIX_GUEST_ENTRIES: usize = 16;

/// Size of an MSI-X table entry.
pub const MSIX_ENTRY: u64 = 16;
/// Vector control: masked.
pub const MSIX_MASKED: u32 = 1;

/// One MSI-X table entry as the guest wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsixEntry {
    /// Message address, low and high dwords; message data; vector control.
    pub words: [u32; 4],
}

impl MsixEntry {
    /// An entry at reset: all zero but masked.
    pub const RESET: Self = Self {
        words: [0, 0, 0, MSIX_MASKED],
    };

    /// The message, if the entry is unmasked.
    pub fn message(&self) -> Option<MsiMsg> {
        (self.words[3] & MSIX_MASKED == 0).then_some(MsiMsg {
            address: (u64::from(self.words[1]) << 32) | u64::from(self.words[0]),
            data: self.words[2],
        })
    }

    /// The words to write to the device for host message `host` (`None`: masked).
    pub fn host_words(host: Option<MsiMsg>) -> [u32; 4] {
        match host {
            Some(m) => [m.address as u32, (m.address >> 32) as u32, m.data, 0],
            None => [0, 0, 0, MSIX_MASKED],
        }
    }
}

/// The guest's view of an MSI-X table of up to `N` entries (the function's table size
/// from its capability, capped at `N`). Offsets are from the table's start; entries
/// take 32-bit accesses (and 64-bit ones at an 8-byte boundary, as two dwords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsixTable<const N: usize> {
    entries: [MsixEntry; N],
    len: usize,
}

impl<const N: usize> MsixTable<N> {
    /// A table of `len` entries (at most `N`), all masked.
    pub fn new(len: usize) -> Self {
        Self {
            entries: [MsixEntry::RESET; N],
            len: len.min(N),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Option<&MsixEntry> {
        self.entries[..self.len].get(i)
    }

    /// Masks every entry (a reset).
    pub fn reset(&mut self) {
        self.entries = [MsixEntry::RESET; N];
    }

    fn slot(&self, offset: u64, width: Width) -> Option<(usize, usize)> {
        let ok = match width {
            Width::Word => offset.is_multiple_of(4),
            Width::Double => offset.is_multiple_of(8),
            _ => false,
        };
        let i = usize::try_from(offset / MSIX_ENTRY).ok()?;
        (ok && i < self.len).then_some((i, ((offset % MSIX_ENTRY) / 4) as usize))
    }

    /// A guest read; an access outside the table or of another width reads as zero.
    pub fn read(&self, offset: u64, width: Width) -> u64 {
        let Some((i, w)) = self.slot(offset, width) else {
            return 0;
        };
        let words = &self.entries[i].words;
        match width {
            Width::Double => u64::from(words[w]) | (u64::from(words[w + 1]) << 32),
            _ => u64::from(words[w]),
        }
    }

    /// A guest write; returns the entry it changed, to be routed again and written to
    /// the device with [`MsixEntry::host_words`]. Other accesses are dropped.
    pub fn write(&mut self, offset: u64, width: Width, value: u64) -> Option<usize> {
        let (i, w) = self.slot(offset, width)?;
        let words = &mut self.entries[i].words;
        words[w] = value as u32;
        if width == Width::Double {
            words[w + 1] = (value >> 32) as u32;
        }
        Some(i)
    }
}
