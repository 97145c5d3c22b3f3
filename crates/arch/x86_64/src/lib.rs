//! The x86_64 backend of rtvisor: boot by Multiboot2 (GRUB), long mode, the
//! hypervisor's own page tables, ACPI, the local APIC, SMP start-up and the VT-x / AMD-V
//! detection, for Intel and AMD from one image.
//!
//! Rules inside this crate:
//! - this is where `unsafe` lives on x86; every block carries a `// SAFETY:` comment
//!   and every `unsafe fn` a `# Safety` section;
//! - [`multiboot2`], [`acpi`], [`cpuid`], [`pt`], [`vendor`] and [`trampoline`] are plain
//!   code that also builds and is tested on the host: they parse what firmware and the
//!   loader hand over, and never panic on damaged input;
//! - the rest exists only for the bare-metal target (`target_os = "none"`), since the
//!   host is x86_64 too;
//! - the vendor parts sit side by side (`vmx`, `svm`); the VMCS and VMCB engines will
//!   join them there.
#![cfg_attr(not(test), no_std)]

mod bytes;

pub mod acpi;
pub mod adapt;
pub mod advance;
pub mod answer;
pub mod chip;
pub mod cpuid;
pub mod cr;
pub mod deadline;
pub mod entry;
pub mod exit;
pub mod gwalk;
pub mod inject;
pub mod insn;
pub mod layout;
pub mod light;
pub mod msrs;
pub mod multiboot2;
pub mod passthru;
pub mod pt;
pub mod pvh;
#[macro_use]
pub mod regs;
pub mod stage2;
pub mod strio;
pub mod svm;
pub mod trampoline;
pub mod vcpu;
pub mod vendor;
pub mod vmx;
pub mod vtd;
pub mod xcr;

#[cfg(target_os = "none")]
pub mod apic;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod cmos;
#[cfg(target_os = "none")]
#[macro_use]
pub mod console;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod devpage;
#[cfg(target_os = "none")]
pub mod engines;
#[cfg(target_os = "none")]
pub mod gdt;
#[cfg(target_os = "none")]
pub mod hello;
#[cfg(target_os = "none")]
pub mod idt;
#[cfg(target_os = "none")]
pub mod ioapic;
#[cfg(target_os = "none")]
pub mod irq;
#[cfg(target_os = "none")]
pub mod memory;
#[cfg(target_os = "none")]
pub mod nmi;
#[cfg(target_os = "none")]
mod percpu;
#[cfg(target_os = "none")]
pub mod platform;
#[cfg(target_os = "none")]
pub mod power;
#[cfg(target_os = "none")]
pub mod selftest;
#[cfg(target_os = "none")]
pub mod smp;
#[cfg(target_os = "none")]
pub mod timer;
#[cfg(target_os = "none")]
pub mod virt;
