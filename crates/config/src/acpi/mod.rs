//! An x86_64 VM's boot data, generated on the host like an aarch64 VM's device tree:
//! the PVH `hvm_start_info` (ebx at the PVH entry), its module list and memory map,
//! the command line, and the VM's ACPI tables (RSDP v2, XSDT, a hardware-reduced FADT,
//! MADT, DSDT, and an MCFG when the VM has PCI), all in one blob that the hypervisor
//! copies to [`BOOT_DATA_GPA`] at every (re)start.
//!
//! ```text
//! BOOT_DATA_GPA + 0      hvm_start_info              (pvh)
//!                 0x40   module list (the initrd)
//!                 ...    memory map
//!                 16-aligned: RSDP, XSDT, FADT, MADT, [MCFG], DSDT  (tables, dsdt)
//!                 ...    command line, NUL-terminated
//! ```
//!
//! Nothing here compiles ASL: [`aml`] emits the bytes of each construct the DSDT
//! uses. [`read`] parses a blob back (every table's length and checksum, the AML's
//! structure, the start info's pointers) for `rtvisor check`, the tests and
//! `rtvisor board inspect`; [`listing`] prints it for the golden files.

pub mod aml;
mod dsdt;
pub mod listing;
pub mod pvh;
pub mod read;
pub mod read_aml;
pub mod tables;

use crate::contract::x86_64::{self as x86, BOOT_DATA_GPA};
use crate::plan::{Plan, VmPlan};
use crate::schema::Trigger;
use crate::tables::InterruptMode;

/// What a VM's boot data describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootInfo {
    /// The APIC ID of each vCPU, in vCPU order.
    pub apic_ids: Vec<u32>,
    /// RAM from guest-physical 0.
    pub ram_size: u64,
    /// The command line.
    pub cmdline: Option<String>,
    /// The initrd: guest-physical address and size.
    pub initrd: Option<(u64, u64)>,
    /// Devices passed through.
    pub devices: Vec<Device>,
    /// Shared-memory regions.
    pub shared: Vec<Shared>,
    /// PCI, when the VM has functions: the MCFG, the ECAM window reserved in the
    /// memory map, MSI allowed in the FADT, and the host bridge `PCI0` in the DSDT.
    pub pci: Option<Pci>,
}

/// A passed-through memory-mapped device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its `compatible` strings.
    pub compatible: Vec<String>,
    /// Its registers (below 4 GiB).
    pub base: u64,
    /// Their size.
    pub size: u64,
    /// Its GSIs.
    pub gsis: Vec<u32>,
    /// Level-triggered (else edge).
    pub level: bool,
}

/// A shared-memory region as the VM maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// Its name.
    pub name: String,
    /// Guest-physical base (below 4 GiB).
    pub gpa: u64,
    /// Size.
    pub size: u64,
    /// Whether the VM may write it.
    pub writable: bool,
    /// Its number (what rings it).
    pub index: usize,
    /// Its doorbell GSI.
    pub gsi: u32,
}

/// A PCI host bridge with an ECAM window (its memory windows are the contract's
/// [`PCI_MMIO_WINDOWS`](x86::PCI_MMIO_WINDOWS)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pci {
    /// The ECAM window's base.
    pub ecam: u64,
    /// Last bus number (from 0).
    pub last_bus: u8,
    /// The INTx routing of the functions on bus 0 (`PCI0`'s `_PRT`): each device
    /// number with the GSIs its INTA..INTD reach (the host's, by the standard swizzle
    /// of its bridge's `intx`), in device order without repeats.
    pub prt: Vec<(u8, [u32; 4])>,
}

/// `PCI0`'s routing of `functions`' INTx: the device number of each function on bus
/// 0, once, with the GSI of each of its pins (pin p, 0 = INTA, of device d reaches
/// `intx[(d + p) % 4]`).
fn prt(functions: &[crate::pcie::FunctionPlan]) -> Vec<(u8, [u32; 4])> {
    let mut out: Vec<(u8, [u32; 4])> = functions
        .iter()
        .filter(|f| f.addr.bus == 0)
        .map(|f| {
            let d = usize::from(f.addr.dev);
            (f.addr.dev, core::array::from_fn(|p| f.intx[(d + p) % 4]))
        })
        .collect();
    out.sort_unstable();
    out.dedup_by_key(|e| e.0);
    out
}

