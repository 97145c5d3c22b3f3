//! The x86_64 side of xtask: the smoke image of `crates/arch/x86_64` (bin `x86-smoke`),
//! the GRUB ISO that boots it by Multiboot2, and its runs on QEMU q35 (AMD-V) and on
//! Bochs (Intel VT-x). docs/x86.md describes the whole.
//!
//! ```text
//! cargo build -p rtvisor-arch-x86_64 --bin x86-smoke --target x86_64-unknown-none --release
//!   -> target/x86/x86-smoke.elf -> target/x86/<name>.iso (grub-mkrescue)
//! ```

pub mod bare;
pub mod cases;
pub mod demo;
mod demolinux;
pub mod direct;
mod follow;
mod intx;
pub mod irq;
pub mod iso;
mod life;
pub mod linux;
pub mod machine;
mod pcidirect;
pub mod probe;
pub mod slow;
pub mod vm;

pub use bare::{check_pvh, X86Qemu};

use crate::console::Console;
use crate::systest::Timeouts;
use crate::util::{cargo, cargo_target_dir, out_dir, run, say, show};
use anyhow::{Context, Result};
use machine::Emulator;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The bare-metal target of the x86 image.
pub const X86_TARGET: &str = "x86_64-unknown-none";
pub const SMOKE_PACKAGE: &str = "rtvisor-arch-x86_64";
pub const SMOKE_BIN: &str = "x86-smoke";

/// Builds the smoke image; returns target/x86/x86-smoke.elf.
pub fn build_smoke() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        SMOKE_PACKAGE,
        "--bin",
        SMOKE_BIN,
        "--target",
        X86_TARGET,
    ]))
    .context("building the x86 smoke image")?;
    let built = cargo_target_dir()
        .join(X86_TARGET)
        .join("release")
        .join(SMOKE_BIN);
    let elf = out_dir("x86")?.join(format!("{SMOKE_BIN}.elf"));
    std::fs::copy(&built, &elf)
        .with_context(|| format!("copying {} to {}", built.display(), elf.display()))?;
    Ok(elf)
}

/// The ISO name for a command line (`x86-smoke`, `x86-smoke-fault-wx`).
pub fn iso_name(cmdline: &str) -> String {
    if cmdline.is_empty() {
        return SMOKE_BIN.to_string();
    }
    let tail: String = cmdline
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{SMOKE_BIN}-{tail}")
}

/// Builds the smoke image and its ISO for `cmdline`.
pub fn build_iso(cmdline: &str) -> Result<PathBuf> {
    let elf = build_smoke()?;
    iso::build(&elf, cmdline, &out_dir("x86")?, &iso_name(cmdline))
}

/// Builds the hypervisor for the x86_64 scenario `scenario` (an absolute path) with
/// `rtvisor build` (the Multiboot2 ELF, target/x86/<stem>.elf) and its GRUB ISO
/// (target/x86/<stem>.iso, empty command line). A scenario that boots Debian's amd64
/// Linux gets its files (target/linux-x86/) first.
pub fn build_scenario_iso(scenario: &Path) -> Result<PathBuf> {
    if crate::linux::x86::needed_by(scenario) {
        crate::linux::x86::ensure(false)?;
    }
    let stem = scenario
        .file_stem()
        .context("the scenario has no file name")?
        .to_string_lossy()
        .into_owned();
    let dir = out_dir("x86")?;
    let elf = dir.join(format!("{stem}.elf"));
    say(format!(
        "building the x86_64 hypervisor for {} ...",
        scenario.display()
    ));
    let (_plan, span) = rtvisor::build::build(scenario, &elf, None)?;
    say(format!(
        "image {}: Multiboot2 ELF, load {:#x}, entry {:#x}, end {:#x}",
        elf.display(),
        span.load,
        span.entry,
        span.mem_end
    ));
    iso::build(&elf, "", &dir, &stem)
}

/// The QEMU command that boots `scenario`'s ISO (target/x86/<stem>.iso, as
/// [`build_scenario_iso`] makes it) with its devices: `demo --arch x86_64`'s
/// (`interactive`) or the system tests' (COM1 on stdio). `cargo xtask qemu-args`
/// prints it.
pub fn scenario_command(scenario: &Path, interactive: bool) -> Result<Command> {
    let stem = scenario
        .file_stem()
        .context("the scenario has no file name")?
        .to_string_lossy()
        .into_owned();
    let iso = out_dir("x86")?.join(format!("{stem}.iso"));
    let devices = machine::scenario_devices(scenario)?;
    Ok(match interactive {
        true => machine::qemu_interactive(&iso, &devices),
        false => machine::qemu(&iso, &devices),
    })
}

/// Whether `scenario` is for an x86_64 board (`rtvisor::scenario_arch`: its board
/// file's `arch`, read before the guests it names exist); `false` when it does not
/// read, so the aarch64 path reports the error.
pub fn is_x86_scenario(scenario: &Path) -> bool {
    rtvisor::scenario_arch(scenario) == Some(rtvisor_config::contract::Arch::X86_64)
}

