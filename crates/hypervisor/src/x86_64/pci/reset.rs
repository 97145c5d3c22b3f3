//! A stopping (or restarting) VM's functions are stopped before its RAM is cleared
//! and reused: decoding, DMA and interrupts off (`Function::quiesce`), every MSI-X
//! entry masked and unrouted, then the reset the function has: the virtio reset
//! (device status 0, waited for until it reads 0), or a function-level reset
//! (100 ms, then the BARs written back).

use super::{One, PCI};
use crate::error;
use crate::vms;
use rtvisor_arch_x86_64::timer;
use rtvisor_core::ids::VmId;
use rtvisor_vdev::pcicfg::{HostConfig, ResetMethod};
use rtvisor_vdev::Width;

/// Command register: memory space decoding, INTx disabled.
const MEMORY_ONLY: u32 = (1 << 1) | (1 << 10);
/// How often the virtio status is read back before the reset is given up.
const STATUS_POLLS: u32 = 10_000;

/// VM `vm` stops or restarts: its functions are stopped and reset.
pub fn stopping(vm: VmId) {
    if vms::cfg(vm).pci.is_empty() {
        return;
    }
    let Some(state) = PCI.get(vm.index()) else {
        return;
    };
    let mut guard = state.lock();
    let st = &mut *guard;
    for (index, slot) in st.owned.iter_mut().enumerate() {
        let (Some(o), Some(f)) = (slot.as_mut(), st.bus.function_mut(index)) else {
            continue;
        };
        let mut host = One(o.bdf, &o.config);
        let method = f.quiesce(&mut host);
        o.irq.reset();
        let done = match method {
            ResetMethod::VirtioStatus { bar, offset } => o.bar(bar).is_some_and(|(b, pages)| {
                // The status byte is in a BAR: decoding on (no DMA: bus master stays
                // off) for the write and the wait, off again after.
                host.write(o.bdf, 0x04, MEMORY_ONLY);
                let at = b.base + u64::from(offset);
                pages.write(at, Width::Byte, 0);
                let ok = (0..STATUS_POLLS).any(|_| pages.read(at, Width::Byte) == 0);
                host.write(o.bdf, 0x04, 1 << 10);
                ok
            }),
            ResetMethod::Flr { reg } => {
                f.start_flr(&mut host, reg);
                timer::delay_us(100_000);
                f.restore(&mut host);
                true
            }
            ResetMethod::StopOnly => true,
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
