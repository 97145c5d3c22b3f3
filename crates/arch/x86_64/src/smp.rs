//! Application processors: started one at a time with INIT-SIPI-SIPI through the
//! real-mode trampoline, each on its own stack; CPU indices follow the MADT's order
//! with the BSP as 0.

use crate::acpi::madt::MAX_CPUS;
use crate::platform::{self, Platform};
use crate::pt::{Perm, PAGE};
use crate::trampoline::{self, Patch};
use crate::{apic, boot, cpu, idt, timer};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The stack the next AP starts on (read by `x86_ap_start64`).
#[unsafe(no_mangle)]
static X86_AP_STACK_TOP: AtomicU64 = AtomicU64::new(0);
/// The index of the next AP (read by `x86_ap_start64`).
#[unsafe(no_mangle)]
static X86_AP_INDEX: AtomicU64 = AtomicU64::new(0);

const NO_CPU: u32 = u32::MAX;
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(NO_CPU) }; MAX_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(0);
/// The index of the last AP that reached `ap_init` / `ap_park`.
static STARTED: AtomicUsize = AtomicUsize::new(0);
static PARKED: AtomicUsize = AtomicUsize::new(0);

/// Why an AP did not come up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// No free page below 1 MiB for the trampoline.
    NoTrampolinePage,
    /// The trampoline page could not be made executable.
    PageTables,
    /// More CPUs than [`MAX_CPUS`].
    TooMany,
    /// The local APIC could not send the IPI (an id beyond xAPIC's 8 bits).
    Ipi,
    /// The AP did not reach 64-bit code after two SIPIs.
    NoResponse,
    /// The AP started but did not finish its start-up work in time.
    Stuck,
}

/// The CPU index of APIC id `apic`.
pub fn index_of(apic: u32) -> Option<usize> {
    APIC_IDS
        .iter()
        .position(|a| a.load(Ordering::Acquire) == apic)
}

/// The calling CPU's index: the stack slot it runs on (`boot::stack_index`, a few
/// instructions on every hot path), else, on an interrupt stack, the one its APIC id
/// was recorded at.
#[inline(always)]
pub fn this_index() -> Option<usize> {
    match boot::stack_index() {
        Some(i) => Some(i),
        None => index_of(crate::apic::id()),
    }
}

/// CPUs running (the BSP included).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

pub(crate) fn register_bsp(apic: u32) {
    APIC_IDS[0].store(apic, Ordering::Release);
    ONLINE.store(1, Ordering::Release);
}

/// Copies the trampoline to its page and makes the page executable (not writable).
fn install(p: &Platform, page: u64) -> Result<u8, StartError> {
    let vector = u8::try_from(page / PAGE).map_err(|_| StartError::NoTrampolinePage)?;
    let (blob, pm_offset) = boot::trampoline_blob();
    let patch = Patch {
        base: page as u32,
        pm_offset,
        lm_entry: boot::x86_ap_start64 as unsafe extern "C" fn() as usize as u32,
        cr3: u32::try_from(p.pt_root).map_err(|_| StartError::PageTables)?,
    };
    // SAFETY: the page is free RAM below 1 MiB (trampoline::pick_page), mapped RW in
    // the final tables and used by nothing else.
    let dst = unsafe { core::slice::from_raw_parts_mut(page as *mut u8, PAGE as usize) };
    let copy = dst
        .get_mut(..blob.len())
        .ok_or(StartError::NoTrampolinePage)?;
    copy.copy_from_slice(blob);
    trampoline::patch(copy, &patch).ok_or(StartError::NoTrampolinePage)?;
    // SAFETY: BSP only; no AP runs yet; the page holds only the trampoline.
    if !unsafe { platform::set_perm(p, page, Perm::Rx) } {
        return Err(StartError::PageTables);
    }
    Ok(vector)
}

fn start_one(index: usize, apic_id: u32, vector: u8) -> Result<(), StartError> {
    APIC_IDS[index].store(apic_id, Ordering::Release);
    X86_AP_STACK_TOP.store(boot::stack_top(index), Ordering::Release);
    X86_AP_INDEX.store(index as u64, Ordering::Release);
    let started = || STARTED.load(Ordering::Acquire) == index;
    if !apic::send_init(apic_id) {
        return Err(StartError::Ipi);
    }
    timer::delay_us(10_000);
    for _ in 0..2 {
        if !apic::send_startup(apic_id, vector) {
            return Err(StartError::Ipi);
        }
        if timer::wait_until(200_000, started) {
            break;
        }
    }
    if !started() {
        APIC_IDS[index].store(NO_CPU, Ordering::Release);
        return Err(StartError::NoResponse);
    }
    if !timer::wait_until(5_000_000, || PARKED.load(Ordering::Acquire) == index) {
        return Err(StartError::Stuck);
    }
    Ok(())
}

/// Starts every CPU of the MADT but the BSP, one after the other; `report` hears of
/// each (index, APIC id, result). The trampoline page is unmapped afterwards.
pub fn start_aps(p: &Platform, mut report: impl FnMut(usize, u32, Result<(), StartError>)) {
    let Ok(madt) = &p.madt else { return };
    let others = madt.apic_ids().iter().filter(|&&a| a != p.bsp_apic_id);
    let Some(page) = p.trampoline else {
        others.for_each(|&a| report(0, a, Err(StartError::NoTrampolinePage)));
        return;
    };
    let vector = match install(p, page) {
        Ok(v) => v,
        Err(e) => {
            others.for_each(|&a| report(0, a, Err(e)));
            return;
        }
    };
    for (i, &apic_id) in others.enumerate() {
        let index = i + 1;
        let r = if index >= MAX_CPUS {
            Err(StartError::TooMany)
        } else {
            start_one(index, apic_id, vector)
        };
        report(index, apic_id, r);
    }
    // SAFETY: BSP only; every AP left the trampoline (or never reached it and is
    // still waiting for a SIPI, which fetches nothing through paging).
    unsafe { platform::set_perm(p, page, Perm::None) };
}

/// The first Rust code of an AP: the BSP's CR4 bits, its GDT and TSS, the IDT, the
/// local APIC.
pub fn ap_init(index: usize, p: &Platform) {
    // SAFETY: the same CR4 and CR0 bits the BSP set, which this CPU supports too.
    unsafe {
        let mut cr4 = cpu::cr4();
        if p.features.smep {
            cr4 |= cpu::CR4_SMEP;
        }
        if p.features.smap {
            cr4 |= cpu::CR4_SMAP;
        }
        cpu::write_cr4(cr4);
    }
    crate::gdt::load(index);
    idt::load();
    apic::enable(p.x2apic);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    STARTED.store(index, Ordering::Release);
}

/// The APIC id of CPU `index`, once it was started (the BSP's from boot on).
pub fn apic_id(index: usize) -> Option<u32> {
    let id = APIC_IDS.get(index)?.load(Ordering::Acquire);
    (id != NO_CPU).then_some(id)
}

/// Ends an AP's start-up without parking it: the BSP may start the next one; the
/// caller goes on (the hypervisor's APs wait for their turn to go online).
pub fn ap_ready(index: usize) {
    PARKED.store(index, Ordering::Release);
}

/// Ends an AP's start-up: the BSP may start the next one; this one halts (an NMI
/// reaches it).
pub fn ap_park(index: usize) -> ! {
    PARKED.store(index, Ordering::Release);
    cpu::halt_forever()
}
