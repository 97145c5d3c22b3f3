//! The VMX I/O bitmaps (A: ports 0-0x7FFF, B: 0x8000-0xFFFF) and MSR bitmap (read
//! and write halves for MSRs 0-0x1FFF and 0xC000_0000-0xC000_1FFF). A set bit exits;
//! every bit starts set, so only what the hypervisor lets through reaches the
//! hardware, and MSRs outside the two ranges always exit.

/// One 4 KiB bitmap page.
#[repr(C, align(4096))]
pub struct Bitmap(pub [u8; 4096]);

impl Bitmap {
    pub const ALL: Bitmap = Bitmap([0xFF; 4096]);

    /// Every bit set again (every port or MSR exits), in place.
    pub fn exit_all(&mut self) {
        self.0.fill(0xFF);
    }
}

/// Byte offsets in the MSR bitmap of the read and write bits of `msr`, and the bit.
fn msr_slot(msr: u32) -> Option<(usize, usize, u8)> {
    let (half, n) = match msr {
        0..=0x1FFF => (0, msr),
        0xC000_0000..=0xC000_1FFF => (0x400, msr - 0xC000_0000),
        _ => return None,
    };
    let byte = half + n as usize / 8;
    Some((byte, byte + 0x800, 1 << (n % 8)))
}

impl Bitmap {
    /// Lets reads and/or writes of `msr` through (this page as the MSR bitmap);
    /// `false` when the bitmap cannot (the MSR always exits).
    pub fn pass_msr(&mut self, msr: u32, read: bool, write: bool) -> bool {
        let Some((r, w, bit)) = msr_slot(msr) else {
            return false;
        };
        for (b, on) in [(r, read), (w, write)] {
            if on {
                self.0[b] &= !bit;
            }
        }
        true
    }

    pub fn msr_exits(&self, msr: u32, write: bool) -> bool {
        msr_slot(msr).is_none_or(|(r, w, bit)| self.0[if write { w } else { r }] & bit != 0)
    }

    /// Lets `port` through (this page as bitmap A for ports below 0x8000, B above).
    pub fn pass_port(&mut self, port: u16) {
        let p = usize::from(port & 0x7FFF);
        self.0[p / 8] &= !(1 << (p % 8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msr_bits() {
        let mut m = Bitmap::ALL;
        assert!(m.pass_msr(0xC000_0082, false, true));
        assert!(m.msr_exits(0xC000_0082, false));
        assert!(!m.msr_exits(0xC000_0082, true));
        // Write half of the high range: 0xC00 + 0x82 / 8.
        assert_eq!(m.0[0xC10], 0xFB);
        assert!(m.pass_msr(0x10, true, false));
        assert_eq!(m.0[2], 0xFE);
        assert!(!m.pass_msr(0xC001_0000, true, true));
        assert!(m.msr_exits(0xC001_0000, false));
        let mut a = Bitmap::ALL;
        a.pass_port(0x3F8);
        assert_eq!(a.0[0x7F], 0xFE);
    }
}
