//! The direct-mode routing decision, case by case: a VM on the cores with APIC ids
//! 3 and 5 (vCPUs 0 and 1) sends every kind of message; anything aimed elsewhere,
//! or of a kind the hypervisor does not send, reaches nobody.

use super::*;

const IDS: [u32; 2] = [3, 5];
const SELF: u32 = 1 << 18;
const ALL: u32 = 2 << 18;
const OTHERS: u32 = 3 << 18;
const LOW: u32 = 1 << 8;
const SMI: u32 = 2 << 8;
const NMI: u32 = 4 << 8;
const INIT: u32 = 5 << 8;
const SIPI: u32 = 6 << 8;
const EXTINT: u32 = 7 << 8;
const LEVEL: u32 = 1 << 15 | 1 << 14;

/// (what, ICR low word, destination, sender, expected targets; 0: nothing sent).
const CASES: &[(&str, u32, Dest, Option<usize>, u64)] = &[
    // Physical destinations: the VM's own ids only.
    ("fixed to vCPU 1", 0x40, Dest::X2Apic(5), Some(0), 0b10),
    (
        "fixed to itself by id",
        0x40,
        Dest::X2Apic(3),
        Some(0),
        0b01,
    ),
    ("xAPIC id of vCPU 1", 0x40, Dest::Short(5), Some(0), 0b10),
    (
        "level-triggered fixed",
        0x40 | LEVEL,
        Dest::X2Apic(5),
        Some(0),
        0b10,
    ),
    ("foreign id 0", 0x40, Dest::X2Apic(0), Some(0), 0),
    ("foreign id 4", 0x40, Dest::X2Apic(4), Some(1), 0),
    (
        "foreign id above 8 bits",
        0x40,
        Dest::X2Apic(0x103),
        Some(0),
        0,
    ),
    ("xAPIC foreign id", 0x40, Dest::Short(1), Some(0), 0),
    // Broadcast ids: the VM's cores, never the machine's.
    (
        "x2APIC broadcast",
        0x40,
        Dest::X2Apic(u32::MAX),
        Some(0),
        0b11,
    ),
    ("xAPIC broadcast", 0x40, Dest::Short(0xff), Some(1), 0b11),
    (
        "0xFF is an id in x2APIC",
        0x40,
        Dest::X2Apic(0xff),
        Some(0),
        0,
    ),
    // Shorthands, read inside the VM.
    ("self", 0x40 | SELF, Dest::X2Apic(0), Some(1), 0b10),
    (
        "all including self",
        0x40 | ALL,
        Dest::X2Apic(0),
        Some(0),
        0b11,
    ),
    (
        "all but self",
        0x40 | OTHERS,
        Dest::X2Apic(0),
        Some(0),
        0b10,
    ),
    (
        "all but self, from vCPU 1",
        0x40 | OTHERS,
        Dest::Short(0),
        Some(1),
        0b01,
    ),
    (
        "self without a sender",
        0x40 | SELF,
        Dest::Short(3),
        None,
        0,
    ),
    (
        "all but self without a sender",
        0x40 | OTHERS,
        Dest::Short(0),
        None,
        0b11,
    ),
    // Logical destinations: the hardware's LDRs, not the VM's.
    ("logical", 0x40 | LOGICAL, Dest::X2Apic(1), Some(0), 0),
    (
        "logical broadcast",
        0x40 | LOGICAL,
        Dest::Short(0xff),
        Some(0),
        0,
    ),
    // Lowest priority: one core, the first target.
    (
        "lowest to vCPU 1",
        0x40 | LOW,
        Dest::X2Apic(5),
        Some(0),
        0b10,
    ),
    (
        "lowest to all",
        0x40 | LOW | ALL,
        Dest::X2Apic(0),
        Some(1),
        0b01,
    ),
    (
        "lowest broadcast",
        0x40 | LOW,
        Dest::Short(0xff),
        None,
        0b01,
    ),
    ("lowest foreign", 0x40 | LOW, Dest::X2Apic(7), Some(0), 0),
    // Modes the hypervisor never sends, at own and foreign cores alike.
    ("NMI to vCPU 1", 0x40 | NMI, Dest::X2Apic(5), Some(0), 0),
    ("NMI to foreign", NMI, Dest::X2Apic(0), Some(0), 0),
    (
        "NMI to all but self",
        NMI | OTHERS,
        Dest::X2Apic(0),
        Some(0),
        0,
    ),
    ("SMI to all", SMI | ALL, Dest::X2Apic(0), Some(0), 0),
    ("INIT to vCPU 1", INIT, Dest::X2Apic(5), Some(0), 0),
    (
        "INIT to all but self",
        INIT | LEVEL | OTHERS,
        Dest::Short(0),
        Some(0),
        0,
    ),
    ("INIT broadcast", INIT, Dest::X2Apic(u32::MAX), Some(0), 0),
    ("SIPI to vCPU 1", SIPI | 0x08, Dest::X2Apic(5), Some(0), 0),
    ("SIPI to foreign", SIPI | 0x08, Dest::Short(0), Some(0), 0),
    ("ExtINT", 0x40 | EXTINT, Dest::X2Apic(5), Some(0), 0),
    (
        "reserved mode 3",
        0x40 | 3 << 8,
        Dest::X2Apic(5),
        Some(0),
        0,
    ),
    // Vectors 0-15 are illegal for fixed delivery; 16-31 are the exceptions', which
    // at a core the hypervisor holds would reach its exception gates.
    ("vector 15", 0x0f, Dest::X2Apic(5), Some(0), 0),
    ("vector 0 to all", ALL, Dest::X2Apic(0), Some(0), 0),
    ("vector 16", 0x10, Dest::X2Apic(5), Some(0), 0),
    ("vector 18", 0x12, Dest::X2Apic(5), Some(0), 0),
    ("vector 31", 0x1f, Dest::X2Apic(5), Some(0), 0),
    ("vector 32", 0x20, Dest::X2Apic(5), Some(0), 0b10),
    ("vector 255", 0xff, Dest::X2Apic(3), Some(1), 0b01),
];

