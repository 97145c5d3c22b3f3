//! The BSP's boot: from the Multiboot2 hand-over to a CPU on the final page tables,
//! with what firmware told about the machine kept in one [`Platform`].

use crate::acpi::dmar::Dmar;
use crate::acpi::fadt::{self, Fadt, SleepType};
use crate::acpi::madt::Madt;
use crate::acpi::{self, AcpiError, PhysMem};
use crate::boot;
use crate::cpu;
use crate::cpuid::{Features, Vendor};
use crate::layout::MAX_RAM;
use crate::multiboot2::{self, Mbi, MemRegion, MemSummary};
use crate::pt::{Perm, Pool, Region, Table, PAGE};
use crate::pvh;
use crate::{apic, console, idt, smp, timer, trampoline};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};
use rtvisor_addr::Hpa;

/// Memory-map entries kept.
pub const MAX_REGIONS: usize = 32;
/// Bytes of the command line kept.
pub const CMDLINE_LEN: usize = 256;
/// Page tables available (root, PDPT, one PD per GiB, split 2 MiB chunks, and the
/// tables of device pages mapped after boot, `map_device`).
const POOL: usize = 24 + (MAX_RAM >> 30) as usize;
/// Boot information larger than this is refused.
const MAX_MBI: usize = 1 << 20;
/// The boot tables map this much.
const BOOT_MAPPED: u64 = 4 << 30;

/// What the BSP learnt at boot.
#[derive(Debug)]
pub struct Platform {
    pub vendor: Vendor,
    pub features: Features,
    regions: [Option<MemRegion>; MAX_REGIONS],
    pub mem: MemSummary,
    cmdline: [u8; CMDLINE_LEN],
    cmdline_len: usize,
    pub madt: Result<Madt, AcpiError>,
    /// The DMA remapping units (VT-d), when the firmware lists any.
    pub dmar: Result<Dmar, AcpiError>,
    pub power: Result<(Fadt, Option<SleepType>), AcpiError>,
    /// The page the AP trampoline goes to.
    pub trampoline: Option<u64>,
    pub x2apic: bool,
    pub bsp_apic_id: u32,
    /// CR3 of the hypervisor's tables.
    pub pt_root: u64,
}

impl Platform {
    pub fn regions(&self) -> impl Iterator<Item = &MemRegion> {
        self.regions.iter().flatten()
    }
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }
    /// Whether the command line has the word `w`.
    pub fn has_arg(&self, w: &str) -> bool {
        self.cmdline().split_whitespace().any(|a| a == w)
    }
}

struct PlatformCell(UnsafeCell<Option<Platform>>);
// SAFETY: written once by the BSP in `bsp_init` before any AP starts; read-only after.
unsafe impl Sync for PlatformCell {}
static PLATFORM: PlatformCell = PlatformCell(UnsafeCell::new(None));

struct Tables(UnsafeCell<[Table; POOL]>);
// SAFETY: only the BSP writes the tables: at boot, to flip the trampoline page
// while no AP runs on it (smp::start_aps), and to add device pages before any guest
// runs (`map_device`: entries that were not present, which no CPU caches).
unsafe impl Sync for Tables {}
static TABLES: Tables = Tables(UnsafeCell::new([const { Table::EMPTY }; POOL]));
/// Tables of the pool in use (the boot map's, then the device pages' of `map_device`).
static PT_USED: AtomicUsize = AtomicUsize::new(0);

/// Physical memory below 4 GiB through the boot identity map.
struct BootMapped;

impl PhysMem for BootMapped {
    fn read(&self, addr: Hpa, len: usize) -> Option<&[u8]> {
        let end = addr.raw().checked_add(len as u64)?;
        if addr.raw() == 0 || end > BOOT_MAPPED {
            return None;
        }
        // SAFETY: the boot tables identity-map the first 4 GiB; firmware tables and
        // the boot information are not written while the BSP boots.
        Some(unsafe { core::slice::from_raw_parts(addr.raw() as *const u8, len) })
    }
}

/// Who handed over, and how: GRUB's Multiboot2 information or a PVH start info
/// (QEMU's `-kernel`; the PVH entry stub sets `eax` to [`pvh::ENTRY_MARK`]).
enum Loader<'a> {
    Multiboot2(Mbi<'a>),
    Pvh(pvh::StartInfo),
}

