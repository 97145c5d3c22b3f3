//! The last-level cache as the CPU's cache ID registers describe it: the outermost
//! data or unified level of CLIDR_EL1, its geometry from CCSIDR_EL1 (both formats,
//! FEAT_CCIDX or not). Boot reports it and checks the scenario's cache colors
//! against it.

/// One cache level's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Llc {
    /// Level, 1-based (2 for an L2).
    pub level: u32,
    /// Sets.
    pub sets: u32,
    /// Ways.
    pub ways: u32,
    /// Line size in bytes.
    pub line: u32,
}

impl Llc {
    /// Total size in bytes.
    pub const fn size(&self) -> u64 {
        self.sets as u64 * self.ways as u64 * self.line as u64
    }

    /// Colors of 4 KiB pages: one way's size / 4 KiB (at least 1).
    pub const fn colors(&self) -> u64 {
        let way = self.sets as u64 * self.line as u64;
        if way < 4096 {
            1
        } else {
            way / 4096
        }
    }
}

/// The outermost data or unified level in `clidr` (0-based), if any.
pub const fn last_level(clidr: u64) -> Option<u32> {
    let mut level = 0;
    let mut last = None;
    while level < 7 {
        let ctype = (clidr >> (3 * level)) & 7;
        if ctype == 0 {
            break;
        }
        if ctype >= 2 {
            last = Some(level);
        }
        level += 1;
    }
    last
}

/// Decodes CCSIDR_EL1 of 0-based `level` (`ccidx`: ID_AA64MMFR2_EL1.CCIDX is set).
pub const fn decode(level: u32, ccsidr: u64, ccidx: bool) -> Llc {
    let (ways, sets) = if ccidx {
        ((ccsidr >> 3) & 0x1f_ffff, (ccsidr >> 32) & 0xff_ffff)
    } else {
        ((ccsidr >> 3) & 0x3ff, (ccsidr >> 13) & 0x7fff)
    };
    Llc {
        level: level + 1,
        sets: sets as u32 + 1,
        ways: ways as u32 + 1,
        line: 1 << ((ccsidr & 7) + 4),
    }
}

/// This CPU's last-level cache, if CLIDR_EL1 names one.
#[cfg(target_arch = "aarch64")]
pub fn read() -> Option<Llc> {
    let clidr = read_sysreg!(clidr_el1);
    let ccidx = (read_sysreg!(id_aa64mmfr2_el1) >> 20) & 0xf != 0;
    let level = last_level(clidr)?;
    let ccsidr: u64;
    // SAFETY: CSSELR_EL1 only selects which cache CCSIDR_EL1 describes; the boot CPU
    // reads it here before any other user (none reads it after).
    unsafe {
        core::arch::asm!("msr csselr_el1, {l}", "isb", "mrs {c}, ccsidr_el1",
            l = in(reg) u64::from(level) << 1, c = out(reg) ccsidr,
            options(nomem, nostack, preserves_flags));
    }
    Some(decode(level, ccsidr, ccidx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_cortex_caches_decode() {
        // Cortex-A57 (QEMU's -cpu max in 7.2) and Cortex-A72: CLIDR 0x0a200023 (L1
        // I+D, L2 unified), L2 CCSIDR 0x70ffe07a and 0x707fe07a.
        assert_eq!(last_level(0x0a20_0023), Some(1));
        let a57 = decode(1, 0x70ff_e07a, false);
        assert_eq!((a57.level, a57.sets, a57.ways, a57.line), (2, 2048, 16, 64));
        assert_eq!((a57.size(), a57.colors()), (2 << 20, 32));
        let a72 = decode(1, 0x707f_e07a, false);
        assert_eq!((a72.size(), a72.colors()), (1 << 20, 16));
        assert_eq!(last_level(0), None);
    }
}
