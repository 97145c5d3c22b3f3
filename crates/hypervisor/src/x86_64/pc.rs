//! Each x86 VM's PC devices: the 8254 PIT with port B (`rtvisor_vdev::pit`) and the
//! MC146818 RTC with its CMOS RAM (`rtvisor_vdev::rtc`), behind a per-VM lock (an
//! aarch64 VM's machine has none). The PIT counts the hypervisor's clock (the TSC)
//! converted to its 1,193,182 Hz input clock; the RTC reads the host RTC's date at
//! boot plus the clock's seconds since, and a VM that sets its own RTC moves only
//! its own. Both are back to their reset state at every VM start.

use crate::backend::Clock;
use crate::config::CONFIG_VM_COUNT;
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_core::ids::VmId;
use rtvisor_core::mmio::DeviceKind;
use rtvisor_core::seam::Timer;
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::pit::{self, Pit, PIT_HZ};
use rtvisor_vdev::rtc::Rtc;
use rtvisor_vdev::{MmioError, Width};

/// One VM's devices.
struct Pc {
    pit: Pit,
    rtc: Rtc,
}

static PC: [Mutex<Pc>; CONFIG_VM_COUNT] = [const {
    Mutex::new(Pc {
        pit: Pit::new(),
        rtc: Rtc::new(),
    })
}; CONFIG_VM_COUNT];

/// Seconds since 1970 at the clock's zero: the host RTC's date at boot, less the
/// clock's seconds then (0 when the host has no RTC that answers: 1970-01-01).
static EPOCH_AT_ZERO: AtomicU64 = AtomicU64::new(0);

/// At boot: the host RTC's date starts every VM's RTC.
pub fn set_host_date(unix_secs: u64) {
    let since_zero = Clock::now() / Clock::frequency().max(1);
    EPOCH_AT_ZERO.store(unix_secs.saturating_sub(since_zero), Ordering::Relaxed);
}

/// VM `vm` (re)starts: its PIT is unprogrammed again, its RTC at the host's date.
pub fn reset(vm: VmId) {
    if let Some(p) = PC.get(vm.index()) {
        let mut p = p.lock();
        p.pit = Pit::new();
        p.rtc = Rtc::new();
    }
}

/// The PIT's input clocks since the hypervisor's clock started.
fn pit_now() -> u64 {
    let hz = Clock::frequency().max(1);
    (u128::from(Clock::now()) * u128::from(PIT_HZ) / u128::from(hz)) as u64
}

/// Seconds since 1970.
fn rtc_now() -> u64 {
    let secs = Clock::now() / Clock::frequency().max(1);
    EPOCH_AT_ZERO.load(Ordering::Relaxed).saturating_add(secs)
}

/// One access of VM `vm` at offset `off` of its device `kind`'s ports.
pub fn access(
    vm: VmId,
    kind: DeviceKind,
    off: u64,
    w: Width,
    value: Option<u64>,
) -> Result<u64, MmioError> {
    let mut p = PC.get(vm.index()).ok_or(MmioError::NoRegister)?.lock();
    match (kind, value) {
        (DeviceKind::Pit, None) => p.pit.read(off, w, pit_now()),
        (DeviceKind::Pit, Some(v)) => p.pit.write(off, w, v, pit_now()).map(|()| 0),
        (DeviceKind::PortB, None) => p.pit.read(pit::PORT_B, w, pit_now()),
        (DeviceKind::PortB, Some(v)) => p.pit.write(pit::PORT_B, w, v, pit_now()).map(|()| 0),
        (DeviceKind::Rtc, None) => p.rtc.read(off, w, rtc_now()),
        (DeviceKind::Rtc, Some(v)) => p.rtc.write(off, w, v, rtc_now()).map(|()| 0),
        _ => Err(MmioError::NoRegister),
    }
}
