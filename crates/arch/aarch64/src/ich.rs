//! The GICv3 virtual CPU interface control registers (ICH_*_EL2): list registers and
//! the hypervisor control register. The guest acknowledges and completes interrupts
//! through its ICV_* registers without exits; the hypervisor only fills and reads back
//! list registers.

pub use crate::lr::{decode, encode};
use crate::lr::{LR_GROUP1, LR_HW};
use crate::sysreg::isb;
use rtvisor_vdev::vgic::LrState;

/// ICH_HCR_EL2.En: the virtual CPU interface is enabled.
pub const HCR_EN: u64 = 1 << 0;
/// ICH_HCR_EL2.UIE: maintenance interrupt when at most one list register is valid.
pub const HCR_UIE: u64 = 1 << 1;
/// ICH_HCR_EL2.TALL1: EL1 accesses to the Group-1 CPU interface registers (ICC_IAR1,
/// EOIR1, HPPIR1, BPR1, AP1R<n>, IGRPEN1, and their ICV_ forms) trap to EL2. Set on the
/// cores of a direct-mode guest that is not trusted with the physical CPU interface.
pub const HCR_TALL1: u64 = 1 << 12;

/// Number of implemented list registers (ICH_VTR_EL2.ListRegs + 1).
pub fn lr_count() -> usize {
    ((read_sysreg!(s3_4_c12_c11_1) & 0x1f) + 1) as usize
}

/// Writes ICH_HCR_EL2.
pub fn set_hcr(v: u64) {
    write_sysreg!(s3_4_c12_c11_0, v);
    isb();
}

/// Writes ICH_VMCR_EL2 (the guest's virtual CPU interface control state).
pub fn set_vmcr(v: u64) {
    write_sysreg!(s3_4_c12_c11_7, v);
}

macro_rules! lr_access {
    ($($n:literal => $reg:tt),* $(,)?) => {
        /// Reads list register `n` (0 when `n` is not implemented).
        pub fn read_lr(n: usize) -> u64 {
            match n {
                $($n => read_sysreg!($reg),)*
                _ => 0,
            }
        }
        /// Writes list register `n` (ignored when `n` is not implemented).
        pub fn write_lr(n: usize, v: u64) {
            match n {
                $($n => write_sysreg!($reg, v),)*
                _ => {}
            }
        }
    };
}

lr_access!(
    0 => s3_4_c12_c12_0, 1 => s3_4_c12_c12_1, 2 => s3_4_c12_c12_2, 3 => s3_4_c12_c12_3,
    4 => s3_4_c12_c12_4, 5 => s3_4_c12_c12_5, 6 => s3_4_c12_c12_6, 7 => s3_4_c12_c12_7,
    8 => s3_4_c12_c13_0, 9 => s3_4_c12_c13_1, 10 => s3_4_c12_c13_2, 11 => s3_4_c12_c13_3,
    12 => s3_4_c12_c13_4, 13 => s3_4_c12_c13_5, 14 => s3_4_c12_c13_6, 15 => s3_4_c12_c13_7,
);

/// ICH_ELRSR_EL2: bit `n` set when list register `n` holds no interrupt (Invalid,
/// and no end-of-interrupt maintenance asked).
pub fn empty_lrs() -> u64 {
    read_sysreg!(s3_4_c12_c11_5) & 0xffff
}

/// Loads a HW-linked Group-1 interrupt straight into a free list register (the fast
/// path for a forwarded timer interrupt). Returns `false` when every list register is
/// in use.
pub fn inject_hw(vintid: u32, pintid: u32, priority: u8) -> bool {
    let empty = empty_lrs();
    if empty == 0 {
        return false;
    }
    let lr = 1u64 << 62 | LR_HW | (u64::from(pintid) & 0x1fff) << 32 | LR_GROUP1;
    write_lr(
        empty.trailing_zeros() as usize,
        lr | u64::from(priority) << 48 | u64::from(vintid),
    );
    true
}

/// Whether a list register of this CPU holds virtual `vintid` active (Active or
/// PendingActive): the guest acknowledged it and has not deactivated it yet.
pub fn holds_active(vintid: u32) -> bool {
    (0..lr_count()).any(|n| {
        let lr = decode(read_lr(n));
        lr.intid == vintid && matches!(lr.state, LrState::Active | LrState::PendingActive)
    })
}

/// Clears every list register and the active-priority registers (a guest stopped in
/// the middle of a handler must not leave its running priority behind), disables the
/// interface's maintenance requests and sets ICH_HCR_EL2 to `hcr` ([`HCR_EN`] for a
/// virtual-mode guest; 0 or [`HCR_TALL1`] for a direct-mode one).
pub fn reset(hcr: u64) {
    for n in 0..lr_count() {
        write_lr(n, 0);
    }
    write_sysreg!(s3_4_c12_c8_0, 0); // ICH_AP0R0_EL2
    write_sysreg!(s3_4_c12_c9_0, 0); // ICH_AP1R0_EL2
    set_vmcr(0);
    set_hcr(hcr);
}
