use super::fake::{FakeHost, BLK};
use super::msi::{self, MsiMsg, MsixTable};
use super::*;

fn bus_with_blk(h: &mut FakeHost) -> Bus {
    let f = Function::probe(h, BLK).unwrap();
    let mut bus = Bus::new();
    assert!(bus.add(f));
    bus
}

#[test]
fn addresses_decode() {
    let a = ConfigAddress(0x8000_1a3c);
    assert_eq!(a.target(), Some((Bdf::new(0, 3, 2).unwrap(), 0x3c)));
    assert_eq!(ConfigAddress(0x0000_1a3c).target(), None);
    let (bdf, reg) = Bdf::from_ecam(0x0021_a03c).unwrap();
    assert_eq!((bdf, reg), (Bdf::new(2, 3, 2).unwrap(), 0x03c));
    assert_eq!(bdf.ecam_offset(), 0x0021_a000);
    assert_eq!(Bdf::from_ecam(256 * BUS_SPACE), None);
    assert_eq!(Bdf::new(0, 32, 0), None);
    assert_eq!(Bdf::new(0, 0, 8), None);
}

#[test]
fn only_owned_functions_are_seen() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    assert_eq!(bus.read(&mut h, BLK, 0, Width::Word), 0x1042_1af4);
    let other = Bdf::new(0, 4, 0).unwrap();
    assert_eq!(bus.read(&mut h, other, 0, Width::Word), u32::MAX);
    assert_eq!(bus.read(&mut h, other, 0, Width::Half), 0xffff);
    assert_eq!(bus.write(&mut h, other, 4, Width::Word, 7), Effect::None);
    // Through the ports: enable, bus 0 device 3 function 0 register 0.
    assert_eq!(
        bus.port_write(&mut h, 0, Width::Word, 0x8000_1800),
        Effect::None
    );
    assert_eq!(bus.port_read(&mut h, 0, Width::Word), 0x8000_1800);
    assert_eq!(bus.port_read(&mut h, 4, Width::Word), 0x1042_1af4);
    assert_eq!(bus.port_read(&mut h, 6, Width::Half), 0x1042);
    assert_eq!(bus.port_read(&mut h, 7, Width::Byte), 0x10);
    // Disabled address: nothing.
    bus.port_write(&mut h, 0, Width::Word, 0x0000_1800);
    assert_eq!(bus.port_read(&mut h, 4, Width::Word), u32::MAX);
    // A byte at 0xCF9 (the reset control's port) is not CONFIG_ADDRESS.
    assert_eq!(bus.port_read(&mut h, 1, Width::Byte), 0xff);
    // Through ECAM.
    assert_eq!(bus.ecam_read(&mut h, 0x1_8008, Width::Word), 0x0100_0000);
    assert_eq!(bus.ecam_read(&mut h, 0x2_0000, Width::Word), u32::MAX);
    // Misaligned or crossing: all ones.
    assert_eq!(bus.read(&mut h, BLK, 1, Width::Half), 0xffff);
    assert_eq!(bus.read(&mut h, BLK, 0x1000, Width::Byte), 0xff);
}

#[test]
fn the_vm_has_a_read_only_host_bridge_at_00_00_0() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    let hb = HOST_BRIDGE;
    assert_eq!(bus.read(&mut h, hb, 0, Width::Word), 0x0008_1b36);
    assert_eq!(bus.read(&mut h, hb, 0x0a, Width::Half), 0x0600);
    assert_eq!(bus.read(&mut h, hb, 0x0e, Width::Byte), 0);
    assert_eq!(bus.read(&mut h, hb, 0x10, Width::Word), 0);
    // Writes change nothing and never reach the host (the fake host panics on a
    // write to another function than its own).
    assert_eq!(
        bus.write(&mut h, hb, 0x10, Width::Word, u32::MAX),
        Effect::None
    );
    assert_eq!(bus.read(&mut h, hb, 0x10, Width::Word), 0);
    // Through CONFIG_ADDRESS, as Linux's check of mechanism 1 reads its class.
    bus.port_write(&mut h, 0, Width::Word, 0x8000_0008);
    assert_eq!(bus.port_read(&mut h, 6, Width::Half), 0x0600);
    // Function 1 of device 0 is not there.
    let f1 = Bdf::new(0, 0, 1).unwrap();
    assert_eq!(bus.read(&mut h, f1, 0, Width::Word), u32::MAX);
}

