//! The light entry of data aborts from a guest (`rtvisor_dabt_entry` in the arch
//! crate's vectors): a 32-bit read of a fixed register of a virtual-mode VM's emulated
//! distributor (GICD_TYPER, GICD_IIDR, ...) is answered here from this CPU's copies of
//! the model's own answers, taken when the vCPU started (`Gic::copy_fixed`), without
//! the rest of the register save, the exit handler, the VM and region lookups or the
//! model's lock. Everything else goes the full way.

use crate::account;
use rtvisor_arch_aarch64::frame::GuestRegs;
use rtvisor_arch_aarch64::vcpu::HwEl1;
use rtvisor_arch_aarch64::{chip, cpu, decode};
use rtvisor_core::account::Cause;

/// Entry from the vectors' data-abort path: only x0..x18 and x30 of `frame` are
/// valid (`decode::light_load` takes only loads into those). Returns 1 when the load
/// is complete (the vector steps over the instruction), 0 for the full path
/// (`rtvisor_exception`), which counts it then.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_dabt(frame: &mut GuestRegs, esr: u64) -> u64 {
    let Some(load) = decode::light_load(esr) else {
        return 0;
    };
    // A direct-mode vCPU's CPU has none: it leaves here.
    let copies = chip::light_copies(cpu::this_index() as usize);
    let Some(copies) = copies.filter(|c| c.in_use()) else {
        return 0;
    };
    let Some(off) = chip::light_offset(load, &HwEl1) else {
        return 0;
    };
    let t = account::start();
    let Some(value) = copies.read(load, off) else {
        return 0;
    };
    if let Some(r) = frame.x.get_mut(usize::from(load.reg)) {
        *r = value;
    }
    t.count(Cause::Mmio);
    crate::stats::exit();
    t.finish(Cause::Mmio);
    1
}
