//! The hypervisor's interrupts on a CPU that runs a vCPU: the exit an interrupt
//! caused ([`interrupted`]), the pending bits taken ([`interrupts`]), and the sleep
//! of a halted vCPU ([`halt`]).
//!
//! Every vCPU owns its core (a VM's vCPU i runs on its `cpus[i]`), so a halted vCPU
//! sleeps on its own CPU, and its guest timer is that CPU's APIC timer, programmed
//! a little before the guest's deadline (`rtvisor_arch_x86_64::advance`). The wake
//! that only the guest timer caused (the interrupt-driven wait of an RT guest: arm
//! the deadline, STI;HLT) takes the short way, [`timer_wake`]: the timer expires at
//! its deadline and its vector is delivered under one hold of the APIC's lock, then
//! the CPU holds until the deadline and enters the guest, without the general look
//! at the CPU's interrupts, the core's handler or a second delivery. Every other
//! wake (a kick: another CPU's interrupt for this vCPU, the shell's stop, a VM's
//! restart; the watchdog's deadline; both deadlines at once) goes the general way.

use super::world::{handle, Next, Seat};
use crate::percpu::PerCpu;
use crate::{account, vms};
use core::sync::atomic::Ordering;
use rtvisor_arch_x86_64::advance;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::exit::Decoded;
use rtvisor_arch_x86_64::irq::{self, PENDING_DEVICE, PENDING_KICK, PENDING_TIMER};
use rtvisor_core::account::Cause;
use rtvisor_core::account::IrqKind;
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::ids::CpuId;

/// HLT of the vCPU of `seat`, with nothing it can take now: this CPU sleeps until
/// an interrupt (its APIC timer early for the guest timer, `timers::program_early`),
/// then takes it the short way ([`timer_wake`]: the CPU then holds until the guest's
/// deadline before it enters the guest) or the general one.
pub(super) fn halt(seat: Seat, engine: &mut Engine, d: Decoded) -> Next {
    let Seat { cpu, me, .. } = seat;
    super::timers::program_early(me);
    irq::wait();
    let bits = irq::take(cpu.index());
    if let Some(at) = timer_wake(seat, engine, bits) {
        return Next::Hold(at);
    }
    if pending(cpu, me, bits, &mut None, Wake::Interrupt) {
        handle(seat, engine, d, None, VcpuExit::Interrupt);
    }
    Next::Deliver
}

/// The short way of a wake (`bits` the CPU's pending bits): when the guest timer's
/// deadline is at most the advance ahead (the early wake) or passed, alone
/// (`advance::guest_soon`), the vCPU's APIC timer expires at that deadline and its
/// pending vector is delivered to `engine` (injected, or the window asked for), as
/// the general way's `guestirq::on_timer` and `guestirq::deliver` do, under one hold
/// of the APIC's lock; the APIC timer is programmed for what is left. Returns the
/// host TSC until which the CPU holds before it enters the guest (the deadline), or
/// `None`, having changed nothing, when the wake is not that one.
fn timer_wake(seat: Seat, engine: &mut Engine, bits: u32) -> Option<u64> {
    let Seat { cpu, me, vm, vcpu } = seat;
    if bits != PENDING_TIMER {
        return None;
    }
    let guest = me.arch.vtimer.load(Ordering::Relaxed);
    let watchdog = me.arch.wd_deadline.load(Ordering::Relaxed);
    let now = irq::rdtsc();
    let advance = super::timers::advance(me);
    if !advance::guest_soon(true, now, guest, watchdog, advance) {
        return None;
    }
    let rt = vms::rt(vm);
    let apic = rt.chip.apic(vcpu)?;
    super::timers::fired(me);
    // The timer expires at its deadline (the CPU holds until then), or now if later.
    // Guest TSC = host TSC - the VM's offset (`hw::ApicSide`).
    let offset = rt.counter_offset.load(Ordering::Relaxed);
    let expiry = now.max(guest).wrapping_sub(offset);
    let next = {
        let mut a = apic.lock();
        let next = a.expire(expiry);
        if !engine.hw_apic(&mut a) {
            let vector = a.pending();
            engine.deliver(vector, |v| a.take(v));
        }
        next
    };
    let host = next.map_or(0, |t| t.saturating_add(offset).max(1));
    me.arch.vtimer.store(host, Ordering::Relaxed);
    super::timers::program(me);
    crate::stats::irq_on(cpu, IrqKind::Vtimer);
    Some(guest)
}

/// An exit that an interrupt caused (or, in direct mode, the NMI kick): takes this
/// CPU's pending interrupts and, if another CPU kicked this one, runs the core's
/// handler; `t` counts the exit as the first cause found.
#[inline(always)]
pub(super) fn interrupted(seat: Seat, engine: &mut Engine, d: Decoded, t: account::Entry) {
    let mut found = None;
    let bits = irq::take(seat.cpu.index());
    let kicked = pending(seat.cpu, seat.me, bits, &mut found, Wake::Interrupt);
    let cause = found.unwrap_or(Cause::Spurious);
    t.count(cause);
    if kicked {
        handle(seat, engine, d, None, VcpuExit::Interrupt);
    }
    t.finish(cause);
}

/// Takes this CPU's pending interrupts: the timer's work is done here; returns
/// whether another CPU kicked this one. `found` gets the first cause (accounting).
pub fn interrupts(cpu: CpuId, me: &PerCpu, found: &mut Option<Cause>) -> bool {
    pending(cpu, me, irq::take(cpu.index()), found, Wake::Look)
}

/// Why [`pending`] looks at the pending bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// An interrupt came (an exit or a wake from HLT): finding nothing to do is a
    /// spurious interrupt (`irq stats`).
    Interrupt,
    /// A look with no interrupt behind it (the idle loop, before a direct-mode entry).
    Look,
}

/// [`interrupts`] with the pending bits taken already.
fn pending(cpu: CpuId, me: &PerCpu, bits: u32, found: &mut Option<Cause>, why: Wake) -> bool {
    let mut any = false;
    if bits & PENDING_TIMER != 0 {
        super::timers::fired(me);
    }
    // A deadline passed counts as the timer's interrupt even before it came (VT-x's
    // preemption timer may end the guest's run first).
    if bits & PENDING_TIMER != 0 || super::timers::due(me) {
        any = true;
        let due = super::timers::which_due(me);
        // The guest timer's expiry programs the APIC timer for the deadlines left
        // (the watchdog's and the guest timer's, `timers.rs`), as the watchdog's
        // check does; with neither due (an APIC timer in one-shot mode may fire a
        // little early), the timer is programmed again for both.
        if due.guest {
            super::guestirq::on_timer(me);
        }
        if due.watchdog {
            crate::watchdog::on_timer();
        } else if !due.guest {
            super::timers::program(me);
        }
        account::found(
            found,
            if due.guest {
                Cause::Timer
            } else {
                Cause::Watchdog
            },
        );
        if due.guest {
            crate::stats::irq_on(cpu, IrqKind::Vtimer);
        }
    }
    if bits & PENDING_DEVICE != 0 && super::pci::deliver(cpu) {
        any = true;
        account::found(found, Cause::Spi);
    }
    let kicked = bits & PENDING_KICK != 0;
    if kicked {
        account::found(found, account::kick_cause());
        crate::stats::irq_on(cpu, IrqKind::Sgi);
    }
    crate::stats::spurious_if(why == Wake::Interrupt && !any && !kicked);
    kicked
}
