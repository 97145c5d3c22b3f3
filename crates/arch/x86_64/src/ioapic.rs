//! The host's I/O APIC (the MADT's first), for the level-triggered INTx lines of
//! passed-through PCI functions: the hypervisor routes a GSI to a device vector
//! ([`irq::DEVICE_BASE`](crate::irq::DEVICE_BASE)), fixed, to one physical APIC,
//! level-triggered and active low (a PCI interrupt line), and masks and unmasks it.
//!
//! A routed GSI's vector masks its pin in the interrupt stub before the local APIC's
//! EOI ([`on_vector`]): the EOI then clears the entry's remote IRR without the line,
//! still asserted by the device, sending again. The hypervisor unmasks the pin when
//! the guest has ended the interrupt ([`set_masked`]); a device still asserting
//! interrupts again.
//!
//! Registers: IOREGSEL at +0x00 selects, IOWIN at +0x10 reads and writes the selected
//! register; register 0x01 is the version (the highest entry in bits 23:16), entry n
//! is 0x10 + 2n (low word) and 0x11 + 2n (high word: the destination in bits 31:24).
//! One lock keeps each select-and-access pair whole; the stub takes it too, which is
//! safe as the hypervisor holds it only with interrupts off.

use crate::devpage::DevicePages;
use crate::irq::{DEVICE_BASE, DEVICE_COUNT};
use core::sync::atomic::{AtomicU8, Ordering};
use rtvisor_addr::Hpa;
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::Width;

/// The most pins the driver keeps entries for.
pub const MAX_PINS: usize = 120;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIR0: u32 = 0x10;

/// Low word of an entry: active low, level-triggered, masked.
const ACTIVE_LOW: u32 = 1 << 13;
const LEVEL: u32 = 1 << 15;
const MASKED: u32 = 1 << 16;

/// Why a GSI cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoApicError {
    /// The MADT names no I/O APIC, or its page could not be mapped.
    Absent,
    /// The GSI is not one of its pins.
    NoSuchPin,
    /// The vector is not a device vector.
    BadVector,
}

/// The mapped I/O APIC and the low words the hypervisor wrote.
struct Chip {
    page: DevicePages,
    gsi_base: u32,
    pins: u32,
    low: [u32; MAX_PINS],
}

impl Chip {
    fn reg(&self, index: u32) -> u32 {
        let base = self.page.base();
        self.page
            .write(base + IOREGSEL, Width::Word, u64::from(index));
        self.page.read(base + IOWIN, Width::Word) as u32
    }

    fn set_reg(&self, index: u32, value: u32) {
        let base = self.page.base();
        self.page
            .write(base + IOREGSEL, Width::Word, u64::from(index));
        self.page.write(base + IOWIN, Width::Word, u64::from(value));
    }

    /// The pin of `gsi`.
    fn pin(&self, gsi: u32) -> Option<usize> {
        let pin = gsi.checked_sub(self.gsi_base).filter(|&p| p < self.pins)?;
        Some(pin as usize)
    }

    fn set_low(&mut self, pin: usize, low: u32) {
        if let Some(l) = self.low.get_mut(pin) {
            *l = low;
            self.set_reg(REG_REDIR0 + 2 * pin as u32, low);
        }
    }
}

static CHIP: Mutex<Option<Chip>> = Mutex::new(None);

/// The pin (plus one) each device vector masks when it arrives; 0: none.
static LEVEL_PIN: [AtomicU8; DEVICE_COUNT] = [const { AtomicU8::new(0) }; DEVICE_COUNT];

/// Maps the I/O APIC at `base` whose pin 0 is GSI `gsi_base`; returns how many pins
/// it has. Its entries are left as the firmware left them until routed.
///
/// # Safety
///
/// The BSP at boot, before any guest runs; `base` is the I/O APIC's register page
/// (the MADT's), which nothing else in the hypervisor maps or touches.
pub unsafe fn init(base: Hpa, gsi_base: u32) -> Result<u32, IoApicError> {
    // SAFETY: the caller's contract: the BSP at boot, and the I/O APIC's registers.
    let page = unsafe { DevicePages::map(base.raw(), 0x20) }.ok_or(IoApicError::Absent)?;
    let mut chip = Chip {
        page,
        gsi_base,
        pins: 0,
        low: [MASKED; MAX_PINS],
    };
    let version = chip.reg(REG_VERSION);
    chip.pins = (((version >> 16) & 0xff) + 1).min(MAX_PINS as u32);
    let pins = chip.pins;
    *CHIP.lock() = Some(chip);
    Ok(pins)
}

