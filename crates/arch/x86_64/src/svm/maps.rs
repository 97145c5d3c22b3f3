//! The SVM permission maps (AMD APM volume 2, section 15.10 and 15.11): the I/O
//! permission map (one bit per port, 12 KiB) and the MSR permission map (a read bit
//! and a write bit per MSR of three ranges, 8 KiB). A set bit intercepts. Both start
//! fully set, so only what the hypervisor lets through reaches the hardware; MSRs
//! outside the three ranges are always intercepted.

/// The I/O permission map: three 4 KiB pages, physically contiguous.
#[repr(C, align(4096))]
pub struct Iopm(pub [u8; 3 * 4096]);

/// The MSR permission map: two 4 KiB pages, physically contiguous.
#[repr(C, align(4096))]
pub struct Msrpm(pub [u8; 2 * 4096]);

impl Iopm {
    /// Every port intercepted.
    pub const ALL: Iopm = Iopm([0xFF; 3 * 4096]);

    /// Intercepts every port again, in place.
    pub fn intercept_all(&mut self) {
        self.0.fill(0xFF);
    }

    /// Lets the guest reach `port` (an access of `width` bytes touches the ports
    /// from `port` on, and the CPU checks each of their bits).
    pub fn pass(&mut self, port: u16) {
        let p = usize::from(port);
        self.0[p / 8] &= !(1 << (p % 8));
    }

    pub fn intercepts(&self, port: u16) -> bool {
        let p = usize::from(port);
        self.0[p / 8] & (1 << (p % 8)) != 0
    }
}

/// The bit index of `msr`'s read bit in the MSR permission map (its write bit
/// follows), or `None` for MSRs the map does not cover.
pub fn msrpm_bit(msr: u32) -> Option<usize> {
    let (base, vector) = match msr {
        0..=0x1FFF => (0, 0),
        0xC000_0000..=0xC000_1FFF => (0xC000_0000, 0x800),
        0xC001_0000..=0xC001_1FFF => (0xC001_0000, 0x1000),
        _ => return None,
    };
    Some(vector * 8 + (msr - base) as usize * 2)
}

impl Msrpm {
    /// Every MSR intercepted.
    pub const ALL: Msrpm = Msrpm([0xFF; 2 * 4096]);

    /// Intercepts every MSR again, in place.
    pub fn intercept_all(&mut self) {
        self.0.fill(0xFF);
    }

    /// Lets reads and/or writes of `msr` through; `false` when the map cannot (the
    /// MSR is outside its ranges and always exits).
    pub fn pass(&mut self, msr: u32, read: bool, write: bool) -> bool {
        let Some(bit) = msrpm_bit(msr) else {
            return false;
        };
        for (b, on) in [(bit, read), (bit + 1, write)] {
            if on {
                self.0[b / 8] &= !(1 << (b % 8));
            }
        }
        true
    }

    /// Whether a read (`write` false) or write of `msr` exits.
    pub fn intercepts(&self, msr: u32, write: bool) -> bool {
        msrpm_bit(msr).is_none_or(|b| {
            let b = b + usize::from(write);
            self.0[b / 8] & (1 << (b % 8)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msr_bits_follow_the_three_ranges() {
        assert_eq!(msrpm_bit(0), Some(0));
        assert_eq!(msrpm_bit(0x1FFF), Some(0x3FFE));
        assert_eq!(msrpm_bit(0xC000_0080), Some(0x800 * 8 + 0x100));
        assert_eq!(msrpm_bit(0xC001_0117), Some(0x1000 * 8 + 0x22E));
        assert_eq!(msrpm_bit(0x2000), None);
        assert_eq!(msrpm_bit(0xC001_DEAD), None);
    }

    #[test]
    fn pass_one_direction() {
        let mut m = Msrpm::ALL;
        assert!(m.pass(0xC000_0100, true, false));
        assert!(!m.intercepts(0xC000_0100, false));
        assert!(m.intercepts(0xC000_0100, true));
        assert!(m.intercepts(0xC000_0101, false));
        assert!(m.intercepts(0xC000_00FF, true));
        assert!(!m.pass(0x4000_0000, true, true));
        assert!(m.intercepts(0x4000_0000, false));
        // Byte 0x820: bits of 0xC000_0100..0xC000_0103; only the read bit went.
        assert_eq!(m.0[0x800 + 0x40], 0xFE);

        let mut io = Iopm::ALL;
        io.pass(0x3F9);
        assert!(!io.intercepts(0x3F9));
        assert!(io.intercepts(0x3F8) && io.intercepts(0x3FA));
        assert_eq!(io.0[0x7F], 0xFD);
    }
}
