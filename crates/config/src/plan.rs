//! The resolved scenario: every address decided, every blob read, every device tree
//! generated. Tables (`codegen`) and `rtvisor check`'s map are printed from this.

use crate::contract::Arch;
use crate::schema::{FormatSpec, Trigger};
use crate::size::{hex, human, range};
use crate::tables::{
    CounterOffset, DirectTrust, InterruptMode, LogLevel, MemRegion, RamMap, RestartPolicy, VmKind,
};
use rtvisor_addr::{Hpa, Ipa};
use std::fmt::Write;
use std::path::PathBuf;

/// A validated, fully placed scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario file (as named by the user, normalised).
    pub scenario: PathBuf,
    /// The board file.
    pub board: PathBuf,
    /// The board's name.
    pub board_name: String,
    /// The board's architecture: on x86_64 a VM's `dtb` is its boot data (ACPI tables
    /// and PVH start info, [`crate::acpi`]) and `dtb_ipa` where it goes.
    pub arch: Arch,
    /// Hypervisor-wide settings.
    pub hypervisor: HypervisorPlan,
    /// Generic timer INTIDs: secure physical, physical, virtual, hypervisor (zero on
    /// x86_64).
    pub timer_intids: [u32; 4],
    /// The VMs, in scenario order (index = VM id).
    pub vms: Vec<VmPlan>,
    /// Shared-memory regions, in declaration order.
    pub shared: Vec<SharedRegionPlan>,
    /// FNV-1a 64 of scenario, board and blobs (see [`crate::fingerprint`]).
    pub fingerprint: u64,
    /// Every file the plan was made from: what a build script reruns on.
    pub inputs: Vec<PathBuf>,
    /// What is legal but probably not meant (e.g. an image linked for another
    /// address); `rtvisor check` and `build` print them.
    pub warnings: Vec<crate::Diagnostic>,
}

/// Hypervisor-wide settings.
#[derive(Debug, Clone)]
pub struct HypervisorPlan {
    /// Its own memory.
    pub memory: MemRegion<Hpa>,
    /// How far its base lies above the start of the first RAM bank: the arm64 Image
    /// header's `text_offset` (aarch64).
    pub text_offset: u64,
    /// Boot log level.
    pub log_level: LogLevel,
    /// The UART it owns.
    pub console: UartPlan,
    /// CPUs on the board.
    pub board_cpus: u32,
    /// MPIDR of each board CPU, by CPU index (aarch64).
    pub board_mpidrs: Vec<u64>,
    /// APIC ID of each board CPU, by CPU index (x86_64).
    pub board_apic_ids: Vec<u32>,
    /// VM id that gets console input at boot (`None`: the shell).
    pub console_input: Option<usize>,
    /// The board's `[qemu] semihosting`.
    pub semihosting: bool,
    /// `[hypervisor] accounting`: built with the `accounting` feature.
    pub accounting: bool,
    /// `[hypervisor] colors`: the colored pages of its translation tables.
    pub tables: Option<crate::tables::HvPages>,
}

/// A board UART.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UartPlan {
    /// Board name of the UART.
    pub name: String,
    /// MMIO base (zero for a UART at I/O ports).
    pub base: Hpa,
    /// MMIO size.
    pub size: u64,
    /// First I/O port (x86_64).
    pub port: Option<u16>,
    /// INTID (aarch64) or GSI (x86_64).
    pub irq: u32,
}

/// One VM, placed.
#[derive(Debug, Clone)]
pub struct VmPlan {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: VmKind,
    /// Physical CPU of each vCPU.
    pub cpus: Vec<u32>,
    /// RAM.
    pub ram: RamMap,
    /// Kernel, flattened.
    pub kernel: ImagePlan,
    /// Initrd.
    pub initrd: Option<ImagePlan>,
    /// Generated device tree.
    pub dtb: Vec<u8>,
    /// Where the device tree goes (x0 at entry).
    pub dtb_ipa: Ipa,
    /// Bytes free there before the next thing placed or the end of RAM.
    pub dtb_room: u64,
    /// Entry point of vCPU 0.
    pub entry: Ipa,
    /// Emulated PL011 base.
    pub uart: Ipa,
    /// Interrupt mode.
    pub interrupt_mode: InterruptMode,
    /// Direct mode: trust in the guest with the physical CPU interface.
    pub direct_trust: DirectTrust,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Passed-through devices, and the ECAM and windows of its PCIe host bridges.
    pub devices: Vec<DevicePlan>,
    /// Passed-through PCIe host bridges.
    pub pcie: Vec<crate::pcie::PciePlan>,
    /// Shared-memory regions this VM is a peer of, in declaration order.
    pub shared: Vec<SharedMapPlan>,
    /// Command line.
    pub bootargs: Option<String>,
    /// Board UART its console goes to.
    pub console: String,
    /// What its virtual counter reads.
    pub counter_offset: CounterOffset,
    /// Initial contents of its flash banks.
    pub flash: [Option<ImagePlan>; 2],
}

