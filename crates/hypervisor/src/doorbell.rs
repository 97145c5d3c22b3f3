//! Doorbells of shared-memory regions: a peer rings region k (hypercall or doorbell
//! page), and every other running peer gets the region's doorbell interrupt, an
//! edge-triggered SPI (`SharedMap::doorbell`).
//!
//! Virtual mode: injected into the peer's vGIC. Direct mode: the peer owns the
//! physical GIC, so the physical SPI of the same number is made pending; like the
//! VM's device SPIs it is set up at VM start and taken back at stop (`passthru`), so
//! no doorbell of a previous run is delivered to the next.
//!
//! A virtual-mode peer also has the doorbell GPIO: ringing region k < 8 toggles its
//! line k, which a stock Linux turns into an input event (`gpio-keys`).

use crate::irq;
use crate::run::HostImpl;
use crate::vms;
use rtvisor_arch_aarch64::spi;
use rtvisor_config::guest::DOORBELL_GPIO_LINES;
use rtvisor_core::devices;
use rtvisor_core::ids::VmId;
use rtvisor_core::vm::VmState;

/// VM `from` rings region `index`; `false` when it is not a peer of it.
pub fn ring(from: VmId, index: u64) -> bool {
    let mine = |vm: VmId| vms::cfg(vm).shared.iter().find(|m| m.index as u64 == index);
    if mine(from).is_none() {
        return false;
    }
    for vm in vms::ids().filter(|&v| v != from) {
        let Some(m) = mine(vm) else { continue };
        if vms::rt(vm).life.status().0 != VmState::Running {
            continue;
        }
        if irq::is_direct(vm) {
            spi::set_pending(m.doorbell);
        } else {
            let n = vms::rt(vm).gic.lock().inject(m.doorbell, 0);
            irq::vgic_changed(vm, None, &n);
            if m.index < DOORBELL_GPIO_LINES {
                vms::with_ctx(vm, |ctx| {
                    devices::gpio_doorbell(m.index as u32, ctx, &HostImpl)
                });
            }
        }
    }
    true
}
