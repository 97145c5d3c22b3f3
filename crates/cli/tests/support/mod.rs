//! Shared by the binary's end-to-end tests: running it, scratch directories, and
//! board files in a comparable form.
#![allow(dead_code)]

use rtvisor_config::schema::BoardFile;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn rtvisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtvisor"))
        .args(args)
        .output()
        .expect("running rtvisor")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub const DTB: &str = "crates/arch/aarch64/tests/data/qemu-virt-gicv3-smp4.dtb";

/// Everything a board file says, without spans, in a comparable form.
pub fn normalize(b: &BoardFile) -> Vec<String> {
    let mut v = vec![format!(
        "name {} arch {}",
        b.name.get_ref(),
        b.arch().name()
    )];
    let opt = |o: Option<u64>| o.map_or("-".to_owned(), |x| format!("{x:#x}"));
    v.extend(b.cpu.iter().map(|c| {
        format!(
            "cpu {} apic {}",
            opt(c.mpidr.as_ref().map(|m| *m.get_ref())),
            opt(c.apic_id.as_ref().map(|a| u64::from(*a.get_ref())))
        )
    }));
    v.extend(
        b.ram
            .iter()
            .map(|r| format!("ram {:#x} {:#x}", r.base.get_ref(), r.size.get_ref().0)),
    );
    if let Some(g) = &b.gic {
        v.push(format!(
            "gic v{} dist {:#x}+{:#x} redist {:#x}+{:#x}/{:#x}",
            g.version.get_ref(),
            g.distributor.base.get_ref(),
            g.distributor.size.get_ref().0,
            g.redistributors.base.get_ref(),
            g.redistributors.size.get_ref().0,
            g.redistributors.stride.get_ref().0
        ));
    }
    if let Some(t) = &b.timer {
        v.push(format!(
            "timer {} {} {} {}",
            t.secure_physical_intid.get_ref(),
            t.physical_intid.get_ref(),
            t.virtual_intid.get_ref(),
            t.hyp_intid.get_ref()
        ));
    }
    if let Some(l) = &b.local_apic {
        v.push(format!("local-apic {:#x}", l.base.get_ref()));
    }
    v.extend(b.io_apic.iter().map(|io| {
        format!(
            "io-apic {} {:#x} gsi {}",
            io.id.get_ref(),
            io.base.get_ref(),
            io.gsi_base.get_ref()
        )
    }));
    v.extend(b.uart.iter().map(|u| {
        format!(
            "uart {} {:?} {}+{} port {} irq {}",
            u.name.get_ref(),
            u.compatible.0,
            opt(u.base.as_ref().map(|b| *b.get_ref())),
            opt(u.size.as_ref().map(|s| s.get_ref().0)),
            opt(u.port.as_ref().map(|p| u64::from(*p.get_ref()))),
            u.irq.get_ref()
        )
    }));
    v.extend(b.device.iter().map(|d| {
        let irqs: Vec<u32> = d.irqs.iter().map(|i| *i.get_ref()).collect();
        format!(
            "device {} {:?} {:#x}+{:#x} irqs {irqs:?} {:?} dma {} coherent {}",
            d.name.get_ref(),
            d.compatible.0,
            d.base.get_ref(),
            d.size.get_ref().0,
            d.irq_trigger,
            d.dma,
            d.dma_coherent
        )
    }));
    v.extend(b.pcie.iter().map(|p| {
        let windows: Vec<String> = p
            .windows()
            .iter()
            .map(|(w, _)| format!("{:?} {:#x}+{:#x} pci {:#x}", w.space, w.cpu, w.size, w.pci))
            .collect();
        format!(
            "pcie {} {:?} ecam {:?} buses {:?} {windows:?} intx {:?} coherent {}",
            p.name.get_ref(),
            p.compatible.0,
            p.ecam(),
            p.buses(),
            p.intx(),
            p.dma_coherent
        )
    }));
    v
}
