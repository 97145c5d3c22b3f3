//! A random walk of guest accesses (ports, ECAM, every width, any offset, any value)
//! over a bus with one function: nothing panics, no write reaches another function
//! (the fake host asserts it), and after every step the host function still has its
//! BARs, IDs, hidden capabilities and ROM as the firmware left them, a command
//! register with only the guest's bits, and an MSI message that is either none or
//! one the router made.

use super::fake::{FakeHost, BLK};
use super::msi;
use super::*;
use crate::rng::Rng;

/// Dwords a guest may never change on the host: IDs, class, header type, BARs,
/// subsystem, ROM, capability pointer, the hidden PM capability, the vendor one.
const FIXED: [u16; 17] = [
    0x00, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x2c, 0x30, 0x34, 0x40, 0x60, 0x64, 0x68,
    0x6c,
];

fn access(rng: &mut Rng) -> (Width, u64) {
    let width = rng.pick(&[Width::Byte, Width::Half, Width::Word, Width::Double]);
    // Some values are MSI addresses, data and enables, so that messages get routed.
    let value = match rng.below(5) {
        0 => u64::MAX,
        1 => 0,
        2 => rng.pick(&[
            0xfee0_0000,
            0xfee0_1000,
            0xfee0_7000,
            0x41,
            0x0141,
            0x0441,
            0x0001_0000,
            0x0081_0000,
            1,
        ]),
        _ => rng.next(),
    };
    (width, value)
}

#[test]
fn random_guest_accesses_leave_the_host_function_safe() {
    let mut routed = 0;
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut h = FakeHost::virtio();
        let mut bus = Bus::new();
        assert!(bus.add(Function::probe(&mut h, BLK).unwrap()));
        let fixed: [u32; FIXED.len()] = core::array::from_fn(|i| h.get(FIXED[i]));
        for step in 0..5_000 {
            let (width, value) = access(&mut rng);
            let effect = match rng.below(6) {
                5 => {
                    // A whole message as a driver writes it: to the VM's APIC 0 or 1,
                    // to one outside it, or an NMI or a low vector; then enable.
                    let address = rng.pick(&[0xfee0_0000, 0xfee0_1000, 0xfee0_7000]);
                    let data = rng.pick(&[0x41, 0x0141, 0x0441, 0x05]);
                    bus.write(&mut h, BLK, 0x74, Width::Word, address);
                    bus.write(&mut h, BLK, 0x78, Width::Word, 0);
                    bus.write(&mut h, BLK, 0x7c, Width::Half, data);
                    bus.write(&mut h, BLK, 0x72, Width::Half, 1)
                }
                0 => {
                    // CONFIG_ADDRESS: mostly the function, sometimes its neighbour.
                    let dev = rng.pick(&[3u32, 3, 3, 4]);
                    let reg = rng.below(0x100) as u32;
                    let on = if rng.below(8) == 0 { 0 } else { 1 << 31 };
                    bus.port_write(&mut h, 0, Width::Word, on | (dev << 11) | reg)
                }
                1 => {
                    let port = rng.below(8) as u16;
                    let _ = bus.port_read(&mut h, port, width);
                    bus.port_write(&mut h, port, width, value as u32)
                }
                2 | 3 => {
                    let offset = match rng.below(4) {
                        0 => rng.next(),
                        1 => BLK.ecam_offset() + 0x1000 + rng.below(0x1000),
                        _ => BLK.ecam_offset() + rng.below(0x100),
                    };
                    let _ = bus.ecam_read(&mut h, offset, width);
                    bus.ecam_write(&mut h, offset, width, value as u32)
                }
                _ => {
                    let reg = match rng.below(2) {
                        0 => 0x70 + rng.below(0x18) as u16, // the MSI capability
                        _ => rng.below(0x1100) as u16,
                    };
                    let _ = bus.read(&mut h, BLK, reg, width);
                    bus.write(&mut h, BLK, reg, width, value as u32)
                }
            };
            if let Effect::Msi { index } = effect {
                let f = bus.function_mut(index).unwrap();
                let host = f
                    .msi()
                    .and_then(|m| msi::route(m, |a| (a.dest < 2).then_some(2 + a.dest), 0x80));
                routed += usize::from(host.is_some());
                f.set_host_msi(&mut h, host);
            }
            for (i, &reg) in FIXED.iter().enumerate() {
                assert_eq!(h.get(reg), fixed[i], "seed {seed} step {step}: {reg:#x}");
            }
            assert_eq!(
                h.get(0x04) & 0xffff & !command::GUEST,
                0,
                "seed {seed} step {step}: command"
            );
            let (addr, data) = (h.get(0x74), h.get(0x7c) & 0xffff);
            assert!(
                (addr, data) == (0, 0)
                    || (matches!(addr, 0xfee0_2000 | 0xfee0_3000) && data == 0x80),
                "seed {seed} step {step}: host MSI {addr:#x}/{data:#x}"
            );
            assert_eq!(h.get(0x78), 0, "seed {seed} step {step}: MSI high address");
            assert_eq!(h.get(0x70) & 0x0070_0000, 0, "one MSI message only");
        }
        assert!(h.nwrites > 0, "seed {seed}: no write reached the host");
    }
    assert!(routed > 0, "the walk never routed a guest MSI message ");
}
