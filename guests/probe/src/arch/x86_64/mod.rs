//! The x86_64 cases, in the order [`run`] runs them. They are written for a VM under
//! rtvisor, whose contract is (DESIGN.md, docs/interfaces-draft.md): a VM sees its
//! RAM and devices only, unclaimed MMIO and I/O ports read all-ones and drop writes,
//! unknown MSRs and VMX/SVM instructions raise #GP / #UD, IPIs and INIT/SIPI never
//! leave the VM, a triple fault resets only this VM. Each case is contained when the
//! machine answers that way (or faults), and a LEAK otherwise.
//!
//! Bare on QEMU q35 (no hypervisor) some cases cannot be contained: the memory and
//! I/O cases reach real RAM and devices, and the guest-owned MSRs and control
//! registers take its writes. Those meaningful bare are listed in xtask's
//! `systest::x86::BARE_CONTAINED`.
//!
//! Bootargs: `other-vm=`, `hypervisor=`, `device=` (addresses), `pc-fuzz=<n>` random
//! accesses to the PC devices (default 1000, `pcdev.rs`), `fuzz=<n>` hypercalls
//! (default 2000), `foreign-apic-ids=<a>-<b>` (APIC ids of other VMs' CPUs, default
//! 8-15), `cr4=0` (no CR4 writes and no refused CR0 or CR8 values, see
//! `special::cr_tricks` and `crx`), `triple-fault` (end with a triple fault instead
//! of powering off), `pci=BB:DD.F` (a function given to this VM, `pci.rs`), with
//! `cases=pci` its cases alone (`host-ecam=`, `disk-magic=`: see `pci.rs` and
//! `virtio.rs`).

mod apic;
mod apicmode;
mod crx;
mod dma;
mod hypercall;
mod ioapic;
mod mmio;
mod msr;
mod pcdev;
mod pci;
mod ports;
mod special;
pub mod takeback;
mod virtio;

use core::fmt;

use guest_common::exception::Fault;
use guest_common::{println, BootInfo};

use crate::memory;
use crate::report::{contained, number, Outcome, Tally};

const DEFAULT_FUZZ: u64 = 2000;
/// Random accesses to the PC devices (`pc-fuzz=`).
const DEFAULT_PC_FUZZ: u64 = 1000;

/// What an unclaimed address reads as under rtvisor: all-ones (the x86 convention).
pub const UNCLAIMED: Option<u64> = Some(u64::MAX);

/// Runs every case, in order (with `cases=pci`, only those of the function given).
pub fn run(boot: &BootInfo, tally: &mut Tally) {
    if boot.args().get("cases") == Some("pci") {
        return pci_cases(boot, tally);
    }
    tally.add(memory::read_case(boot, "read-other-vm", "other-vm"));
    tally.add(memory::write_case(boot, "write-other-vm", "other-vm"));
    tally.add(memory::read_case(boot, "read-hypervisor", "hypervisor"));
    tally.add(memory::read_case(boot, "read-device", "device"));
    tally.add(mmio::unclaimed(boot));
    tally.add(hypercall::unknown());
    let calls = number(boot, "fuzz").unwrap_or(DEFAULT_FUZZ) as u32;
    tally.add(hypercall::fuzz(calls));
    tally.add(msr::efer());
    tally.add(msr::apic_base());
    tally.add(msr::sysenter_star());
    tally.add(msr::vmx_svm_control());
    tally.add(msr::unknown());
    tally.add(ports::io_ports());
    let pc_accesses = number(boot, "pc-fuzz").unwrap_or(DEFAULT_PC_FUZZ) as u32;
    tally.add(pcdev::pc_devices(pc_accesses));
    let refused_crs = number(boot, "cr4") != Some(0);
    tally.add(special::cr_tricks(refused_crs));
    tally.add(crx::cr0_refused(refused_crs));
    // `cr8=0`: CR8 is the CPU's own (direct mode): its reserved bits are the CPU's to
    // refuse, and QEMU's TCG takes them, as bare.
    tally.add(crx::cr8_tpr(refused_crs && number(boot, "cr8") != Some(0)));
    tally.add(crx::xsetbv_invalid());
    tally.add(special::vmx_svm_instructions());
    tally.add(special::cache_flush());
    tally.add(apic::init_sipi_foreign(boot));
    tally.add(apic::ipi_flood(boot));
    // `ioapic=0`: a VM whose emulated devices raise no interrupts (direct mode, where
    // the guest's APIC is its core's; docs/x86.md "Direct mode") skips the case.
    if number(boot, "ioapic") != Some(0) {
        tally.add(ioapic::com1_through_ioapic());
    }
    // `apic-modes=0`: a direct-mode VM, whose IA32_APIC_BASE the hypervisor keeps.
    if number(boot, "apic-modes") != Some(0) {
        tally.add(apicmode::mode_switch());
    }
}

