//! The list registers of the vCPU on this CPU: the kick's refresh (the IPI's and
//! the doorbell's shortcuts, then the general fold and fill) and the forwarded
//! timer's list-register value the vector uses.

use super::irq::{model, VTIMER};
use crate::percpu::PerCpu;
use core::sync::atomic::Ordering;
use rtvisor_arch_aarch64::chip::ModelGuard;
use rtvisor_arch_aarch64::{cpu, fast, ich};
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_vdev::vgic::{Kicked, Lr, LrState};

/// Most list registers the architecture allows.
const MAX_LRS: usize = 16;

/// Folds the list registers back into the vGIC model and loads the next pending
/// interrupts; asks for the maintenance interrupt only when some are left over.
#[inline(never)]
pub fn refresh_lrs(me: &PerCpu, vm: VmId, vcpu: VcpuId) {
    refresh_lrs_inline(me, cpu::this_index() as usize, vm, vcpu);
}

/// [`refresh_lrs`] inlined into its caller: for the kick's FIQ, whose IPI shortcut
/// then runs without a call (the other callers share the out-of-line copy).
#[inline(always)]
pub fn refresh_lrs_inline(me: &PerCpu, cpu: usize, vm: VmId, vcpu: VcpuId) {
    me.arch.lr_dirty.store(false, Ordering::Relaxed);
    let n = ich::lr_count();
    let empty = ich::empty_lrs();
    let all = (1u64 << n) - 1;
    // Every list register free and the fast timer's value set: the kick of an IPI
    // (an SGI posted) or of a doorbell (an SPI injected). The one new interrupt goes
    // into the first list register, the others stay free (no stack frame, no copy
    // of the list registers); or the model is already locked, SGIs folded, for the
    // general way.
    let m = model(vm);
    let v = vcpu.index();
    let kicked = if empty & all == all && fast::vtimer_lr(cpu) != 0 {
        if m.posted().any(v) {
            Some(m.lock_kick(v))
        } else if crate::config::ANY_SHARED && m.take_rung(v) {
            // Only a doorbell rings (`IrqChip::pulse`): an image without shared
            // memory has neither the test nor the receive.
            return kick_bell(vm, vcpu, n, empty);
        } else {
            None
        }
    } else {
        None
    };
    let general = match kicked {
        Some((_, Kicked::Nothing)) => {
            ich::set_hcr(ich::HCR_EN);
            return;
        }
        Some((_, Kicked::Load(lr))) => {
            ich::write_lr(0, ich::encode(&lr));
            ich::set_hcr(ich::HCR_EN);
            return;
        }
        Some((mut g, Kicked::General)) => {
            m.fold(&mut g);
            Some(g)
        }
        None => None,
    };
    refresh_general(vm, vcpu, n, empty, general);
}

/// The doorbell's kick of `vcpu` (every list register free, no SGI posted to it, a
/// pulse kicked it): the armed receive, which loads the posted SPI without the
/// model's lock, or the receive under it. Out of line, so that the IPI's kick keeps
/// its small frame.
#[inline(never)]
fn kick_bell(vm: VmId, vcpu: VcpuId, n: usize, empty: u64) {
    match model(vm).take_bell(vcpu.index()) {
        // The model holds it so already.
        Some(lr) => {
            ich::write_lr(0, lr);
            ich::set_hcr(ich::HCR_EN);
        }
        None => kick_bell_locked(vm, vcpu, n, empty),
    }
}

/// [`kick_bell`] under the lock. Out of line, so that the armed receive runs
/// without a stack frame.
#[inline(never)]
fn kick_bell_locked(vm: VmId, vcpu: VcpuId, n: usize, empty: u64) {
    let m = model(vm);
    let v = vcpu.index();
    match m.lock_kick_spi(v) {
        (_, Kicked::Nothing) => ich::set_hcr(ich::HCR_EN),
        (_, Kicked::Load(lr)) => {
            ich::write_lr(0, ich::encode(&lr));
            ich::set_hcr(ich::HCR_EN);
        }
        (mut g, Kicked::General) => {
            m.fold(&mut g);
            refresh_general(vm, vcpu, n, empty, Some(g));
        }
    }
}

/// The general list-register refresh, with the model locked already or not.
#[inline(never)]
fn refresh_general(vm: VmId, vcpu: VcpuId, n: usize, empty: u64, g: Option<ModelGuard<'_>>) {
    // Most cores have 4 list registers: their copy is then small enough to build
    // without a call to memset.
    if n <= COMMON_LRS {
        refresh::<COMMON_LRS>(vm, vcpu, n, empty, g);
    } else {
        refresh::<MAX_LRS>(vm, vcpu, n.min(MAX_LRS), empty, g);
    }
}

/// The list-register count most cores have.
const COMMON_LRS: usize = 4;

///
/// Only the list registers in use are read (ICH_ELRSR_EL2 names the empty ones) and
/// only the changed ones written. When the guest is done with every entry the model
/// loaded (the common case of a kick), the model refills the free ones without
/// folding entry by entry (`VGic::refill`).
#[inline(always)]
fn refresh<const N: usize>(
    vm: VmId,
    vcpu: VcpuId,
    n: usize,
    empty: u64,
    general: Option<ModelGuard<'_>>,
) {
    let cpu = cpu::this_index() as usize;
    let mut lrs = [Lr::INVALID; N];
    // The values read (0 for an empty one, which reads as Invalid in the model).
    let mut raw = [0u64; N];
    for (i, (lr, v)) in lrs.iter_mut().zip(raw.iter_mut()).enumerate().take(n) {
        if empty & (1 << i) == 0 {
            *v = ich::read_lr(i);
            *lr = ich::decode(*v);
        }
    }
    let (flush, prio) = {
        let mut g = match general {
            Some(g) => g,
            None => model(vm).lock(),
        };
        match g.refill(vcpu.index(), &mut lrs[..n]) {
            // The fast timer's value is kept by the register writes that change it
            // (`update_fast_timer`); it is only set here when it is not yet.
            Some(flush) if fast::vtimer_lr(cpu) != 0 => (flush, None),
            Some(flush) => (flush, g.priority(vcpu.index(), VTIMER)),
            None => {
                g.sync_lrs(vcpu.index(), &lrs[..n]);
                let flush = g.flush_lrs(vcpu.index(), &mut lrs[..n]);
                (flush, Some(g.priority(vcpu.index(), VTIMER).unwrap_or(0)))
            }
        }
    };
    for (i, (lr, &was)) in lrs.iter().zip(raw.iter()).enumerate().take(n) {
        let v = ich::encode(lr);
        if v != was {
            ich::write_lr(i, v);
        }
    }
    ich::set_hcr(ich::HCR_EN | if flush.underflow { ich::HCR_UIE } else { 0 });
    if let Some(prio) = prio {
        set_fast_timer(prio);
    }
}

/// Recomputes the list-register value the vector's fast path uses to deliver the
/// forwarded timer to this vCPU (its priority may have changed).
pub fn update_fast_timer(_me: &PerCpu, vm: VmId, vcpu: VcpuId) {
    set_fast_timer(model(vm).lock().priority(vcpu.index(), VTIMER).unwrap_or(0));
}

/// The forwarded timer's list-register value at priority `prio`, for the vector.
fn set_fast_timer(prio: u8) {
    let lr = Lr {
        intid: VTIMER,
        state: LrState::Pending,
        priority: prio,
        group1: true,
        hw: Some(VTIMER),
    };
    fast::set_vtimer_lr(cpu::this_index() as usize, ich::encode(&lr));
}