/// Whether `gsi` is one of the mapped I/O APIC's pins (what [`route`] needs besides a
/// device vector), so a caller can tell before it takes a vector.
pub fn check(gsi: u32) -> Result<(), IoApicError> {
    let guard = CHIP.lock();
    let chip = guard.as_ref().ok_or(IoApicError::Absent)?;
    chip.pin(gsi).map(|_| ()).ok_or(IoApicError::NoSuchPin)
}

/// Routes `gsi` to `vector` at the physical APIC `apic` (fixed, level-triggered,
/// active low), `masked` or not; from now on `vector` masks the pin when it arrives.
pub fn route(gsi: u32, vector: u8, apic: u8, masked: bool) -> Result<(), IoApicError> {
    let low = u32::from(vector) | ACTIVE_LOW | LEVEL;
    route_entry(gsi, vector, low, u32::from(apic) << 24, masked)
}

/// Routes `gsi` through interrupt remapping table entry `handle` (remappable format,
/// `vtd::ir::ioapic_entry`; the entry says where it goes, its vector must be
/// `vector`), level-triggered and active low, `masked` or not; from now on `vector`
/// masks the pin when it arrives.
pub fn route_remapped(gsi: u32, vector: u8, handle: u16, masked: bool) -> Result<(), IoApicError> {
    let e = crate::vtd::ir::ioapic_entry(handle, vector, false);
    route_entry(gsi, vector, e as u32, (e >> 32) as u32, masked)
}

/// Writes `gsi`'s entry: `low` (unmasked) and `high`, masked while it changes.
fn route_entry(gsi: u32, vector: u8, low: u32, high: u32, masked: bool) -> Result<(), IoApicError> {
    let slot = vector
        .checked_sub(DEVICE_BASE)
        .and_then(|i| LEVEL_PIN.get(usize::from(i)))
        .ok_or(IoApicError::BadVector)?;
    let mut guard = CHIP.lock();
    let chip = guard.as_mut().ok_or(IoApicError::Absent)?;
    let pin = chip.pin(gsi).ok_or(IoApicError::NoSuchPin)?;
    // Masked while the destination changes.
    chip.set_low(pin, low | MASKED);
    chip.set_reg(REG_REDIR0 + 2 * pin as u32 + 1, high);
    slot.store(pin as u8 + 1, Ordering::Release);
    chip.set_low(pin, if masked { low | MASKED } else { low });
    Ok(())
}

/// Masks or unmasks `gsi` (one not routed is left alone).
pub fn set_masked(gsi: u32, masked: bool) {
    let mut guard = CHIP.lock();
    let Some(chip) = guard.as_mut() else { return };
    let Some(pin) = chip.pin(gsi) else { return };
    let Some(&low) = chip.low.get(pin) else {
        return;
    };
    if low & LEVEL == 0 {
        return;
    }
    let low = if masked { low | MASKED } else { low & !MASKED };
    chip.set_low(pin, low);
}

/// Device vector `vector` arrived (the interrupt stub, before the local APIC's EOI):
/// the pin routed to it, if any, is masked.
pub(crate) fn on_vector(vector: u8) {
    let pin = vector
        .checked_sub(DEVICE_BASE)
        .and_then(|i| LEVEL_PIN.get(usize::from(i)))
        .map_or(0, |p| p.load(Ordering::Acquire));
    let Some(pin) = usize::from(pin).checked_sub(1) else {
        return;
    };
    let mut guard = CHIP.lock();
    let Some(chip) = guard.as_mut() else { return };
    if let Some(&low) = chip.low.get(pin) {
        chip.set_low(pin, low | MASKED);
    }
}
