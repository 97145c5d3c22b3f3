//! The legacy-mode translation structures of VT-d (Intel VT-d specification,
//! chapter 9), as plain code tested on the host: the root table (one entry a bus,
//! pointing at its context table) and the context tables (one entry a device and
//! function, naming the second-level page table that translates its DMA and the
//! domain it belongs to).
//!
//! The second-level table is the VM's own stage-2 table (NPT or EPT). Both formats
//! read as VT-d second-level entries: bit 0 is read and bit 1 write access on
//! all three, bit 7 a large page, bit 63 (NPT's no-execute) is ignored, and neither
//! sets bit 11 (VT-d's snoop bit, reserved without snoop control) or an address bit
//! above 48. So a device translates exactly as its VM's vCPUs do: into the VM's own
//! RAM and nowhere else.

/// Root and context entries: present.
const PRESENT: u64 = 1;
/// The address bits of a table pointer.
const ADDR: u64 = 0x000F_FFFF_FFFF_F000;

/// The address widths a unit supports (CAP.SAGAW, bits 12:8) that the hypervisor
/// uses: 4-level 48-bit (bit 2) with the stage-2 root itself, else 3-level 39-bit
/// (bit 1) with the table under the root's first entry (the VM's RAM all below
/// 512 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Levels {
    Four,
    Three,
}

impl Levels {
    /// From the capability register; `None` when the unit has neither.
    pub const fn of_cap(cap: u64) -> Option<Levels> {
        let sagaw = (cap >> 8) & 0x1f;
        if sagaw & 0b100 != 0 {
            Some(Levels::Four)
        } else if sagaw & 0b10 != 0 {
            Some(Levels::Three)
        } else {
            None
        }
    }

    /// The context entry's AW field.
    const fn aw(self) -> u64 {
        match self {
            Levels::Four => 2,
            Levels::Three => 1,
        }
    }
}

/// A root entry for the context table at `ctx`.
pub const fn root_entry(ctx: u64) -> [u64; 2] {
    [ctx & ADDR | PRESENT, 0]
}

/// A context entry: untranslated requests (TT 0) through second-level table
/// `slpt` of `levels`, domain `did`.
pub const fn context_entry(slpt: u64, levels: Levels, did: u16) -> [u64; 2] {
    [slpt & ADDR | PRESENT, levels.aw() | (did as u64) << 8]
}

/// Index of device `dev`, function `func` in its bus's context table.
pub const fn devfn(dev: u8, func: u8) -> usize {
    ((dev as usize & 0x1f) << 3) | (func as usize & 7)
}

/// The second-level table a context entry names for a stage-2 root whose first
/// entry is `first` (read from the root table): the root itself with four levels;
/// with three, the table the first entry points at, when it is present and every
/// other entry of the root is empty (`others_empty`), else `None`.
pub const fn second_level(root: u64, first: u64, others_empty: bool, l: Levels) -> Option<u64> {
    match l {
        Levels::Four => Some(root),
        Levels::Three if first & 1 != 0 && others_empty => Some(first & ADDR),
        Levels::Three => None,
    }
}

/// GCMD from GSTS with `bit` set or cleared: GSTS without its one-shot status
/// bits (root table pointer, fault log, write buffer flush, interrupt remapping
/// table pointer: 30, 29, 27, 24), as the specification says to compose a command.
pub const fn command(gsts: u32, bit: u32, on: bool) -> u32 {
    let keep = gsts & 0x96FF_FFFF;
    if on {
        keep | bit
    } else {
        keep & !bit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        assert_eq!(root_entry(0x1234_5000), [0x1234_5001, 0]);
        assert_eq!(
            context_entry(0x8000_0000, Levels::Four, 3),
            [0x8000_0001, 2 | 3 << 8]
        );
        assert_eq!(
            context_entry(0x8000_0fff, Levels::Three, 0x1ff),
            [0x8000_0001, 1 | 0x1ff << 8]
        );
        assert_eq!(devfn(3, 0), 24);
        assert_eq!(devfn(0x1f, 7), 255);
    }

    #[test]
    fn widths_and_second_level_roots() {
        // QEMU's intel-iommu: aw-bits=48 offers both (SAGAW 0b110), 39 only three.
        assert_eq!(Levels::of_cap(0b110 << 8), Some(Levels::Four));
        assert_eq!(Levels::of_cap(0b010 << 8), Some(Levels::Three));
        assert_eq!(Levels::of_cap(0b001 << 8), None);
        assert_eq!(
            second_level(0x1000, 0x2007, true, Levels::Four),
            Some(0x1000)
        );
        assert_eq!(
            second_level(0x1000, 0x2007, true, Levels::Three),
            Some(0x2000)
        );
        assert_eq!(second_level(0x1000, 0x2007, false, Levels::Three), None);
        assert_eq!(second_level(0x1000, 0, true, Levels::Three), None);
    }

    #[test]
    fn commands_keep_the_enables_and_drop_the_one_shot_bits() {
        // TE on, root pointer status set: setting SRTP keeps TE, not the old RTPS.
        let gsts = 1 << 31 | 1 << 30 | 1 << 27;
        assert_eq!(command(gsts, 1 << 30, true), 1 << 31 | 1 << 30);
        assert_eq!(command(gsts, 1 << 31, false), 0);
        assert_eq!(command(0, 1 << 31, true), 1 << 31);
    }
}