#[test]
fn bars_stay_where_the_host_put_them() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    // The probe left the host's BARs and command as they were, but for INTx (off
    // until routed).
    assert_eq!(h.get(0x14), 0xc000_1000);
    assert_eq!(h.get(0x04) & 0xffff, 0x0007 | command::INTX_DISABLE);
    assert_eq!(bus.read(&mut h, BLK, 0x14, Width::Word), 0xc000_1000);
    // Sizing: all ones, read the mask, write back.
    bus.write(&mut h, BLK, 0x14, Width::Word, u32::MAX);
    assert_eq!(bus.read(&mut h, BLK, 0x14, Width::Word), 0xffff_f000);
    bus.write(&mut h, BLK, 0x14, Width::Word, 0xc000_1000);
    assert_eq!(bus.read(&mut h, BLK, 0x14, Width::Word), 0xc000_1000);
    // Moving it is dropped, on the host too.
    let before = h.nwrites;
    bus.write(&mut h, BLK, 0x14, Width::Word, 0x1000_0000);
    assert_eq!(bus.read(&mut h, BLK, 0x14, Width::Word), 0xc000_1000);
    assert_eq!(h.nwrites, before);
    // The 64-bit BAR's halves and an unimplemented BAR.
    bus.write(&mut h, BLK, 0x20, Width::Word, u32::MAX);
    assert_eq!(bus.read(&mut h, BLK, 0x20, Width::Word), 0xffff_c00c);
    assert_eq!(bus.read(&mut h, BLK, 0x24, Width::Word), 8);
    bus.write(&mut h, BLK, 0x10, Width::Word, u32::MAX);
    assert_eq!(bus.read(&mut h, BLK, 0x10, Width::Word), 0);
    // No ROM, no CardBus, no extended space.
    assert_eq!(bus.read(&mut h, BLK, 0x30, Width::Word), 0);
    assert_eq!(bus.read(&mut h, BLK, 0x100, Width::Word), 0);
}

#[test]
fn command_and_status_are_filtered() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    // Every command bit written: only the guest's reach the host.
    bus.write(&mut h, BLK, 0x04, Width::Half, 0xffff);
    assert_eq!(h.get(0x04) & 0xffff, command::GUEST);
    // The status's error bit clears on a 1; writing its command half alone leaves it.
    assert_ne!(h.get(0x04) & (1 << 24), 0);
    bus.write(&mut h, BLK, 0x04, Width::Half, 0);
    assert_ne!(h.get(0x04) & (1 << 24), 0);
    bus.write(&mut h, BLK, 0x04, Width::Half, 0x0006);
    bus.write(&mut h, BLK, 0x06, Width::Half, 0x0100);
    assert_eq!(h.get(0x04) & (1 << 24), 0);
    // I/O decoding stays on for the host (the guest enabled it); the guest reads its
    // own bits.
    assert_eq!(
        h.get(0x04) & 0xffff,
        7 | command::INTX_DISABLE,
        "a status write left the command alone (INTx disable: not routed)"
    );
    assert_eq!(
        bus.read(&mut h, BLK, 0x04, Width::Half),
        6 | command::INTX_DISABLE
    );
    // IDs and class are read-only.
    bus.write(&mut h, BLK, 0x00, Width::Word, 0);
    assert_eq!(h.get(0x00), 0x1042_1af4);
}

