//! The two x86 machines the ISO boots on, and their command lines.
//!
//! - AMD-V: `qemu-system-x86_64 -M q35 -cpu max -smp 4 -m 2G -nic none` (TCG emulates
//!   SVM with NPT); COM1 on stdio, no display, no reboot (a triple fault ends QEMU);
//!   then the devices the scenario's `[[qemu-device]]` entries plug into q35's root
//!   bus, at the functions its VMs are given (`rtvisor::qemu::device_args`; a NIC
//!   among them replaces `-nic none`).
//! - Intel VT-x: Bochs 2.7 from Debian with the Haswell CPU model (VMX with EPT,
//!   unrestricted guest, VPID; x2APIC), 4 CPUs, COM1 a TCP connection to xtask on
//!   127.0.0.1 (follow.rs),
//!   the RFB display library without waiting for a client (Debian's Bochs has no
//!   `nogui`), a deterministic clock (`sync=none`, fixed `ips`). Debian's `bochs-bin`
//!   has its debugger built in: `-rc` feeds it `continue`.

use anyhow::{Context, Result};
use rtvisor::qemu::{device_args, has_nic, needs_iommu, Device};
use std::path::Path;
use std::process::Command;

pub const QEMU_X86: &str = "qemu-system-x86_64";
pub const BOCHS: &str = "bochs";
/// Bochs' BIOS (package `bochsbios`) and VGA BIOS (package `vgabios`).
pub const BOCHS_BIOS: &str = "/usr/share/bochs/BIOS-bochs-latest";
pub const BOCHS_VGABIOS: &str = "/usr/share/vgabios/vgabios.bin";
/// Emulated instructions per virtual second: low, so that the BIOS's and GRUB's fixed
/// waits cost few instructions (the whole boot takes about 12 s on one host core).
pub const BOCHS_IPS: u32 = 1_000_000;

/// A Bochs machine's RAM and clock (the rest of the bochsrc is the same for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BochsSpec {
    /// RAM in MiB (`megs`).
    pub megs: u32,
    /// Emulated instructions per virtual second (`cpu: ips`); the TSC runs at this rate.
    pub ips: u32,
}

impl BochsSpec {
    /// The T2 tests' and the benchmark's machine.
    pub const T2: BochsSpec = BochsSpec {
        megs: 256,
        ips: BOCHS_IPS,
    };
}
/// The CPU model: Intel with VMX, EPT, unrestricted guest, VPID and x2APIC.
pub const BOCHS_CPU: &str = "corei7_haswell_4770";
pub const CPUS: u32 = 4;

/// Which emulator, and so which vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulator {
    /// QEMU q35, AMD-V.
    Qemu,
    /// Bochs, Intel VT-x.
    Bochs,
}

impl Emulator {
    pub fn name(self) -> &'static str {
        match self {
            Emulator::Qemu => "qemu",
            Emulator::Bochs => "bochs",
        }
    }
    /// The vendor its CPU reports.
    pub fn vendor(self) -> &'static str {
        match self {
            Emulator::Qemu => "amd",
            Emulator::Bochs => "intel",
        }
    }
}

impl std::str::FromStr for Emulator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "qemu" => Ok(Emulator::Qemu),
            "bochs" => Ok(Emulator::Bochs),
            _ => Err(format!("unknown emulator {s:?} (qemu or bochs)")),
        }
    }
}

/// The devices `scenario`'s `[[qemu-device]]` entries plug into q35 (none for a
/// scenario without them).
pub fn scenario_devices(scenario: &Path) -> Result<Vec<Device>> {
    let run = rtvisor_config::qemu_run(scenario)
        .map_err(|d| anyhow::anyhow!("{d}"))
        .with_context(|| format!("reading the QEMU devices of {}", scenario.display()))?;
    run.devices
        .iter()
        .map(|d| Device::from_scenario(d).map_err(anyhow::Error::from))
        .collect()
}

/// The QEMU command booting `iso` with `devices`, COM1 on stdio.
pub fn qemu(iso: &Path, devices: &[Device]) -> Command {
    qemu_with(iso, devices, &["-serial", "stdio", "-monitor", "none"])
}

/// The QEMU command of the interactive demo: COM1 and QEMU's monitor share stdio
/// (`mon:stdio`: Ctrl-A X quits, Ctrl-A C switches to the monitor).
pub fn qemu_interactive(iso: &Path, devices: &[Device]) -> Command {
    qemu_with(iso, devices, &["-serial", "mon:stdio"])
}

/// The q35 booting `iso` with `devices`, its serial and monitor as `console` says.
fn qemu_with(iso: &Path, devices: &[Device], console: &[&str]) -> Command {
    let mut c = Command::new(QEMU_X86);
    c.args(["-M", "q35", "-cpu", "max", "-smp"])
        .arg(CPUS.to_string())
        .args(["-m", "2G"]);
    if let Some(iommu) = needs_iommu(devices) {
        c.args(iommu);
    }
    if !has_nic(devices) {
        c.args(["-nic", "none"]);
    }
    c.args(["-display", "none"])
        .args(console)
        .args(["-no-reboot", "-boot", "d", "-cdrom"])
        .arg(iso)
        .args(device_args(devices));
    c
}

