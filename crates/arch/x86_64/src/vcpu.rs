//! What both engines offer the code that runs a vCPU: enter the guest until its next
//! exit (decoded into the vendor-neutral [`Decoded`]), its registers, and event
//! injection. The core's x86 backend builds on this.

use crate::exit::Decoded;
use crate::regs::Gprs;

pub trait VcpuEngine {
    /// Runs the guest until its next exit.
    fn run(&mut self) -> Decoded;
    fn gprs(&mut self) -> &mut Gprs;
    fn rip(&self) -> u64;
    fn set_rip(&mut self, rip: u64);
    /// The guest's RFLAGS (string I/O reads its direction flag).
    fn rflags(&self) -> u64;
    /// Whether the guest runs 64-bit code (EFER.LMA and CS.L); outside it RIP is 32
    /// bits wide and wraps there.
    fn code64(&self) -> bool;
    /// Queues an exception for the next entry (RIP unchanged).
    fn inject(&mut self, vector: u8, error: Option<u32>);
    /// The vendor's raw exit code and its two qualifiers (for reports).
    fn raw_exit(&self) -> (u64, u64, u64);

    /// Moves RIP past a trapped instruction to `next` (its RIP plus its length):
    /// outside 64-bit code RIP is 32 bits wide, so past 4 GiB it wraps to 0, as the
    /// CPU would have continued.
    fn step_to(&mut self, next: u64) {
        let wraps = next > u64::from(u32::MAX) && !self.code64();
        self.set_rip(if wraps { next & 0xffff_ffff } else { next });
    }
}
