//! Exceptions: the architecture's trap frame and fault description (re-exported
//! here), and the guest's hook for the exceptions nothing else takes (a `guard` that
//! is armed comes first; see the architecture's `exception.rs` for the order).

pub use crate::arch::exception::*;

use crate::hook::Hook;

static SYNC_HANDLER: Hook<SyncHandler> = Hook::new();

/// Registers the guest's exception hook (shared by all vCPUs).
pub fn set_sync_handler(handler: SyncHandler) {
    SYNC_HANDLER.set(handler);
}

/// The registered hook, if any.
pub(crate) fn sync_handler() -> Option<SyncHandler> {
    SYNC_HANDLER.get()
}
