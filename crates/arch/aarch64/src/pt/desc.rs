//! Leaf descriptor attributes for the two translation regimes the hypervisor builds.

/// Leaf attribute bits (everything but the output address and the type bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs(pub u64);

const AF: u64 = 1 << 10;
const SH_INNER: u64 = 3 << 8;
const XN: u64 = 1 << 54;

/// EL2 stage-1 attributes. MAIR_EL2 index 0 = Normal write-back, index 1 = Device-nGnRE.
#[derive(Debug)]
pub struct Stage1;

impl Stage1 {
    /// MAIR_EL2 value matching the attribute indices used here.
    pub const MAIR: u64 = 0xff | (0x04 << 8);
    const NORMAL: u64 = 0 << 2;
    const DEVICE: u64 = 1 << 2;
    // AP[2] = read-only; AP[1] is RES1 in the EL2 regime.
    const AP_RW: u64 = 1 << 6;
    const AP_RO: u64 = 3 << 6;

    /// Code: read-only, executable.
    pub const fn text() -> Attrs {
        Attrs(Self::NORMAL | Self::AP_RO | SH_INNER | AF)
    }
    /// Read-only data.
    pub const fn rodata() -> Attrs {
        Attrs(Self::NORMAL | Self::AP_RO | SH_INNER | AF | XN)
    }
    /// Read-write data, never executable.
    pub const fn data() -> Attrs {
        Attrs(Self::NORMAL | Self::AP_RW | SH_INNER | AF | XN)
    }
    /// Device registers.
    pub const fn device() -> Attrs {
        Attrs(Self::DEVICE | Self::AP_RW | AF | XN)
    }
}

/// Stage-2 attributes (MemAttr field, no MAIR indirection).
#[derive(Debug)]
pub struct Stage2;

impl Stage2 {
    const MEM_NORMAL_WB: u64 = 0xf << 2;
    const MEM_DEVICE_NGNRE: u64 = 0x1 << 2;
    const S2AP_RO: u64 = 1 << 6;
    const S2AP_RW: u64 = 3 << 6;

    /// Guest RAM: read, write, execute.
    pub const fn ram() -> Attrs {
        Attrs(Self::MEM_NORMAL_WB | Self::S2AP_RW | SH_INNER | AF)
    }
    /// Shared memory (data only: never executable, so a peer cannot run code another
    /// peer wrote), read-write or read-only.
    pub const fn shared(writable: bool) -> Attrs {
        let ap = if writable {
            Self::S2AP_RW
        } else {
            Self::S2AP_RO
        };
        Attrs(Self::MEM_NORMAL_WB | ap | SH_INNER | AF | XN)
    }
    /// A passed-through device: read-write, never executable.
    pub const fn device() -> Attrs {
        Attrs(Self::MEM_DEVICE_NGNRE | Self::S2AP_RW | AF | XN)
    }
}
