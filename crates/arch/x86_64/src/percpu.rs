//! Per-CPU pages: the VMXON region (Intel) or the host save area (AMD) of each CPU.

use crate::acpi::madt::MAX_CPUS;
use core::cell::UnsafeCell;

#[repr(C, align(4096))]
pub struct Page(pub [u8; 4096]);

struct Pages(UnsafeCell<[Page; MAX_CPUS]>);

// SAFETY: CPU `i` only ever touches page `i` (see `vendor_page`), so no two CPUs share
// a page.
unsafe impl Sync for Pages {}

static VENDOR: Pages = Pages(UnsafeCell::new([const { Page([0; 4096]) }; MAX_CPUS]));

/// CPU `index`'s vendor page and its physical address (identity-mapped).
///
/// # Safety
/// Only CPU `index` may call this, and only one reference may live at a time.
pub unsafe fn vendor_page(index: usize) -> Option<(&'static mut Page, u64)> {
    if index >= MAX_CPUS {
        return None;
    }
    // SAFETY: in bounds; the caller is CPU `index` and holds no other reference.
    let p = unsafe { &mut (*VENDOR.0.get())[index] };
    let pa = p as *mut Page as u64;
    Some((p, pa))
}
