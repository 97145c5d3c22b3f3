//! `rtvisor check`'s map of a [`Plan`]: the hypervisor, each VM (its CPUs, memory,
//! images, devices, shared regions) and each shared region, one line per fact.

use super::{words, Plan, VmPlan};
use crate::contract::Arch;
use crate::schema::FormatSpec;
use crate::size::{hex, human, range};
use crate::tables::{CounterOffset, InterruptMode};
use std::fmt::Write;

impl Plan {
    /// The human-readable map `rtvisor check` prints.
    pub fn map(&self) -> String {
        let mut s = String::new();
        let hv = &self.hypervisor;
        let x86 = self.arch == Arch::X86_64;
        let _ = writeln!(
            s,
            "scenario {} on board {} ({} CPUs)",
            self.scenario.display(),
            self.board_name,
            hv.board_cpus
        );
        let console = match hv.console.port {
            Some(port) => format!("port {} (GSI {})", hex(u64::from(port)), hv.console.irq),
            None => format!("{} (INTID {})", hex(hv.console.base.raw()), hv.console.irq),
        };
        let _ = writeln!(
            s,
            "hypervisor  RAM {} ({}), console {} at {console}, log-level {}",
            range(hv.memory.base.raw(), hv.memory.size),
            human(hv.memory.size),
            hv.console.name,
            words::log_level(hv.log_level)
        );
        if let Some(t) = hv.tables {
            let span = t.span();
            let _ = writeln!(
                s,
                "  tables   HPA {} ({} of pages, colors {} of {}: its pages of the range; \
                 its image, data and stacks stay in its RAM)",
                range(span.base.raw(), span.size),
                human(t.size),
                crate::validate::colors::list(t.colors.mask),
                t.colors.count
            );
        }
        if let Some(vm) = hv.console_input.and_then(|v| self.vms.get(v)) {
            let _ = writeln!(s, "console input goes to vm `{}` at boot", vm.name);
        }
        for (id, vm) in self.vms.iter().enumerate() {
            vm_lines(&mut s, id, vm, x86);
        }
        for r in &self.shared {
            let peers: Vec<String> = r
                .peers
                .iter()
                .map(|(vm, w)| format!("{vm} {}", if *w { "rw" } else { "ro" }))
                .collect();
            let _ = writeln!(
                s,
                "shared `{}`  HPA {} ({}), peers {}",
                r.name,
                range(r.hpa.raw(), r.size),
                human(r.size),
                peers.join(", ")
            );
        }
        let _ = writeln!(s, "fingerprint {:#018x}", self.fingerprint);
        s
    }
}

/// The map's lines of VM `id` (`x86`: the PVH machine's words).
fn vm_lines(s: &mut String, id: usize, vm: &VmPlan, x86: bool) {
    let ga = if x86 { "GPA" } else { "IPA" };
    let _ = writeln!(
        s,
        "vm {id} `{}`  kind {}, interrupt-mode {}, restart {}, console {}",
        vm.name,
        words::kind(vm.kind),
        match (x86, vm.interrupt_mode) {
            (true, InterruptMode::Direct) => "direct (LAPIC pass-through)",
            _ => words::mode(vm.interrupt_mode, vm.direct_trust),
        },
        words::restart(vm.restart),
        vm.console
    );
    let cpus: Vec<String> = vm
        .cpus
        .iter()
        .enumerate()
        .map(|(v, p)| format!("vCPU {v} -> CPU {p}"))
        .collect();
    let _ = writeln!(s, "  cpus     {}", cpus.join(", "));
    let span = vm.ram.host_span();
    if vm.ram.low.is_some() {
        // Identity-mapped x86_64: the private first MiB, then the rest 1:1.
        for (run, what) in vm.ram.runs().zip(["private", "identity"]) {
            let _ = writeln!(
                s,
                "  ram      {ga} {} -> HPA {} ({}, {what})",
                range(run.ipa.raw(), run.size),
                range(run.hpa.raw(), run.size),
                human(run.size)
            );
        }
    } else {
        ram_line(s, ga, vm, span);
    }
    let k = &vm.kernel;
    let _ = writeln!(
        s,
        "  kernel   {ga} {} ({}), entry {}, {}, from {}",
        range(k.load.raw(), k.bytes.len() as u64),
        human(k.bytes.len() as u64),
        hex(vm.entry.raw()),
        match k.format {
            Some(FormatSpec::Elf) => "ELF",
            Some(FormatSpec::LinuxImage) => "arm64 Image",
            _ => "headerless",
        },
        k.path.display()
    );
    if let Some(i) = &vm.initrd {
        let _ = writeln!(
            s,
            "  initrd   {ga} {} ({}), from {}",
            range(i.load.raw(), i.bytes.len() as u64),
            human(i.bytes.len() as u64),
            i.path.display()
        );
    }
    let blob = (
        range(vm.dtb_ipa.raw(), vm.dtb.len() as u64),
        human(vm.dtb.len() as u64),
    );
    let (blob, uart) = match x86 {
        true => (
            format!(
                "boot     GPA {} ({}: hvm_start_info, memory map, ACPI tables)",
                blob.0, blob.1
            ),
            format!(
                "COM1 port {} (emulated 16550, GSI {})",
                hex(vm.uart.raw()),
                crate::contract::x86_64::COM1_GSI
            ),
        ),
        false => (
            format!("dtb      IPA {} ({})", blob.0, blob.1),
            format!("IPA {} (emulated PL011, INTID 33)", hex(vm.uart.raw())),
        ),
    };
    let _ = writeln!(s, "  {blob}\n  uart     {uart}");
    for d in &vm.devices {
        let irqs: Vec<String> = d.irqs.iter().map(u32::to_string).collect();
        let _ = writeln!(
            s,
            "  device   {} at {} (pages {}), {}s {}",
            d.name,
            range(d.base.raw(), d.size),
            range(d.page_base.raw(), d.page_size),
            if x86 { "GSI" } else { "INTID" },
            if irqs.is_empty() {
                "none".to_owned()
            } else {
                irqs.join(", ")
            }
        );
    }
    for p in &vm.pcie {
        pcie_lines(s, p);
    }
    pci_lines(s, vm);
    for m in &vm.shared {
        let _ = writeln!(
            s,
            "  shared   `{}` {ga} {} -> HPA {} ({}, {})",
            m.name,
            range(m.ipa.raw(), m.size),
            range(m.hpa.raw(), m.size),
            human(m.size),
            if m.writable { "rw" } else { "ro" }
        );
    }
    if let Some(args) = &vm.bootargs {
        let _ = writeln!(s, "  bootargs {args}");
    }
    for (b, img) in vm.flash.iter().enumerate() {
        if let Some(img) = img {
            let _ = writeln!(
                s,
                "  flash    bank {b} IPA {} ({}), from {}",
                range(img.load.raw(), img.bytes.len() as u64),
                human(img.bytes.len() as u64),
                img.path.display()
            );
        }
    }
    if vm.counter_offset == CounterOffset::VmStart {
        let _ = writeln!(
            s,
            "  counter  virtual = physical - the count at each VM start"
        );
    }
}

