//! The physical PL011 the hypervisor owns: polled transmit and receive.

use core::sync::atomic::{AtomicU64, Ordering};

const DR: u64 = 0x00;
const FR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_RXFE: u32 = 1 << 4;
const IMSC: u64 = 0x38;
const IMSC_RXIM: u32 = 1 << 4;
const IMSC_RTIM: u32 = 1 << 6;

/// Default address on QEMU `virt`, used only until the device tree has been read.
pub const FALLBACK_BASE: u64 = 0x0900_0000;

static BASE: AtomicU64 = AtomicU64::new(FALLBACK_BASE);

/// Uses the UART at `base` from now on.
///
/// # Safety
/// `base` must be the physical address of a PL011 that the hypervisor owns and that is
/// mapped (or the MMU is off).
pub unsafe fn set_base(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

fn reg(off: u64) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) + off) as *mut u32
}

/// Sends one byte, waiting while the transmit FIFO is full.
pub fn put(byte: u8) {
    // SAFETY: BASE is a PL011 the hypervisor owns (set_base contract); volatile MMIO.
    unsafe {
        while reg(FR).read_volatile() & FR_TXFF != 0 {}
        reg(DR).write_volatile(byte as u32);
    }
}

/// A received byte, if any.
pub fn get() -> Option<u8> {
    // SAFETY: as in `put`.
    unsafe {
        if reg(FR).read_volatile() & FR_RXFE != 0 {
            None
        } else {
            Some(reg(DR).read_volatile() as u8)
        }
    }
}

/// Raises the UART's interrupt when input arrives (receive and receive-timeout).
pub fn enable_rx_interrupt() {
    // SAFETY: as in `put`; IMSC only masks the UART's own interrupt outputs.
    unsafe {
        let v = reg(IMSC).read_volatile();
        reg(IMSC).write_volatile(v | IMSC_RXIM | IMSC_RTIM);
    }
}

/// The physical console, as the seam's [`Console`].
///
/// [`Console`]: rtvisor_core::seam::Console
#[derive(Debug, Clone, Copy)]
pub struct Pl011Console;

impl rtvisor_core::seam::Console for Pl011Console {
    fn put(byte: u8) {
        put(byte);
    }
    fn get() -> Option<u8> {
        get()
    }
}
