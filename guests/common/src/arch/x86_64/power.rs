//! CPU and machine power on x86, behind the same calls as PSCI on aarch64:
//! - `cpu_on`: INIT-SIPI-SIPI through the ICR to the target's APIC id, the SIPI
//!   vector naming the real-mode trampoline (boot.rs); a hypervisor turns this into
//!   its CPU_ON. The primary waits (bounded) until the secondary reports in.
//! - `cpu_off`: the CPU marks itself off and halts with interrupts masked (x86 has
//!   no call for it; a hypervisor sees the HLT).
//! - `affinity_info`: the state the guest itself keeps per vCPU (x86 has no such
//!   query): on-pending after the SIPI, on once the secondary runs, off after
//!   `cpu_off`.
//! - `system_off`: ACPI S5 as the FADT says (acpi.rs); `system_reset`: the reset
//!   control register 0xCF9, then the keyboard controller, then a triple fault, or
//!   only the one `set_reset_method` chose.
//!
//! Return values follow PSCI so the callers do not fork: 0 success, negative errors.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::acpi::{self, PowerOff};
use super::apic;
use super::boot::{self, BOOT_CLAIM, SMP_INDEX, TRAMPOLINE};
use crate::{cpu, println, timer, MAX_VCPUS};

/// What the version line names: the boot protocol.
pub const INTERFACE: &str = "pvh";

pub const SUCCESS: i32 = 0;
pub const NOT_SUPPORTED: i32 = -1;
pub const INVALID_PARAMETERS: i32 = -2;
pub const ALREADY_ON: i32 = -4;
pub const INTERNAL_FAILURE: i32 = -6;

const STATE_OFF: u8 = 1;
const STATE_ON: u8 = 0;
const STATE_PENDING: u8 = 2;

/// Per vCPU index: its APIC id (set at `cpu_on`) and its state.
static APIC_IDS: [AtomicU64; MAX_VCPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_VCPUS];
static STATES: [AtomicU8; MAX_VCPUS] = [const { AtomicU8::new(STATE_OFF) }; MAX_VCPUS];
/// How the primary powers off (from the FADT), as a packed `PowerOff`.
static POWER_OFF: AtomicU64 = AtomicU64::new(0);

/// How long `cpu_on` waits for the secondary to run.
const START_TIMEOUT_US: u64 = 1_000_000;

/// Records how to power off (primary, at boot).
pub(crate) fn configure(how: PowerOff) {
    let packed = match how {
        PowerOff::Pm1aPort { port, slp_typ } => {
            1 << 32 | u64::from(slp_typ) << 16 | u64::from(port)
        }
        PowerOff::SleepControlPort { port, slp_typ } => {
            2 << 32 | u64::from(slp_typ) << 16 | u64::from(port)
        }
    };
    POWER_OFF.store(packed, Ordering::Relaxed);
}

fn power_off_method() -> PowerOff {
    let p = POWER_OFF.load(Ordering::Relaxed);
    let (port, slp_typ) = (p as u16, (p >> 16) as u8);
    match p >> 32 {
        2 => PowerOff::SleepControlPort { port, slp_typ },
        1 => PowerOff::Pm1aPort { port, slp_typ },
        _ => PowerOff::Pm1aPort {
            port: acpi::Q35_PM1A_CNT,
            slp_typ: 0,
        },
    }
}

/// The boot protocol's version: `hvm_start_info.version`, as (major, 0).
pub fn version() -> Result<(u16, u16), i32> {
    Ok((crate::arch::start_info_version() as u16, 0))
}

/// Marks the calling vCPU as running (the secondary entry, and the primary at boot).
pub(crate) fn mark_on(index: usize) {
    if let Some(s) = STATES.get(index) {
        s.store(STATE_ON, Ordering::Release);
    }
    if let Some(a) = APIC_IDS.get(index) {
        a.store(super::cpu::apic_id(), Ordering::Release);
    }
}

/// Starts vCPU `index` on the CPU with APIC id `target`: INIT, 10 ms, SIPI, 200 us,
/// SIPI again if it has not reported in; then waits (bounded) for it to run.
pub fn cpu_on(target: u64, index: usize) -> i32 {
    if index == 0 || index >= MAX_VCPUS {
        return INVALID_PARAMETERS;
    }
    if STATES[index].load(Ordering::Acquire) != STATE_OFF {
        return ALREADY_ON;
    }
    install_trampoline();
    APIC_IDS[index].store(target, Ordering::Relaxed);
    STATES[index].store(STATE_PENDING, Ordering::Relaxed);
    SMP_INDEX.store(index as u64, Ordering::Release);
    let vector = (TRAMPOLINE >> 12) as u8;
    apic::send(target, apic::ICR_INIT, 0);
    timer::delay_us(10_000);
    apic::send(target, apic::ICR_STARTUP, vector);
    timer::delay_us(200);
    if STATES[index].load(Ordering::Acquire) == STATE_PENDING {
        apic::send(target, apic::ICR_STARTUP, vector);
    }
    let deadline = timer::counter().saturating_add(timer::us_to_ticks(START_TIMEOUT_US));
    while STATES[index].load(Ordering::Acquire) == STATE_PENDING {
        if timer::counter() >= deadline {
            return INTERNAL_FAILURE;
        }
        cpu::relax();
    }
    SUCCESS
}

