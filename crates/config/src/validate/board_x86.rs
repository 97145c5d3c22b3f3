//! Rules an x86_64 board file must satisfy on its own: unique APIC IDs, the APICs'
//! register pages, the first RAM bank holding the hypervisor's load address, and UARTs
//! on I/O ports that no other UART has. (Their MMIO windows are checked with the
//! others in `mmio`; which keys an x86_64 board has, in `arch`.)

use crate::contract::x86_64::HV_LOAD;
use crate::contract::Arch;
use crate::diag::{Diagnostic, Source};
use crate::schema::BoardFile;
use crate::size::{hex, range, within, PAGE};
use std::collections::BTreeMap;

/// The I/O ports of a 16550.
pub(crate) const UART_PORTS: u64 = 8;

/// Every x86_64 board rule (none on an aarch64 board).
pub(super) fn rules(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    if b.arch() != Arch::X86_64 {
        return;
    }
    let mut ids = BTreeMap::new();
    for id in b.cpu.iter().filter_map(|c| c.apic_id.as_ref()) {
        if ids.insert(*id.get_ref(), ()).is_some() {
            let msg = format!("APIC ID {} is declared twice", id.get_ref());
            let hint = "each [[cpu]] needs its own local APIC ID".to_owned();
            out.push(src.diag(id.span(), msg, hint));
        }
    }
    if let Some(l) = &b.local_apic {
        page_aligned(src, "the local APIC", l.base.get_ref(), l.base.span(), out);
    }
    let mut ioapic_ids = BTreeMap::new();
    let mut gsi_bases = BTreeMap::new();
    for io in &b.io_apic {
        let id = *io.id.get_ref();
        if id > 0xff {
            let msg = format!("I/O APIC ID {id} does not fit in 8 bits");
            let hint = "the MADT gives I/O APIC IDs from 0 to 255".to_owned();
            out.push(src.diag(io.id.span(), msg, hint));
        } else if ioapic_ids.insert(id, ()).is_some() {
            let msg = format!("I/O APIC ID {id} is declared twice");
            out.push(src.diag(io.id.span(), msg, "each I/O APIC has its own ID".into()));
        }
        let at = io.base.span();
        page_aligned(src, "an I/O APIC", io.base.get_ref(), at, out);
        if gsi_bases.insert(*io.gsi_base.get_ref(), ()).is_some() {
            let msg = format!("two I/O APICs start at GSI {}", io.gsi_base.get_ref());
            let hint = "each I/O APIC has its own range of GSIs (the MADT's GSI base)";
            out.push(src.diag(io.gsi_base.span(), msg, hint.to_owned()));
        }
    }
    if let Some(first) = b.ram.first() {
        let (base, size) = (*first.base.get_ref(), first.size.get_ref().0);
        if size > 0 && !within(HV_LOAD, PAGE, base, size) {
            let msg = format!(
                "the first RAM bank ({}) does not hold {}, where GRUB loads the hypervisor",
                range(base, size),
                hex(HV_LOAD)
            );
            let hint = "list first the bank that holds 2 MiB (on a PC, the RAM from 1 MiB up; \
                        the memory below 1 MiB is the firmware's and the hypervisor's)"
                .to_owned();
            out.push(src.diag(first.base.span(), msg, hint));
        }
    }
    uart_ports(src, b, out);
}

fn page_aligned(
    src: &Source,
    what: &str,
    base: &u64,
    at: std::ops::Range<usize>,
    out: &mut Vec<Diagnostic>,
) {
    if !base.is_multiple_of(PAGE) {
        let msg = format!("{what} at {} is not 4 KiB aligned", hex(*base));
        let hint = "an APIC's registers are one 4 KiB page; check the address in the MADT";
        out.push(src.diag(at, msg, hint.to_owned()));
    }
}

/// A UART's eight ports are its own, and inside the 64 Ki I/O ports.
fn uart_ports(src: &Source, b: &BoardFile, out: &mut Vec<Diagnostic>) {
    let ports: Vec<_> = b
        .uart
        .iter()
        .filter_map(|u| Some((u, u.port.as_ref()?)))
        .collect();
    for (i, (u, port)) in ports.iter().enumerate() {
        let p = u64::from(*port.get_ref());
        if p + UART_PORTS > 0x1_0000 {
            let msg = format!(
                "UART `{}` at port {} runs past the last I/O port (0xffff)",
                u.name.get_ref(),
                hex(p)
            );
            let hint = "a 16550 has 8 ports from its `port`; COM1 is at 0x3f8".to_owned();
            out.push(src.diag(port.span(), msg, hint));
        }
        let clash = ports[..i].iter().find(|(_, q)| {
            let q = u64::from(*q.get_ref());
            p < q + UART_PORTS && q < p + UART_PORTS
        });
        if let Some((other, q)) = clash {
            let msg = format!(
                "UART `{}` (ports {}) overlaps UART `{}` (ports {})",
                u.name.get_ref(),
                range(p, UART_PORTS),
                other.name.get_ref(),
                range(u64::from(*q.get_ref()), UART_PORTS)
            );
            let hint = "each 16550 has 8 ports of its own: COM1 0x3f8, COM2 0x2f8, COM3 0x3e8, \
                        COM4 0x2e8"
                .to_owned();
            out.push(src.diag(port.span(), msg, hint));
        }
    }
}
