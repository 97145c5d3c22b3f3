//! A direct-mode VM's messages (`msi::route_direct`): the guest's vector, fixed,
//! physical, edge, to the core of the vCPU it named; everything else refused.

use super::msi::{self, MsiMsg, MsixEntry, RouteError};

/// A VM of two vCPUs whose guest names them 4 and 6, on the cores of xAPIC ids 4
/// and 6 (direct mode: the same); and one whose guest's ids differ from its cores'.
const SAME: [(u32, u32); 2] = [(4, 4), (6, 6)];
const MOVED: [(u32, u32); 2] = [(0, 2), (1, 3)];

fn m(address: u64, data: u32) -> MsiMsg {
    MsiMsg { address, data }
}

#[test]
fn a_fixed_message_to_a_vcpu_goes_to_its_core_with_the_guest_vector() {
    let host = msi::route_direct(m(0xfee0_6000, 0x61), &SAME).unwrap();
    assert_eq!(host, m(0xfee0_6000, 0x61));
    // The guest's id is translated to its vCPU's core.
    let host = msi::route_direct(m(0xfee0_1000, 0x61), &MOVED).unwrap();
    assert_eq!(host, m(0xfee0_3000, 0x61));
    assert_eq!(MsixEntry::host_words(Some(host)), [0xfee0_3000, 0, 0x61, 0]);
}

#[test]
fn lowest_priority_level_and_hints_become_fixed_physical_edge() {
    // Lowest priority (mode 1), level trigger asserted, the redirection hint set.
    let host = msi::route_direct(m(0xfee0_4008, 0xc161), &SAME).unwrap();
    assert_eq!(host, m(0xfee0_4000, 0x61));
    // The address's low bits the guest may set are not carried over.
    let host = msi::route_direct(m(0xfee0_4ff0, 0x20), &SAME).unwrap();
    assert_eq!(host, m(0xfee0_4000, 0x20));
}

#[test]
fn smi_nmi_init_startup_and_extint_are_refused() {
    for mode in [2, 3, 4, 5, 6, 7] {
        assert_eq!(
            msi::route_direct(m(0xfee0_4000, 0x61 | (mode << 8)), &SAME),
            Err(RouteError::Mode),
            "delivery mode {mode}"
        );
    }
}

#[test]
fn low_vectors_and_the_spurious_vector_are_refused() {
    for v in [0, 2, 8, 14, 15, 16, 18, 31] {
        assert_eq!(
            msi::route_direct(m(0xfee0_4000, v), &SAME),
            Err(RouteError::Vector),
            "vector {v}"
        );
    }
    assert_eq!(
        msi::route_direct(m(0xfee0_4000, 0xff), &SAME),
        Err(RouteError::Vector)
    );
    assert!(msi::route_direct(m(0xfee0_4000, 32), &SAME).is_ok());
    assert!(msi::route_direct(m(0xfee0_4000, 0xfe), &SAME).is_ok());
}

#[test]
fn no_route_to_another_vms_core() {
    // Ids of cores outside the VM, the broadcast id, and a core id the guest of
    // MOVED does not use (its vCPUs are named 0 and 1).
    for dest in [0, 1, 2, 3, 5, 7, 0xff] {
        assert_eq!(
            msi::route_direct(m(0xfee0_0000 | (dest << 12), 0x61), &SAME),
            Err(RouteError::Foreign),
            "destination {dest}"
        );
    }
    for dest in [2, 3, 0xff] {
        assert_eq!(
            msi::route_direct(m(0xfee0_0000 | (dest << 12), 0x61), &MOVED),
            Err(RouteError::Foreign),
            "destination {dest}"
        );
    }
    // No VM (no core online) routes nothing.
    assert_eq!(
        msi::route_direct(m(0xfee0_4000, 0x61), &[]),
        Err(RouteError::Foreign)
    );
    // A core whose id an xAPIC message cannot carry is not reached.
    assert_eq!(
        msi::route_direct(m(0xfee0_0000, 0x61), &[(0, 0x100)]),
        Err(RouteError::Foreign)
    );
}

#[test]
fn logical_destinations_and_foreign_addresses_are_refused() {
    assert_eq!(
        msi::route_direct(m(0xfee0_4004, 0x61), &SAME),
        Err(RouteError::Logical)
    );
    assert_eq!(
        msi::route_direct(m(0xfee0_400c, 0x161), &SAME),
        Err(RouteError::Logical)
    );
    for address in [0x1_fee0_4000, 0xfed0_4000, 0xc000_0000, 0] {
        assert_eq!(
            msi::route_direct(m(address, 0x61), &SAME),
            Err(RouteError::NotApic),
            "address {address:#x}"
        );
    }
}
