//! The x86 system tests: the smoke image boots from the ISO on both vendors, and the
//! hypervisor runs a scenario's VMs on both.

use super::machine::{Emulator, CPUS};
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::Result;

/// One x86 system test.
pub struct X86Test {
    pub name: &'static str,
    pub emulator: Emulator,
    /// The image's command line (GRUB's `multiboot2` line).
    pub cmdline: &'static str,
    /// The hypervisor built for this scenario (relative to the workspace) instead of
    /// the smoke image.
    pub scenario: Option<&'static str>,
    pub about: &'static str,
    pub run: fn(&mut Console, &Timeouts, Emulator) -> Result<()>,
}

pub const TESTS: &[X86Test] = &[
    X86Test {
        name: "x86-boot-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: None,
        about: "the ISO on QEMU q35 (AMD-V): vendor amd, SVM on with NPT on every CPU, 4 CPUs from the MADT started with INIT-SIPI-SIPI, ACPI S5 power-off",
        run: boot,
    },
    X86Test {
        name: "x86-boot-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: None,
        about: "the same ISO on Bochs (VT-x): vendor intel, VMXON/VMXOFF with EPT and unrestricted guest on every CPU, 4 CPUs (x2APIC), ACPI S5 power-off",
        run: boot,
    },
    X86Test {
        name: "x86-fault-amd",
        emulator: Emulator::Qemu,
        cmdline: "fault=wx",
        scenario: None,
        about: "a write to the hypervisor's own code faults (W^X): the FATAL line names #PF, its error code, RIP, CR2 and the CPU, then every CPU confirms the halt",
        run: fault_wx,
    },
    X86Test {
        name: "x86-fault-intel",
        emulator: Emulator::Bochs,
        cmdline: "fault=wx",
        scenario: None,
        about: "x86-fault-amd on Bochs: the halt NMI goes out through the x2APIC",
        run: fault_wx,
    },
    X86Test {
        name: "x86-stack-amd",
        emulator: Emulator::Qemu,
        cmdline: "fault=stack",
        scenario: None,
        about: "a stack overflow runs into the guard page; the #DF is reported from its own stack (IST), then every CPU confirms the halt",
        run: fault_stack,
    },
    X86Test {
        name: "x86-vm-amd",
        emulator: Emulator::Qemu,
        cmdline: "vm=hello",
        scenario: None,
        about: "vm=hello: the built-in 32-bit guest in a VM under SVM with nested paging: its COM1 line, CPUID, VMMCALL, memory outside its RAM and an unclaimed port (all-ones), HLT, an unknown MSR (#GP injected) and the triple fault that follows",
        run: super::vm::hello,
    },
    X86Test {
        name: "x86-vm-intel",
        emulator: Emulator::Bochs,
        cmdline: "vm=hello",
        scenario: None,
        about: "x86-vm-amd on Bochs: the same guest under VMX with EPT, VPID and unrestricted guest, VMCALL instead of VMMCALL",
        run: super::vm::hello,
    },
    X86Test {
        name: "x86-two-vms-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(TWO_VMS),
        about: "rtvisor on QEMU q35 (AMD-V, SVM with NPT) runs scenarios/x86-two-vms.toml: both VMs count to 6 side by side (gp starts its vCPU 1 by INIT-SIPI-SIPI) and power off by ACPI S5; the hypervisor stays up and its shell answers",
        run: two_vms,
    },
    X86Test {
        name: "x86-two-vms-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(TWO_VMS),
        about: "x86-two-vms-amd on Bochs (VT-x, VMX with EPT, VPID and unrestricted guest), the same ISO; the shell answers on COM1's TCP connection",
        run: two_vms,
    },
    X86Test {
        name: "x86-cpu0-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(CPU0),
        about: "tests/scenarios/x86-cpu0.toml on QEMU q35 (AMD-V): `rt` on the boot CPU (CPU 0), `gp` on CPUs 2-3, the shell on CPU 1; both count to 6 side by side and power off, the shell answers (the boot CPU's legacy 8259 request is gone before its first STI)",
        run: boot_cpu,
    },
    X86Test {
        name: "x86-cpu0-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(CPU0),
        about: "x86-cpu0-amd on Bochs (VT-x), the same ISO; the shell answers on COM1's TCP connection",
        run: boot_cpu,
    },
    X86Test {
        name: "linux-x86",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::linux::SCENARIO),
        about: "T3: Debian's amd64 Linux (PVH vmlinux out of the bzImage) in a 2-vCPU VM beside rt on QEMU q35 (AMD-V): its busybox shell, nproc = 2, the LOC timer line counting on both CPUs, rtstats -w 2, the passed-through virtio-blk-pci disk's file on /mnt with its MSI-X interrupts and a ping through the virtio-net-pci NIC, reboot -f (the disk again after it), poweroff -f stops only Linux while rt counts on",
        run: super::linux::run,
    },
    X86Test {
        name: "x86-demo-linux-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::demo::X86_DEMO),
        about: "T3: the x86 demo's own scenario (scenarios/x86-demo.toml, `cargo xtask demo --arch x86_64`) on QEMU q35 (AMD-V): rt in direct mode (LAPIC pass-through) beside Debian's amd64 Linux with its disk and NIC; Linux's shell, nproc = 2, rtstats -w 2 showing rt's summaries, the disk's file and MSI-X interrupts, a ping, poweroff -f stops only Linux while rt reports on",
        run: super::demolinux::run,
    },
    X86Test {
        name: "linux-x86-intx",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::intx::SCENARIO),
        about: "Debian's amd64 Linux with pci=nomsi on QEMU q35 (AMD-V, tests/scenarios/x86-linux-intx.toml): its passed-through virtio-blk-pci disk and virtio-net-pci NIC interrupt by INTx, forwarded level-triggered from the host's I/O APIC to GSIs 23 and 20 of the VM's (the DSDT's _PRT): the disk's IO-APIC line counts with each uncached read, the NIC answers a ping, and after reboot -f the disk mounts and interrupts again",
        run: super::intx::run,
    },
    X86Test {
        name: "x86-probe-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::probe::SCENARIO),
        about: "the hostile x86 probe under SVM beside a counting victim (tests/scenarios/x86-probe.toml): every case contained (foreign and hypervisor memory, a device, MSRs of each class, I/O ports, CR0/CR4/CR8 and XSETBV, VMX/SVM instructions, INIT/SIPI and IPI/NMI floods to foreign APIC ids), its triple fault restarts it alone, the victim counts on, the shell answers",
        run: super::probe::probe,
    },
    X86Test {
        name: "x86-probe-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(super::probe::SCENARIO),
        about: "x86-probe-amd on Bochs (VMX with EPT), the shell asked through COM1's socket",
        run: super::probe::probe,
    },
    X86Test {
        name: "x86-pci-direct-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::pcidirect::SCENARIO),
        about: "tests/scenarios/x86-pci-direct.toml on QEMU q35 (AMD-V): a virtio-blk-pci function given to the hostile probe in a direct-mode VM; foreign functions and the host bridge (0xCF8/0xCFC with odd widths, ECAM), its BARs and command register, MSI-X entries aimed at other cores, NMI, SMI, INIT, ExtINT, a low vector, a logical destination: all contained with no interrupt anywhere; a valid entry's interrupts arrive in the probe's own IDT, one per sector read; the direct `rt` counts no stray vector meanwhile, `victim` counts on; the probe powers off, is started again and does it all again (its function reset), the shell answers",
        run: super::pcidirect::run,
    },
    X86Test {
        name: "x86-off-one-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(OFF_ONE),
        about: "tests/scenarios/x86-off-one.toml on QEMU q35 (AMD-V): `a` powers off by ACPI S5 after 3 counts while `b` counts on to 10; no CPU is free for a shell, so the hypervisor powers the machine off after both",
        run: super::life::off_one,
    },
    X86Test {
        name: "x86-off-one-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(OFF_ONE),
        about: "x86-off-one-amd on Bochs (VT-x), the same ISO",
        run: super::life::off_one,
    },
    X86Test {
        name: "x86-reset-one-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(RESET_ONE),
        about: "tests/scenarios/x86-reset-one.toml on QEMU q35 (AMD-V): three VMs reset after 2 counts, by port 0xCF9, by the keyboard controller and by a triple fault, and each boots again alone; `b` counts on across every restart",
        run: super::life::reset_one,
    },
    X86Test {
        name: "x86-reset-one-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(RESET_ONE),
        about: "x86-reset-one-amd on Bochs (VT-x), the same ISO",
        run: super::life::reset_one,
    },
    X86Test {
        name: "x86-shm-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(SHM),
        about: "tests/scenarios/x86-shm.toml on QEMU q35 (AMD-V): two VMs exchange 50 values through shared memory, each round a doorbell interrupt (I/O APIC pin 47, routed by each guest to vector 0x5f) both ways; a write to a read-only mapping does not land; the shell stays up after both stopped",
        run: super::life::shm,
    },
    X86Test {
        name: "x86-shm-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(SHM),
        about: "x86-shm-amd on Bochs (VT-x), the same ISO, the shell on COM1's socket",
        run: super::life::shm,
    },
    X86Test {
        name: "x86-shell-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(SHELL),
        about: "tests/scenarios/x86-shell.toml on QEMU q35 (AMD-V): the hypervisor shell on COM1 lists VMs, vCPUs and memory, stops, starts and restarts VMs, switches the console to a VM and back with Ctrl-], and stays up with no VM running",
        run: super::life::shell,
    },
    X86Test {
        name: "x86-shell-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(SHELL),
        about: "x86-shell-amd on Bochs (VT-x), COM1 on a TCP socket on 127.0.0.1 that xtask connects to",
        run: super::life::shell,
    },
    X86Test {
        name: "x86-demo-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::demo::X86_DEMO_RTBENCH),
        about: "scenarios/x86-demo-rtbench.toml (`cargo xtask demo --arch x86_64 --scenario scenarios/x86-demo-rtbench.toml`) on QEMU q35 (AMD-V), typed at: both VMs count, the shell lists them and switches the console to a VM and back with Ctrl-]",
        run: super::life::demo,
    },
    X86Test {
        name: "x86-smp-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::irq::SMP),
        about: "a VM with two vCPUs under AMD-V: its TSC-deadline timer interrupt 20 times on vCPU 0, then 20 IPI round trips between vCPU 0 and vCPU 1 (injected with EVENTINJ, or at the VINTR window), no stray vector, then it stops",
        run: super::irq::smp,
    },
    X86Test {
        name: "x86-smp-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(super::irq::SMP),
        about: "x86-smp-amd on Bochs (VT-x): injection through the VM-entry interruption information, or at the interrupt window",
        run: super::irq::smp,
    },
    X86Test {
        name: "x86-watchdog-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::irq::WATCHDOG),
        about: "the watchdog on QEMU (the hypervisor's APIC timer in one-shot mode: TCG has no TSC-deadline): wd stops kicking, expires, restarts (on-crash); other counts on; the shell's vm list shows the restart",
        run: super::irq::watchdog,
    },
    X86Test {
        name: "x86-watchdog-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(super::irq::WATCHDOG),
        about: "x86-watchdog-amd on Bochs (the APIC timer in TSC-deadline mode); its COM1 is a file, so the shell is not asked",
        run: super::irq::watchdog,
    },
    X86Test {
        name: "x86-direct-amd",
        emulator: Emulator::Qemu,
        cmdline: "",
        scenario: Some(super::direct::DIRECT),
        about: "LAPIC pass-through on AMD-V: rt's timer interrupts on its own xAPIC (page read-only, writes performed by the hypervisor), no stray vector, again after a reset; the probe's IPIs to foreign APIC ids dropped, its COM1 interrupt through the emulated I/O APIC delivered to its own core; wd's watchdog (on the boot CPU) expires and its core is taken back by NMI; the shell stops and starts rt",
        run: super::direct::direct,
    },
    X86Test {
        name: "x86-direct-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(super::direct::DIRECT),
        about: "x86-direct-amd on Bochs (VT-x): the x2APIC MSRs and TSC deadline passed through, the ICR's writes exit",
        run: super::direct::direct,
    },
];

