//! Raw access to host-physical memory (identity-mapped at EL2): the table pool, and
//! copying images into guest RAM with the cache maintenance a guest running with its
//! MMU off needs.

pub use crate::pt::Pages;
use crate::pt::{TableMemory, ENTRIES};
use rtvisor_addr::Hpa;
use spin::Mutex;

/// A pool of 4 KiB pages for translation tables: a region reserved by the linker
/// script, or (with `[hypervisor] colors`) the pages of the hypervisor's cache colors
/// ([`Pages`]). Pages are handed out once and never freed (tables are built at boot).
#[derive(Debug)]
pub struct TablePool {
    state: Mutex<Pages>,
}

impl TablePool {
    /// An empty pool; [`TablePool::init`] gives it its pages.
    pub const fn new() -> Self {
        Self {
            state: Mutex::new(Pages::EMPTY),
        }
    }

    /// Gives the pool `pages`.
    ///
    /// # Safety
    /// Every page of `pages` must be RAM, identity-mapped read-write (or the MMU off)
    /// whenever the pool is used, and used for nothing else for the life of the
    /// hypervisor.
    pub unsafe fn init(&self, pages: Pages) {
        *self.state.lock() = pages;
    }

    /// What the pool has and has handed out.
    pub fn pages(&self) -> Pages {
        *self.state.lock()
    }
}

impl Default for TablePool {
    fn default() -> Self {
        Self::new()
    }
}

impl TableMemory for &TablePool {
    fn alloc_table(&mut self) -> Option<Hpa> {
        let page = self.state.lock().take()?;
        // SAFETY: `page` is a fresh page of the pool's region (init contract).
        unsafe { core::ptr::write_bytes(page as *mut u8, 0, 0x1000) };
        Some(Hpa::new(page))
    }
    fn read(&self, table: Hpa, index: usize) -> u64 {
        assert!(index < ENTRIES);
        // SAFETY: `table` came from alloc_table of this pool and index is in bounds.
        unsafe { (table.raw() as *const u64).add(index).read_volatile() }
    }
    fn write(&mut self, table: Hpa, index: usize, value: u64) {
        assert!(index < ENTRIES);
        // SAFETY: as in `read`.
        unsafe { (table.raw() as *mut u64).add(index).write_volatile(value) }
    }
}

fn dcache_line() -> u64 {
    4 << ((read_sysreg!(ctr_el0) >> 16) & 0xf)
}

/// Cleans and invalidates the data cache lines over `[base, base+len)` to the point
/// of coherency, eight lines an iteration (under QEMU's `-icount` a loop's own
/// instructions are all that a pass over a VM's RAM costs: docs/benchmark.md, the
/// Linux boot row).
fn clean_range(base: u64, len: u64) {
    let line = dcache_line();
    let mut a = base & !(line - 1);
    let end = base.saturating_add(len);
    while a.saturating_add(8 * line) <= end {
        // SAFETY: cache maintenance by VA on mapped memory has no memory-safety effect;
        // the eight lines are `a` and the seven after it, all below `end`.
        unsafe {
            core::arch::asm!(
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                "dc civac, {a}", "add {a}, {a}, {l}",
                a = inout(reg) a, l = in(reg) line,
                options(nostack, preserves_flags)
            )
        };
    }
    while a < end {
        // SAFETY: as above, one line.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += line;
    }
    crate::sysreg::dsb_ish();
}

/// Invalidates the instruction caches of every CPU in the inner shareable domain
/// (after code a guest will run was written through the data side and cleaned).
pub fn sync_icache() {
    crate::sysreg::dsb_ish();
    // SAFETY: invalidating the instruction caches is always safe.
    unsafe { core::arch::asm!("ic ialluis", options(nostack, preserves_flags)) };
    crate::sysreg::dsb_ish();
    crate::sysreg::isb();
}

/// Copies `bytes` to host-physical `dst` and zero-fills nothing else; the
/// destination is cleaned to the point of coherency as it is written (one `dc civac`
/// per 64-byte block in the copy loop, not a second pass): a guest that starts with
/// its caches off reads the bytes, and no dirty line of the hypervisor's is written
/// back over what it stores later.
///
/// 64 bytes an iteration with paired loads and stores (a guest kernel is tens of
/// MiB; the library copy moves 8 bytes per 4 instructions). Unaligned addresses are
/// fine: hypervisor memory is Normal and SCTLR_EL2.A is clear (`mmu`).
///
/// # Safety
/// `[dst, dst + bytes.len())` must be identity-mapped RAM that no running code uses
/// (the RAM of a VM whose vCPUs are all parked).
pub unsafe fn copy_clean(dst: Hpa, bytes: &[u8]) {
    let line = dcache_line();
    // SAFETY: the caller's contract.
    unsafe { copy_lines(dst, bytes, line >= 64) };
    if line < 64 {
        clean_range(dst.raw(), bytes.len() as u64);
    }
}

