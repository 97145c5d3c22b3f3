//! [`ArchVcpu`]: the vCPU running on this CPU, as the hypervisor enters it and as the
//! exit handler answers it. The handler never touches a register: it says what the
//! answer is, the backend encodes it in its ABI.

/// What a call returns on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A value: 0 for a call that only succeeds, or what the call returns (rtvisor's
    /// own hypercalls define theirs).
    Value(u64),
    /// The power state of the vCPU a [`CpuState`](crate::exit::VcpuExit::CpuState)
    /// query named.
    Power(CpuPower),
}

/// The power state of a vCPU, as another vCPU of its VM may ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPower {
    /// On (or stopping: not parked yet).
    On,
    /// Off.
    Off,
    /// Asked to start; not running yet.
    OnPending,
}

/// Why a call failed (aarch64: the PSCI/SMCCC codes; x86_64: rtvisor's VMCALL
/// convention encodes the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// No such call.
    NotSupported,
    /// An argument is out of range (no such vCPU, a watchdog timeout too long, a
    /// doorbell of a region the VM is no peer of).
    InvalidParameters,
    /// Not allowed now (the VM is not running; the watchdog is not armed).
    Denied,
    /// The vCPU to start is on already.
    AlreadyOn,
    /// The vCPU to start is being started already.
    OnPending,
    /// The entry point is not in the VM's RAM.
    InvalidAddress,
}

/// A fault the handler injects into the guest, at the trapped instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A data access to a guest-physical address that nothing backs (or that the
    /// device there refuses). aarch64: synchronous external abort (DFSC 0x10) at the
    /// faulting address. x86_64: no fault, as on a PC bus: a load completes with all
    /// ones, a store is dropped.
    Bus {
        /// The access was a store.
        write: bool,
    },
    /// An instruction fetch from a guest-physical address that nothing backs.
    /// aarch64: instruction abort (synchronous external abort). x86_64: #GP(0).
    Fetch,
    /// An instruction or register the guest may not use. aarch64: Undefined
    /// Instruction. x86_64: #GP(0) for an MSR, #UD for an instruction.
    Undefined,
}

/// How a vCPU starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcpuStart {
    /// Guest-physical entry point.
    pub entry: u64,
    /// The boot argument (aarch64: x0, the device tree or CPU_ON's context id;
    /// x86_64: ebx, the PVH start info).
    pub arg: u64,
    /// The CPU id the guest reads as its own (aarch64: the MPIDR affinity; x86_64:
    /// the APIC id).
    pub cpu_id: u64,
    /// Subtracted from the physical counter for guest reads, so its VM counts from its
    /// (re)start (aarch64: CNTVOFF_EL2; x86_64: the TSC offset).
    pub counter_offset: u64,
}

/// The vCPU on this physical CPU.
///
/// After an exit the backend hands the handler one of these for the exited vCPU,
/// with what the exit needs to be answered (where a load goes, how a call returns,
/// the faulting address) already decoded; the handler calls at most one of
/// [`set_return`](Self::set_return), [`complete_load`](Self::complete_load) and
/// [`inject`](Self::inject), and [`skip`](Self::skip) where the access was emulated.
pub trait ArchVcpu {
    /// Steps over the trapped instruction.
    fn skip(&mut self);
    /// Answers the call the exit was (aarch64: x0 in the SMCCC/PSCI encoding, and an
    /// SMC is stepped over; x86_64: rax, and VMCALL/VMMCALL is stepped over).
    fn set_return(&mut self, r: Result<Reply, CallError>);
    /// Completes the load the exit was (an MMIO, port or system-register read) with
    /// `value`: the backend narrows or extends it into the destination the trapped
    /// instruction named.
    fn complete_load(&mut self, value: u64);
    /// Injects `fault` at the trapped instruction.
    fn inject(&mut self, fault: Fault);
    /// The backend's proof that this CPU may enter a guest now. Entering resets the
    /// CPU's stack, so the backend hands one to the hypervisor's per-CPU loop only
    /// where nothing on the stack above it is still in use (at boot, and on the way
    /// back from an exit that parks the vCPU); it cannot be copied or made elsewhere.
    type Entry;

    /// Resets this CPU's guest state to the architecture's reset shape and enters a
    /// vCPU as `start` says, giving up the stack `entry` stands for. Its VM's
    /// translation ([`Stage2::activate`]) and this CPU's interrupt state for it are in
    /// place. Exits come back through the backend's exception entry.
    ///
    /// [`Stage2::activate`]: super::Stage2::activate
    fn enter(entry: Self::Entry, start: &VcpuStart) -> !;
}
