//! The vCPU as the core's exit handler answers it ([`ArchVcpu`]): the x86 encoding of
//! each answer, over either engine ([`VcpuEngine`]).
//!
//! - `set_return`: a VMCALL/VMMCALL's result goes to RAX (0 or a value, or the PSCI
//!   code of the error as on aarch64: -1 NOT_SUPPORTED, -2 INVALID_PARAMETERS, ...),
//!   and the instruction is stepped over; a call made by a WRMSR (the ICR's start-up
//!   IPI) is only stepped over;
//! - `complete_load`: IN into AL, AX or EAX; RDMSR into EDX:EAX; a decoded MOV into
//!   its register, with the x86-64 rules (a 32-bit destination clears the upper half,
//!   8- and 16-bit ones keep the rest; AH-BH are bits 15:8);
//! - `skip`: to the next instruction (the engine's next RIP, or the decoded MOV's
//!   length);
//! - `inject`: [`Fault::Bus`] is the PC bus's answer, no fault: a load completes with
//!   all ones and a store is dropped, then the instruction is stepped over; an access
//!   whose instruction was not decoded cannot be completed and gets #GP(0), as does
//!   [`Fault::Fetch`]; [`Fault::Undefined`] is #GP(0) for an MSR and #UD otherwise.
//!
//! Entering a vCPU ([`ArchVcpu::enter`]) is the world switch of the hypervisor's x86
//! backend, which owns the engines of its CPUs: it provides [`Resume`].

use crate::exit::{Decoded, RawExit, Width, GP, UD};
use crate::insn::MemMov;
use crate::vcpu::VcpuEngine;
use core::marker::PhantomData;
use rtvisor_core::seam::{ArchVcpu, CallError, CpuPower, Fault, Reply, VcpuStart};

/// How the hypervisor enters a vCPU on this CPU (its world-switch loop).
pub trait Resume {
    /// The proof that this CPU may enter a guest (see [`ArchVcpu::Entry`]).
    type Entry;
    /// Resets this CPU's guest state and enters the vCPU as `start` says.
    fn resume(entry: Self::Entry, start: &VcpuStart) -> !;
}

/// The exited vCPU: its engine, the exit being answered and, for a second-stage
/// fault, the MOV decoded at its RIP.
pub struct Exited<'a, E, R> {
    engine: &'a mut E,
    exit: Decoded,
    mov: Option<MemMov>,
    resume: PhantomData<fn() -> R>,
}

/// The code a call error returns in RAX (the PSCI/SMCCC values, as on aarch64).
pub const fn error_code(e: CallError) -> u64 {
    let code: i64 = match e {
        CallError::NotSupported => -1,
        CallError::InvalidParameters => -2,
        CallError::Denied => -3,
        CallError::AlreadyOn => -4,
        CallError::OnPending => -5,
        CallError::InvalidAddress => -9,
    };
    code as u64
}

/// RAX after a call.
pub const fn encode(r: Result<Reply, CallError>) -> u64 {
    match r {
        Ok(Reply::Value(v)) => v,
        Ok(Reply::Power(CpuPower::On)) => 0,
        Ok(Reply::Power(CpuPower::Off)) => 1,
        Ok(Reply::Power(CpuPower::OnPending)) => 2,
        Err(e) => error_code(e),
    }
}

/// `old` with a `width` load of `value` written the way x86-64 writes a register
/// (`high`: AH-BH, bits 15:8).
pub const fn merge(old: u64, width: Width, value: u64, high: bool) -> u64 {
    match (width, high) {
        (Width::B8, _) => value,
        (Width::B4, _) => value & 0xffff_ffff,
        (Width::B2, _) => (old & !0xffff) | (value & 0xffff),
        (Width::B1, false) => (old & !0xff) | (value & 0xff),
        (Width::B1, true) => (old & !0xff00) | ((value & 0xff) << 8),
    }
}

impl<'a, E: VcpuEngine, R> Exited<'a, E, R> {
    /// The vCPU of `engine` after `exit`; `mov` is what [`crate::insn`] decoded at
    /// its RIP for a second-stage fault.
    pub fn new(engine: &'a mut E, exit: Decoded, mov: Option<MemMov>) -> Self {
        Self {
            engine,
            exit,
            mov,
            resume: PhantomData,
        }
    }

    /// Where the guest continues after the trapped instruction, if known (before
    /// the wrap of 32-bit code, `VcpuEngine::step_to`).
    fn next_rip(&self) -> Option<u64> {
        match (self.exit.exit, self.mov) {
            (RawExit::Stage2Fault { .. }, Some(m)) => {
                Some(self.engine.rip().wrapping_add(u64::from(m.len)))
            }
            (RawExit::Stage2Fault { .. }, None) => None,
            _ => self.exit.next_rip,
        }
    }

    /// Writes a load's result into its destination.
    fn load(&mut self, value: u64) {
        match (self.exit.exit, self.mov) {
            (RawExit::Io { width, .. }, _) => {
                let g = self.engine.gprs();
                g.rax = merge(g.rax, width, value, false);
            }
            (RawExit::Msr { .. }, _) => {
                let g = self.engine.gprs();
                g.rax = value & 0xffff_ffff;
                g.rdx = value >> 32;
            }
            (RawExit::Stage2Fault { .. }, Some(m)) => {
                let Some((reg, high)) = m.reg() else { return };
                if let Some(r) = self.engine.gprs().get_mut(reg) {
                    *r = merge(*r, m.width, value, high);
                }
            }
            _ => {}
        }
    }

    /// The width of the access the exit was, for an all-ones load.
    fn width(&self) -> Option<Width> {
        match (self.exit.exit, self.mov) {
            (RawExit::Io { width, .. }, _) => Some(width),
            (RawExit::Stage2Fault { .. }, Some(m)) => Some(m.width),
            _ => None,
        }
    }

    fn gp(&mut self) {
        self.engine.inject(GP, Some(0));
    }
}

impl<E: VcpuEngine, R: Resume> ArchVcpu for Exited<'_, E, R> {
    type Entry = R::Entry;

    fn skip(&mut self) {
        if let Some(rip) = self.next_rip() {
            self.engine.step_to(rip);
        }
    }

    fn set_return(&mut self, r: Result<Reply, CallError>) {
        if self.exit.exit == RawExit::Hypercall {
            self.engine.gprs().rax = encode(r);
        }
        self.skip();
    }

    fn complete_load(&mut self, value: u64) {
        self.load(value);
    }

    fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::Bus { write } => match (self.width(), self.next_rip()) {
                (Some(w), Some(_)) => {
                    if !write {
                        self.load(w.ones());
                    }
                    self.skip();
                }
                _ => self.gp(),
            },
            Fault::Fetch => self.gp(),
            Fault::Undefined => match self.exit.exit {
                RawExit::Msr { .. } => self.gp(),
                _ => self.engine.inject(UD, None),
            },
        }
    }

    fn enter(entry: R::Entry, start: &VcpuStart) -> ! {
        R::resume(entry, start)
    }
}

#[cfg(test)]
mod tests;
