//! Interrupts aimed outside the VM: INIT and SIPI to APIC ids of other VMs' CPUs,
//! and an IPI flood to every APIC id and to all-but-self. Under rtvisor they never
//! leave the VM; the other VMs of the test count what reaches them.

use guest_common::arch::apic::{self, ICR_FIXED, ICR_INIT, ICR_NMI, ICR_STARTUP};
use guest_common::{cpu, BootInfo};

use super::foreign_ids;
use crate::report::{contained, Outcome};

/// INIT, then SIPI (vector 0x08: the page at 0x8000) to each foreign APIC id.
pub fn init_sipi_foreign(boot: &BootInfo) -> Outcome {
    let ids = foreign_ids(boot);
    let n = ids.clone().count();
    for id in ids.clone() {
        apic::send(u64::from(id), ICR_INIT, 0);
        apic::send(u64::from(id), ICR_STARTUP, 0x08);
        apic::send(u64::from(id), ICR_STARTUP, 0x08);
    }
    contained(
        "init-sipi-foreign",
        format_args!(
            "INIT-SIPI-SIPI sent to {} APIC ids {}..={}; the other VMs keep running",
            n,
            ids.start(),
            ids.end()
        ),
    )
}

/// Fixed IPIs (vectors 0x40..=0x4f) and NMIs to every APIC id but this VM's own
/// CPUs' (MADT) and 0xFF (in xAPIC mode the broadcast, this vCPU included), then
/// fixed IPIs to all-but-self (this VM's other CPUs, which ignore them: they are
/// not started, or mask interrupts).
pub fn ipi_flood(boot: &BootInfo) -> Outcome {
    let own = |id: u64| id == cpu::apic_id() || (0..boot.cpu_count()).any(|i| boot.cpu_id(i) == id);
    let mut sent = 0u32;
    for id in (0..0xffu64).filter(|&id| !own(id)) {
        for vector in 0x40..=0x4fu8 {
            apic::send(id, ICR_FIXED, vector);
            sent += 1;
        }
        apic::send(id, ICR_NMI, 0);
        sent += 1;
    }
    for vector in 0x40..=0x4fu8 {
        apic::send_all_but_self(ICR_FIXED, vector);
        sent += 1;
    }
    contained(
        "ipi-flood",
        format_args!("sent {} IPIs and NMIs; the other VMs count strays", sent),
    )
}
