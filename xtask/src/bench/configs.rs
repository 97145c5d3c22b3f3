//! The benchmark's configurations: what each one boots ([`Machine`]), its name, its
//! arguments and what it is for ([`Config`]), in the order `cargo xtask bench` runs
//! them ([`CONFIGS`]).

use super::{x86, BARE, BARE_BOCHS_X86, BARE_NOISY, BARE_X86};

/// What a configuration boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// rtbench alone at EL1, booted by QEMU; `noise` more CPUs run the noisy
    /// neighbour's loop in the same image (`noise-vcpus=N`), its timer every
    /// `period_us` (`noise-period-us=`).
    Bare { noise: usize, period_us: u64 },
    /// An rtvisor image built from this scenario of tests/bench/.
    Rtvisor(&'static str),
    /// rtbench for x86_64 (target/guests/rtbench-x86.elf) booted the PVH way by
    /// `qemu-system-x86_64 -M q35 -cpu max`, 2 CPUs, 512 MiB, no hypervisor.
    BareX86,
    /// rtbench-x86.elf booted bare by GRUB (Multiboot2) on Bochs (`x86`).
    BareBochs,
    /// The x86 hypervisor built from this scenario of tests/bench/, its GRUB ISO
    /// booted on `emulator` (`x86`).
    RtvisorX86 {
        scenario: &'static str,
        emulator: crate::x86::machine::Emulator,
    },
}

/// One benchmark configuration.
pub struct Config {
    pub name: &'static str,
    pub machine: Machine,
    /// Part of `--quick`.
    pub quick: bool,
    /// Skip rtbench's IPI phase (`ipi=0`). No configuration does today; the noisy ones
    /// did while lock waits starved the neighbour (docs/benchmark.md).
    pub no_ipi: bool,
    pub about: &'static str,
}

impl Config {
    /// What the rt VM's console lines start with.
    pub fn prefix(&self) -> &'static str {
        match self.machine {
            Machine::Rtvisor(_) | Machine::RtvisorX86 { .. } => "[rt] ",
            Machine::Bare { .. } | Machine::BareX86 | Machine::BareBochs => "",
        }
    }
}

