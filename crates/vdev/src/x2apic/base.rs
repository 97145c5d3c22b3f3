//! IA32_APIC_BASE and the APIC's modes, and which destinations an APIC answers.
//!
//! The modes and their transitions are the SDM's (Vol. 3, "x2APIC state
//! transitions"): EN (bit 11) and EXTD (bit 10) give disabled (0, 0), xAPIC (1, 0)
//! and x2APIC (1, 1); (0, 1) is invalid. A write is #GP when it sets a reserved bit,
//! asks for the invalid state, goes from x2APIC straight to xAPIC or from disabled
//! straight to x2APIC, or moves the page (the model keeps it at [`LAPIC_GPA`]). BSP
//! (bit 8) is read-only. Disabling the APIC puts it back in its reset state; xAPIC to
//! x2APIC keeps the state, with the LDR derived from the id from then on.

use super::{Gp, X2Apic};
use rtvisor_config::contract::x86_64::LAPIC_GPA;

/// IA32_APIC_BASE: BSP.
pub const BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE: x2APIC enable (EXTD).
pub const BASE_EXTD: u64 = 1 << 10;
/// IA32_APIC_BASE: global enable (EN).
pub const BASE_EN: u64 = 1 << 11;
/// The page address field (bits 51:12; the guest's physical width is 32 bits).
const BASE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// How the APIC is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Hardware-disabled: neither interface answers, no interrupt is accepted; the
    /// APIC is in its reset state (software-disabled too). IA32_TSC_DEADLINE stays
    /// (reads 0, writes ignored: the timer is not in TSC-deadline mode).
    Disabled,
    /// The MMIO page at [`LAPIC_GPA`].
    XApic,
    /// The MSRs 0x800-0x8FF.
    X2Apic,
}

impl Mode {
    /// The mode EN and EXTD of `base` select, if valid.
    const fn of(base: u64) -> Option<Self> {
        match (base & BASE_EN != 0, base & BASE_EXTD != 0) {
            (false, false) => Some(Self::Disabled),
            (true, false) => Some(Self::XApic),
            (true, true) => Some(Self::X2Apic),
            (false, true) => None,
        }
    }

    const fn bits(self) -> u64 {
        match self {
            Self::Disabled => 0,
            Self::XApic => BASE_EN,
            Self::X2Apic => BASE_EN | BASE_EXTD,
        }
    }
}

impl X2Apic {
    /// The mode the APIC is in.
    pub const fn apic_mode(&self) -> Mode {
        self.mode
    }

    /// IA32_APIC_BASE as a read returns it; `bsp` for the boot vCPU.
    pub const fn base(&self, bsp: bool) -> u64 {
        LAPIC_GPA | self.mode.bits() | if bsp { BASE_BSP } else { 0 }
    }

    /// A WRMSR of IA32_APIC_BASE (see the module docs).
    pub fn set_base(&mut self, value: u64) -> Result<(), Gp> {
        let known = BASE_ADDR | BASE_EN | BASE_EXTD | BASE_BSP;
        if value & !known != 0 || value & BASE_ADDR != LAPIC_GPA {
            return Err(Gp);
        }
        let new = Mode::of(value).ok_or(Gp)?;
        match (self.mode, new) {
            (Mode::X2Apic, Mode::XApic) | (Mode::Disabled, Mode::X2Apic) => Err(Gp),
            (old, new) if old == new => Ok(()),
            (_, Mode::Disabled) => {
                *self = Self::in_mode(self.id, Mode::Disabled);
                Ok(())
            }
            (_, new) => {
                self.mode = new;
                Ok(())
            }
        }
    }

    /// Whether the APIC is a target of a message to `dest` in `logical` or physical
    /// destination mode, read in the APIC's own mode:
    /// - x2APIC: physical, the 32-bit id (0xFFFF_FFFF: every APIC); logical, cluster
    ///   `dest[31:16]` and a bit of `dest[15:0]` matching the LDR's (0xFFFF_FFFF:
    ///   every APIC).
    /// - xAPIC (only `dest[7:0]` counts): physical, the 8-bit id (0xFF: every APIC);
    ///   logical flat model (DFR 0xF), a common bit of `dest` and LDR[31:24];
    ///   cluster model (DFR 0x0), the cluster `dest[7:4]` (0xF: every cluster) and a
    ///   common bit of `dest[3:0]` and LDR[27:24].
    /// - disabled: never.
    pub const fn is_target(&self, logical: bool, dest: u32) -> bool {
        match self.mode {
            Mode::Disabled => false,
            Mode::X2Apic if dest == u32::MAX => true,
            Mode::X2Apic if logical => {
                let ldr = self.ldr();
                ldr >> 16 == dest >> 16 && ldr & dest & 0xffff != 0
            }
            Mode::X2Apic => dest == self.id,
            Mode::XApic => {
                let d = dest & 0xff;
                if !logical {
                    return d == 0xff || d == self.id & 0xff;
                }
                let ldr = self.ldr_x >> 24;
                if self.dfr >> 28 == 0xf {
                    return ldr & d != 0;
                }
                let cluster = d >> 4;
                (cluster == 0xf || cluster == ldr >> 4) && ldr & d & 0xf != 0
            }
        }
    }
}