/// The cases of the PCI function `pci=` names (skipped without it): its
/// configuration space, then its MSI-X entries and interrupts (`virtio.rs`), then
/// its DMA into foreign memory (`dma.rs`).
fn pci_cases(boot: &BootInfo, tally: &mut Tally) {
    let Some(own) = pci::given(boot) else {
        println!("probe-diag: pci cases skipped (no pci=BB:DD.F)");
        return;
    };
    tally.add(pci::foreign_config(boot, own));
    tally.add(pci::config_ports(own));
    let Some(v) = virtio::Virtio::find(own) else {
        tally.add(crate::report::leak(
            "pci-virtio",
            format_args!("no virtio common, notify or MSI-X structure"),
        ));
        return;
    };
    tally.add(pci::bar_command(own, || v.alive()));
    tally.add(virtio::msix(boot, own, &v));
    tally.add(dma::dma(boot, own, &v));
}

/// After `probe: done`: with `triple-fault`, one (this VM restarts; bare, the machine
/// resets); else nothing (the caller powers off).
pub fn finish(boot: &BootInfo) {
    if boot.args().get("triple-fault").is_some() {
        special::triple_fault();
    }
    // `leave-pending=V`: an interrupt on vector V (an exception's, 16 to 31) left
    // pending at this core's APIC when it powers off. In direct mode the APIC is the
    // core's: the hypervisor that takes the core back must end and drop it, not take
    // it for the exception of that number.
    if let Some(v) = number(boot, "leave-pending").and_then(|v| u8::try_from(v).ok()) {
        guest_common::irq::disable();
        let pending = guest_common::arch::apic::leave_pending(v);
        println!("probe: vector {v:#x} left pending at power-off: {pending}");
    }
}

/// A fault, described briefly: `#GP error=0x..`, `#UD`, `#PF error=.. cr2=..`.
pub struct How<'a>(pub &'a Fault);

impl fmt::Display for How<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = self.0;
        match fault.vector {
            6 => write!(f, "#UD"),
            14 => write!(f, "#PF error={:#x} cr2={:#x}", fault.error, fault.cr2),
            _ => write!(f, "{} error={:#x}", fault.name(), fault.error),
        }
    }
}

/// A fault on an access: it stopped the access, so it is contained.
pub fn contained_by_fault(case: &str, fault: &Fault) -> Outcome {
    contained(case, format_args!("{}", How(fault)))
}

/// The APIC ids of `foreign-apic-ids=<a>-<b>` (default 8-15).
pub fn foreign_ids(boot: &BootInfo) -> core::ops::RangeInclusive<u32> {
    let parse = |s: &str| guest_common::args::parse_u64(s).map(|v| v as u32);
    match boot.args().get("foreign-apic-ids") {
        None => 8..=15,
        Some(v) => match v.split_once('-').map(|(a, b)| (parse(a), parse(b))) {
            Some((Some(a), Some(b))) if a <= b => a..=b,
            _ => {
                println!("probe-diag: bad foreign-apic-ids={v:?}, using 8-15");
                8..=15
            }
        },
    }
}