/// What `check`'s map says of a PCIe host bridge beyond its mapped windows (the
/// `device` lines).
fn pcie_lines(s: &mut String, p: &crate::pcie::PciePlan) {
    let [a, b, c, d] = p.intx;
    let _ = writeln!(
        s,
        "  pcie     {}: buses {}-{}, INTA-D of device 0 on INTIDs {a}, {b}, {c}, {d} \
         (swizzled by device), no MSI",
        p.name, p.buses.0, p.buses.1
    );
    for w in &p.left_out {
        let _ = writeln!(
            s,
            "  pcie     {} {} {} left out: beyond the {}-bit guest-physical space",
            p.name,
            w.space.label(),
            range(w.cpu, w.size),
            crate::contract::aarch64::IPA_BITS
        );
    }
}

/// What `check`'s map says of the PCI functions an x86_64 VM is given: each at its
/// host address, then the VM's ECAM window (its MCFG) and BAR windows (its DSDT's
/// `PCI0`).
fn pci_lines(s: &mut String, vm: &VmPlan) {
    use crate::contract::x86_64::{PCI_ECAM_GPA, PCI_ECAM_SIZE};
    for f in &vm.pci {
        // The standard swizzle, as the hypervisor applies it to the pin the function
        // raises: INTA of device `dev` reaches the board's `intx[dev % 4]`.
        let dev = usize::from(f.addr.dev);
        let [a, b, c, d] = [0, 1, 2, 3].map(|pin| f.intx[(dev + pin) % 4]);
        let intx = if vm.interrupt_mode == InterruptMode::Direct {
            "INTx not forwarded: direct mode".to_string()
        } else if f.addr.bus != 0 {
            "INTx not forwarded: not on bus 0".to_string()
        } else {
            format!("INTx forwarded on the GSI of its pin: INTA-D {a}, {b}, {c}, {d}")
        };
        let _ = writeln!(
            s,
            "  pci      {}: host ECAM {}, BARs where the host firmware put them, MSI and \
             MSI-X, {intx}",
            f.name,
            hex(f.ecam.raw())
        );
    }
    let Some(last) = vm.pci.iter().map(|f| f.addr.bus).max() else {
        return;
    };
    let windows: Vec<String> = vm.pci_windows.iter().map(|&(b, n)| range(b, n)).collect();
    let _ = writeln!(
        s,
        "  pci      ECAM GPA {} (MCFG, buses 0-{last}, reserved), BAR windows {} (DSDT PCI0)",
        range(PCI_ECAM_GPA, PCI_ECAM_SIZE),
        windows.join(", ")
    );
}

/// The line of a VM's RAM backed by one host range (or, colored, the pages of some
/// colors in it).
fn ram_line(
    s: &mut String,
    ga: &str,
    vm: &VmPlan,
    span: crate::tables::MemRegion<rtvisor_addr::Hpa>,
) {
    let _ = writeln!(
        s,
        "  ram      {ga} {} -> HPA {} ({}{})",
        range(vm.ram.ipa.raw(), vm.ram.size),
        range(span.base.raw(), span.size),
        human(vm.ram.size),
        match vm.ram.colors {
            None => String::new(),
            Some(c) => format!(
                ", colors {} of {}: its pages of the range",
                crate::validate::colors::list(c.mask),
                c.count
            ),
        }
    );
}
