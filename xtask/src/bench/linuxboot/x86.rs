//! The x86 Linux boot rows of `cargo xtask bench --only linux-x86`: Debian's amd64
//! kernel (the PVH vmlinux of `cargo xtask linux --x86`) and its busybox initramfs,
//! virtual time from QEMU's start to `/init`'s ready line, bare and under rtvisor on
//! QEMU q35 (AMD-V), all under `-icount shift=0,sleep=off`:
//!
//! ```text
//! linux-x86-bare       q35, 1 CPU, 256 MiB: QEMU's own PVH loader (-kernel, -initrd)
//! linux-x86-bare-grub  the rtvisor row's machine and boot path: q35 (4 CPUs, 2 GiB),
//!                      SeaBIOS, GRUB from an ISO booting Debian's bzImage and the
//!                      initramfs (`linux`, `initrd`), held to the VM's 1 CPU and
//!                      256 MiB by `nr_cpus=1 mem=256M`
//! linux-x86-rtvisor    tests/bench/linux-x86.toml: the VM alone (CPU 1, 256 MiB),
//!                      the hypervisor's GRUB ISO on the x86 tests' q35 (4 CPUs, 2 GiB)
//! linux-x86-rtvisor-pvh  the same hypervisor ELF booted by QEMU's PVH loader (-kernel),
//!                      as the bare row boots Linux, on the same q35 (4 CPUs, 2 GiB)
//! ```
//!
//! `/bin/vclock` (`crate::linux::vclock_x86`) prints the TSC, which starts with the
//! machine and under `-icount shift=0` counts one tick per virtual ns; rtvisor's VMs
//! have a TSC offset of 0. So the figure includes everything before the kernel: SeaBIOS
//! and QEMU's PVH option ROM bare; SeaBIOS, GRUB reading the 8 MiB bzImage and the
//! bzImage decompressing itself through GRUB; SeaBIOS, GRUB reading the 65 MiB image
//! from the ISO, the hypervisor's boot and its copy of the VM's images under rtvisor.
//! Each row is split at Linux's clock (`/init`'s TSC less the kernel's uptime then):
//! Two ratios are like for like: rtvisor-pvh / bare, both loaded by QEMU's PVH loader,
//! and rtvisor / bare-grub, both booting from GRUB on the same machine.
//!
//! Then `linux-x86-rtvisor` boots once more from an image built with the interference
//! accounting: at the ready line the shell's `cpu stats` gives the entries into the
//! hypervisor by cause on each of Linux's CPUs during the boot.

use super::{boot_command, Boot1, LinuxBoot, Row};
use crate::bench::budget::Check;
use crate::linux::vclock_x86::ICOUNT_TSC_HZ;
use crate::util::{rel, root, say};
use crate::x86::X86Qemu;
use anyhow::{Context, Result};
use rtvisor::qemu::Icount;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The kernel command line of the bare boot; the scenario's `bootargs` are the same
/// with the hypervisor's measured rate (`{tsc-khz}`) for the TSC's.
pub const BOOTARGS_BARE: &str =
    "console=ttyS0 tsc=reliable tsc_early_khz=1000000 cryptomgr.notests";
pub const BARE: &str = "linux-x86-bare";
pub const BARE_GRUB: &str = "linux-x86-bare-grub";
pub const ALONE: &str = "linux-x86-rtvisor";
pub const ALONE_PVH: &str = "linux-x86-rtvisor-pvh";
/// The scenario under tests/bench/.
const SCENARIO: &str = "linux-x86.toml";
/// The bare machine: the VM's CPUs and RAM. One CPU: bare Linux on a 2-CPU q35 under
/// `-icount shift=0,sleep=off` stops at `x86: Booting SMP configuration:` (its second
/// CPU's start never completes there; docs/benchmark.md, "Linux boot on x86").
const BARE_CPUS: u32 = 1;
const BARE_MEMORY_MIB: u64 = 256;

/// The bare-grub row's command line: bare's, held to the VM's CPUs and RAM on the
/// rtvisor row's larger machine (a bare 2-CPU q35 does not boot under -icount).
pub fn bootargs_bare_grub() -> String {
    format!("{BOOTARGS_BARE} nr_cpus={BARE_CPUS} mem={BARE_MEMORY_MIB}M")
}