#[test]
fn every_case_reaches_only_its_targets() {
    for &(what, low, dest, me, want) in CASES {
        let got = route(low, dest, me, &IDS);
        let expected = (want != 0).then_some(Sends {
            vector: low as u8,
            targets: want,
        });
        assert_eq!(got, expected, "{what}: low {low:#x} {dest:?} from {me:?}");
    }
}

#[test]
fn no_word_reaches_outside_the_vm() {
    // Every mode, shorthand, destination mode and trigger, with vectors at both
    // ends and destinations in and out of the VM: only indices 0 and 1 ever appear.
    for high in 0..64u32 {
        let low = (high & 7) << 8 | (high >> 3 & 1) << 11 | (high >> 4 & 3) << 18;
        for vector in [0, 15, 16, 18, 31, 32, 0x40, 0xff] {
            for dest in [0, 3, 5, 6, 0xff, 0x1_0003, u32::MAX] {
                for me in [None, Some(0), Some(1), Some(7)] {
                    for d in [Dest::X2Apic(dest), Dest::Short(dest as u8)] {
                        if let Some(s) = route(low | vector, d, me, &IDS) {
                            assert_eq!(s.targets & !0b11, 0, "{low:#x} {d:?} {me:?}");
                            assert!(s.vector >= 32);
                            assert!(low >> 8 & 7 <= 1, "only fixed and lowest");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn indices_and_an_empty_vm() {
    let s = Sends {
        vector: 0x40,
        targets: 0b1010,
    };
    assert_eq!(s.indices().collect::<Vec<_>>(), [1, 3]);
    let at = |targets| Sends {
        vector: 0x40,
        targets,
    };
    assert_eq!(at(0).indices().count(), 0);
    assert_eq!(at(1 << 63).indices().collect::<Vec<_>>(), [63]);
    assert!(at(u64::MAX).indices().eq(0..64));
    // Every set bit once, lowest first, as a scan of all 64 bits gives.
    for t in [
        0x8000_0000_0000_0001u64,
        0x00F0_0F00_F00F_0FF0,
        0x5555_5555_5555_5555,
    ] {
        assert!(
            at(t).indices().eq((0..64).filter(|&i| t & (1 << i) != 0)),
            "{t:#x}"
        );
    }
    assert_eq!(route(0x40 | ALL, Dest::X2Apic(0), Some(0), &[]), None);
    assert_eq!(route(0x40, Dest::Short(0xff), None, &[]), None);
}