/// Starts an emulator with its output piped; `input`: its stdin is piped too (the
/// console's input), else it has none.
fn start(c: &mut Command, input: bool) -> Result<Child> {
    say(show(c));
    c.stdin(if input { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", c.get_program().to_string_lossy()))
}

/// Starts `emu` on `iso` with its console captured; `tag` names its files. Bochs is
/// the T2 machine ([`machine::BochsSpec::T2`]); QEMU gets no devices.
pub fn spawn(emu: Emulator, iso: &Path, tag: &str) -> Result<Console> {
    spawn_on(emu, &machine::BochsSpec::T2, iso, &[], tag)
}

/// [`spawn`] with Bochs' RAM and clock from `bochs` (QEMU ignores it) and the QEMU
/// devices `devices` (a scenario's `[[qemu-device]]`; Bochs has none).
pub fn spawn_on(
    emu: Emulator,
    bochs: &machine::BochsSpec,
    iso: &Path,
    devices: &[rtvisor::qemu::Device],
    tag: &str,
) -> Result<Console> {
    match emu {
        Emulator::Qemu => {
            let child = start(&mut machine::qemu(iso, devices), true)?;
            Ok(Console::spawn(tag, child))
        }
        Emulator::Bochs => {
            let dir = out_dir("x86")?;
            let rc_path = dir.join(format!("{tag}.bochsrc"));
            let dbg = dir.join("bochs-debugger.rc");
            let log = dir.join(format!("{tag}.bochs.log"));
            let listener = follow::listen()?;
            let port = listener.local_addr()?.port();
            std::fs::write(&rc_path, machine::bochsrc_socket(bochs, iso, port, &log))?;
            std::fs::write(&dbg, machine::BOCHS_RC)?;
            let child = start(&mut machine::bochs(&rc_path, &dbg), false)?;
            follow::console(tag, child, &listener)
        }
    }
}

/// `cargo xtask x86`: build the ISO and boot it on this terminal's output.
pub fn command(emu: Emulator, cmdline: &str, timeout: f64) -> Result<()> {
    crate::setup::ensure_x86()?;
    let iso = build_iso(cmdline)?;
    let mut con = spawn(emu, &iso, &format!("run-{}", emu.name()))?;
    con.set_echo(true);
    let t = std::time::Duration::from_secs_f64(timeout);
    let _ = con.wait_for(|_| "the machine to stop".into(), t, |_| None::<()>);
    Ok(())
}

/// Runs one x86 system test, Bochs as `bochs` says; ISOs are built once per command
/// line.
pub fn run_test(
    t: &cases::X86Test,
    bochs: &machine::BochsSpec,
    timeouts: &Timeouts,
    verbose: bool,
    isos: &mut HashMap<&'static str, PathBuf>,
) -> Result<()> {
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: anyhow::Error| e.context(format!("FAILED {}: {what}", t.name))
    };
    let key = t.scenario.unwrap_or(t.cmdline);
    let iso = match isos.get(key) {
        Some(p) => p.clone(),
        None => {
            let p = match t.scenario {
                Some(s) => crate::image::build_x86_guests_only()
                    .and_then(|()| build_scenario_iso(&crate::util::root().join(s))),
                None => build_iso(t.cmdline),
            }
            .map_err(failed("building the ISO"))?;
            isos.insert(key, p.clone());
            p
        }
    };
    let devices = match t.scenario {
        Some(s) => machine::scenario_devices(&crate::util::root().join(s))
            .map_err(failed("reading the scenario's QEMU devices"))?,
        None => Vec::new(),
    };
    let mut con = spawn_on(t.emulator, bochs, &iso, &devices, t.name)?;
    con.set_log_file(out_dir("systest")?.join(format!("{}.log", t.name)));
    con.set_echo(verbose);
    for f in cases::line::FAILURES {
        con.fail_on(crate::console::Pattern::contains(*f));
    }
    (t.run)(&mut con, timeouts, t.emulator)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_names() {
        assert_eq!(super::iso_name(""), "x86-smoke");
        assert_eq!(super::iso_name("fault=wx"), "x86-smoke-fault-wx");
    }

    /// The board decides, before the guests a scenario names are built: a scenario
    /// whose kernels do not exist yet is still known as x86 (or not).
    #[test]
    fn x86_scenarios_are_known_by_their_board_before_a_build() {
        let dir = std::env::temp_dir().join(format!("rtvisor-x86-arch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let write = |name: &str, board: &str| {
            let p = dir.join(name);
            let b = root.join("boards").join(board);
            std::fs::write(
                &p,
                format!(
                    "board = \"{}\"\n[[vm]]\nname = \"a\"\nkernel = {{ path = \"missing.elf\", format = \"elf\" }}\n",
                    b.display()
                ),
            )
            .unwrap();
            p
        };
        assert!(super::is_x86_scenario(&write(
            "x86.toml",
            "qemu-q35-x86_64.toml"
        )));
        assert!(!super::is_x86_scenario(&write(
            "arm.toml",
            "qemu-virt-aarch64.toml"
        )));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