/// An image in guest RAM.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// Source file.
    pub path: PathBuf,
    /// Format (`None` for an initrd).
    pub format: Option<FormatSpec>,
    /// Bytes to copy at every (re)start.
    pub bytes: Vec<u8>,
    /// Guest-physical load address.
    pub load: Ipa,
}

/// A passed-through device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    /// Board name.
    pub name: String,
    /// Device-tree compatible strings.
    pub compatible: Vec<String>,
    /// Register window as the board gives it (device tree `reg`).
    pub base: Hpa,
    /// Its size.
    pub size: u64,
    /// The 4 KiB pages stage-2 maps 1:1 (base).
    pub page_base: Hpa,
    /// Size of the mapped pages.
    pub page_size: u64,
    /// INTIDs.
    pub irqs: Vec<u32>,
    /// Trigger of its interrupts.
    pub trigger: Trigger,
    /// DMA is cache-coherent.
    pub dma_coherent: bool,
    /// The PCIe host bridge this is a window of (its node describes it in the guest
    /// device tree); `None` for a device of its own.
    pub bridge: Option<String>,
}

/// A shared-memory region in host RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRegionPlan {
    /// Name.
    pub name: String,
    /// Host-physical base.
    pub hpa: Hpa,
    /// Size (multiple of 4 KiB).
    pub size: u64,
    /// Each peer VM's name and whether it may write, in the order given.
    pub peers: Vec<(String, bool)>,
}

/// A shared-memory region as one VM maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMapPlan {
    /// Region name.
    pub name: String,
    /// Guest-physical base in this VM.
    pub ipa: Ipa,
    /// Host-physical base.
    pub hpa: Hpa,
    /// Size (multiple of 4 KiB).
    pub size: u64,
    /// `access = "rw"`.
    pub writable: bool,
    /// Position in the scenario's `[[shared-memory]]` list (the doorbell number).
    pub index: usize,
    /// The INTID its doorbell raises in this VM.
    pub doorbell: u32,
}

impl ImagePlan {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.load.raw() + self.bytes.len() as u64
    }
}

impl Plan {
    /// The parts of the hypervisor an image of this plan is built without, as the
    /// hypervisor's `config.rs` decides them from the generated tables, on either
    /// architecture: `"direct mode"` when no VM is in direct mode (the GIC filter and
    /// direct SGIs on aarch64, LAPIC pass-through on x86_64), `"shell"` when the VMs
    /// take every CPU of the board. Empty: the full build.
    pub fn left_out(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self
            .vms
            .iter()
            .any(|vm| vm.interrupt_mode == InterruptMode::Direct)
        {
            out.push("direct mode");
        }
        let hosted: usize = self.vms.iter().map(|vm| vm.cpus.len()).sum();
        if hosted >= self.hypervisor.board_cpus as usize {
            out.push("shell");
        }
        out
    }

    /// The human-readable map `rtvisor check` prints.
    pub fn map(&self) -> String {
        let mut s = String::new();
        let hv = &self.hypervisor;
        let x86 = self.arch == Arch::X86_64;
        let ga = if x86 { "GPA" } else { "IPA" };
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
                pcie_lines(&mut s, p);
            }
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

/// The TOML spelling of the table enums.
pub mod words {
    use crate::tables::{DirectTrust, InterruptMode, LogLevel, RestartPolicy, VmKind};

    /// `rt` / `general`.
    pub fn kind(k: VmKind) -> &'static str {
        match k {
            VmKind::Rt => "rt",
            VmKind::General => "general",
        }
    }

    /// `virtual` / `direct` with its `direct-trust`.
    pub fn mode(m: InterruptMode, t: DirectTrust) -> &'static str {
        match (m, t) {
            (InterruptMode::Virtual, _) => "virtual",
            (InterruptMode::Direct, DirectTrust::Untrusted) => "direct (untrusted)",
            (InterruptMode::Direct, DirectTrust::Trusted) => "direct (trusted)",
        }
    }

    /// `never` / `on-crash` / `always`.
    pub fn restart(r: RestartPolicy) -> &'static str {
        match r {
            RestartPolicy::Never => "never",
            RestartPolicy::OnCrash => "on-crash",
            RestartPolicy::Always => "always",
        }
    }

    /// `error` / `warn` / `info` / `debug`.
    pub fn log_level(l: LogLevel) -> &'static str {
        match l {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}