/// The x86 two-VM scenario.
const TWO_VMS: &str = "scenarios/x86-two-vms.toml";
/// Two VMs, one of them on the boot CPU.
const CPU0: &str = "tests/scenarios/x86-cpu0.toml";
/// The lifecycle scenarios (xtask/src/x86/life.rs).
const OFF_ONE: &str = "tests/scenarios/x86-off-one.toml";
const RESET_ONE: &str = "tests/scenarios/x86-reset-one.toml";
const SHM: &str = "tests/scenarios/x86-shm.toml";
const SHELL: &str = "tests/scenarios/x86-shell.toml";

/// What the image prints (the contract with crates/arch/x86_64/src/bin/smoke.rs).
pub mod line {
    use super::Pattern;

    pub fn booting() -> Pattern {
        Pattern::contains("[rtvisor] x86_64: booting")
    }
    pub fn vendor(v: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[rtvisor\] vendor: {v} \(cpuid: "))
    }
    pub fn memory() -> Pattern {
        Pattern::regex(
            r"^\[rtvisor\] memory: \d+ regions, [1-9]\d* MiB available, top of RAM 0x[0-9a-f]+$",
        )
    }
    /// The MADT's CPUs: ids 0..n.
    pub fn acpi(n: u32) -> Pattern {
        let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        Pattern::regex(&format!(
            r"^\[rtvisor\] acpi: {n} cpus, apic ids \[{}\], apic mode (?:x2apic|xapic)$",
            ids.join(", ")
        ))
    }
    /// CPU `i` online with the vendor's extension on and its second-stage paging.
    pub fn online(i: u32, vendor: &str) -> Pattern {
        let ext = match vendor {
            "intel" => {
                r"vmx on: ept=yes unrestricted-guest=yes vpid=yes ept-2m=yes ept-4level=yes apicv=yes revision=0x[0-9a-f]+"
            }
            _ => r"svm on: npt=yes asids=[1-9]\d* .*",
        };
        Pattern::regex(&format!(
            r"^\[rtvisor\] cpu {i} \(apic id {i}\) online: {ext}$"
        ))
    }
    /// The hypervisor's first line after the platform: the vendor it found.
    pub fn hv_vendor(v: &str) -> Pattern {
        Pattern::regex(&format!(r"^\[rtvisor\] x86_64: vendor {v}, tsc \d+ kHz, "))
    }
    /// The hypervisor's boot line: `n` CPUs, `vms` VMs.
    pub fn hv_starting(n: u32, vms: u32) -> Pattern {
        Pattern::regex(&format!(
            r"^\[rtvisor\] rtvisor \S+ starting: {n} CPUs, .*, {vms} VMs, config 0x[0-9a-f]+$"
        ))
    }
    /// The hypervisor's CPU `i` online with the vendor's extension and second stage.
    pub fn hv_cpu(i: u32, vendor: &str) -> Pattern {
        let ext = match vendor {
            "intel" => r"vmx on: ept=yes unrestricted-guest=yes vpid=yes .*",
            _ => r"svm on: npt=yes asids=[1-9]\d* .*",
        };
        Pattern::regex(&format!(r"^\[rtvisor\] cpu {i} \(apic id {i}\): {ext}$"))
    }
    pub fn all_online(n: u32) -> Pattern {
        Pattern::contains(format!("[rtvisor] {n} of {n} cpus online"))
    }
    pub fn power_off() -> Pattern {
        Pattern::regex(r"^\[rtvisor\] powering off \(ACPI S5: PM1a_CNT 0x[0-9a-f]+, SLP_TYP \d\)$")
    }
    /// Any of these fails a test at once.
    pub const FAILURES: &[&str] = &[
        "[rtvisor] FATAL",
        "did not start",
        "vmx failed",
        "svm failed",
        "power off failed",
        "did not power off",
        "no virtualization extension",
        ": engine: ",
    ];
}

fn boot(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    let vendor = emu.vendor();
    con.expect(&line::booting(), t.boot)?;
    con.expect(&line::vendor(vendor), t.step)?;
    con.expect(&line::memory(), t.step)?;
    con.expect(&line::acpi(CPUS), t.step)?;
    let cpus: Vec<Pattern> = (0..CPUS).map(|i| line::online(i, vendor)).collect();
    con.expect_all(&cpus, t.step)?;
    con.expect(&line::all_online(CPUS), t.step)?;
    powered_off(con, t, emu)
}

/// The ACPI power-off line and each emulator's way of ending on it.
pub fn powered_off(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    con.expect(&line::power_off(), t.step)?;
    match emu {
        // QEMU ends with status 0 on an ACPI power-off.
        Emulator::Qemu => con.expect_exit(0, t.step),
        // Bochs reports the power-off as a fatal "panic" and ends with status 1. Its
        // stderr and the COM1 file are read apart, so the message may come first.
        Emulator::Bochs => {
            let off = Pattern::contains("[bochs stderr] [ACPI  ] ACPI control: soft power off");
            con.wait_for(|_| off.to_string(), t.step, |c| c.find_from(0, &off))?;
            con.expect_exit(1, t.step)
        }
    }
}

/// The hypervisor on `emu`: the vendor it found, every CPU's extension on with its
/// second-stage paging, then the two VMs of scenarios/x86-two-vms.toml as on aarch64
/// (`two-vms`).
pub fn two_vms(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    con.expect(&line::hv_vendor(emu.vendor()), t.boot)?;
    con.expect(&line::hv_starting(CPUS, 2), t.step)?;
    let cpus: Vec<Pattern> = (0..CPUS).map(|i| line::hv_cpu(i, emu.vendor())).collect();
    con.expect_all(&cpus, t.step)?;
    // x86 guests run at CPL 0 ("el=0").
    let banner = |vm: &str| Pattern::regex(&format!(r"^\[{vm}\] rtbench: banner vcpus=\d+ el=0$"));
    con.expect_all(&[banner("rt"), banner("gp")], t.step)?;
    crate::systest::cases::two_vms_after_banners(con, t, true)
}

/// `two_vms` with `rt` on the boot CPU and the shell on CPU 1 (the first CPU without
/// a vCPU): the hypervisor placed them so, and neither the VM on CPU 0 nor the others
/// met a fault (a FATAL line fails the test at once).
fn boot_cpu(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    two_vms(con, t, emu)?;
    for what in ["[rtvisor] vm rt: cpus [0], ", "[rtvisor] shell on cpu 1"] {
        if con.find_from(0, &Pattern::contains(what)).is_none() {
            return Err(con.fail(what, "not on the console"));
        }
    }
    Ok(())
}

/// Boots with `fault=KIND`, then waits for the FATAL line `fatal` (a regex) and the
/// confirmed halt of every CPU.
fn fault(con: &mut Console, t: &Timeouts, kind: &str, fatal: &str) -> Result<()> {
    con.clear_fail_on();
    // Printed instead of "all CPUs halted" when some CPU did not confirm.
    con.fail_on(Pattern::contains("other CPUs confirmed the halt"));
    con.expect(&line::all_online(CPUS), t.boot)?;
    con.expect(
        &Pattern::contains(format!("[rtvisor] provoking fault {kind}")),
        t.step,
    )?;
    con.expect(&Pattern::regex(fatal), t.step)?;
    con.expect(&Pattern::contains("[rtvisor] all CPUs halted"), t.step)?;
    con.expect_not(&Pattern::contains("did not happen"))
}

fn fault_wx(con: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    fault(
        con,
        t,
        "wx",
        r"^\[rtvisor\] FATAL: exception 14 \(#PF\) error 0x3 rip 0x[0-9a-f]+ cr2 0x[0-9a-f]+ on cpu 0 \(apic id 0\)$",
    )
}

fn fault_stack(con: &mut Console, t: &Timeouts, _emu: Emulator) -> Result<()> {
    fault(
        con,
        t,
        "stack",
        r"^\[rtvisor\] FATAL: exception 8 \(#DF\) error 0x0 rip 0x[0-9a-f]+ cr2 0x[0-9a-f]+ on cpu 0 \(apic id 0\)$",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_what_the_image_prints() {
        assert!(line::online(2, "intel").is_match(
            "[rtvisor] cpu 2 (apic id 2) online: vmx on: ept=yes unrestricted-guest=yes vpid=yes ept-2m=yes ept-4level=yes apicv=yes revision=0x2b"
        ));
        assert!(!line::online(2, "intel").is_match(
            "[rtvisor] cpu 2 (apic id 2) online: vmx on: ept=yes unrestricted-guest=no vpid=yes ept-2m=yes ept-4level=yes apicv=yes revision=0x2b"
        ));
        assert!(line::online(0, "amd").is_match(
            "[rtvisor] cpu 0 (apic id 0) online: svm on: npt=yes asids=16 nrips=no flush-by-asid=no revision=1"
        ));
        assert!(!line::online(0, "amd").is_match(
            "[rtvisor] cpu 0 (apic id 0) online: svm on: npt=no asids=16 nrips=no flush-by-asid=no revision=1"
        ));
        assert!(line::acpi(4)
            .is_match("[rtvisor] acpi: 4 cpus, apic ids [0, 1, 2, 3], apic mode x2apic"));
        assert!(
            !line::acpi(4).is_match("[rtvisor] acpi: 3 cpus, apic ids [0, 1, 2], apic mode xapic")
        );
        assert!(line::power_off()
            .is_match("[rtvisor] powering off (ACPI S5: PM1a_CNT 0x604, SLP_TYP 0)"));
        assert!(line::memory()
            .is_match("[rtvisor] memory: 9 regions, 2047 MiB available, top of RAM 0x7ffdf000"));
        assert!(line::vendor("amd").is_match("[rtvisor] vendor: amd (cpuid: vmx=false svm=true)"));
        assert!(line::hv_vendor("amd")
            .is_match("[rtvisor] x86_64: vendor amd, tsc 2904193 kHz, apic timer none"));
        assert!(line::hv_starting(4, 2).is_match(
            "[rtvisor] rtvisor 0.1.0 starting: 4 CPUs, amd, xAPIC, 2 VMs, config 0xd746f631eba9d4e4"
        ));
        assert!(line::hv_cpu(3, "intel").is_match(
            "[rtvisor] cpu 3 (apic id 3): vmx on: ept=yes unrestricted-guest=yes vpid=yes ept-2m=yes ept-4level=yes apicv=yes revision=0x2b"
        ));
        assert!(!line::hv_cpu(3, "amd").is_match(
            "[rtvisor] cpu 3 (apic id 3): svm on: npt=no asids=16 nrips=no flush-by-asid=no revision=1"
        ));
        let names: Vec<&str> = TESTS.iter().map(|t| t.name).collect();
        assert!(names.contains(&"x86-boot-amd") && names.contains(&"x86-boot-intel"));
    }
}
