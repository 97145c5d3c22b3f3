//! The guest-physical machine every VM sees (QEMU-`virt` shaped; the picture is in
//! `layout`): the addresses and interrupts of what the hypervisor emulates. `no_std`,
//! so the host generators (`layout`, `dtgen`) and the hypervisor use the same values.

/// Guest RAM base unless identity-mapped.
pub const GUEST_RAM_IPA: u64 = 0x4000_0000;
/// vGIC distributor.
pub const VGIC_DIST_IPA: u64 = 0x0800_0000;
/// vGIC distributor size.
pub const VGIC_DIST_SIZE: u64 = 0x1_0000;
/// vGIC redistributors, one frame per vCPU.
pub const VGIC_REDIST_IPA: u64 = 0x080a_0000;
/// One redistributor frame (RD_base + SGI_base).
pub const VGIC_REDIST_FRAME: u64 = 0x2_0000;
/// Emulated PL011.
pub const VUART_IPA: u64 = 0x0900_0000;
/// The emulated PL011's interrupt: SPI 1, as on QEMU `virt`.
pub const VUART_INTID: u32 = 33;
/// The emulated doorbell page (one register: ring a shared-memory region's peers).
pub const DOORBELL_IPA: u64 = 0x0901_0000;
/// Doorbell INTID of shared-memory region 0 (an SPI); region k uses this minus k,
/// in every peer.
pub const DOORBELL_TOP_INTID: u32 = 127;
/// Most `[[shared-memory]]` regions (each needs a doorbell INTID below the top).
pub const MAX_SHARED_REGIONS: usize = 16;
/// The doorbell GPIO (an emulated PL061) of a virtual-mode VM with shared memory:
/// ringing region k < 8 also toggles its line k, which Linux's stock `gpio-keys`
/// turns into an input event user space can wait for.
pub const DOORBELL_GPIO_IPA: u64 = 0x0902_0000;
/// The doorbell GPIO's interrupt (an SPI, just below the doorbells).
pub const DOORBELL_GPIO_INTID: u32 = 111;
/// Regions with a doorbell GPIO line (the PL061 has 8).
pub const DOORBELL_GPIO_LINES: usize = 8;

/// The doorbell INTID of shared-memory region `index` (see [`DOORBELL_TOP_INTID`]).
pub const fn doorbell_intid(index: usize) -> u32 {
    DOORBELL_TOP_INTID.saturating_sub(index as u32)
}