pub const CONFIGS: &[Config] = &[
    Config {
        name: BARE,
        machine: Machine::Bare {
            noise: 0,
            period_us: 0,
        },
        quick: true,
        no_ipi: false,
        about: "rtbench alone at EL1, booted by QEMU (-smp 2, 512M): the baseline",
    },
    Config {
        name: "rtvisor-virtual",
        machine: Machine::Rtvisor("virtual.toml"),
        quick: true,
        no_ipi: false,
        about: "rtbench in VM rt (CPUs 2-3) under rtvisor, emulated vGIC",
    },
    Config {
        name: "rtvisor-direct",
        machine: Machine::Rtvisor("direct.toml"),
        quick: true,
        no_ipi: false,
        about: "rtbench in VM rt (CPUs 2-3) under rtvisor, direct interrupts",
    },
    Config {
        name: "rtvisor-direct-untrusted",
        machine: Machine::Rtvisor("direct-untrusted.toml"),
        quick: false,
        no_ipi: false,
        about: "rtvisor-direct with direct-trust = \"untrusted\": the guest's Group-1 GIC \
                CPU interface registers trap (an exit per acknowledge and per EOI)",
    },
    Config {
        name: BARE_NOISY,
        machine: Machine::Bare {
            noise: 2,
            period_us: 10,
        },
        quick: false,
        no_ipi: false,
        about: "bare next to the noisy neighbour's loop (10 us timers) on 2 more CPUs \
                (-smp 4), with no hypervisor: what the harness itself does",
    },
    Config {
        name: "bare-noisy-7us",
        machine: Machine::Bare {
            noise: 2,
            period_us: 7,
        },
        quick: false,
        no_ipi: false,
        about: "bare-noisy with the neighbour's timer every 7 us",
    },
    Config {
        name: "bare-noisy-13us",
        machine: Machine::Bare {
            noise: 2,
            period_us: 13,
        },
        quick: false,
        no_ipi: false,
        about: "bare-noisy with the neighbour's timer every 13 us",
    },
    Config {
        name: "rtvisor-virtual-noisy",
        machine: Machine::Rtvisor("virtual-noisy.toml"),
        quick: false,
        no_ipi: false,
        about: "rtvisor-virtual next to a noisy neighbour VM on CPUs 0-1",
    },
    Config {
        name: "rtvisor-direct-noisy",
        machine: Machine::Rtvisor("direct-noisy.toml"),
        quick: false,
        no_ipi: false,
        about: "rtvisor-direct next to a noisy neighbour VM on CPUs 0-1",
    },
    Config {
        name: "rtvisor-virtual-probe-noisy",
        machine: Machine::Rtvisor("virtual-probe-noisy.toml"),
        quick: false,
        no_ipi: false,
        about: "rtvisor-virtual next to the probe storming on CPUs 0-1 (calls, doorbells, \
                SGI floods, set/way, WFx): the second noisy neighbour",
    },
    Config {
        name: "rtvisor-direct-probe-noisy",
        machine: Machine::Rtvisor("direct-probe-noisy.toml"),
        quick: false,
        no_ipi: false,
        about: "rtvisor-direct next to the probe storming on CPUs 0-1",
    },
    Config {
        name: BARE_X86,
        machine: Machine::BareX86,
        quick: true,
        no_ipi: false,
        about: "rtbench for x86_64 alone, booted bare by QEMU q35 (-cpu max, -smp 2, 512M): \
                the x86 baseline (TSC, local APIC timer, CPUID as the null call)",
    },
    Config {
        name: "rtvisor-svm-x86",
        machine: Machine::RtvisorX86 {
            scenario: x86::SCENARIO,
            emulator: crate::x86::machine::Emulator::Qemu,
        },
        quick: false,
        no_ipi: false,
        about: "rtbench-x86 in VM rt (CPUs 2-3) under rtvisor on QEMU q35 (AMD-V, SVM with \
                NPT), the ISO under -icount; VMMCALL as the null call",
    },
    Config {
        name: "rtvisor-svm-direct-x86",
        machine: Machine::RtvisorX86 {
            scenario: x86::SCENARIO_DIRECT,
            emulator: crate::x86::machine::Emulator::Qemu,
        },
        quick: false,
        no_ipi: false,
        about: "rtvisor-svm-x86 with the RT VM in direct mode (LAPIC pass-through: its \
                cores' own xAPIC, the page read-only, each write an exit)",
    },
    Config {
        name: BARE_BOCHS_X86,
        machine: Machine::BareBochs,
        quick: false,
        no_ipi: false,
        about: "rtbench-x86 alone, booted bare by GRUB (Multiboot2) on Bochs (Intel, 4 CPUs, \
                sync=none): the VT-x rows' baseline",
    },
    Config {
        name: "rtvisor-vmx-x86",
        machine: Machine::RtvisorX86 {
            scenario: x86::SCENARIO,
            emulator: crate::x86::machine::Emulator::Bochs,
        },
        quick: false,
        no_ipi: false,
        about: "rtbench-x86 in VM rt (CPUs 2-3) under rtvisor on Bochs (VT-x, VMX with EPT), \
                the same scenario's ISO; VMCALL as the null call",
    },
    Config {
        name: "rtvisor-vmx-direct-x86",
        machine: Machine::RtvisorX86 {
            scenario: x86::SCENARIO_DIRECT,
            emulator: crate::x86::machine::Emulator::Bochs,
        },
        quick: false,
        no_ipi: false,
        about: "rtvisor-vmx-x86 with the RT VM in direct mode (LAPIC pass-through: the \
                x2APIC MSRs and TSC deadline passed through, the ICR's writes exit)",
    },
];
