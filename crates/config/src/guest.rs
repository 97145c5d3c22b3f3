//! The guest-physical machine every VM sees: the aarch64 part of the machine contract
//! ([`crate::contract::aarch64`]), under the name the hypervisor side has always used.

pub use crate::contract::aarch64::{
    doorbell_intid, DOORBELL_GPIO_INTID, DOORBELL_GPIO_IPA, DOORBELL_GPIO_LINES, DOORBELL_IPA,
    DOORBELL_TOP_INTID, GUEST_RAM_IPA, VGIC_DIST_IPA, VGIC_DIST_SIZE, VGIC_REDIST_FRAME,
    VGIC_REDIST_IPA, VUART_INTID, VUART_IPA,
};
pub use crate::contract::MAX_SHARED_REGIONS;
