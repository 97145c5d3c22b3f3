//! I/O ports a VM is not given: PCI configuration (0xCF8/0xCFC), the keyboard
//! controller's data port, COM2, the PC's DMA controller and its page registers, the
//! second PIC. Under rtvisor they read all-ones (or fault); the only write is the PCI
//! address latch, harmless to the machine. (The keyboard controller's command port
//! 0x64 is the VM's: its reset; the PIT at 0x40-0x43 with port B at 0x61 and the RTC
//! at 0x70-0x71 are the VM's own emulated ones: docs/x86.md, "PC devices".)

use guest_common::guard;

use crate::report::{contained, leak, Outcome};

fn inb(port: u16) -> Result<u8, guest_common::exception::Fault> {
    guard::catch(|| {
        let mut v: u8 = 0;
        // SAFETY: a port read of a device this VM is not given; no memory effects.
        unsafe { guest_common::guarded!("in al, dx", in("dx") port, inout("al") v,) };
        v
    })
}

fn inl(port: u16) -> Result<u32, guest_common::exception::Fault> {
    guard::catch(|| {
        let mut v: u32 = 0;
        // SAFETY: as in `inb`.
        unsafe { guest_common::guarded!("in eax, dx", in("dx") port, inout("eax") v,) };
        v
    })
}

fn outl(port: u16, v: u32) -> Result<(), guest_common::exception::Fault> {
    guard::catch(|| {
        // SAFETY: only the PCI address latch is written (harmless); no memory effects.
        unsafe { guest_common::guarded!("out dx, eax", in("dx") port, in("eax") v,) };
    })
}

pub fn io_ports() -> Outcome {
    const CASE: &str = "io-ports";
    const PORTS: [u16; 7] = [0x00, 0x81, 0x87, 0xa0, 0x60, 0x2f8, 0x2fd];
    let (mut ones, mut faults) = (0, 0);
    for port in PORTS {
        match inb(port) {
            Ok(0xff) => ones += 1,
            Ok(v) => return leak(CASE, format_args!("port {:#x} reads {:#x}", port, v)),
            Err(_) => faults += 1,
        }
    }
    // PCI config: the host bridge's vendor/device id at bus 0, device 0.
    let _ = outl(0xcf8, 0x8000_0000);
    match inl(0xcfc) {
        Ok(u32::MAX) => ones += 1,
        Ok(v) => return leak(CASE, format_args!("PCI config 0:0.0 reads {:#x}", v)),
        Err(_) => faults += 1,
    }
    contained(
        CASE,
        format_args!(
            "{} reads: {} all-ones, {} refused",
            PORTS.len() + 1,
            ones,
            faults
        ),
    )
}
