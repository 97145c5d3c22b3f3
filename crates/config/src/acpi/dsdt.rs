//! A VM's DSDT: what the guest cannot find by itself.
//!
//! ```text
//! Scope (\_SB) {
//!     Device (COM1) {                          // the emulated 16550
//!         Name (_HID, EisaId ("PNP0501"))
//!         Name (_UID, 1)
//!         Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} })
//!     }
//!     Device (D000) {                          // each passed-through device, in order
//!         Name (_HID, "PRP0001")               // matched by its `compatible` (_DSD)
//!         Name (_UID, 0)
//!         Name (_DSD, Package () { ToUUID (...), Package () { Package () { "compatible", ... } } })
//!         Name (_CRS, ResourceTemplate () { Memory32Fixed (...) Interrupt (...) { gsi, ... } })
//!     }
//!     Device (PCI0) {                          // with PCI: the host bridge
//!         Name (_HID, EisaId ("PNP0A08"))      // PCI Express root bridge,
//!         Name (_CID, EisaId ("PNP0A03"))      // and PCI
//!         Name (_SEG, 0)  Name (_BBN, 0)  Name (_UID, 0)
//!         Name (_CRS, ResourceTemplate () { WordBusNumber (0..=last bus)
//!                                           DWordMemory (each PCI_MMIO_WINDOWS) })
//!         Name (_PRT, Package () {             // INTx of each device on bus 0
//!             Package () { 0xDDDDFFFF, pin, Zero, gsi }, ...  // pins 0..=3 (INTA..INTD)
//!         })
//!     }
//!     Device (ECAM) {                          // with PCI: the ECAM window
//!         Name (_HID, EisaId ("PNP0C02"))      // motherboard resources
//!         Name (_UID, 0)
//!         Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, PCI_ECAM_GPA, PCI_ECAM_SIZE) })
//!     }
//!     Device (DBEL) { ... "rtvisor,doorbell", the doorbell page }   // with shared memory
//!     Device (SHM0) { ... "generic-uio", the region, its doorbell GSI }  // region k: SHMk
//! }
//! Name (\_S5, Package () { 5, 5, 0, 0 })       // SLP_TYP of S5 (soft off)
//! ```
//!
//! `PCI0`'s windows are where the host firmware put the BARs of the VM's functions
//! (the hypervisor keeps them there and drops BAR writes): Linux claims each BAR
//! inside a window as it is and never reassigns it. Its `_PRT` routes the INTx pins
//! of each device number the VM has a function of on bus 0 to GSIs of the VM's I/O
//! APIC: the host's own GSIs (the board's `intx` by the standard swizzle), which the
//! hypervisor forwards (level-triggered, active low: the `_PRT` default for a GSI).
//! It has no `_OSC` (Linux keeps the defaults: no native hot plug, AER or ASPM); the
//! ECAM window is in the MCFG.
//!
//! `ECAM` reserves that window as a motherboard resource. Linux takes the MCFG's
//! window only where it is reserved: in the memory map while configuration type 1
//! (ports 0xCF8/0xCFC) works, else only in an ACPI `PNP0C01`/`PNP0C02` device's
//! `_CRS`. Its check that type 1 works looks for a host bridge or VGA on bus 0 (on a
//! machine without a DMI BIOS date), which a VM given only its own functions does not
//! have; without `ECAM` it would then have no configuration access at all.
//!
//! `PRP0001` with a `compatible` property is how ACPI hands a device to a Linux
//! driver that matches device-tree compatibles (`uio_pdrv_genirq` for `generic-uio`),
//! so a shared region looks the same to Linux as on aarch64.

use super::aml::{self, DEVICE_PROPERTIES_UUID};
use super::tables::sdt;
use super::BootInfo;
use crate::contract::x86_64::{
    COM1_GSI, COM1_PORT, DOORBELL_GPA, PCI_ECAM_SIZE, PCI_MMIO_WINDOWS, SLP_TYP_S5,
};

