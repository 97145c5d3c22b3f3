//! The light entry of data aborts from a guest (`rtvisor_dabt_entry` in the arch
//! crate's vectors), for the two kinds of emulated register a guest hits most:
//! - a 32-bit read of a fixed register of a virtual-mode VM's emulated distributor
//!   (GICD_TYPER, GICD_IIDR, ...), answered from this CPU's copies of the model's own
//!   answers, taken when the vCPU started (`Gic::copy_fixed`), without the VM and
//!   region lookups or the model's lock;
//! - any access to the VM's console UART (a kernel polls its flag register and writes
//!   its data register once per character it prints), emulated by the same code as
//!   on the full path (`devices::emulate`), without the rest of the register save,
//!   the generic decode and the exit handler around it.
//!
//! Everything else goes the full way, and so does a vCPU its VM no longer runs.

use super::entry::hosted;
use super::irq;
use crate::account;
use crate::host::HostImpl;
use crate::vms;
use core::sync::atomic::Ordering;
use rtvisor_arch_aarch64::decode::{self, LightAccess, Load};
use rtvisor_arch_aarch64::frame::GuestRegs;
use rtvisor_arch_aarch64::vcpu::HwEl1;
use rtvisor_arch_aarch64::{chip, cpu};
use rtvisor_core::account::Cause;
use rtvisor_core::devices;
use rtvisor_core::mmio::{self, DeviceKind};
use rtvisor_vdev::Width;

/// Entry from the vectors' data-abort path: only x0..x18 and x30 of `frame` are
/// valid (`decode::light_access` takes only accesses through those). Returns 1 when
/// the access is complete (the vector steps over the instruction), 0 for the full
/// path (`rtvisor_exception`), which counts it then.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_dabt(frame: &mut GuestRegs, esr: u64) -> u64 {
    // The distributor reads first: no write decoding, no stack frame (the console
    // path is out of line).
    if let Some(load) = decode::light_load(esr) {
        if fixed_read(frame, load) {
            return 1;
        }
    }
    match decode::light_access(esr, &frame.x) {
        Some(access) => console(frame, access),
        None => 0,
    }
}

/// A read of a fixed distributor register from this CPU's copies; `false` if it is
/// not one (or this CPU has no copies: a direct-mode vCPU's).
#[inline(always)]
fn fixed_read(frame: &mut GuestRegs, load: Load) -> bool {
    let copies = chip::light_copies(cpu::this_index() as usize);
    let Some(copies) = copies.filter(|c| c.in_use()) else {
        return false;
    };
    let Some(off) = chip::light_offset(load, &HwEl1) else {
        return false;
    };
    let t = account::start();
    let Some(value) = copies.read(load, off) else {
        return false;
    };
    if let Some(r) = frame.x.get_mut(usize::from(load.reg)) {
        *r = value;
    }
    t.count(Cause::Mmio);
    crate::stats::exit();
    t.finish(Cause::Mmio);
    true
}

/// The emulated PL011's page: its region starts at the VM's `uart` address.
const UART_PAGE: u64 = 0x1000;

/// An access to the VM's console UART, emulated as the full path's exit handler
/// emulates it (its interrupt line driven after it); 0 for anything else, an access
/// width the UART would refuse (the full path injects the fault), or a vCPU its VM
/// no longer runs (the full path parks it). Out of line, so that the distributor
/// reads above run without its stack frame (callee-saved registers to keep).
#[inline(never)]
fn console(frame: &mut GuestRegs, access: LightAccess) -> u64 {
    let width = access.load.width;
    if width == Width::Double {
        return 0;
    }
    let ipa = decode::abort_ipa(&HwEl1);
    let (_, me, vm, vcpu) = hosted();
    // Not the UART's page (a direct-mode VM's distributor read, say): the full path,
    // without the VM's region lookup.
    if ipa.align_down(UART_PAGE) != vms::cfg(vm).uart.align_down(UART_PAGE) {
        return 0;
    }
    let t = account::start();
    let done = vms::with_ctx(vm, |ctx| {
        let (region, off) = mmio::find(ctx.regions, ipa)?;
        let dev = region.device();
        let ours = matches!(dev.kind, DeviceKind::Pl011) && ctx.life.should_run(vcpu);
        if !ours {
            return None;
        }
        devices::emulate(vcpu, dev, off, width, access.store, ctx, &HostImpl).ok()
    });
    let Some(loaded) = done else {
        return 0;
    };
    t.count(Cause::Mmio);
    crate::stats::exit();
    if let (Some(v), None) = (loaded, access.store) {
        if let Some(r) = frame.x.get_mut(usize::from(access.load.reg)) {
            *r = access.load.value(v);
        }
    }
    // The UART's line may have been raised for this vCPU.
    if !irq::is_direct(vm) && me.arch.lr_dirty.load(Ordering::Relaxed) {
        irq::refresh_lrs(me, vm, vcpu);
    }
    t.finish(Cause::Mmio);
    1
}
