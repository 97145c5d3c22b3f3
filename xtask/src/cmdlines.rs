//! Every QEMU command line the project builds, by name: the demo, `run` and
//! `rtvisor run` of each scenario, each system test, each benchmark configuration and
//! the bare Linux boot (`cargo xtask qemu-args --all` prints them). The tests below
//! hold each of them to the rules of a fresh machine (DESIGN.md section 4): the
//! network is always stated.

use crate::bench::run::{command as bench_command, Target};
use crate::bench::{self, Machine};
use crate::image::Image;
use crate::util::root;
use crate::x86::X86Qemu;
use crate::{linux, systest, Boot, DEMO_SCENARIO};
use anyhow::Result;
use rtvisor::qemu::{CpuModel, Icount, QemuCommand};
use std::path::PathBuf;

/// The Debian guest's files where `cargo xtask linux` puts them (not read).
fn linux_files() -> linux::Linux {
    let dir = root().join("target/linux");
    linux::Linux {
        image: dir.join("Image"),
        initramfs: dir.join("initramfs.cpio.gz"),
        disk: dir.join("disk.img"),
        release: String::new(),
        modules: Vec::new(),
        builtin: Vec::new(),
        unavailable: Vec::new(),
    }
}

/// `cargo xtask run`/`demo` options.
fn boot_opts(duration: Option<u64>, cpu: Option<CpuModel>, icount: Option<Icount>) -> Boot {
    Boot {
        elf: false,
        duration,
        cpu,
        icount,
        qemu_args: Vec::new(),
    }
}

/// `(name, command)` of every QEMU command line the project builds.
pub fn every_command_line() -> Result<Vec<(String, QemuCommand)>> {
    let mut out = Vec::new();
    let demo = root().join(DEMO_SCENARIO);
    let img = Image::for_scenario(&demo)?;
    let bench_machine = (Some(CpuModel::CortexA72), Some(Icount::BENCH));
    for (name, opts) in [
        ("demo", boot_opts(None, None, None)),
        ("demo --duration", boot_opts(Some(1), None, None)),
        (
            "demo --cpu --icount",
            boot_opts(None, bench_machine.0, bench_machine.1),
        ),
    ] {
        out.push((name.into(), crate::boot_command(&demo, &img, &opts)?));
    }
    for s in example_scenarios()?
        .into_iter()
        .chain(systest::TESTS.iter().map(|t| root().join(t.scenario)))
    {
        let img = Image::for_scenario(&s)?;
        let opts = boot_opts(None, None, None);
        let name = format!("run {}", s.display());
        out.push((name, crate::boot_command(&s, &img, &opts)?));
        let name = format!("rtvisor run {}", s.display());
        out.push((name, rtvisor::run::command(&s, &img.bin)?));
    }
    for t in systest::TESTS {
        let img = Image::for_scenario(&root().join(t.scenario))?;
        let name = format!("system test {}", t.name);
        out.push((name, systest::command(t, &img)?));
    }
    for cfg in bench::CONFIGS {
        let target = match cfg.machine {
            Machine::Bare { noise, period_us } => Target::Bare {
                bin: root().join("target/guests/rtbench.bin"),
                noise,
                period_us,
            },
            Machine::Rtvisor(f) => Target::Image {
                bin: "x.bin".into(),
                scenario: root().join("tests/bench").join(f),
            },
            // Its q35 line is among `every_x86_command_line`.
            Machine::BareX86 => continue,
            // GRUB ISOs on q35 and Bochs (bench/x86.rs), not QEMU command builders.
            Machine::BareBochs | Machine::RtvisorX86 { .. } => continue,
        };
        let name = format!("bench {}", cfg.name);
        out.push((name, bench_command(&target, bench::FULL_ARGS)?));
    }
    let doorbell = Target::Image {
        bin: "x.bin".into(),
        scenario: root().join("tests/bench/doorbell.toml"),
    };
    out.push(("bench doorbell".into(), bench_command(&doorbell, "")?));
    out.push((
        "linux --boot-bare".into(),
        linux::bare_command(&linux_files())?,
    ));
    Ok(out)
}

/// `(name, command)` of every x86 QEMU command line the project builds (the bare
/// x86 guests: their system tests and benchmark rows).
pub fn every_x86_command_line() -> Result<Vec<(String, X86Qemu)>> {
    let mut out = systest::x86::commands()?;
    out.extend(bench::x86_commands()?);
    Ok(out)
}

/// The scenarios of scenarios/.
fn example_scenarios() -> Result<Vec<PathBuf>> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    all.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    all.sort();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `args` say what the network is: `-nic none`, or a NIC of its own.
    fn states_network(args: &[String]) -> bool {
        args.windows(2).any(|w| w[0] == "-nic" || w[0] == "-netdev")
    }

    #[test]
    fn every_command_line_states_its_network() {
        let all = every_command_line().unwrap();
        assert!(all.len() >= 40, "{} command lines", all.len());
        let silent: Vec<String> = all
            .iter()
            .filter(|(_, q)| !states_network(&q.args()))
            .map(|(n, q)| format!("{n}: {}", q.line()))
            .collect();
        assert!(
            silent.is_empty(),
            "QEMU adds its default PCI NIC (which needs efi-virtio.rom from ipxe-qemu) \
             to these command lines:\n{}",
            silent.join("\n")
        );
        let x86 = every_x86_command_line().unwrap();
        assert!(x86.len() >= 3, "{} x86 command lines", x86.len());
        for (name, q) in &x86 {
            assert!(states_network(&q.args()), "{name}: {}", q.line());
        }
    }

    #[test]
    fn the_demo_and_its_bare_kernel_get_the_same_disk_and_nic() {
        let all = every_command_line().unwrap();
        let devices = |name: &str| {
            let q = &all.iter().find(|(n, _)| n == name).unwrap().1;
            assert!(!q.devices.is_empty(), "{name}: {}", q.line());
            q.devices.clone()
        };
        let demo = root().join(DEMO_SCENARIO);
        assert_eq!(devices("demo"), devices("linux --boot-bare"));
        assert_eq!(devices("demo"), devices("system test linux"));
        assert_eq!(
            devices("demo"),
            devices(&format!("rtvisor run {}", demo.display()))
        );
    }

    #[test]
    fn the_network_rule() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(states_network(&v("-M virt -nic none -kernel x")));
        assert!(states_network(&v(
            "-netdev user,id=n -device virtio-net-device,netdev=n"
        )));
        assert!(!states_network(&v("-M virt -kernel x")));
        assert!(!states_network(&v("-kernel -nic")));
    }
}
