//! A stopping (or restarting) VM's functions are stopped before its RAM is cleared
//! and reused: its guest's configuration accesses are shut out first (`STOPPED`),
//! then DMA and interrupts go off (`Function::quiesce`), every MSI-X entry is masked
//! and unrouted, and the function gets the reset it has: the virtio reset (device
//! status 0, waited for until it reads 0), or a function-level reset (100 ms, then
//! the BARs written back). Memory decoding is on for the reset and stays on after
//! it: the BARs never move, and each change of the host's decoding remaps them (on
//! QEMU 7.2 a remap can misroute another core's MMIO access in flight, docs/x86.md).

use super::{One, PCI, STOPPED};
use crate::error;
use crate::vms;
use core::sync::atomic::Ordering;
use rtvisor_arch_x86_64::timer;
use rtvisor_core::ids::VmId;
use rtvisor_vdev::pcicfg::{HostConfig, ResetMethod};
use rtvisor_vdev::Width;

/// Command register: memory space decoding, INTx disabled (no bus mastering).
const MEMORY_ONLY: u32 = (1 << 1) | (1 << 10);
/// How often the virtio status is read back before the reset is given up.
const STATUS_POLLS: u32 = 10_000;

/// VM `vm` stops or restarts: its functions are stopped and reset.
pub fn stopping(vm: VmId) {
    if vms::cfg(vm).pci.is_empty() {
        return;
    }
    let (Some(state), Some(stopped)) = (PCI.get(vm.index()), STOPPED.get(vm.index())) else {
        return;
    };
    stopped.store(true, Ordering::Release);
    super::intx::stop(vm);
    let mut guard = state.lock();
    let st = &mut *guard;
    for (index, slot) in st.owned.iter_mut().enumerate() {
        let (Some(o), Some(f)) = (slot.as_mut(), st.bus.function_mut(index)) else {
            continue;
        };
        let mut host = One(o.bdf, &o.config);
        let method = f.quiesce(&mut host);
        // Memory decoding on (bus mastering stays off: no DMA) while the hypervisor
        // masks every MSI-X entry and writes the virtio status; I/O decoding as it was.
        let io = host.read(o.bdf, 0x04) & 1;
        host.write(o.bdf, 0x04, MEMORY_ONLY | io);
        o.irq.reset();
        let done = match (method, &o.status) {
            (ResetMethod::VirtioStatus { .. }, Some((pages, at))) => {
                pages.write(*at, Width::Byte, 0);
                (0..STATUS_POLLS).any(|_| pages.read(*at, Width::Byte) == 0)
            }
            (ResetMethod::VirtioStatus { .. }, None) => false,
            (ResetMethod::Flr { reg }, _) => {
                f.start_flr(&mut host, reg);
                timer::delay_us(100_000);
                f.restore(&mut host);
                true
            }
            (ResetMethod::StopOnly, _) => true,
        };
        if !done {
            error!(
                "vm {}: PCI function {}: the virtio reset did not complete; it stays stopped",
                vms::cfg(vm).name,
                o.map.name
            );
        }
    }
}
