//! The UART model behind a VM's console: the PL011 (aarch64, by MMIO) or the 16550
//! (x86_64, COM1 by port I/O). Which one a VM has follows its machine's device table
//! ([`UartModel::of`]); the console around it (the `[vm] ` lines, input, the live
//! partial line) is the same for both.
//!
//! The 16550 is built in with the `uart16550` feature (on by default; the aarch64
//! hypervisor leaves it out, its machine has no 16550). Without it the variant holds
//! a type with no values, so its arms cost nothing, and a console made for a 16550
//! fails to compile (the consoles are made in a constant).

use rtvisor_config::contract::{DeviceKind, EmulatedDevice};
use rtvisor_vdev::pl011::Pl011;
use rtvisor_vdev::{MmioError, Width};

/// What the 16550 variant holds: the model, or without the `uart16550` feature a type
/// with no values.
#[cfg(feature = "uart16550")]
pub type Ns16550Model = rtvisor_vdev::uart16550::Uart16550;
/// What the 16550 variant holds: the model, or without the `uart16550` feature a type
/// with no values.
#[cfg(not(feature = "uart16550"))]
pub type Ns16550Model = core::convert::Infallible;

/// Which UART a console emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartModel {
    /// An Arm PL011 ([`DeviceKind::Pl011`]).
    Pl011,
    /// A 16550A ([`DeviceKind::Uart16550`]).
    Ns16550,
}

impl UartModel {
    /// The model of the console UART in `devices` (a machine's emulated devices); a
    /// PL011 when the table has none.
    pub const fn of(devices: &[EmulatedDevice]) -> Self {
        let mut i = 0;
        while i < devices.len() {
            match devices[i].kind {
                DeviceKind::Uart16550 => return Self::Ns16550,
                DeviceKind::Pl011 => return Self::Pl011,
                _ => {}
            }
            i += 1;
        }
        Self::Pl011
    }

    /// The device kind whose region (or ports) this model answers.
    pub const fn kind(self) -> DeviceKind {
        match self {
            Self::Pl011 => DeviceKind::Pl011,
            Self::Ns16550 => DeviceKind::Uart16550,
        }
    }
}

/// A console's UART: one of the models, with one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VUart {
    /// An emulated PL011.
    Pl011(Pl011),
    /// An emulated 16550A.
    Ns16550(Ns16550Model),
}

impl VUart {
    /// A UART of `model` in reset state.
    #[cfg_attr(not(feature = "uart16550"), allow(unreachable_code))]
    pub const fn new(model: UartModel) -> Self {
        match model {
            UartModel::Pl011 => Self::Pl011(Pl011::new()),
            UartModel::Ns16550 => Self::Ns16550(ns::new()),
        }
    }

    /// A UART of `model` whose VM was never loaded: all zero where the model allows
    /// it, so that a static table of them costs no image bytes; [`VUart::reset`] at
    /// the VM's load gives it the reset values.
    #[cfg_attr(not(feature = "uart16550"), allow(unreachable_code))]
    pub const fn unloaded(model: UartModel) -> Self {
        match model {
            UartModel::Pl011 => Self::Pl011(Pl011::unloaded()),
            UartModel::Ns16550 => Self::Ns16550(ns::new()),
        }
    }

    /// Its model.
    pub const fn model(&self) -> UartModel {
        match self {
            Self::Pl011(_) => UartModel::Pl011,
            Self::Ns16550(_) => UartModel::Ns16550,
        }
    }

    /// Back to reset state (drops pending input).
    pub fn reset(&mut self) {
        match self {
            Self::Pl011(u) => u.reset(),
            Self::Ns16550(u) => ns::reset(u),
        }
    }

    /// A guest read of `width` at `off` from its base (a 16550 port access wider
    /// than a byte reads consecutive registers, as a PC's bus does).
    pub fn read(&mut self, off: u64, width: Width) -> Result<u64, MmioError> {
        match self {
            Self::Pl011(u) => u.read(off, width).map(u64::from),
            Self::Ns16550(u) => ns::read(u, off, width),
        }
    }

    /// A guest write of `value` (`width` wide) at `off`; a transmitted byte goes to
    /// `tx`.
    pub fn write(
        &mut self,
        off: u64,
        width: Width,
        value: u64,
        tx: &mut dyn FnMut(u8),
    ) -> Result<(), MmioError> {
        match self {
            Self::Pl011(u) => u.write(off, width, value as u32, tx),
            Self::Ns16550(u) => ns::write(u, off, width, value, tx),
        }
    }