/// The DSDT of a VM.
pub fn dsdt(info: &BootInfo) -> Vec<u8> {
    let mut sb = com1();
    for (i, d) in info.devices.iter().enumerate() {
        let mut resources = vec![aml::memory32_fixed(true, d.base as u32, d.size as u32)];
        if !d.gsis.is_empty() {
            resources.push(aml::interrupt(!d.level, &d.gsis));
        }
        let crs = aml::resource_template(&resources);
        let compatible = match d.compatible.as_slice() {
            [one] => aml::string(one),
            many => aml::package(&many.iter().map(|c| aml::string(c)).collect::<Vec<_>>()),
        };
        sb.extend(prp0001(
            &format!("D{:03X}", i.min(0xfff)),
            i as u64,
            &[("compatible", compatible)],
            crs,
        ));
    }
    if let Some(p) = &info.pci {
        sb.extend(pci0(p.last_bus, &p.prt));
        sb.extend(ecam(p.ecam));
    }
    if !info.shared.is_empty() {
        let crs = aml::resource_template(&[aml::memory32_fixed(true, DOORBELL_GPA as u32, 0x1000)]);
        let props = [("compatible", aml::string("rtvisor,doorbell"))];
        sb.extend(prp0001("DBEL", 0, &props, crs));
    }
    for m in &info.shared {
        let crs = aml::resource_template(&[
            aml::memory32_fixed(m.writable, m.gpa as u32, m.size as u32),
            aml::interrupt(true, &[m.gsi]),
        ]);
        let props = [
            ("compatible", aml::string("generic-uio")),
            ("rtvisor,name", aml::string(&m.name)),
            (
                "rtvisor,access",
                aml::string(if m.writable { "rw" } else { "ro" }),
            ),
            ("rtvisor,doorbell", aml::integer(m.index as u64)),
        ];
        sb.extend(prp0001(
            &format!("SHM{:X}", m.index & 0xf),
            m.index as u64,
            &props,
            crs,
        ));
    }
    let s5 = u64::from(SLP_TYP_S5);
    let body = [
        aml::scope("\\_SB", &sb),
        aml::name(
            "\\_S5",
            aml::package(&[
                aml::integer(s5),
                aml::integer(s5),
                aml::integer(0),
                aml::integer(0),
            ]),
        ),
    ]
    .concat();
    sdt(b"DSDT", 2, &body)
}

/// `Device (COM1)`: the emulated 16550 at its ISA port and IRQ.
fn com1() -> Vec<u8> {
    let crs = aml::resource_template(&[
        aml::io_port(COM1_PORT, 8),
        aml::irq_no_flags(COM1_GSI as u8),
    ]);
    let body = [
        aml::name("_HID", aml::integer(u64::from(aml::eisa_id("PNP0501")))),
        aml::name("_UID", aml::integer(1)),
        aml::name("_CRS", crs),
    ]
    .concat();
    aml::device("COM1", &body)
}

/// `Device (PCI0)`: the host bridge of segment 0, its buses from 0 to `last_bus`,
/// the 32-bit memory windows of the contract, and the INTx routing `prt`.
fn pci0(last_bus: u8, prt: &[(u8, [u32; 4])]) -> Vec<u8> {
    let mut resources = vec![aml::word_bus_number(0, last_bus)];
    resources.extend(
        PCI_MMIO_WINDOWS
            .iter()
            .map(|&(base, end)| aml::dword_memory(base as u32, end as u32)),
    );
    let eisa = |id: &str| aml::integer(u64::from(aml::eisa_id(id)));
    let body = [
        aml::name("_HID", eisa("PNP0A08")),
        aml::name("_CID", eisa("PNP0A03")),
        aml::name("_SEG", aml::integer(0)),
        aml::name("_BBN", aml::integer(0)),
        aml::name("_UID", aml::integer(0)),
        aml::name("_CRS", aml::resource_template(&resources)),
        aml::name("_PRT", aml::package(&prt_entries(prt))),
    ]
    .concat();
    aml::device("PCI0", &body)
}

/// The `_PRT` entries: `Package () { address, pin, Zero, gsi }` for each pin of each
/// device (address 0xDDDDFFFF: device DDDD, any function; the source Zero: `gsi` is
/// a GSI, not a link device).
pub(super) fn prt_entries(prt: &[(u8, [u32; 4])]) -> Vec<Vec<u8>> {
    prt.iter()
        .flat_map(|&(dev, gsis)| {
            gsis.into_iter().enumerate().map(move |(pin, gsi)| {
                aml::package(&[
                    aml::integer(u64::from(dev) << 16 | 0xffff),
                    aml::integer(pin as u64),
                    aml::integer(0),
                    aml::integer(u64::from(gsi)),
                ])
            })
        })
        .collect()
}

/// `Device (ECAM)`: the ECAM window at `base` as a motherboard resource (`PNP0C02`).
fn ecam(base: u64) -> Vec<u8> {
    let crs =
        aml::resource_template(&[aml::memory32_fixed(true, base as u32, PCI_ECAM_SIZE as u32)]);
    let body = [
        aml::name("_HID", aml::integer(u64::from(aml::eisa_id("PNP0C02")))),
        aml::name("_UID", aml::integer(0)),
        aml::name("_CRS", crs),
    ]
    .concat();
    aml::device("ECAM", &body)
}

/// A `PRP0001` device with device properties and resources.
fn prp0001(name: &str, uid: u64, props: &[(&str, Vec<u8>)], crs: Vec<u8>) -> Vec<u8> {
    let props: Vec<Vec<u8>> = props
        .iter()
        .map(|(k, v)| aml::package(&[aml::string(k), v.clone()]))
        .collect();
    let dsd = aml::package(&[
        aml::buffer(&aml::uuid(DEVICE_PROPERTIES_UUID)),
        aml::package(&props),
    ]);
    let body = [
        aml::name("_HID", aml::string("PRP0001")),
        aml::name("_UID", aml::integer(uid)),
        aml::name("_DSD", dsd),
        aml::name("_CRS", crs),
    ]
    .concat();
    aml::device(name, &body)
}
