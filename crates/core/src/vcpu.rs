//! What the arch-neutral exit handler may do to the vCPU that exited.

/// Register access and exception injection for the exited vCPU. The backend implements
/// it over its saved exception frame and the EL1 system registers.
pub trait VcpuRegs {
    /// General-purpose register `n` (0..=30); 31 reads as zero.
    fn reg(&self, n: u8) -> u64;
    /// Sets register `n`; writes to 31 are ignored.
    fn set_reg(&mut self, n: u8, value: u64);
    /// Step over the trapped instruction.
    fn skip_instruction(&mut self);
    /// Inject a synchronous external abort for a data access at guest VA `far`.
    fn inject_data_abort(&mut self, far: u64, write: bool);
    /// Inject a synchronous external abort for an instruction fetch at guest VA `far`.
    fn inject_instruction_abort(&mut self, far: u64);
    /// Inject an Undefined Instruction exception at the trapped instruction.
    fn inject_undef(&mut self);
}
