//! The aarch64 backend's pieces against the machine contract: every side sizes and
//! numbers its state from it, and these asserts tie the copies together at compile
//! time.

use rtvisor_arch_aarch64::{chip, fast, gic, platform};
use rtvisor_config::contract::{self, aarch64};

const _: () = assert!(fast::MAX_CPUS == contract::MAX_CPUS);
const _: () = assert!(platform::MAX_CPUS == contract::MAX_CPUS);
const _: () = assert!(platform::MAX_MEM_BANKS == contract::MAX_RAM_BANKS);
const _: () = assert!(rtvisor_vdev::vgic::MAX_VCPUS == contract::MAX_VCPUS);
const _: () = assert!(rtvisor_vdev::vgic::NR_IRQS == aarch64::VGIC_INTIDS);
const _: () = assert!(gic::MAINTENANCE_INTID == aarch64::MAINTENANCE_INTID);
const _: () = assert!(gic::HYP_TIMER_INTID == aarch64::HYP_TIMER_INTID);
const _: () = assert!(gic::SGI_KICK == aarch64::SGI_KICK);
const _: () = assert!(gic::SGI_HALT == aarch64::SGI_HALT);
const _: () = assert!(chip::VTIMER_INTID == aarch64::VTIMER_INTID);
const _: () = assert!(chip::PTIMER_INTID == aarch64::PTIMER_INTID);
// Every doorbell GPIO line the device tree promises exists on the emulated PL061.
const _: () = assert!(aarch64::DOORBELL_GPIO_LINES as u32 <= rtvisor_vdev::pl061::LINES);