#[test]
fn intx_stays_disabled_until_its_line_is_routed() {
    let mut h = FakeHost::virtio();
    // Firmware left INTx enabled: the probe disables it.
    h.set(0x04, 0x0007);
    let mut bus = bus_with_blk(&mut h);
    assert_eq!(h.get(0x04) & 0xffff, 0x0007 | command::INTX_DISABLE);
    // Unrouted: the guest's clear does not reach the host; its other bits do (but
    // for the decode enables, which only turn on).
    bus.write(&mut h, BLK, 0x04, Width::Half, 0x0002);
    assert_eq!(h.get(0x04) & 0xffff, 0x0003 | command::INTX_DISABLE);
    // Routed to its VM: the guest may enable it.
    bus.function_mut(0).unwrap().set_int_line(23);
    bus.write(&mut h, BLK, 0x04, Width::Half, 0x0002);
    assert_eq!(h.get(0x04) & 0xffff, 0x0003);
    assert_eq!(bus.read(&mut h, BLK, 0x04, Width::Half), 0x0002);
}

/// Linux turns decoding off around each BAR it sizes: the guest reads its own enables
/// back, the host function keeps decoding (its BARs never move), also across a stop,
/// which only clears the guest's view.
#[test]
fn decode_enables_are_shadowed_and_only_turn_on() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    let host_cmd = h.get(0x04) & 0xffff;
    assert_eq!(host_cmd, 0x0007 | command::INTX_DISABLE);
    assert_eq!(bus.read(&mut h, BLK, 0x04, Width::Half), host_cmd);
    for reg in [0x10, 0x14, 0x20, 0x24] {
        let cmd = bus.read(&mut h, BLK, 0x04, Width::Half);
        bus.write(&mut h, BLK, 0x04, Width::Half, cmd & !command::DECODE);
        assert_eq!(
            bus.read(&mut h, BLK, 0x04, Width::Half),
            0x0004 | command::INTX_DISABLE
        );
        assert_eq!(h.get(0x04) & 0xffff, host_cmd, "sizing {reg:#x}");
        let bar = bus.read(&mut h, BLK, reg, Width::Word);
        bus.write(&mut h, BLK, reg, Width::Word, u32::MAX);
        bus.write(&mut h, BLK, reg, Width::Word, bar);
        bus.write(&mut h, BLK, 0x04, Width::Half, cmd);
        assert_eq!(h.get(0x04) & 0xffff, host_cmd, "sizing {reg:#x}");
    }
    // A stop turns bus mastering off and resets the guest's view; the host's
    // decoding stays (no remap at a stop either).
    bus.function_mut(0).unwrap().quiesce(&mut h);
    assert_eq!(
        h.get(0x04) & 0xffff,
        command::DECODE | command::INTX_DISABLE
    );
    assert_eq!(
        bus.read(&mut h, BLK, 0x04, Width::Half),
        command::INTX_DISABLE
    );
    bus.write(&mut h, BLK, 0x04, Width::Half, 0x0006);
    assert_eq!(h.get(0x04) & 0xffff, 0x0007 | command::INTX_DISABLE);
    assert_eq!(
        bus.read(&mut h, BLK, 0x04, Width::Half),
        0x0006 | command::INTX_DISABLE
    );
}

#[test]
fn capabilities_are_walked_and_relinked() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    // PM at 0x40 is hidden: the list starts at MSI-X.
    assert_eq!(bus.read(&mut h, BLK, 0x34, Width::Byte), 0x50);
    assert_eq!(bus.read(&mut h, BLK, 0x40, Width::Word), 0);
    assert_eq!(bus.read(&mut h, BLK, 0x50, Width::Half), 0x6011);
    assert_eq!(bus.read(&mut h, BLK, 0x61, Width::Byte), 0x70);
    assert_eq!(bus.read(&mut h, BLK, 0x71, Width::Byte), 0);
    // MSI shows one message, not eight.
    assert_eq!(bus.read(&mut h, BLK, 0x72, Width::Half), 0x0180);
    // The vendor structure is read-only.
    bus.write(&mut h, BLK, 0x68, Width::Word, 0x1234);
    assert_eq!(bus.read(&mut h, BLK, 0x68, Width::Word), 0);
    // MSI-X: enable and mask reach the host, the table size does not change.
    bus.write(&mut h, BLK, 0x52, Width::Half, 0xffff);
    assert_eq!(h.get(0x50), 0xc001_6011);
    // The interrupt line is the guest's; the pin is the host's.
    assert_eq!(bus.read(&mut h, BLK, 0x3c, Width::Half), 0x01ff);
    bus.write(&mut h, BLK, 0x3c, Width::Byte, 10);
    assert_eq!(bus.read(&mut h, BLK, 0x3c, Width::Half), 0x010a);
    assert_eq!(h.get(0x3c), 0x0000_010b);
    // No capability list at all: the status bit goes too.
    let mut bare = FakeHost::virtio();
    bare.set(0x34, 0x40);
    bare.set(0x40, 0x0003_0001); // PM only
    let mut bus = bus_with_blk(&mut bare);
    assert_eq!(bus.read(&mut bare, BLK, 0x34, Width::Word), 0);
    assert_eq!(bus.read(&mut bare, BLK, 0x06, Width::Half) & 0x10, 0);
}

