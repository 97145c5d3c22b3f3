//! The seam types of the x86_64 backend: the hypervisor's clock and timer (the TSC,
//! the local APIC timer, shared with the guest timer: `timers.rs`), its console (the physical COM1), a
//! VM's second stage (EPT or NPT, by vendor), and the hardware side of a VM's
//! emulated x2APICs.

use crate::vms;
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_arch_x86_64::chip::ApicHw;
use rtvisor_arch_x86_64::cpuid::Vendor;
use rtvisor_arch_x86_64::engines::{self, Paging};
use rtvisor_arch_x86_64::stage2::{self, Access, DmaTables, Format, Stage2};
use rtvisor_arch_x86_64::{apic, console, cpu, irq, memory, timer};
use rtvisor_config::bootfill;
use rtvisor_config::contract::x86_64 as x86;
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::seam::{self, Console, MemKind, Timer};

/// TSC ticks per second, measured at boot ([`calibrate`]).
static TSC_HZ: AtomicU64 = AtomicU64::new(1_000_000_000);

/// Measures the TSC against the ACPI PM timer over 10 ms (or the arch crate's
/// documented fallback delay without one), and the APIC timer against the TSC when
/// it has no TSC-deadline mode.
pub fn calibrate() {
    let ticks = apic::timer_calibrate(|| timer::delay_us(10_000));
    if ticks > 0 {
        TSC_HZ.store(ticks.saturating_mul(100), Ordering::Relaxed);
    }
}

/// The TSC frequency in kHz (what the guests' CPUID leaf 0x4000_0010 says).
pub fn tsc_khz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed) / 1000
}

/// The TSC and this CPU's APIC timer.
#[derive(Debug)]
pub struct Tsc;

impl Timer for Tsc {
    fn now() -> u64 {
        irq::rdtsc()
    }
    fn frequency() -> u64 {
        TSC_HZ.load(Ordering::Relaxed)
    }
    fn arm(deadline: u64) {
        super::timers::set_watchdog(deadline.max(1));
    }
    fn disarm() {
        super::timers::set_watchdog(0);
    }
}

/// The physical COM1.
#[derive(Debug)]
pub struct Com1;

impl Console for Com1 {
    fn put(byte: u8) {
        console::put_byte(byte);
    }
    fn get() -> Option<u8> {
        console::get_byte()
    }
}

/// Why a VM's second stage could not be built.
#[derive(Debug, Clone, Copy)]
pub enum Stage2Error {
    /// No table pool for this VM (more VMs than the contract allows).
    NoPool,
    /// The builder refused a mapping (shown by the boot failure's `{:?}`).
    Map(#[allow(dead_code)] stage2::Stage2Error),
}

/// A VM's EPT (Intel) or NPT (AMD) and its ASID or VPID.
pub struct Ept {
    tables: Stage2<'static>,
    tag: u16,
}

impl Ept {
    /// Empty tables for VM `vm`, in the format of this CPU's vendor.
    pub fn new(vm: VmId) -> Result<Ept, Stage2Error> {
        let (pool, pa) = engines::vm_tables(vm.index()).ok_or(Stage2Error::NoPool)?;
        let format = match cpu::vendor() {
            Vendor::Amd => Format::Npt,
            _ => Format::Ept,
        };
        let tables = Stage2::new(pool, pa, format).map_err(Stage2Error::Map)?;
        // ASID / VPID = VM id + 1: 0 is the host's.
        Ok(Ept {
            tables,
            tag: vm.index() as u16 + 1,
        })
    }

    /// Maps the host's xAPIC page `hpa` read-only at `ipa` (a direct-mode VM on
    /// AMD-V: reads reach the hardware, writes exit).
    pub fn map_apic(&mut self, ipa: Ipa, hpa: Hpa) -> Result<(), Stage2Error> {
        self.tables
            .map(ipa, hpa, 0x1000, Access::R)
            .map_err(Stage2Error::Map)
    }

    /// The VM's tables as a VT-d unit walks them (`pci::iommu`).
    pub fn dma_tables(&self) -> DmaTables {
        self.tables.dma_tables()
    }

    /// What an engine needs to run a vCPU of the VM.
    pub fn paging(&self) -> Paging {
        Paging {
            ncr3: self.tables.root(),
            eptp: self.tables.eptp(),
            tag: self.tag,
        }
    }
}

impl core::fmt::Debug for Ept {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Ept {{ root: {:#x}, tag: {} }}",
            self.tables.root().raw(),
            self.tag
        )
    }
}

impl seam::Stage2 for Ept {
    type Error = Stage2Error;

    fn map(&mut self, ipa: Ipa, hpa: Hpa, size: u64, kind: MemKind) -> Result<(), Stage2Error> {
        let access = match kind {
            MemKind::Ram => Access::RWX,
            MemKind::Device => Access::DEVICE,
            MemKind::Shared { writable: true } => Access::RW,
            MemKind::Shared { writable: false } => Access::R,
        };
        self.tables
            .map(ipa, hpa, size, access)
            .map_err(Stage2Error::Map)
    }

