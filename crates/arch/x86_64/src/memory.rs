//! The hypervisor's accesses to RAM it maps for a VM (identity-mapped: host-physical
//! = virtual): clearing and loading a VM's RAM, reading its instruction bytes.

/// Zeroes `len` bytes at `base`.
///
/// # Safety
/// The range is mapped read-write RAM that nothing else uses meanwhile.
pub unsafe fn zero(base: u64, len: u64) {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::write_bytes(base as *mut u8, 0, len as usize) }
}

/// Copies `bytes` to `dst`.
///
/// # Safety
/// As for [`zero`], for `bytes.len()` bytes at `dst`.
pub unsafe fn copy_to(dst: u64, bytes: &[u8]) {
    // SAFETY: the caller's contract; `bytes` is hypervisor data, not in the range.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst as *mut u8, bytes.len()) }
}

/// Copies `buf.len()` bytes at `src` into `buf` (a guest's memory, which it may
/// change at the same time: the bytes are read once, volatile).
///
/// # Safety
/// The range is mapped RAM.
pub unsafe fn read(src: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        // SAFETY: the caller's contract: mapped RAM, any value is a valid byte.
        *b = unsafe { core::ptr::read_volatile((src + i as u64) as *const u8) };
    }
}

/// Writes `bytes` at `dst` (a guest's memory, which it may read at the same time:
/// each byte is written once, volatile).
///
/// # Safety
/// The range is mapped RAM that belongs to the guest the write is for.
pub unsafe fn write(dst: u64, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: the caller's contract: mapped RAM the guest owns.
        unsafe { core::ptr::write_volatile((dst + i as u64) as *mut u8, *b) };
    }
}

/// Writes the 32-bit device register at `addr`.
///
/// # Safety
/// `addr` is a mapped, 4-byte aligned device register, and writing `value` is meant.
pub unsafe fn write_u32(addr: u64, value: u32) {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}
