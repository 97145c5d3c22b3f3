//! [`IrqChip`]: a VM's emulated interrupt controller, with its hardware side.

use crate::handler::{Host, VmCtx};
use crate::ids::VcpuId;
use crate::mmio::DeviceKind;
use rtvisor_config::tables::VmConfig;
use rtvisor_vdev::Width;

/// An access the interrupt controller refuses: the guest gets
/// [`Fault::Bus`](super::Fault::Bus) for a memory access and
/// [`Fault::Undefined`](super::Fault::Undefined) for a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The interrupt controller one VM sees, and what it drives on the hardware for it.
///
/// aarch64: the vGICv3 model behind the hardware list registers, or in direct mode
/// the physical GIC filtered to what the VM owns. x86_64: the vLAPIC of each vCPU and
/// the VM's vIOAPIC.
///
/// The exit handler reaches it for the guest-physical regions it claims
/// ([`owns`](Self::owns)), for trapped registers of class
/// [`RegClass::IrqChip`](crate::exit::RegClass::IrqChip), and to drive the interrupt
/// lines of the VM's emulated devices. Every method is on the path of a guest exit:
/// no allocation, no panic on guest values, and the hardware it touches is only the
/// VM's own.
pub trait IrqChip: Sized {
    /// Whether the chip emulates the devices of `kind` in the VM's map or port space
    /// (aarch64: the distributor and the redistributors; x86_64: the local APIC page,
    /// the I/O APIC): their accesses come to [`mmio`](Self::mmio).
    fn owns(kind: DeviceKind) -> bool;

    /// A guest load (`value` is `None`) or store of `width` at `off` in one of its
    /// regions of `kind`, by vCPU `me`: `Ok(Some(v))` a loaded value, `Ok(None)` a
    /// store done (or ignored), `Err` an access the register does not allow.
    #[allow(clippy::too_many_arguments)]
    fn mmio<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        host: &H,
        me: VcpuId,
        kind: DeviceKind,
        off: u64,
        width: Width,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused>;

    /// A trapped register `id` of its CPU interface (aarch64: ICC_SGI1R_EL1 and the
    /// Group-1 registers; x86_64: the x2APIC MSRs), read (`value` is `None`) or
    /// written by vCPU `me`: as for [`mmio`](Self::mmio).
    fn register<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        host: &H,
        me: VcpuId,
        id: u32,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused>;

    /// Drives level-sensitive line `line` (the INTID or GSI the machine contract
    /// gives an emulated device) to `level`; `me` is the vCPU whose access changed it,
    /// if one did.
    fn set_level<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        host: &H,
        me: Option<VcpuId>,
        line: u32,
        level: bool,
    );

    /// Raises edge-triggered line `line` once (a doorbell), from outside the VM.
    fn pulse<H: Host>(&self, vm: &VmCtx<'_, Self>, host: &H, line: u32);

    /// Back to reset state, for a (re)start of the VM `cfg` describes.
    fn reset(&self, cfg: &VmConfig);
}