    fn unmap(&mut self, ipa: Ipa, size: u64) -> Result<(), Stage2Error> {
        // The flush it owes is `flush`'s: every vCPU entry flushes the VM's
        // translations (a fresh engine: the ASID's flush, INVEPT/INVVPID).
        self.tables
            .unmap(ipa, size)
            .map(|_| ())
            .map_err(Stage2Error::Map)
    }

    fn flush(&self) {
        // Every entry of a vCPU sets up its engine afresh, which drops the VM's cached
        // translations on that CPU; the tables do not change while a vCPU runs.
    }

    fn activate(&self) {
        // The engine takes the root (nCR3 or the EPT pointer) at each entry.
    }
}

/// The hardware side of a VM's x2APICs.
#[derive(Debug)]
pub struct ApicSide;

impl ApicHw for ApicSide {
    fn guest_tsc(&self, vm: VmId) -> u64 {
        Tsc::now().wrapping_sub(vms::rt(vm).counter_offset.load(Ordering::Relaxed))
    }
    fn pending(&self, vm: VmId, vcpu: VcpuId) {
        // The vCPU injects it before it runs guest code again (`guestirq::deliver`):
        // on another CPU, that CPU is kicked out of the guest or out of its sleep.
        if let Some(cpu) = vms::cpu_of(vm, vcpu) {
            if crate::percpu::this_cpu() != Some(cpu) {
                <super::Arch as crate::backend::Backend>::kick(cpu);
            }
        }
    }
    fn timer(&self, vm: VmId, vcpu: VcpuId, at: Option<u64>) {
        let Some(cpu) = vms::cpu_of(vm, vcpu) else {
            return;
        };
        // Guest TSC = host TSC - the VM's offset (the host's count at the VM's start).
        // A guest deadline so far out that the host's would wrap is never reached: it
        // stays at the end of time, not a moment in the past that fires at once,
        // again and again, while the guest's clock has not reached it.
        let offset = vms::rt(vm).counter_offset.load(Ordering::Relaxed);
        let host = at.map_or(0, |t| t.saturating_add(offset).max(1));
        super::timers::set_guest(cpu, host);
    }
    fn core_apic_id(&self, vm: VmId, vcpu: VcpuId) -> Option<u32> {
        super::direct::core_apic_id(vm, vcpu)
    }
    fn send_to_core(&self, vm: VmId, vcpu: VcpuId, vector: u8) {
        super::direct::send_to_core(vm, vcpu, vector);
    }
    fn forwarded(&self, vm: VmId, pin: u32, entry: u64, ended: bool) {
        super::pci::forwarded(vm, pin, entry, ended);
    }
}

/// Writes the reset vector's code into VM `vm`'s RAM (`contract::x86_64::RESET_STUB`:
/// a restart through the BIOS becomes a write of the reset register), when its RAM
/// holds that address. Called after each (re)load, before any of its vCPUs runs.
pub fn write_reset_stub(vm: VmId) {
    let stub = &x86::RESET_STUB;
    let len = stub.len() as u64;
    match vms::cfg(vm).ram.piece(Ipa::new(x86::RESET_STUB_GPA), len) {
        // SAFETY: `hpa..hpa+len` is RAM of this VM (`piece`), mapped by the
        // hypervisor's identity map, and none of the VM's vCPUs runs while it is
        // (re)loaded.
        Some((hpa, n)) if n >= len => unsafe { memory::write(hpa.raw(), stub) },
        _ => {}
    }
}

/// Writes the measured TSC rate into VM `vm`'s command line, now in its RAM, where
/// its `bootargs` reserved the field (`rtvisor_config::bootfill`); nothing without
/// one. Called after each (re)load, before any of the VM's vCPUs runs.
pub fn fill_tsc_khz(vm: VmId) {
    let cfg = vms::cfg(vm);
    let Some(at) = bootfill::tsc_khz_field(cfg.dtb, cfg.dtb_ipa.raw()) else {
        return;
    };
    let text = bootfill::tsc_khz_text(tsc_khz());
    let Some(gpa) = cfg.dtb_ipa.checked_add(at as u64) else {
        return;
    };
    match cfg.ram.piece(gpa, text.len() as u64) {
        // SAFETY: `hpa..hpa+9` is RAM of this VM (`piece`), mapped by the hypervisor's
        // identity map, and none of the VM's vCPUs runs while it is (re)loaded.
        Some((hpa, n)) if n >= text.len() as u64 => unsafe { memory::write(hpa.raw(), &text) },
        _ => {}
    }
}

/// CPUID leaf 0x15 (TSC to crystal ratio) for the measured TSC rate: Linux on Intel
/// takes the TSC frequency from it (crystal Hz times EBX over EAX) and then trusts it
/// without calibrating. The crystal is the TSC itself (ratio 1/1), or half, a quarter
/// ... of it when the rate does not fit ECX's 32 bits. Guests see the leaf only if
/// the host's maximum basic leaf (leaf 0) reaches 0x15.
pub fn tsc_crystal_leaf() -> [u32; 4] {
    let hz = tsc_khz().saturating_mul(1000);
    let mut ratio = 1u64;
    while hz / ratio > u64::from(u32::MAX) {
        ratio *= 2;
    }
    [1, ratio as u32, (hz / ratio) as u32, 0]
}
