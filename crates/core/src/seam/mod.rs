//! The arch seam: what a port of rtvisor to an architecture provides. Everything else
//! (who may start which vCPU, stop and restart policies, the acknowledged stop,
//! doorbells, the watchdog, consoles, the shell) is arch-neutral and lives once.
//!
//! | trait | one of | what it does | aarch64 | x86_64 |
//! |---|---|---|---|---|
//! | [`ArchVcpu`] | the vCPU on this CPU | enters a vCPU; answers an exit: a call's return value, a load's result, a step over the trapped instruction, an injected fault | the saved frame and the EL1 registers | the VMCS or VMCB |
//! | [`Stage2`] | each VM | the second-stage translation: map, unmap, flush, activate | stage-2 tables, VMID | EPT or NPT, VPID or ASID |
//! | [`IrqChip`] | each VM | the VM's emulated interrupt controller and its hardware side | vGICv3 (list registers) or direct mode (filtered physical GIC) | vLAPIC and vIOAPIC |
//! | [`Timer`] | each CPU | the hypervisor's own clock and timer (watchdogs, timeouts) | CNTPCT, the EL2 physical timer | TSC, the LAPIC timer |
//! | [`Console`] | the machine | the physical console the VMs' lines are multiplexed onto | PL011 | 16550 |
//!
//! Before any of this, a backend decodes each exit from its own ABI into one
//! [`VcpuExit`](crate::exit::VcpuExit) (its variants say what they are on each
//! architecture). Core decides; the answer goes back through [`ArchVcpu`] and never
//! names a register.
//!
//! Rules: traits here are used through generics (monomorphized, no `dyn`), so a port
//! costs no indirection on an exit's path. Nothing here is `unsafe` (this crate
//! forbids it): where an operation is only sound in some states (entering a guest
//! resets the stack), the backend requires a proof value only its own audited code
//! can make ([`ArchVcpu::Entry`]).

mod irqchip;
mod machine;
mod vcpu;

pub use irqchip::{IrqChip, Refused};
pub use machine::{Console, MemKind, Stage2, Timer};
pub use vcpu::{ArchVcpu, CallError, CpuPower, Fault, Reply, VcpuStart};
