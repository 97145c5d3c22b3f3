//! Each CPU's own GDT and TSS. The TSS holds the interrupt stacks (IST) that a double
//! fault and an NMI switch to, so that a stack overflow into a guard page is still
//! reported and the halt NMI always finds a good stack.
//!
//! ```text
//! GDT: 0x00 null | 0x08 code64 | 0x10 data | 0x18 code32 | 0x20 TSS (16 bytes)
//! ```

use crate::acpi::madt::MAX_CPUS;
use crate::trampoline::GDT;
use core::cell::UnsafeCell;

/// The TSS selector.
pub const TSS: u16 = 0x20;
/// IST slots (1-based, as the IDT names them).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;
const IST_STACK: usize = 8192;

#[repr(C, packed(4))]
struct Tss {
    _reserved0: u32,
    rsp: [u64; 3],
    _reserved1: u64,
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    iomap_base: u16,
}

const TSS_SIZE: usize = core::mem::size_of::<Tss>();
const _: () = assert!(TSS_SIZE == 104);

#[repr(C, align(16))]
struct CpuTables {
    gdt: [u64; GDT.len() + 2],
    tss: Tss,
}

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK]; 2]);

struct PerCpu(
    UnsafeCell<[CpuTables; MAX_CPUS]>,
    UnsafeCell<[IstStacks; MAX_CPUS]>,
);

// SAFETY: CPU `i` only touches entry `i` of both arrays, once in `load` before it
// takes any interrupt; afterwards only the CPU itself (the busy bit, the IST stacks)
// uses them.
unsafe impl Sync for PerCpu {}

static PER_CPU: PerCpu = PerCpu(
    UnsafeCell::new(
        [const {
            CpuTables {
                gdt: [0; GDT.len() + 2],
                tss: Tss {
                    _reserved0: 0,
                    rsp: [0; 3],
                    _reserved1: 0,
                    ist: [0; 7],
                    _reserved2: 0,
                    _reserved3: 0,
                    // Set by `load`: a non-zero byte here would put the whole array
                    // (and its IST stacks) in the image's .data instead of .bss.
                    iomap_base: 0,
                },
            }
        }; MAX_CPUS],
    ),
    UnsafeCell::new([const { IstStacks([[0; IST_STACK]; 2]) }; MAX_CPUS]),
);

/// The two GDT entries of a 64-bit available TSS at `base`.
fn tss_descriptor(base: u64) -> [u64; 2] {
    let limit = (TSS_SIZE - 1) as u64;
    let lo = (limit & 0xFFFF) | (base & 0xFF_FFFF) << 16 | 0x89 << 40 | ((base >> 24) & 0xFF) << 56;
    [lo, base >> 32]
}

/// Loads CPU `index`'s GDT and TSS (with its IST stacks). Each CPU calls this once,
/// before its IDT is loaded.
pub fn load(index: usize) {
    if index >= MAX_CPUS {
        return;
    }
    // SAFETY: only CPU `index` touches entry `index`, and only here (see PerCpu).
    let (t, stacks) = unsafe { (&mut (*PER_CPU.0.get())[index], &(*PER_CPU.1.get())[index]) };
    for (slot, stack) in [IST_DOUBLE_FAULT, IST_NMI].into_iter().zip(stacks.0.iter()) {
        t.tss.ist[usize::from(slot) - 1] = stack.as_ptr() as u64 + IST_STACK as u64;
    }
    // No I/O permission bitmap: the map would start past the TSS's limit.
    t.tss.iomap_base = TSS_SIZE as u16;
    t.gdt[..GDT.len()].copy_from_slice(&GDT);
    let [lo, hi] = tss_descriptor(&raw const t.tss as u64);
    t.gdt[GDT.len()] = lo;
    t.gdt[GDT.len() + 1] = hi;
    #[repr(C, packed)]
    struct Gdtr {
        limit: u16,
        base: u64,
    }
    let r = Gdtr {
        limit: (core::mem::size_of_val(&t.gdt) - 1) as u16,
        base: t.gdt.as_ptr() as u64,
    };
    // SAFETY: the new GDT has the same code and data descriptors at the same
    // selectors as the one in use, so the loaded segments stay valid; the TSS
    // descriptor points at this CPU's TSS, which lives as long as the machine.
    unsafe {
        core::arch::asm!(
            "lgdt [{r}]",
            "ltr {sel:x}",
            r = in(reg) &r,
            sel = in(reg) TSS,
            options(nostack, preserves_flags)
        );
    }
}
