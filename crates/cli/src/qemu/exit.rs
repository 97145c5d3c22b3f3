//! What QEMU's exit status says: a power-off, the hypervisor's FATAL exit (status
//! [`FATAL_EXIT_STATUS`] through semihosting), or anything else.

use rtvisor_config::tables::FATAL_EXIT_STATUS;
use std::fmt;
use std::process::ExitStatus;

/// Why QEMU exited unsuccessfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuFailure {
    /// The hypervisor stopped on a FATAL error and ended QEMU (semihosting).
    Fatal,
    /// Anything else: QEMU's own error, or a signal.
    Exited(ExitStatus),
}

impl fmt::Display for QemuFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuFailure::Fatal => write!(
                f,
                "the hypervisor stopped on a FATAL error (QEMU exit status \
                 {FATAL_EXIT_STATUS}); the console above says why"
            ),
            QemuFailure::Exited(status) => write!(f, "QEMU exited with {status}"),
        }
    }
}

impl std::error::Error for QemuFailure {}

/// What QEMU's exit `status` means: Ok for a clean power-off (status 0).
pub fn exit_result(status: ExitStatus) -> Result<(), QemuFailure> {
    match status.code() {
        Some(0) => Ok(()),
        Some(c) if u32::try_from(c) == Ok(FATAL_EXIT_STATUS) => Err(QemuFailure::Fatal),
        _ => Err(QemuFailure::Exited(status)),
    }
}