    /// Offers one received byte; `false` (nothing changes) when the receiver has no
    /// room.
    pub fn receive(&mut self, byte: u8) -> bool {
        match self {
            Self::Pl011(u) => u.receive(byte),
            Self::Ns16550(u) => ns::receive(u, byte),
        }
    }

    /// The level of its interrupt line.
    pub fn irq_level(&self) -> bool {
        match self {
            Self::Pl011(u) => u.irq_level(),
            Self::Ns16550(u) => ns::irq_level(u),
        }
    }
}

/// The 16550's side of [`VUart`].
#[cfg(feature = "uart16550")]
mod ns {
    use super::Ns16550Model as U;
    use rtvisor_vdev::{MmioError, Width};

    pub const fn new() -> U {
        U::new()
    }
    pub fn reset(u: &mut U) {
        u.reset();
    }
    pub fn read(u: &mut U, off: u64, width: Width) -> Result<u64, MmioError> {
        u.read_wide(off, width)
    }
    pub fn write(
        u: &mut U,
        off: u64,
        width: Width,
        value: u64,
        tx: &mut dyn FnMut(u8),
    ) -> Result<(), MmioError> {
        u.write_wide(off, width, value, tx)
    }
    /// A full 16550 would take the byte as an overrun: it is not offered.
    pub fn receive(u: &mut U, byte: u8) -> bool {
        u.rx_space() > 0 && u.receive(byte)
    }
    pub fn irq_level(u: &U) -> bool {
        u.irq_level()
    }
}

/// Without the 16550: nothing to do, there is no such value.
#[cfg(not(feature = "uart16550"))]
mod ns {
    use super::Ns16550Model as U;
    use rtvisor_vdev::{MmioError, Width};

    pub const fn new() -> U {
        panic!("this build has no 16550 model: enable rtvisor-core's `uart16550` feature")
    }
    pub fn reset(u: &mut U) {
        match *u {}
    }
    pub fn read(u: &mut U, _: u64, _: Width) -> Result<u64, MmioError> {
        match *u {}
    }
    pub fn write(
        u: &mut U,
        _: u64,
        _: Width,
        _: u64,
        _: &mut dyn FnMut(u8),
    ) -> Result<(), MmioError> {
        match *u {}
    }
    pub fn receive(u: &mut U, _: u8) -> bool {
        match *u {}
    }
    pub fn irq_level(u: &U) -> bool {
        match *u {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtvisor_config::contract::{aarch64, x86_64};
    use rtvisor_vdev::uart16550::{ier, lsr, reg};
    use std::vec::Vec;

    #[test]
    fn each_machine_has_its_console_model() {
        assert_eq!(UartModel::of(&aarch64::EMULATED), UartModel::Pl011);
        assert_eq!(UartModel::of(&x86_64::EMULATED), UartModel::Ns16550);
        assert_eq!(UartModel::of(&[]), UartModel::Pl011);
        assert_eq!(VUart::new(UartModel::Ns16550).model(), UartModel::Ns16550);
        assert_eq!(UartModel::Ns16550.kind(), DeviceKind::Uart16550);
    }

    #[test]
    fn a_full_16550_does_not_take_an_overrun_from_the_input_queue() {
        let mut u = VUart::new(UartModel::Ns16550);
        // FIFOs off: one holding register.
        assert!(u.receive(b'a'));
        assert!(!u.receive(b'b'));
        let lsr = u.read(reg::LSR, Width::Byte).unwrap();
        assert_eq!(lsr & u64::from(lsr::OE), 0, "no overrun: {lsr:#x}");
        assert_eq!(u.read(reg::RBR_THR, Width::Byte), Ok(u64::from(b'a')));
    }

    #[test]
    fn a_16550_port_word_write_sends_its_bytes_in_order() {
        let mut u = VUart::new(UartModel::Ns16550);
        let mut out = Vec::new();
        u.write(reg::RBR_THR, Width::Byte, u64::from(b'h'), &mut |b| {
            out.push(b)
        })
        .unwrap();
        // IER = ERBFI through a 16-bit write at 0 would also send a byte: the low
        // byte goes to THR, the high one to IER.
        u.write(reg::RBR_THR, Width::Half, 0x0169, &mut |b| out.push(b))
            .unwrap();
        assert_eq!(out, b"hi");
        assert_eq!(u.read(reg::IER, Width::Byte), Ok(u64::from(ier::ERBFI)));
    }
}