/// The bochsrc booting `iso`, COM1 connecting to `127.0.0.1:port` (a TCP client: the
/// console reads and types on that connection), Bochs' log into `log`.
pub fn bochsrc_socket(spec: &BochsSpec, iso: &Path, port: u16, log: &Path) -> String {
    bochsrc_with(
        spec,
        iso,
        &format!("com1: enabled=1, mode=socket-client, dev=127.0.0.1:{port}"),
        log,
    )
}

/// The bochsrc booting `iso` with the COM1 line `com1`.
fn bochsrc_with(spec: &BochsSpec, iso: &Path, com1: &str, log: &Path) -> String {
    let BochsSpec { megs, ips } = spec;
    // The CPUs' info lines report every virtual-interrupt evaluation: most of the
    // 20 MB a `linux-x86-intel` run wrote, a log nobody reads. Their errors (an EPT
    // violation is one) and panics are still reported. Bochs names them `cpu%x`.
    let quiet: String = (0..CPUS).map(|c| format!(", cpu{c:x}=ignore")).collect();
    format!(
        "# Written by cargo xtask (xtask/src/x86/machine.rs).\n\
         megs: {megs}\n\
         cpu: model={BOCHS_CPU}, count={CPUS}, ips={ips}, reset_on_triple_fault=0\n\
         romimage: file={BOCHS_BIOS}\n\
         vgaromimage: file={BOCHS_VGABIOS}\n\
         ata0-master: type=cdrom, path={}, status=inserted\n\
         boot: cdrom\n\
         display_library: rfb, options=\"timeout=0\"\n\
         {com1}\n\
         log: {}\n\
         info: action=report{quiet}\n\
         clock: sync=none, time0=1\n\
         pci: enabled=1, chipset=i440fx\n\
         speaker: enabled=0\n\
         sound: driver=dummy\n",
        iso.display(),
        log.display()
    )
}

/// The debugger script: run until the machine stops.
pub const BOCHS_RC: &str = "continue\n";

/// The Bochs command for `bochsrc` and the debugger script `rc`.
pub fn bochs(bochsrc: &Path, rc: &Path) -> Command {
    let mut c = Command::new(BOCHS);
    c.arg("-q").arg("-f").arg(bochsrc).arg("-rc").arg(rc);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &Command) -> Vec<String> {
        c.get_args().map(|a| a.to_string_lossy().into()).collect()
    }

    #[test]
    fn qemu_is_a_q35_with_four_cpus_and_no_network() {
        let a = args(&qemu(Path::new("x.iso"), &[])).join(" ");
        assert!(
            a.starts_with("-M q35 -cpu max -smp 4 -m 2G -nic none "),
            "{a}"
        );
        assert!(a.contains("-serial stdio") && a.contains("-no-reboot"));
        assert!(a.ends_with("-cdrom x.iso"));
    }

    /// scenarios/x86-linux.toml plugs a disk and a NIC in at the functions `linux` is
    /// given, as modern-only virtio devices; the NIC replaces `-nic none`.
    #[test]
    fn the_linux_scenario_plugs_its_functions_into_q35() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let devices = scenario_devices(&root.join("scenarios/x86-linux.toml")).unwrap();
        let a = args(&qemu(Path::new("x.iso"), &devices)).join(" ");
        assert!(
            a.starts_with(
                "-M q35 -cpu max -smp 4 -m 2G -device intel-iommu,aw-bits=48,intremap=on \
                 -display none "
            ),
            "{a}"
        );
        assert!(!a.contains("-nic none"), "{a}");
        let drive = "/target/linux-x86/disk.img,format=raw,id=rtvdisk0,readonly=on ";
        assert!(a.contains("-cdrom x.iso -drive if=none,file=/"), "{a}");
        assert!(
            a.contains(drive)
                && a.ends_with(
                    "-device virtio-blk-pci,drive=rtvdisk0,bus=pcie.0,addr=03.0,\
                     disable-legacy=on,iommu_platform=on -netdev user,id=rtvnet1 -device \
                     virtio-net-pci,netdev=rtvnet1,bus=pcie.0,addr=04.0,disable-legacy=on,\
                     iommu_platform=on,romfile="
                ),
            "{a}"
        );
    }

    #[test]
    fn bochs_is_an_intel_with_vmx_four_cpus_and_no_display() {
        let rc = bochsrc_socket(
            &BochsSpec::T2,
            Path::new("/t/x.iso"),
            4555,
            Path::new("/t/log"),
        );
        assert!(rc.contains("megs: 256\n"));
        assert!(rc.contains("cpu: model=corei7_haswell_4770, count=4, ips=1000000"));
        assert!(
            rc.contains("ata0-master: type=cdrom, path=/t/x.iso, status=inserted\nboot: cdrom\n")
        );
        assert!(rc.contains("com1: enabled=1, mode=socket-client, dev=127.0.0.1:4555\n"));
        assert!(rc.contains("cpu: model=corei7_haswell_4770, count=4, ips=1000000"));
        assert!(rc.contains("display_library: rfb, options=\"timeout=0\""));
        assert!(rc.contains("clock: sync=none, time0=1\n"));
        assert!(!rc.contains("ne2k") && !rc.contains("e1000"), "no NIC");
        assert_eq!(
            args(&bochs(Path::new("rc"), Path::new("dbg")))[..2],
            ["-q", "-f"]
        );
        assert_eq!("bochs".parse::<Emulator>(), Ok(Emulator::Bochs));
        assert!("kvm".parse::<Emulator>().is_err());
    }
}