impl<'a> Loader<'a> {
    /// The memory map, in the loader's order.
    fn memory_map<'m>(&self, mem: &'m BootMapped) -> impl Iterator<Item = MemRegion> + use<'a, 'm> {
        let (mb2, pvh) = match self {
            Loader::Multiboot2(m) => (Some(m.memory_map()), None),
            Loader::Pvh(p) => (None, Some(p.memory_map(mem))),
        };
        mb2.into_iter().flatten().chain(pvh.into_iter().flatten())
    }

    fn cmdline<'m>(&self, mem: &'m BootMapped) -> Option<&'m str>
    where
        'a: 'm,
    {
        match self {
            Loader::Multiboot2(m) => m.cmdline(),
            Loader::Pvh(p) => p.cmdline(mem),
        }
    }

    /// The RSDP: Multiboot2 carries copies of it, PVH its address.
    fn rsdp(&self, mem: &BootMapped) -> Result<acpi::Rsdp, AcpiError> {
        match self {
            Loader::Multiboot2(m) => acpi::rsdp_from_tags(m.rsdp_new(), m.rsdp_old()),
            Loader::Pvh(p) => acpi::rsdp_from_tags(p.rsdp(mem), None),
        }
    }

    /// The ranges its data occupies (`info` is where `ebx` pointed).
    fn spans(&self, info: u64) -> [(u64, u64); 3] {
        match self {
            Loader::Multiboot2(m) => [(info, info + m.total_size() as u64), (0, 0), (0, 0)],
            Loader::Pvh(p) => p.spans(),
        }
    }
}

/// Stops the boot with a message (no other CPU runs yet).
fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    println!("[rtvisor] FATAL: {args}");
    cpu::halt_forever()
}

/// The sorted W^X regions of the final map.
fn regions(
    tramp: Option<u64>,
    lapic: Option<u64>,
) -> ([Region; 8 + crate::acpi::madt::MAX_CPUS], usize) {
    let s = boot::sections();
    let none = Region {
        start: 0,
        end: PAGE,
        perm: Perm::None,
    };
    let mut r = [none; 8 + crate::acpi::madt::MAX_CPUS];
    let mut n = 1;
    let mut push = |x: Region| {
        r[n] = x;
        n += 1;
    };
    if let Some(t) = tramp {
        push(Region {
            start: t,
            end: t + PAGE,
            perm: Perm::Rw,
        });
    }
    push(Region {
        start: s.text_start,
        end: s.text_end,
        perm: Perm::Rx,
    });
    push(Region {
        start: s.text_end,
        end: s.rodata_end,
        perm: Perm::R,
    });
    for i in 0..crate::acpi::madt::MAX_CPUS {
        let g = boot::stack_slot(i);
        push(Region {
            start: g,
            end: g + PAGE,
            perm: Perm::None,
        });
    }
    if let Some(a) = lapic {
        push(Region {
            start: a,
            end: a + PAGE,
            perm: Perm::Device,
        });
    }
    (r, n)
}

