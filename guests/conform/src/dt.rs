//! The device tree a virt guest relies on: memory, the CPUs and their enable method,
//! PSCI, the timer's interrupts, the GIC's registers and the UART.

use core::fmt::{self, Write};

use fdt::node::FdtNode;
use fdt::Fdt;
use guest_common::BootInfo;

use crate::check;

/// Big-endian cells of a property, printed `<a b c>` in hex.
struct Cells<'a>(&'a [u8]);

impl fmt::Display for Cells<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('<')?;
        for (i, c) in self.0.chunks(4).enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            write!(f, "{:#x}", u32::from_be_bytes(w))?;
        }
        f.write_char('>')
    }
}

/// A string-list property, printed with `,` between the strings.
struct Strings<'a>(&'a [u8]);

impl fmt::Display for Strings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0.strip_suffix(&[0]).unwrap_or(self.0);
        for (i, s) in v.split(|&b| b == 0).enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            f.write_str(core::str::from_utf8(s).unwrap_or("?"))?;
        }
        Ok(())
    }
}

fn prop<'a>(node: Option<FdtNode<'_, 'a>>, name: &str) -> Option<&'a [u8]> {
    node?.property(name).map(|p| p.value)
}

fn cells(name: &str, value: Option<&[u8]>) {
    match value {
        Some(v) => check!(name, "{}", Cells(v)),
        None => check!(name, "absent"),
    }
}

fn strings(name: &str, value: Option<&[u8]>) {
    match value {
        Some(v) => check!(name, "{}", Strings(v)),
        None => check!(name, "absent"),
    }
}

pub fn run(boot: &BootInfo) {
    let Some(fdt) = boot.fdt.as_ref() else {
        check!("dt", "absent");
        return;
    };
    memory(fdt);
    cpus(fdt);
    let psci = fdt.find_node("/psci");
    strings("dt.psci.compatible", prop(psci, "compatible"));
    strings("dt.psci.method", prop(psci, "method"));
    let timer = fdt.find_compatible(&["arm,armv8-timer"]);
    cells("dt.timer.interrupts", prop(timer, "interrupts"));
    strings(
        "dt.timer.always-on",
        prop(timer, "always-on").map(|_| &b"yes"[..]),
    );
    let gic = fdt.find_compatible(&["arm,gic-v3"]);
    cells("dt.gic.interrupt-cells", prop(gic, "#interrupt-cells"));
    strings(
        "dt.gic.interrupt-controller",
        prop(gic, "interrupt-controller").map(|_| &b"yes"[..]),
    );
    match gic.and_then(|g| g.reg()) {
        Some(mut regs) => {
            let d = regs.next().map(|r| (r.starting_address as usize, r.size));
            let r = regs.next().map(|r| r.starting_address as usize);
            check!("dt.gic.gicd", "{:#x?}", d);
            check!("dt.gic.gicr-base", "{:#x?}", r);
        }
        None => check!("dt.gic.reg", "absent"),
    }
    let uart = fdt.find_compatible(&["arm,pl011"]);
    strings("dt.uart.compatible", prop(uart, "compatible"));
    cells("dt.uart.reg", prop(uart, "reg"));
    cells("dt.uart.interrupts", prop(uart, "interrupts"));
    let chosen = fdt.find_node("/chosen");
    let stdout = prop(chosen, "stdout-path");
    let points_at_uart = stdout
        .and_then(|p| core::str::from_utf8(p.strip_suffix(&[0]).unwrap_or(p)).ok())
        .and_then(|p| fdt.find_node(p.split(':').next().unwrap_or(p)))
        .and_then(|n| n.compatible())
        .is_some_and(|c| c.all().any(|s| s == "arm,pl011"));
    check!("dt.chosen.stdout-is-pl011", "{}", points_at_uart);
}

fn memory(fdt: &Fdt<'_>) {
    let mut n = 0;
    for r in fdt.memory().regions() {
        check!(
            "dt.memory",
            "base={:#x} size={:#x?}",
            r.starting_address as usize,
            r.size
        );
        n += 1;
    }
    check!("dt.memory.regions", "{}", n);
}

fn cpus(fdt: &Fdt<'_>) {
    let mut n = 0;
    for c in fdt.cpus() {
        let name = if n == 0 { "dt.cpu0" } else { "dt.cpu" };
        let method = c.property("enable-method").map(|p| p.value);
        check!(
            name,
            "reg={} enable-method={}",
            Cells(c.property("reg").map_or(&[][..], |p| p.value)),
            Strings(method.unwrap_or(b"absent"))
        );
        n += 1;
    }
    check!("dt.cpus", "{}", n);
}