/// Copies the real-mode trampoline to its page below 1 MiB.
fn install_trampoline() {
    let code = boot::trampoline();
    for (i, b) in code.iter().enumerate() {
        // SAFETY: the trampoline page lies in the RAM below 1 MiB that the PVH memory
        // map gives every guest and that this image never uses otherwise.
        unsafe { core::ptr::write_volatile((TRAMPOLINE + i) as *mut u8, *b) };
    }
}

/// Marks this vCPU off and halts it for good.
pub fn cpu_off() -> i32 {
    if let Some(s) = STATES.get(cpu::index()) {
        s.store(STATE_OFF, Ordering::Release);
    }
    cpu::park()
}

/// The state of the vCPU with APIC id `target`: 0 on, 1 off, 2 on-pending, or
/// INVALID_PARAMETERS for an id no `cpu_on` named.
pub fn affinity_info(target: u64) -> i32 {
    APIC_IDS
        .iter()
        .position(|a| a.load(Ordering::Acquire) == target)
        .map(|i| i32::from(STATES[i].load(Ordering::Acquire)))
        .unwrap_or(INVALID_PARAMETERS)
}

/// How long the machine may take to act on a power-off or reset request (the
/// emulator finishes the current block of instructions first).
const POWER_GRACE_US: u64 = 100_000;

/// Powers off (ACPI S5); if the machine keeps running, reports it and parks.
pub fn system_off() -> ! {
    acpi::power_off(power_off_method());
    timer::delay_us(POWER_GRACE_US);
    println!(
        "guest: vcpu {} ACPI S5 ({:?}) did not power off",
        cpu::index(),
        power_off_method()
    );
    cpu::park()
}

/// How [`system_reset`] resets: every way in turn (the default), or only one.
static RESET_METHOD: AtomicU8 = AtomicU8::new(RESET_ANY);
const RESET_ANY: u8 = 0;
const RESET_CF9: u8 = 1;
const RESET_KBD: u8 = 2;
const RESET_TRIPLE: u8 = 3;

/// The reset methods [`set_reset_method`] knows, by name, with their numbers.
const RESET_METHODS: &[(&str, u8)] = &[
    ("cf9", RESET_CF9),
    ("kbd", RESET_KBD),
    ("triple", RESET_TRIPLE),
];

/// Makes [`system_reset`] use only the method `name` (`cf9`: the reset control
/// register; `kbd`: the keyboard controller's reset line; `triple`: a triple fault);
/// false for an unknown name (the default stays: each in turn).
pub fn set_reset_method(name: &str) -> bool {
    match RESET_METHODS.iter().find(|(n, _)| *n == name) {
        Some(&(_, m)) => {
            RESET_METHOD.store(m, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Resets: port 0xCF9 (full reset), the keyboard controller's reset line, then a
/// triple fault; with one method chosen ([`set_reset_method`]) only that one. Reports
/// and parks if the method returns.
pub fn system_reset() -> ! {
    BOOT_CLAIM.store(0, Ordering::SeqCst);
    let method = RESET_METHOD.load(Ordering::Relaxed);
    if matches!(method, RESET_ANY | RESET_CF9) {
        super::cpu::outb(0xcf9, 0x02);
        super::cpu::outb(0xcf9, 0x06);
        timer::delay_us(POWER_GRACE_US);
    }
    if matches!(method, RESET_ANY | RESET_KBD) {
        for _ in 0..1000 {
            if super::cpu::inb(0x64) & 2 == 0 {
                break;
            }
        }
        super::cpu::outb(0x64, 0xfe);
        timer::delay_us(POWER_GRACE_US);
    }
    if matches!(method, RESET_ANY | RESET_TRIPLE) {
        super::exception::triple_fault()
    }
    let name = RESET_METHODS
        .iter()
        .find(|&&(_, m)| m == method)
        .map_or("?", |(n, _)| n);
    println!(
        "guest: vcpu {} reset by {} did not reset",
        cpu::index(),
        name
    );
    cpu::park()
}