impl BootInfo {
    /// What `vm` of `plan` gets: APIC IDs per vCPU index, or in direct mode (LAPIC
    /// pass-through) its cores' own.
    pub fn of(plan: &Plan, vm: &VmPlan) -> Self {
        let direct = vm.interrupt_mode == InterruptMode::Direct;
        let apic_ids = vm
            .cpus
            .iter()
            .enumerate()
            .map(
                |(i, &pcpu)| match plan.hypervisor.board_apic_ids.get(pcpu as usize) {
                    Some(&id) if direct => id,
                    _ => x86::virtual_apic_id(i),
                },
            )
            .collect();
        BootInfo {
            apic_ids,
            ram_size: vm.ram.size,
            cmdline: vm.bootargs.clone(),
            initrd: vm
                .initrd
                .as_ref()
                .map(|i| (i.load.raw(), i.bytes.len() as u64)),
            devices: vm
                .devices
                .iter()
                .map(|d| Device {
                    compatible: d.compatible.clone(),
                    base: d.base.raw(),
                    size: d.size,
                    gsis: d.irqs.clone(),
                    level: d.trigger == Trigger::Level,
                })
                .collect(),
            shared: vm
                .shared
                .iter()
                .map(|m| Shared {
                    name: m.name.clone(),
                    gpa: m.ipa.raw(),
                    size: m.size,
                    writable: m.writable,
                    index: m.index,
                    gsi: m.doorbell,
                })
                .collect(),
            // Buses 0 to the highest of its functions' (they keep their host
            // numbers), in the ECAM window at PCI_ECAM_GPA.
            pci: vm.pci.iter().map(|f| f.addr.bus).max().map(|last_bus| Pci {
                ecam: x86::PCI_ECAM_GPA,
                last_bus,
                // A direct-mode VM's functions interrupt by MSI or MSI-X only: a host
                // vector forwarding INTx would land in the guest's own IDT.
                prt: if direct { Vec::new() } else { prt(&vm.pci) },
            }),
        }
    }

    /// The MADT's source overrides: an ISA IRQ (below 16) that a level-triggered
    /// device raises (COM1's IRQ 4 is GSI 4, edge: the ISA default, no override).
    pub fn overrides(&self) -> Vec<tables::SourceOverride> {
        let mut out: Vec<tables::SourceOverride> = self
            .devices
            .iter()
            .filter(|d| d.level)
            .flat_map(|d| d.gsis.iter())
            .filter_map(|&g| {
                Some(tables::SourceOverride {
                    source: u8::try_from(g).ok().filter(|&s| s < 16)?,
                    gsi: g,
                    level: true,
                })
            })
            .collect();
        out.sort_unstable_by_key(|o| o.source);
        out.dedup();
        out
    }
}

/// Alignment of each table (and of the RSDP, which a scanning guest finds only on a
/// 16-byte boundary).
const TABLE_ALIGN: usize = 16;

/// The boot data blob of a VM, to be placed at [`BOOT_DATA_GPA`].
pub fn boot_data(info: &BootInfo) -> Vec<u8> {
    let gpa = |off: usize| BOOT_DATA_GPA + off as u64;
    let mut blob = vec![0u8; pvh::START_INFO_LEN];
    let modlist = info
        .initrd
        .map(|(paddr, size)| put(&mut blob, &pvh::module(paddr, size), 64));
    let map = pvh::memory_map(info);
    let memmap = put(&mut blob, &pvh::memory_map_bytes(&map), 8);

    // The tables whose contents do not depend on where they go, then the ones that
    // point at others.
    let madt = tables::madt(&info.apic_ids, &info.overrides());
    let mcfg = info
        .pci
        .as_ref()
        .map(|p| tables::mcfg(p.ecam, 0, p.last_bus));
    let dsdt = dsdt::dsdt(info);
    let xsdt_entries = 2 + usize::from(mcfg.is_some());
    let at = |start: usize, len: usize| start.next_multiple_of(TABLE_ALIGN) + len;
    let rsdp_at = blob.len().next_multiple_of(TABLE_ALIGN);
    let xsdt_at = at(rsdp_at + tables::RSDP_LEN, 0);
    let fadt_at = at(xsdt_at + tables::HEADER_LEN + 8 * xsdt_entries, 0);
    let madt_at = at(fadt_at + tables::FADT_LEN, 0);
    let mcfg_at = at(madt_at + madt.len(), 0);
    let dsdt_at = at(mcfg_at + mcfg.as_ref().map_or(0, Vec::len), 0);
    let mut entries = vec![gpa(fadt_at), gpa(madt_at)];
    if mcfg.is_some() {
        entries.push(gpa(mcfg_at));
    }
    let order: [(usize, Vec<u8>); 6] = [
        (rsdp_at, tables::rsdp(gpa(xsdt_at))),
        (xsdt_at, tables::xsdt(&entries)),
        (fadt_at, tables::fadt(gpa(dsdt_at), info.pci.is_some())),
        (madt_at, madt),
        (mcfg_at, mcfg.unwrap_or_default()),
        (dsdt_at, dsdt),
    ];
    for (want, bytes) in &order {
        let got = put(&mut blob, bytes, TABLE_ALIGN);
        debug_assert!(bytes.is_empty() || got == *want);
    }
    let cmdline = info.cmdline.as_ref().map(|c| {
        let mut s: Vec<u8> = c.bytes().filter(|&b| b != 0).collect();
        s.push(0);
        put(&mut blob, &s, 8)
    });
    let start = pvh::StartInfo {
        nr_modules: u32::from(modlist.is_some()),
        modlist: modlist.map_or(0, gpa),
        cmdline: cmdline.map_or(0, gpa),
        rsdp: gpa(rsdp_at),
        memmap: gpa(memmap),
        memmap_entries: map.len() as u32,
    };
    blob[..pvh::START_INFO_LEN].copy_from_slice(&start.bytes());
    blob
}

/// Appends `bytes` at the next multiple of `align`; returns where.
fn put(blob: &mut Vec<u8>, bytes: &[u8], align: usize) -> usize {
    blob.resize(blob.len().next_multiple_of(align), 0);
    let at = blob.len();
    blob.extend(bytes);
    at
}
