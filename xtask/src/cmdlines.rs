//! Every QEMU command line the project builds, by name: the demo, `run`, each system
//! test, each benchmark configuration, the bare Linux boot and `rtvisor run` of each
//! example scenario. The tests below hold each of them to the rules of a fresh
//! machine (DESIGN.md section 4): the network is always stated.

use crate::bench::{self, Machine};
use crate::image::Image;
use crate::qemu::{self, Mode};
use crate::util::{root, show};
use crate::{linux, systest};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The arguments of `c` (without the program).
fn args(c: &Command) -> Vec<String> {
    c.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

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

/// `(name, arguments)` of every command line.
pub fn every_command_line() -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let demo = root().join("scenarios/demo.toml");
    let img = Image::for_scenario(&demo)?;
    let l = linux_files();
    out.push((
        "demo".into(),
        args(&qemu::command(
            &img.bin,
            Mode::Interactive,
            &linux::qemu_device_args(&l),
        )),
    ));
    let two = Image::for_scenario(&root().join("tests/scenarios/two-vms.toml"))?;
    out.push((
        "run".into(),
        args(&qemu::command(&two.bin, Mode::Interactive, &[])),
    ));
    for t in systest::TESTS {
        let img = Image::for_scenario(&root().join(t.scenario))?;
        let extra = if t.linux {
            linux::qemu_device_args(&l)
        } else {
            Vec::new()
        };
        let c = qemu::command(img.pick(t.elf), Mode::Captured, &extra);
        out.push((format!("system test {}", t.name), args(&c)));
    }
    for cfg in bench::CONFIGS {
        let target = match cfg.machine {
            Machine::Bare { noise, period_us } => bench::run::Target::Bare {
                bin: root().join("target/guests/rtbench.bin"),
                noise,
                period_us,
            },
            Machine::Rtvisor(f) => {
                bench::run::Target::Image(Image::for_scenario(Path::new(f))?.bin)
            }
        };
        let c = bench::run::command(&target, bench::FULL_ARGS);
        out.push((format!("bench {}", cfg.name), args(&c)));
    }
    out.push(("linux --boot-bare".into(), args(&linux::bare_command(&l))));
    for s in example_scenarios()? {
        let board = rtvisor_config::check_board(&root().join("boards/qemu-virt-aarch64.toml"))
            .map_err(|d| anyhow::anyhow!("{d}"))?;
        let ram: u64 = board.ram.iter().map(|r| r.size.get_ref().0).sum();
        let a = rtvisor::run::qemu_args(
            *board.gic.version.get_ref(),
            board.cpu.len(),
            ram,
            Path::new("x.bin"),
        );
        out.push((format!("rtvisor run {}", s.display()), a));
    }
    let _ = show;
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

/// Whether `args` say what the network is: `-nic none`, or a NIC of its own.
pub fn states_network(args: &[String]) -> bool {
    args.windows(2).any(|w| w[0] == "-nic" || w[0] == "-netdev")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_line_states_its_network() {
        let all = every_command_line().unwrap();
        assert!(all.len() >= 20, "{} command lines", all.len());
        let silent: Vec<String> = all
            .iter()
            .filter(|(_, a)| !states_network(a))
            .map(|(n, a)| format!("{n}: {}", a.join(" ")))
            .collect();
        assert!(
            silent.is_empty(),
            "QEMU adds its default PCI NIC (which needs efi-virtio.rom from ipxe-qemu) \
             to these command lines:\n{}",
            silent.join("\n")
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