/// The copy loop of [`copy_clean`]; with `clean` (lines of at least 64 bytes), each
/// block's first line is cleaned after it is written, and the lines after the last
/// whole block at the end.
///
/// # Safety
/// As for [`copy_clean`].
unsafe fn copy_lines(dst: Hpa, bytes: &[u8], clean: bool) {
    let chunks = bytes.len() / 64;
    let (mut s, mut d) = (bytes.as_ptr(), dst.raw() as *mut u8);
    for _ in 0..chunks {
        // SAFETY: 64 bytes from `s` are inside `bytes` (`chunks` whole blocks), and 64
        // bytes at `d` inside the caller's destination; the two do not overlap (the
        // source is a read-only image embedded in the hypervisor). `dc civac` (when
        // asked) is cache maintenance of the block just written, no memory effect.
        unsafe {
            if clean {
                core::arch::asm!(
                    "ldp {a}, {b}, [{s}]", "stp {a}, {b}, [{d}]",
                    "ldp {a}, {b}, [{s}, #16]", "stp {a}, {b}, [{d}, #16]",
                    "ldp {a}, {b}, [{s}, #32]", "stp {a}, {b}, [{d}, #32]",
                    "ldp {a}, {b}, [{s}, #48]", "stp {a}, {b}, [{d}, #48]",
                    "dc civac, {d}",
                    "add {s}, {s}, #64", "add {d}, {d}, #64",
                    s = inout(reg) s, d = inout(reg) d, a = out(reg) _, b = out(reg) _,
                    options(nostack, preserves_flags)
                )
            } else {
                core::arch::asm!(
                    "ldp {a}, {b}, [{s}]", "stp {a}, {b}, [{d}]",
                    "ldp {a}, {b}, [{s}, #16]", "stp {a}, {b}, [{d}, #16]",
                    "ldp {a}, {b}, [{s}, #32]", "stp {a}, {b}, [{d}, #32]",
                    "ldp {a}, {b}, [{s}, #48]", "stp {a}, {b}, [{d}, #48]",
                    "add {s}, {s}, #64", "add {d}, {d}, #64",
                    s = inout(reg) s, d = inout(reg) d, a = out(reg) _, b = out(reg) _,
                    options(nostack, preserves_flags)
                )
            }
        };
    }
    let rest = bytes.len() % 64;
    // SAFETY: the last `rest` bytes of `bytes` to the rest of the destination, as the
    // caller guarantees; source and destination are distinct.
    unsafe { core::ptr::copy_nonoverlapping(s, d, rest) };
    if clean {
        // The line the last block ends in (when `dst` is not line-aligned) and the
        // rest; each block's first line is clean already.
        let from = (d as u64).saturating_sub(u64::from(chunks > 0));
        clean_range(from, d as u64 + rest as u64 - from);
    }
}

/// Zeroes `[base, base+len)`, with `dc zva` where the CPU allows it, and cleans it
/// to the point of coherency as it goes (`dc zva` then `dc civac` of each block in
/// one loop, not a second pass over the range): see [`copy_clean`].
///
/// # Safety
/// As for [`copy_clean`].
///
/// The fused loop needs a `dc zva` block of exactly one cache line; otherwise (or
/// without `dc zva`) the range is zeroed, then cleaned.
pub unsafe fn zero_clean(base: Hpa, len: u64) {
    let dczid = read_sysreg!(dczid_el0);
    let block = 4u64 << (dczid & 0xf);
    let (mut a, end) = (base.raw(), base.raw() + len);
    let zva = dczid & (1 << 4) == 0;
    let fused = zva && block == dcache_line();
    if zva {
        while a % block != 0 && a < end {
            // SAFETY: inside the caller's range.
            unsafe { (a as *mut u8).write_volatile(0) };
            a += 1;
        }
        if fused {
            clean_range(base.raw(), a - base.raw());
        }
        // Eight blocks an iteration (the loop's instructions are what zeroing a
        // VM's RAM costs, `clean_range`).
        while a + 8 * block <= end {
            // SAFETY: eight whole blocks from `a`, inside the caller's range; `dc
            // civac` is cache maintenance of the block just zeroed.
            unsafe {
                if fused {
                    core::arch::asm!(
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "dc civac, {a}", "add {a}, {a}, {b}",
                        a = inout(reg) a, b = in(reg) block,
                        options(nostack, preserves_flags)
                    )
                } else {
                    core::arch::asm!(
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        "dc zva, {a}", "add {a}, {a}, {b}",
                        a = inout(reg) a, b = in(reg) block,
                        options(nostack, preserves_flags)
                    )
                }
            };
        }
        while a + block <= end {
            // SAFETY: a whole block inside the caller's range (and its maintenance).
            unsafe {
                if fused {
                    core::arch::asm!("dc zva, {a}", "dc civac, {a}", a = in(reg) a,
                        options(nostack, preserves_flags));
                } else {
                    core::arch::asm!("dc zva, {}", in(reg) a, options(nostack, preserves_flags));
                }
            };
            a += block;
        }
    }
    // SAFETY: inside the caller's range.
    unsafe { core::ptr::write_bytes(a as *mut u8, 0, (end - a) as usize) };
    if fused {
        clean_range(a, end - a);
    } else {
        clean_range(base.raw(), len);
    }
}

/// Writes the 32-bit device register at `addr`.
///
/// # Safety
/// `addr` must be a 4-byte aligned register of a device the hypervisor maps as device
/// memory in its own tables, and writing `value` there must not break any invariant
/// of the hypervisor (the caller knows what the register does).
pub unsafe fn write_device_u32(addr: u64, value: u32) {
    // SAFETY: the caller guarantees a mapped, aligned device register.
    unsafe { (addr as *mut u32).write_volatile(value) }
}
