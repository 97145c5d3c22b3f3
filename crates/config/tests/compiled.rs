//! T1: the generated tables compile against `rtvisor_config::tables` and say what the
//! scenario says. The fixture under tests/golden/compiled/ is kept current by
//! `full.rs` (regenerate with RTVISOR_BLESS=1).

mod generated {
    include!("golden/compiled/config.rs");
}

use generated::{CONFIG, CONFIG_VM_COUNT};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_config::tables::*;

#[test]
fn generated_tables_hold_the_scenario() {
    assert_eq!(CONFIG_VM_COUNT, 2);
    assert_eq!(
        CONFIG.hypervisor.memory,
        MemRegion {
            base: Hpa::new(0x4020_0000),
            size: 16 << 20
        }
    );
    assert_eq!(CONFIG.hypervisor.log_level, LogLevel::Debug);
    assert_eq!(CONFIG.hypervisor.board_cpus, 4);
    let rt = &CONFIG.vms[0];
    assert_eq!((rt.name, rt.kind, rt.cpus), ("rt", VmKind::Rt, &[3u32][..]));
    assert_eq!(rt.interrupt_mode, InterruptMode::Direct);
    assert_eq!(rt.direct_trust, DirectTrust::Untrusted);
    assert_eq!(rt.restart, RestartPolicy::OnCrash);
    assert_eq!(
        rt.ram.translate(Ipa::new(0x4000_1000), 8),
        Some(Hpa::new(0x6000_1000))
    );
    assert_eq!(&rt.dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
    let linux = &CONFIG.vms[1];
    assert_eq!(linux.cpus, &[1, 2]);
    assert_eq!(linux.restart, RestartPolicy::Always);
    assert_eq!(
        linux.initrd.as_ref().map(|i| i.load),
        Some(Ipa::new(0x4920_0000))
    );
    assert_eq!(linux.devices.len(), 2);
    assert_eq!(linux.devices[0].name, "virtio-mmio@0a003e00");
    assert_eq!(
        (linux.devices[0].hpa, linux.devices[0].size),
        (Hpa::new(0x0a00_3000), 0x1000)
    );
    assert_eq!(linux.devices[0].irqs, &[79]);
    assert_eq!(&linux.kernel.bytes[56..60], b"ARM\x64");
    assert_eq!(
        rt.shared,
        &[
            SharedMap {
                name: "stats",
                ipa: Ipa::new(0x1000_0000),
                hpa: Hpa::new(0x5120_0000),
                size: 0x1_0000,
                writable: true,
                index: 0,
                doorbell: 127
            },
            SharedMap {
                name: "bulk",
                ipa: Ipa::new(0x1020_0000),
                hpa: Hpa::new(0x7000_0000),
                size: 0x20_0000,
                writable: false,
                index: 1,
                doorbell: 126
            },
        ]
    );
    assert_eq!(linux.shared.len(), 2);
    assert_eq!(
        (linux.shared[1].ipa, linux.shared[1].writable),
        (Ipa::new(0x2000_0000), true)
    );
}

#[test]
fn payload_fingerprint_matches_the_embedded_blobs() {
    // What the hypervisor checks at boot: the recomputed hash over the blobs the
    // tables carry equals the one the generator wrote.
    assert_eq!(
        rtvisor_config::fingerprint::payload(CONFIG.vms),
        CONFIG.payload_fingerprint
    );
}
