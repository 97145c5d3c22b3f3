//! The exception entry's vector kinds. (The syndrome registers are read through
//! `crate::vcpu::HwEl1`.)

/// Vector offsets grouped as the assembly numbers them: `kind / 4` is the source
/// (0 current EL SP0, 1 current EL SPx, 2 lower AArch64, 3 lower AArch32), `kind % 4`
/// the type (0 sync, 1 IRQ, 2 FIQ, 3 SError).
pub fn from_guest(kind: u64) -> bool {
    kind >= 8
}

/// Human name of a vector kind, for fatal reports.
pub fn kind_name(kind: u64) -> &'static str {
    const NAMES: [&str; 4] = ["synchronous", "irq", "fiq", "serror"];
    NAMES[(kind % 4) as usize]
}
