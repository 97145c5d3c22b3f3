//! The one enum every architecture backend turns a VM exit into.
//!
//! A backend decodes its own guest ABI (aarch64: ESR_EL2 and the SMCCC/PSCI calls;
//! x86_64: the VMCS/VMCB exit reason, VMCALL, MSRs, I/O ports, INIT/SIPI) into a
//! [`VcpuExit`]: what the guest asked for, in the hypervisor's terms. Everything after
//! that (policy, device emulation, the lifecycle) is arch-neutral; the answer goes
//! back through [`ArchVcpu`](crate::seam::ArchVcpu).
//!
//! A backend may answer an exit itself when the answer is part of its ABI and needs
//! no VM state (aarch64: PSCI_VERSION and the feature queries; x86_64: CPUID): such
//! exits never reach the handler.

use rtvisor_addr::Ipa;
use rtvisor_vdev::Width;

/// How many arguments a [`VcpuExit::Hypercall`] carries.
pub const HYPERCALL_ARGS: usize = 2;

/// What a trapped system register (aarch64) or MSR (x86_64) is to the hypervisor; the
/// backend's register table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegClass {
    /// Reads as zero, writes are ignored (aarch64: the debug registers, ACTLR_EL1).
    Ignored,
    /// Not the guest's: the access faults ([`Fault::Undefined`](crate::seam::Fault)).
    /// aarch64: the EL1 physical timer, IMPLEMENTATION DEFINED and unknown registers;
    /// x86_64: unknown MSRs.
    Refused,
    /// A register of the VM's interrupt controller
    /// ([`IrqChip::register`](crate::seam::IrqChip::register)). aarch64:
    /// ICC_SGI1R_EL1 and the Group-1 CPU interface; x86_64: the x2APIC MSRs.
    IrqChip,
}

/// Why a vCPU left guest mode, in the hypervisor's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuExit {
    /// Start another vCPU of the same VM at `entry` with `arg` as its boot argument.
    /// aarch64: PSCI CPU_ON (SMC32 or SMC64, by HVC or SMC), `target` the MPIDR
    /// affinity. x86_64: INIT then SIPI through the x2APIC ICR, `target` the APIC id,
    /// `entry` the SIPI vector's page, `arg` 0.
    CpuOn {
        /// The guest's id of the vCPU to start ([`VmCtx::cpu_ids`](crate::handler::VmCtx)).
        target: u64,
        /// Guest-physical entry point.
        entry: u64,
        /// Its boot argument.
        arg: u64,
    },
    /// The calling vCPU switches itself off. aarch64: PSCI CPU_OFF. x86_64: an INIT
    /// the vCPU sends itself.
    CpuOff,
    /// Whether another vCPU of the VM is on. aarch64: PSCI AFFINITY_INFO at level 0.
    /// x86_64: none.
    CpuState {
        /// The guest's id of the vCPU.
        target: u64,
    },
    /// The VM powers off. aarch64: PSCI SYSTEM_OFF. x86_64: ACPI PM1a_CNT with the
    /// S5 sleep type.
    SystemOff,
    /// The VM resets. aarch64: PSCI SYSTEM_RESET. x86_64: port 0xCF9, the keyboard
    /// controller's reset line, a triple fault.
    SystemReset,
    /// One of rtvisor's own calls ([`crate::hypercall`]). aarch64: an SMCCC fast call
    /// in the vendor-specific hypervisor range (`0xC600_00nn`, `0x8600_00nn`), `nr` =
    /// `nn`, arguments x1, x2 (SMC32: their low halves). x86_64: VMCALL/VMMCALL with
    /// the same function id in rax and the arguments in rdi, rsi.
    Hypercall {
        /// The call's number.
        nr: u64,
        /// Its arguments.
        args: [u64; HYPERCALL_ARGS],
    },
    /// A call nobody implements. aarch64: an SMCCC function id outside PSCI and
    /// rtvisor's range (answered NOT_SUPPORTED). x86_64: a VMCALL/VMMCALL whose rax
    /// is not one of rtvisor's function ids.
    UnknownCall {
        /// The function id.
        id: u64,
    },
    /// A load or store to a guest-physical address outside the VM's RAM that the
    /// backend fully decoded. aarch64: a stage-2 data abort with a valid instruction
    /// syndrome. x86_64: an EPT violation or NPT fault, the instruction decoded.
    Mmio {
        /// The address.
        addr: Ipa,
        /// Its size.
        width: Width,
        /// A store.
        write: bool,
        /// What a store writes (truncated to `width`); 0 for a load.
        value: u64,
    },
    /// An access outside the VM's RAM that the backend could not decode (aarch64: no
    /// valid syndrome, e.g. a load pair): it is never emulated.
    MemFault {
        /// The address.
        addr: Ipa,
        /// A store.
        write: bool,
    },
    /// An instruction fetch outside the VM's RAM. aarch64: a stage-2 instruction
    /// abort. x86_64: an EPT violation or NPT fault on a fetch.
    FetchFault {
        /// The address.
        addr: Ipa,
    },
    /// An I/O port access, answered by the VM's port table ([`crate::pio`]); a port
    /// nothing claims reads all ones and drops writes. x86_64: IN/OUT (and their
    /// string forms, decoded). aarch64: none.
    Pio {
        /// The port.
        port: u16,
        /// Its size.
        width: Width,
        /// An OUT.
        write: bool,
        /// What an OUT writes; 0 for an IN.
        value: u64,
    },
    /// A trapped system register (aarch64: MRS/MSR) or MSR (x86_64: RDMSR/WRMSR).
    SysReg {
        /// The backend's number for it (aarch64: op0:op1:CRn:CRm:op2 packed; x86_64:
        /// the MSR index).
        id: u32,
        /// What it is to the hypervisor.
        class: RegClass,
        /// A write.
        write: bool,
        /// What a write writes; 0 for a read.
        value: u64,
    },
    /// The vCPU waits for an interrupt. aarch64: a trapped WFI or WFE. x86_64: HLT.
    Halt,
    /// A physical interrupt that the backend took for the hypervisor (a kick from
    /// another CPU); nothing for the guest is pending here.
    Interrupt,
    /// The guest's state cannot be trusted any more, or the exit is one this
    /// hypervisor does not handle: the VM stops or restarts per its policy.
    /// aarch64: an SError, an unknown exception class; x86_64: a machine check, an
    /// unknown exit reason.
    Fatal {
        /// What happened, for the log (aarch64: `serror esr`, `unhandled exit esr`).
        what: &'static str,
        /// The backend's raw code (aarch64: ESR_EL2).
        code: u64,
    },
}