#[test]
fn bad_functions_are_refused() {
    let mut h = FakeHost::virtio();
    assert_eq!(
        Function::probe(&mut h, Bdf::new(0, 9, 0).unwrap()),
        Err(ProbeError::Absent)
    );
    h.set(0x0c, 0x0001_0000);
    assert_eq!(Function::probe(&mut h, BLK), Err(ProbeError::NotEndpoint));
    let mut looped = FakeHost::virtio();
    looped.set(0x70, 0x0186_5005); // MSI -> MSI-X -> ... forever
    assert_eq!(
        Function::probe(&mut looped, BLK),
        Err(ProbeError::BadCapabilities)
    );
    let mut low = FakeHost::virtio();
    low.set(0x70, 0x0186_3005); // a pointer into the header
    assert_eq!(
        Function::probe(&mut low, BLK),
        Err(ProbeError::BadCapabilities)
    );
    let mut h = FakeHost::virtio();
    let f = Function::probe(&mut h, BLK).unwrap();
    let mut bus = Bus::new();
    assert!(bus.add(f));
    assert!(!bus.add(f), "the same BDF twice");
}

#[test]
fn msi_is_shadowed_and_rewritten_for_the_host() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    // The guest: vector 0x41 to its APIC 1, then enable.
    assert_eq!(
        bus.write(&mut h, BLK, 0x74, Width::Word, 0xfee0_1000),
        Effect::Msi { index: 0 }
    );
    bus.write(&mut h, BLK, 0x78, Width::Word, 0);
    bus.write(&mut h, BLK, 0x7c, Width::Half, 0x0041);
    assert_eq!(bus.function_mut(0).unwrap().msi(), None, "not enabled yet");
    assert_eq!(
        bus.write(&mut h, BLK, 0x72, Width::Half, 0x0071),
        Effect::Msi { index: 0 }
    );
    // Nothing of it reached the device.
    assert_eq!(h.get(0x74), 0);
    assert_eq!(h.get(0x70) & (1 << 16), 0);
    // The guest reads back its own message.
    assert_eq!(bus.read(&mut h, BLK, 0x74, Width::Word), 0xfee0_1000);
    assert_eq!(bus.read(&mut h, BLK, 0x7c, Width::Half), 0x0041);
    assert_eq!(bus.read(&mut h, BLK, 0x72, Width::Half) & 0x71, 0x01);
    let f = bus.function_mut(0).unwrap();
    let guest = f.msi().unwrap();
    // Its vCPU with APIC ID 1 runs on the core with APIC ID 2; the host vector is 0x80.
    let host = msi::route(guest, |m| (m.dest == 1).then_some(2), 0x80);
    assert_eq!(
        host,
        Some(MsiMsg {
            address: 0xfee0_2000,
            data: 0x80
        })
    );
    f.set_host_msi(&mut h, host);
    assert_eq!(h.get(0x74), 0xfee0_2000);
    assert_eq!(h.get(0x78), 0);
    assert_eq!(h.get(0x7c) & 0xffff, 0x80);
    assert_eq!(h.get(0x70) & 0x007f_0000, 1 << 16, "on, one message");
    // Per-vector mask bits pass.
    bus.write(&mut h, BLK, 0x80, Width::Word, 1);
    assert_eq!(h.get(0x80), 1);
    // A guest that disables MSI: the caller routes again and the host turns it off.
    bus.write(&mut h, BLK, 0x72, Width::Half, 0);
    let f = bus.function_mut(0).unwrap();
    f.set_host_msi(&mut h, None);
    assert_eq!(h.get(0x70) & (1 << 16), 0);
}

