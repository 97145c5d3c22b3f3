//! A QEMU-`virt`-like board description that tests change one field at a time and
//! turn into a DTB with `vm-fdt`.

extern crate std;
use std::boxed::Box;
use std::string::String;
use std::vec;
use std::vec::Vec;

use vm_fdt::FdtWriter;

use crate::{parse, Platform, PlatformError};

pub const GIC_PHANDLE: u32 = 1;
pub const OTHER_INTC: u32 = 2;

pub type Hook = Box<dyn Fn(&mut FdtWriter)>;

pub struct Board {
    pub cells: (u32, u32),
    pub memory: Vec<Vec<(u64, u64)>>,
    pub cpu_cells: u32,
    pub cpus: Vec<u64>,
    pub gic: Option<(&'static str, Vec<(u64, u64)>)>,
    /// `(address, SPI, status)`; node `pl011@<address>`.
    pub uarts: Vec<(u64, u32, &'static str)>,
    pub uart_irq_override: Option<Hook>,
    pub stdout: Option<&'static str>,
    pub aliases: Vec<(&'static str, &'static str)>,
    pub psci: Option<&'static str>,
    pub timer: Option<Vec<u32>>,
    pub extra: Option<Hook>,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            cells: (2, 2),
            memory: vec![vec![(0x4000_0000, 0x4000_0000)]],
            cpu_cells: 1,
            cpus: vec![0, 1],
            gic: Some((
                "arm,gic-v3",
                vec![(0x800_0000, 0x1_0000), (0x80a_0000, 0xf6_0000)],
            )),
            uarts: vec![(0x900_0000, 1, "okay")],
            uart_irq_override: None,
            stdout: Some("/pl011@9000000"),
            aliases: vec![],
            psci: Some("hvc"),
            timer: Some(vec![1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]),
            extra: None,
        }
    }
}

fn push(out: &mut Vec<u32>, v: u64, n: u32) {
    match n {
        1 => out.push(v as u32),
        2 => out.extend([(v >> 32) as u32, v as u32]),
        _ => {}
    }
}

fn reg(w: &mut FdtWriter, (ac, sc): (u32, u32), entries: &[(u64, u64)]) {
    let mut cells = Vec::new();
    for &(a, s) in entries {
        push(&mut cells, a, ac);
        push(&mut cells, s, sc);
    }
    w.property_array_u32("reg", &cells).unwrap();
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| String::from(*s)).collect()
}

impl Board {
    pub fn dtb(&self) -> Vec<u8> {
        let mut w = FdtWriter::new().unwrap();
        let root = w.begin_node("").unwrap();
        w.property_u32("#address-cells", self.cells.0).unwrap();
        w.property_u32("#size-cells", self.cells.1).unwrap();
        w.property_u32("interrupt-parent", GIC_PHANDLE).unwrap();
        if let Some(path) = self.stdout {
            let n = w.begin_node("chosen").unwrap();
            w.property_string("stdout-path", path).unwrap();
            w.end_node(n).unwrap();
        }
        if !self.aliases.is_empty() {
            let n = w.begin_node("aliases").unwrap();
            for (a, p) in &self.aliases {
                w.property_string(a, p).unwrap();
            }
            w.end_node(n).unwrap();
        }
        for (i, bank) in self.memory.iter().enumerate() {
            let n = w.begin_node(&std::format!("memory@{i}")).unwrap();
            w.property_string("device_type", "memory").unwrap();
            reg(&mut w, self.cells, bank);
            w.end_node(n).unwrap();
        }
        let cpus = w.begin_node("cpus").unwrap();
        w.property_u32("#address-cells", self.cpu_cells).unwrap();
        w.property_u32("#size-cells", 0).unwrap();
        for &mpidr in &self.cpus {
            let n = w.begin_node(&std::format!("cpu@{mpidr:x}")).unwrap();
            w.property_string("device_type", "cpu").unwrap();
            reg(&mut w, (self.cpu_cells, 0), &[(mpidr, 0)]);
            w.end_node(n).unwrap();
        }
        w.end_node(cpus).unwrap();
        if let Some((compat, regs)) = &self.gic {
            let n = w.begin_node("intc@8000000").unwrap();
            w.property_string("compatible", compat).unwrap();
            w.property_null("interrupt-controller").unwrap();
            w.property_u32("#interrupt-cells", 3).unwrap();
            reg(&mut w, self.cells, regs);
            w.property_array_u32("interrupts", &[1, 9, 4]).unwrap();
            w.property_phandle(GIC_PHANDLE).unwrap();
            w.end_node(n).unwrap();
        }
        for &(addr, spi, status) in &self.uarts {
            let n = w.begin_node(&std::format!("pl011@{addr:x}")).unwrap();
            w.property_string_list("compatible", strs(&["arm,pl011", "arm,primecell"]))
                .unwrap();
            reg(&mut w, self.cells, &[(addr, 0x1000)]);
            match &self.uart_irq_override {
                Some(hook) => hook(&mut w),
                None => w.property_array_u32("interrupts", &[0, spi, 4]).unwrap(),
            }
            w.property_string("status", status).unwrap();
            w.end_node(n).unwrap();
        }
        if let Some(method) = self.psci {
            let n = w.begin_node("psci").unwrap();
            w.property_string_list("compatible", strs(&["arm,psci-1.0", "arm,psci-0.2"]))
                .unwrap();
            w.property_string("method", method).unwrap();
            w.end_node(n).unwrap();
        }
        if let Some(irqs) = &self.timer {
            let n = w.begin_node("timer").unwrap();
            w.property_string("compatible", "arm,armv8-timer").unwrap();
            w.property_array_u32("interrupts", irqs).unwrap();
            w.end_node(n).unwrap();
        }
        if let Some(hook) = &self.extra {
            hook(&mut w);
        }
        w.end_node(root).unwrap();
        w.finish().unwrap()
    }

    pub fn parse(&self) -> Result<Platform, PlatformError> {
        parse(&self.dtb())
    }
}