/// The bare QEMU command.
fn bare_command(vmlinux: &Path, initrd: &Path) -> X86Qemu {
    let mut q = X86Qemu::bare(vmlinux, BOOTARGS_BARE);
    q.smp = BARE_CPUS;
    q.memory_mib = BARE_MEMORY_MIB;
    q.initrd = Some(initrd.to_path_buf());
    q.icount = Some(Icount::BENCH);
    q
}

/// Builds the bare-grub row's ISO (target/x86/linux-x86-bare-grub.iso): GRUB booting
/// Debian's bzImage and the initramfs with [`bootargs_bare_grub`].
fn bare_grub_iso(l: &crate::linux::x86::LinuxX86, no_build: bool) -> Result<PathBuf> {
    let dir = crate::util::out_dir("x86")?;
    if no_build {
        let iso = dir.join(format!("{BARE_GRUB}.iso"));
        anyhow::ensure!(
            iso.is_file(),
            "{} does not exist; run without --no-build",
            rel(&iso)
        );
        return Ok(iso);
    }
    let args = bootargs_bare_grub();
    crate::x86::iso::build_linux(&l.vmlinuz, &l.initramfs, &args, &dir, BARE_GRUB)
}

/// The rtvisor-pvh row's QEMU: the hypervisor ELF `elf` by QEMU's PVH loader on the
/// machine the ISO boots on (q35, 4 CPUs, 2 GiB), under -icount.
fn rtvisor_pvh_command(elf: &Path) -> X86Qemu {
    let mut q = X86Qemu::bare(elf, "");
    q.icount = Some(Icount::BENCH);
    q.smp = crate::x86::machine::CPUS;
    q.memory_mib = 2048;
    q
}

/// Builds the ISO of tests/bench/linux-x86.toml, with the accounting when
/// `accounting` (target/x86/<name>[-accounting].iso).
fn rtvisor_iso(dir: &Path, no_build: bool, accounting: bool) -> Result<PathBuf> {
    let src = root().join("tests/bench").join(SCENARIO);
    let suffix = if accounting { "-accounting" } else { "" };
    let copy = dir.join("scenarios").join(format!("{ALONE}{suffix}.toml"));
    let iso = crate::util::out_dir("x86")?.join(format!("{ALONE}{suffix}.iso"));
    if no_build {
        anyhow::ensure!(
            iso.is_file(),
            "{} does not exist; run without --no-build",
            rel(&iso)
        );
        return Ok(iso);
    }
    let text = std::fs::read_to_string(&src).with_context(|| format!("reading {}", rel(&src)))?;
    let mut text = super::super::run::absolute_paths(&text, &root());
    if accounting {
        text = text.replacen("[hypervisor]\n", "[hypervisor]\naccounting = true\n", 1);
    }
    std::fs::create_dir_all(dir.join("scenarios"))?;
    std::fs::write(&copy, text).with_context(|| format!("writing {}", rel(&copy)))?;
    let built = crate::x86::build_scenario_iso(&copy)
        .map_err(|e| e.context(format!("building the ISO for {}", rel(&src))))?;
    anyhow::ensure!(
        built == iso,
        "the ISO is {}, not {}",
        rel(&built),
        rel(&iso)
    );
    Ok(iso)
}

/// Runs the x86 Linux boot benchmark: bare, bare through GRUB, rtvisor, then the
/// accounting build.
/// Console logs go to `dir/<name>.log`.
pub fn measure(dir: &Path, no_build: bool, timeout: Duration, verbose: bool) -> Result<LinuxBoot> {
    let l = crate::linux::x86::ensure(false)?;
    let boot = |name: &'static str, cmd: std::process::Command, line: &str, stats: bool| {
        let suffix = if stats { ".accounting" } else { "" };
        let log = dir.join(format!("{name}{suffix}.log"));
        let b = Boot1 {
            name,
            log: &log,
            timeout,
            verbose,
            stats,
            hz: Some(ICOUNT_TSC_HZ),
        };
        boot_command(&b, cmd, line)
    };
    let mut rows = Vec::new();
    // The GRUB ISOs boot on the x86 rows' q35, under -icount.
    let from_iso = |name: &'static str, iso: Result<PathBuf>| {
        iso.and_then(|iso| {
            let c = super::super::x86::qemu_command(&iso);
            let line = crate::util::show(&c);
            boot(name, c, &line, false)
        })
    };
    for name in [BARE, BARE_GRUB, ALONE, ALONE_PVH] {
        say(format!("=== bench {name}"));
        let start = Instant::now();
        let got = match name {
            BARE => {
                let q = bare_command(&l.vmlinux, &l.initramfs);
                boot(name, q.command(), &q.line(), false)
            }
            BARE_GRUB => from_iso(name, bare_grub_iso(&l, no_build)),
            // The ELF beside the ISO (`build_scenario_iso`), built with it above.
            ALONE_PVH => rtvisor_iso(dir, true, false).and_then(|iso| {
                let q = rtvisor_pvh_command(&iso.with_extension("elf"));
                boot(name, q.command(), &q.line(), false)
            }),
            _ => from_iso(name, rtvisor_iso(dir, no_build, false)),
        };
        let wall_s = start.elapsed().as_secs_f64();
        rows.push(Row::from_boot(
            name,
            got.map(|(ns, init, _)| (ns, init)),
            wall_s,
        ));
    }
    say(format!(
        "=== bench {ALONE} (accounting build): exits by cause during the boot"
    ));
    let breakdown = rtvisor_iso(dir, no_build, true)
        .and_then(|iso| {
            let c = super::super::x86::qemu_command(&iso);
            let line = crate::util::show(&c);
            boot(ALONE, c, &line, true)
        })
        .map(|(_, _, s)| s.unwrap_or_default())
        .map_err(|e| format!("{e:#}").lines().next().unwrap_or("").to_string());
    Ok(LinuxBoot { rows, breakdown })
}

