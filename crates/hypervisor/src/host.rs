//! The services the core's exit handler asks of the hypervisor ([`Host`]): kicks,
//! console lines, lifecycle reports, the bounded wait for a stop, doorbells, the
//! watchdog.

use crate::backend::{Arch, Backend, Clock};
use crate::{info, log, vms};
use core::sync::atomic::Ordering;
use rtvisor_core::handler::{self, Contained, Host};
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::seam::Timer;
use rtvisor_core::vm::{GiveUp, StopReason};
use rtvisor_vdev::{MmioError, Width};

/// How long a stop or restart waits for the VM's vCPUs to park before it reports the
/// VM unresponsive. A kick reaches a vCPU in microseconds; the bound covers a vCPU
/// busy in a long exit (reloading a large VM) on a slow machine.
const SETTLE_MS: u64 = 1000;
/// How often a stop or restart kicks the VM's vCPUs again while it waits.
const REKICK_MS: u64 = 1;

/// Services the core handler asks of the hypervisor.
#[derive(Debug)]
pub struct HostImpl;

impl Host for HostImpl {
    fn kick(&self, vm: VmId, vcpu: VcpuId) {
        if let Some(cpu) = vms::cpu_of(vm, vcpu) {
            Arch::kick(cpu);
        }
    }
    fn console_line(&self, vm: VmId, line: &[u8]) {
        log::vm_line(vm, vms::cfg(vm).name, line);
    }
    fn console_live(&self, vm: VmId) -> bool {
        crate::shell::focus() == Some(vm)
    }
    fn console_partial(&self, vm: VmId, pending: &[u8]) {
        log::vm_partial(vm, vms::cfg(vm).name, pending);
    }
    fn vm_quiesce(&self, vm: VmId) {
        crate::faults::reset(vm);
        take_devices_back(vm);
        crate::watchdog::reset(vm);
    }
    fn vm_stopped(&self, vm: VmId, reason: StopReason, late: bool) {
        let name = vms::cfg(vm).name;
        if late {
            // Counted as stopped when it was reported unresponsive.
            info!("vm {name}: stopped ({reason}): its last vCPU parked late");
            return;
        }
        info!("vm {name}: stopped ({reason})");
        vms::vm_down();
    }
    fn settle(&self, vm: VmId) {
        let life = &vms::rt(vm).life;
        let bound = Clock::frequency() / 1000 * SETTLE_MS;
        let mut deadline = Clock::now().saturating_add(bound);
        let every = Clock::frequency() / 1000 * REKICK_MS;
        let mut rekick = Clock::now().saturating_add(every);
        while !life.settled() {
            let now = Clock::now();
            if now >= rekick {
                // A kick that reached a vCPU just before it entered its guest (x86
                // direct mode: an NMI taken by the hypervisor) is sent again.
                for v in 0..vms::cfg(vm).cpus.len() {
                    self.kick(vm, VcpuId::new(v));
                }
                rekick = now.saturating_add(every);
            }
            if life.loading() {
                // vCPU 0 is reloading a large image: its acknowledgement comes when it
                // enters the guest; the bound starts from there.
                deadline = now.saturating_add(bound);
            } else if now >= deadline {
                break;
            }
            Arch::relax();
        }
        match life.give_up() {
            GiveUp::Settled => {}
            GiveUp::Completed(done) => {
                vms::with_ctx(vm, |ctx| handler::completed(done, None, ctx, self));
            }
            GiveUp::Unresponsive(late) => {
                crate::error!(
                    "vm {}: unresponsive: vcpu mask {:#x} did not stop within {SETTLE_MS} \
                     ms; the VM is not restarted and its memory is not reused until they do",
                    vms::cfg(vm).name,
                    late.0
                );
                vms::vm_down();
            }
        }
    }
    fn vm_started(&self, vm: VmId) {
        vms::RUNNING.fetch_add(1, Ordering::AcqRel);
        info!("vm {}: started (shell)", vms::cfg(vm).name);
    }
    fn vm_restarting(&self, vm: VmId, reason: StopReason) {
        info!("vm {}: restarting ({})", vms::cfg(vm).name, reason);
    }
    fn contained(&self, vm: VmId, what: Contained) {
        crate::faults::contained(vm, what);
    }
    fn ring(&self, vm: VmId, index: u64) -> bool {
        crate::doorbell::ring(vm, index)
    }
    fn doorbells(&self) -> bool {
        crate::config::ANY_SHARED
    }
    fn watchdog_arm(&self, vm: VmId, _me: VcpuId, ms: u64) {
        crate::watchdog::arm(vm, ms);
    }
    fn watchdog_kick(&self, vm: VmId, _me: VcpuId) -> bool {
        crate::watchdog::kick(vm)
    }
    fn el2_window(&self, vm: VmId, me: VcpuId, close: bool) {
        let cpu = crate::percpu::this_index();
        if let Some(a) = crate::account::window(close) {
            // Printed after the window closed; `cargo xtask bench` reads this line.
            info!(
                "{} vm {} vcpu {me} cpu {cpu} timed={}: {a}",
                rtvisor_core::account::WINDOW_MARK,
                vms::cfg(vm).name,
                u8::from(crate::account::BUILT),
            );
        }
    }
    fn flash(&self, vm: VmId, off: u64, w: Width, value: Option<u64>) -> Result<u64, MmioError> {
        crate::flash::access(vm, off, w, value)
    }
    fn pc_device(
        &self,
        vm: VmId,
        kind: rtvisor_core::mmio::DeviceKind,
        off: u64,
        w: Width,
        value: Option<u64>,
    ) -> Result<u64, MmioError> {
        Arch::pc_device(vm, kind, off, w, value)
    }
}

/// When VM `vm` stops (or restarts): its devices are quiesced where the hypervisor
/// knows how (a virtio-mmio transport is reset: Status = 0 stops its queues, so it no
/// longer reads or writes the VM's RAM, which is about to be cleared), and the backend
/// takes its interrupts back.
fn take_devices_back(vm: VmId) {
    /// virtio-mmio `Status` register; writing 0 resets the device.
    const VIRTIO_STATUS: u64 = 0x70;
    for base in vms::cfg(vm).devices.iter().filter_map(|d| d.virtio_mmio) {
        if let Some(status) = base.checked_add(VIRTIO_STATUS) {
            // SAFETY: a virtio-mmio transport of this VM, mapped as device memory in
            // the hypervisor's tables at boot (`boot::primary` names it to the
            // backend); Status is a 32-bit register, and resetting the device is what
            // stopping its VM means.
            unsafe { Arch::write_device_u32(status, 0) };
        }
    }
    Arch::vm_stopping(vm);
}
