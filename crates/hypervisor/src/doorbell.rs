//! Doorbells of shared-memory regions: a peer rings region k (hypercall or doorbell
//! page), and every other running peer gets the region's doorbell interrupt, an
//! edge-triggered line (`SharedMap::doorbell`) raised through its interrupt
//! controller ([`IrqChip::pulse`]).
//!
//! A virtual-mode peer's line is injected into its emulated controller. A direct-mode
//! peer owns its interrupts: on aarch64 its doorbell is a physical SPI of the same
//! number, set up at VM start and taken back at stop like the VM's device SPIs, so no
//! doorbell of a previous run is delivered to the next.
//!
//! A virtual-mode peer also has the doorbell GPIO: ringing region k < 8 toggles its
//! line k, which a stock Linux turns into an input event (`gpio-keys`).

use crate::host::HostImpl;
use crate::vms;
use rtvisor_config::guest::DOORBELL_GPIO_LINES;
use rtvisor_config::tables::InterruptMode;
use rtvisor_core::devices;
use rtvisor_core::ids::VmId;
use rtvisor_core::seam::IrqChip;

/// VM `from` rings region `index`; `false` when it is not a peer of it.
pub fn ring(from: VmId, index: u64) -> bool {
    if !crate::config::ANY_SHARED {
        return false;
    }
    let mine = |vm: VmId| vms::cfg(vm).shared.iter().find(|m| m.index as u64 == index);
    if mine(from).is_none() {
        return false;
    }
    for vm in vms::ids().filter(|&v| v != from) {
        let Some(m) = mine(vm) else { continue };
        // Without the lifecycle lock: the state as of its last change.
        if !vms::rt(vm).life.is_running() {
            continue;
        }
        // Its kicks are this ring's: the accounting of the CPUs they reach says so.
        crate::account::ringing(|| {
            vms::with_ctx(vm, |ctx| {
                ctx.chip.pulse(ctx, &HostImpl, m.doorbell);
                let direct = ctx.cfg.interrupt_mode == InterruptMode::Direct;
                if !direct && m.index < DOORBELL_GPIO_LINES {
                    devices::gpio_doorbell(m.index as u32, ctx, &HostImpl);
                }
            })
        });
    }
    true
}