/// The x86 rows of a bench run: whether every boot worked, the markdown section, the
/// latency.json objects and the budget table's rows.
pub fn rows(
    dir: &Path,
    no_build: bool,
    timeout: Duration,
    verbose: bool,
) -> (bool, String, Vec<String>, Vec<Check>) {
    match measure(dir, no_build, timeout, verbose) {
        Ok(b) => (
            b.rows.iter().all(|r| r.ns.is_ok()),
            markdown(&b),
            json_rows(&b),
            report(Some(&b)),
        ),
        Err(e) => {
            println!("bench {BARE}, {BARE_GRUB}, {ALONE}, {ALONE_PVH} ... FAILED\n{e:#}");
            (false, String::new(), Vec::new(), report(None))
        }
    }
}

pub mod intel;
mod report;
pub use report::{json_rows, markdown, report};

#[cfg(test)]
mod tests {
    use super::*;

    /// The bare machine repeats the scenario's VM: its CPU count, RAM and command line
    /// (with the measured rate, `{tsc-khz}`, as bare's 1 GHz) must stay the same.
    #[test]
    fn the_bare_machine_is_the_scenarios_vm() {
        let path = root().join("tests/bench").join(SCENARIO);
        let text = std::fs::read_to_string(&path).unwrap();
        let vm = text.find("[[vm]]").expect("a [[vm]] table");
        let text = &text[vm..];
        let value = |key: &str| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("{key} in {}", path.display()));
            line[key.len() + 3..].to_string()
        };
        let cpus = value("cpus");
        let count = cpus
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .count();
        assert_eq!(count as u32, BARE_CPUS, "cpus = {cpus}");
        assert_eq!(
            value("memory"),
            format!("{{ size = \"{BARE_MEMORY_MIB}MiB\" }}")
        );
        let args = value("bootargs").replace("{tsc-khz}", "1000000");
        assert_eq!(args, format!("\"{BOOTARGS_BARE}\""));
    }

    #[test]
    fn bare_grub_holds_the_larger_machine_to_the_vms_cpus_and_ram() {
        assert_eq!(
            bootargs_bare_grub(),
            format!("{BOOTARGS_BARE} nr_cpus=1 mem=256M")
        );
        // The rtvisor row's machine, which the bare-grub ISO boots on too.
        let c = super::super::super::x86::qemu_command(Path::new("x.iso"));
        let a = crate::util::show(&c);
        assert!(a.contains("-M q35 -cpu max -smp 4 -m 2G"), "{a}");
        assert!(a.contains("-icount shift=0,sleep=off"), "{a}");
    }

    #[test]
    fn bare_is_the_vms_machine_under_icount_with_the_initramfs() {
        let q = bare_command(Path::new("vmlinux"), Path::new("initrd.gz"));
        let a = q.args().join(" ");
        assert!(a.contains("-icount shift=0,sleep=off"), "{a}");
        assert!(a.contains("-smp 1 -m 256M"), "{a}");
        assert!(
            a.contains("-kernel vmlinux -initrd initrd.gz -append"),
            "{a}"
        );
        assert!(a.contains("-nic none"), "{a}");
    }
}