#[test]
fn messages_that_would_reach_the_host_are_refused() {
    let m = |address, data| MsiMsg { address, data };
    assert!(msi::decode(m(0xfee0_1000, 0x41)).is_ok());
    let low = msi::decode(m(0xfee0_300c, 0x0141)).unwrap();
    assert_eq!((low.dest, low.logical, low.lowest), (3, true, true));
    for mode in [2, 4, 5, 6, 7] {
        assert_eq!(
            msi::decode(m(0xfee0_1000, 0x41 | (mode << 8))),
            Err(msi::RouteError::Mode),
            "delivery mode {mode}"
        );
    }
    assert_eq!(
        msi::decode(m(0xfee0_1000, 0x0f)),
        Err(msi::RouteError::Vector)
    );
    assert_eq!(
        msi::decode(m(0x1_fee0_1000, 0x41)),
        Err(msi::RouteError::NotApic)
    );
    assert_eq!(
        msi::decode(m(0xc000_0000, 0x41)),
        Err(msi::RouteError::NotApic)
    );
    // A destination outside the VM is not routed.
    assert_eq!(msi::route(m(0xfee0_7000, 0x41), |_| None, 0x80), None);
}

#[test]
fn the_msix_table_is_a_shadow() {
    let mut t: MsixTable<4> = MsixTable::new(2);
    assert_eq!(t.len(), 2);
    assert_eq!(t.read(12, Width::Word), 1, "masked at reset");
    assert_eq!(t.entry(0).unwrap().message(), None);
    assert_eq!(t.write(0, Width::Double, 0xfee0_1000), Some(0));
    assert_eq!(t.write(8, Width::Word, 0x42), Some(0));
    assert_eq!(t.write(12, Width::Word, 0), Some(0));
    let guest = t.entry(0).unwrap().message().unwrap();
    assert_eq!(guest.address, 0xfee0_1000);
    let host = msi::route(guest, |_| Some(3), 0x81);
    assert_eq!(msi::MsixEntry::host_words(host), [0xfee0_3000, 0, 0x81, 0]);
    assert_eq!(msi::MsixEntry::host_words(None), [0, 0, 0, 1]);
    // Past the table, odd widths and misaligned accesses are dropped.
    assert_eq!(t.write(32, Width::Word, 5), None);
    assert_eq!(t.write(2, Width::Word, 5), None);
    assert_eq!(t.write(0, Width::Byte, 5), None);
    assert_eq!(t.write(4, Width::Double, 5), None);
    assert_eq!(t.read(32, Width::Word), 0);
    assert_eq!(t.read(0, Width::Double), 0xfee0_1000);
    t.reset();
    assert_eq!(t.entry(0).unwrap().message(), None);
    assert_eq!(MsixTable::<4>::new(9).len(), 4);
}