/// Boots the BSP: console, checks, boot information, ACPI, the final page tables
/// (W^X, NX, SMEP/SMAP), the IDT and the local APIC.
pub fn bsp_init(magic: u32, info: u64) -> &'static Platform {
    console::init();
    println!("[rtvisor] x86_64: booting");
    let features = cpu::features();
    if !features.apic {
        fatal(format_args!("this CPU has no local APIC"));
    }
    let mem = BootMapped;
    let loader = if magic == pvh::ENTRY_MARK {
        Loader::Pvh(
            pvh::StartInfo::read(&mem, info)
                .unwrap_or_else(|e| fatal(format_args!("PVH start info refused: {e:?}"))),
        )
    } else {
        let size = mem
            .read(Hpa::new(info), 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let bytes = mem
            .read(Hpa::new(info), (size as usize).min(MAX_MBI))
            .unwrap_or(&[]);
        Loader::Multiboot2(
            Mbi::new(magic, bytes)
                .unwrap_or_else(|e| fatal(format_args!("boot information refused: {e:?}"))),
        )
    };
    let mut regions_kept = [None; MAX_REGIONS];
    for (slot, r) in regions_kept.iter_mut().zip(loader.memory_map(&mem)) {
        *slot = Some(r);
    }
    let summary = multiboot2::summarize(loader.memory_map(&mem));
    let mut cmdline = [0u8; CMDLINE_LEN];
    let line = loader.cmdline(&mem).unwrap_or("").as_bytes();
    let cmdline_len = line.len().min(CMDLINE_LEN);
    cmdline[..cmdline_len].copy_from_slice(&line[..cmdline_len]);

    let rsdp = loader.rsdp(&mem);
    let madt = rsdp.and_then(|r| Madt::parse(&acpi::find(&mem, &r, *b"APIC")?));
    let dmar = rsdp.and_then(|r| Dmar::parse(&acpi::find(&mem, &r, *b"DMAR")?));
    let power = rsdp.and_then(|r| fadt::power_info(&mem, &r));

    let x2apic = features.x2apic;
    let lapic = (!x2apic).then(apic::mmio_base);
    let s = boot::sections();
    let [a, b, c] = loader.spans(info);
    let avoid = [a, b, c, (s.text_start, s.image_end)];
    let tramp = trampoline::pick_page(loader.memory_map(&mem), &avoid);

    let top = summary.top_available.min(MAX_RAM).max(s.image_end);
    let (r, n) = regions(tramp, lapic);
    // SAFETY: the BSP is the only CPU running; nothing else references the pool.
    let tables = unsafe { &mut *TABLES.0.get() };
    let base = tables.as_ptr() as u64;
    let mut pool = Pool::new(tables, base);
    let root = pool
        .identity(top, &r[..n])
        .unwrap_or_else(|e| fatal(format_args!("page tables: {e:?}")));
    PT_USED.store(pool.used(), Ordering::Relaxed);
    // SAFETY: the new map is an identity map that keeps everything this code uses:
    // text RX, rodata R, data/bss/stacks RW, RAM RW, the APIC uncached. From here on
    // the boot information and ACPI tables are not read again (copied above).
    unsafe {
        cpu::write_cr3(root);
        let mut cr4 = cpu::cr4();
        if features.smep {
            cr4 |= cpu::CR4_SMEP;
        }
        if features.smap {
            cr4 |= cpu::CR4_SMAP;
        }
        cpu::write_cr4(cr4);
        cpu::write_cr0(cpu::cr0() | cpu::CR0_WP);
    }
    crate::gdt::load(0);
    idt::init();
    apic::enable(x2apic);
    if let Ok((f, _)) = &power {
        if f.pm_timer != 0 {
            timer::set_pm_timer(f.pm_timer, f.pm_timer_32);
        }
    }
    let bsp_apic_id = apic::id();
    smp::register_bsp(bsp_apic_id);
    let p = Platform {
        vendor: cpu::vendor(),
        features,
        regions: regions_kept,
        mem: summary,
        cmdline,
        cmdline_len,
        madt,
        dmar,
        power,
        trampoline: tramp,
        x2apic,
        bsp_apic_id,
        pt_root: root,
    };
    // SAFETY: written once here, before any AP starts (the discipline of PLATFORM).
    unsafe { (*PLATFORM.0.get()).insert(p) }
}

/// The platform `bsp_init` found (for the APs; `None` before it ran).
pub fn get() -> Option<&'static Platform> {
    // SAFETY: written once by the BSP before any AP starts; only read afterwards.
    unsafe { (*PLATFORM.0.get()).as_ref() }
}

/// Changes the permission of a page inside a region of the final map and flushes
/// this CPU's TLB.
///
/// # Safety
/// BSP only, while no other CPU uses the page; the change must not unmap or write-
/// protect anything running code needs.
pub(crate) unsafe fn set_perm(p: &Platform, addr: u64, perm: Perm) -> bool {
    // SAFETY: the caller is the BSP and no other CPU walks this entry now.
    let tables = unsafe { &mut *TABLES.0.get() };
    let base = tables.as_ptr() as u64;
    let ok = Pool::with_used(tables, base, PT_USED.load(Ordering::Relaxed))
        .set_perm(p.pt_root, addr, perm)
        .is_ok();
    cpu::flush_tlb();
    ok
}

/// Maps the 4 KiB page of device registers at `addr` (uncached, never executed) into
/// the hypervisor's map, where boot did not map it (a PCI function's configuration
/// space or MSI-X table, found after boot); flushes this CPU's TLB.
///
/// # Safety
/// BSP only, at boot, before the APs run guest code; `addr` is a device's registers,
/// not RAM, and nothing maps that page otherwise.
pub unsafe fn map_device(addr: u64) -> bool {
    let Some(p) = get() else { return false };
    // SAFETY: the caller is the BSP; the walk only fills entries nobody uses yet.
    let tables = unsafe { &mut *TABLES.0.get() };
    let base = tables.as_ptr() as u64;
    let mut pool = Pool::with_used(tables, base, PT_USED.load(Ordering::Relaxed));
    let ok = pool.map_page(p.pt_root, addr, Perm::Device).is_ok();
    PT_USED.store(pool.used(), Ordering::Relaxed);
    cpu::flush_tlb();
    ok
}