#[test]
fn quiesce_stops_the_function_and_names_its_reset() {
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    bus.write(&mut h, BLK, 0x52, Width::Half, 0x8000);
    bus.write(&mut h, BLK, 0x3c, Width::Byte, 10);
    let f = bus.function_mut(0).unwrap();
    let method = f.quiesce(&mut h);
    assert_eq!(method, ResetMethod::VirtioStatus { bar: 4, offset: 20 });
    // No bus mastering (no DMA); the host's decoding kept.
    assert_eq!(
        h.get(0x04) & 0xffff,
        command::DECODE | command::INTX_DISABLE
    );
    assert_eq!(
        h.get(0x50) & (cap::MSIX_ENABLE | cap::MSIX_MASK_ALL),
        cap::MSIX_MASK_ALL
    );
    assert_eq!(bus.read(&mut h, BLK, 0x3c, Width::Byte), 0xff);
    // With its INTx routed, the line reads the VM's GSI, also after the next stop.
    let f = bus.function_mut(0).unwrap();
    assert_eq!(f.int_pin(&mut h), Some(1));
    f.set_int_line(23);
    assert_eq!(bus.read(&mut h, BLK, 0x3c, Width::Half), 0x0117);
    bus.write(&mut h, BLK, 0x3c, Width::Byte, 10);
    bus.function_mut(0).unwrap().quiesce(&mut h);
    assert_eq!(bus.read(&mut h, BLK, 0x3c, Width::Byte), 23);
    // After a reset that cleared them, the BARs go back.
    h.set(0x14, 0);
    bus.function_mut(0).unwrap().restore(&mut h);
    assert_eq!(h.get(0x14), 0xc000_1000);
    assert_eq!(h.wrote(0x20), Some(0xc));

    // A PCI Express function with FLR: that is the method.
    let mut x = FakeHost::virtio();
    x.set(0x60, 0x0002_0010); // Express v2 instead of the vendor cap
    x.set(0x64, cap::EXPRESS_FLR_CAPABLE);
    x.set(0x68, 0x0000_2810);
    let mut f = Function::probe(&mut x, BLK).unwrap();
    let method = f.quiesce(&mut x);
    assert_eq!(method, ResetMethod::Flr { reg: 0x68 });
    f.start_flr(&mut x, 0x68);
    assert_eq!(x.get(0x68) & 0xffff, 0xa810);
    // The guest cannot start one itself, nor change the payload size.
    let mut bus = Bus::new();
    let mut x = FakeHost::virtio();
    x.set(0x60, 0x0002_0010);
    x.set(0x68, 0x000f_2810);
    bus.add(Function::probe(&mut x, BLK).unwrap());
    bus.write(&mut x, BLK, 0x68, Width::Word, 0x0001_8000 | 0x00e0 | 0x1);
    // Error reporting (bit 0) and the status's write-1-to-clear bit 0 pass; FLR
    // (bit 15) and the payload size (7:5) do not, relaxed ordering (4) and no snoop
    // (11) take the guest's 0.
    assert_eq!(x.get(0x68), 0x0001_2001, "{:#x}", x.get(0x68));
}

#[test]
fn the_guest_sees_at_most_16_msix_entries() {
    let mut h = FakeHost::virtio();
    h.set(0x50, 0x003f_6011 | cap::MSIX_ENABLE); // 64 entries, enabled
    let mut bus = bus_with_blk(&mut h);
    let v = bus.read(&mut h, BLK, 0x50, Width::Word);
    assert_eq!((v >> 16) & 0x7ff, 15);
    assert_eq!(v & cap::MSIX_ENABLE, cap::MSIX_ENABLE);
    assert_eq!(v & 0xff, 0x11);
    // The layout the hypervisor reads is the device's own.
    let f = bus.function_mut(0).unwrap();
    assert_eq!(f.msix_layout(&mut h).map(|l| l.entries), Some(64));
    // A smaller table is shown as it is.
    let mut h = FakeHost::virtio();
    let mut bus = bus_with_blk(&mut h);
    assert_eq!((bus.read(&mut h, BLK, 0x50, Width::Word) >> 16) & 0x7ff, 1);
}

#[test]
fn only_a_virtio_device_gets_the_virtio_reset() {
    // Another vendor's function with a vendor capability of the same shape: the
    // hypervisor must not write a status byte into its BAR.
    let mut h = FakeHost::virtio();
    h.set(0x00, 0x1234_8086);
    let f = Function::probe(&mut h, BLK).unwrap();
    assert_eq!(f.reset_method(&mut h), ResetMethod::StopOnly);
    let mut h = FakeHost::virtio();
    let f = Function::probe(&mut h, BLK).unwrap();
    assert_eq!(
        f.reset_method(&mut h),
        ResetMethod::VirtioStatus { bar: 4, offset: 20 }
    );
}
