//! xtask: build, image assembly, QEMU runner and tests for rtvisor.
//!
//! `cargo xtask <command>` (an alias in .cargo/config.toml). Every command that needs
//! QEMU or the bare-metal Rust target installs what is missing first (`setup`).

mod bench;
mod cmdlines;
mod console;
mod image;
mod linux;
mod qemu;
mod setup;
mod systest;
mod testrun;
mod uboot;
mod unit;
mod util;
mod x86;

use anyhow::Result;
use clap::{Parser, Subcommand};
use rtvisor::qemu::{ConsoleMode, QemuCommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use util::{resolve, root, say};

/// The scenario `demo` and `build` use when none is given.
pub(crate) const DEMO_SCENARIO: &str = "scenarios/demo.toml";

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, run and test rtvisor",
    version
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing: QEMU, the x86 emulators and ISO tools (apt-get, as root)
    /// and the bare-metal Rust targets.
    Setup {
        /// Then remove the packages QEMU recommends that xtask never installs
        /// (ipxe-qemu, ...), as on a fresh machine; CI does this (root only).
        #[arg(long)]
        fresh: bool,
    },
    /// Build the guests and the hypervisor image for a scenario (default: scenarios/demo.toml);
    /// for an x86_64 board, the Multiboot2 ELF and its GRUB ISO (target/x86/<stem>.iso).
    Build {
        scenario: Option<PathBuf>,
        /// Only build the guests (target/guests/).
        #[arg(long)]
        guests_only: bool,
    },
    /// Build a scenario and boot it under QEMU on this terminal (quit with Ctrl-A X):
    /// QEMU virt for an aarch64 board, q35 (AMD-V) from its GRUB ISO for an x86_64 one.
    Run {
        scenario: PathBuf,
        #[command(flatten)]
        boot: Boot,
    },
    /// Build everything and boot the demo scenario until you quit (Ctrl-A X).
    Demo {
        /// Scenario to boot instead of scenarios/demo.toml (or, with `--arch x86_64`,
        /// scenarios/x86-demo.toml).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// aarch64 (the default without `--scenario`), or x86_64: the x86 demo on QEMU
        /// q35 (AMD-V), booted from its GRUB ISO. With `--scenario` the scenario's board
        /// decides; `--arch` must then agree with it.
        #[arg(long, value_name = "ARCH")]
        arch: Option<DemoArch>,
        #[command(flatten)]
        boot: Boot,
    },
    /// Run every test tier that exists: host unit/golden tests, the arch-boundary check,
    /// and the QEMU system tests. Ends with the line `N passed, M failed`.
    Test {
        /// Run only the test with this exact name, or else those whose name contains it.
        #[arg(long, value_name = "NAME")]
        filter: Option<String>,
        /// List the tests and exit.
        #[arg(long)]
        list: bool,
        /// Echo every console line of the system tests as it arrives.
        #[arg(short, long)]
        verbose: bool,
        /// Multiply every system-test timeout (slow or busy machines).
        #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
        timeout_scale: f64,
        /// Do not build: boot the images already in target/images/ (quick re-runs).
        #[arg(long)]
        no_build: bool,
        /// Run the slow tier too (Debian's amd64 Linux on Bochs, VT-x: about 4 minutes
        /// on 2 cores; docs/x86.md "On VT-x"). Without it, slow tests are listed but not run.
        #[arg(long)]
        slow: bool,
    },
    /// The T4 latency benchmark (docs/benchmark.md): rtbench bare and under rtvisor
    /// under `-icount shift=0,sleep=off`; writes target/bench/latency.{json,md}, an SVG
    /// histogram and the console log per configuration; fails if a run or a budget fails.
    Bench {
        /// CI check of the machinery and determinism (not the budgets): fewer samples,
        /// bare + rtvisor-virtual + rtvisor-direct, each booted twice; target/bench/quick/.
        #[arg(long)]
        quick: bool,
        /// Only these configurations (repeatable or comma-separated), e.g. bare,
        /// rtvisor-virtual, rtvisor-direct, doorbell, linux, bare-x86, rtvisor-svm-x86,
        /// doorbell-svm-x86; an unknown name is refused with the list of every name.
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Boot every configuration twice and require byte-identical rtbench output.
        #[arg(long)]
        repeat: bool,
        /// Seconds to wait for `rtbench: bench done` per boot (default 300, --quick 50).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Echo every console line as it arrives.
        #[arg(short, long)]
        verbose: bool,
        /// Do not build: boot the guests and images already in target/.
        #[arg(long)]
        no_build: bool,
        /// The slow tier too: Debian's amd64 Linux booted bare and under rtvisor on
        /// Bochs (VT-x), `linux-x86-intel` (a few wall minutes a boot).
        #[arg(long)]
        slow: bool,
    },
    /// Fetch Debian's arm64 kernel and busybox with a private apt state and build the
    /// guest Image, initramfs and ext4 disk into target/linux/ (cached: offline after
    /// the first run). Prints their paths and the kernel release.
    Linux {
        /// Fetch again even when target/linux/ has everything.
        #[arg(long)]
        refresh: bool,
        /// Boot the kernel bare under QEMU, check its shell and print the boot time.
        #[arg(long)]
        boot_bare: bool,
        /// Seconds the bare boot may take in all (boot, commands, power-off).
        #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
        timeout: f64,
        /// Echo the guest console as it arrives.
        #[arg(short, long)]
        verbose: bool,
        /// Debian's amd64 kernel and busybox instead: the PVH vmlinux (out of the
        /// bzImage) and the initramfs, into target/linux-x86/.
        #[arg(long, conflicts_with = "boot_bare")]
        x86: bool,
    },
    /// Fetch Debian's U-Boot for QEMU virt (u-boot-qemu, with the private apt state of
    /// `linux`) and build its boot disk (the Linux guest's Image and initramfs on ext4)
    /// into target/u-boot/ (cached). Prints their paths.
    UBoot {
        /// Fetch again even when target/u-boot/ has everything.
        #[arg(long)]
        refresh: bool,
    },
    /// Turn a hypervisor ELF into target/images/<stem>.{elf,bin} as the build does,
    /// checking the arm64 Image header (for a hypervisor built by other means).
    Image { elf: PathBuf },
    /// Build the x86_64 smoke image and its GRUB ISO (target/x86/) and boot it on QEMU
    /// q35 (AMD-V) or Bochs (Intel VT-x), console on this terminal (docs/x86.md).
    X86 {
        /// qemu (q35, AMD-V) or bochs (VT-x).
        #[arg(long, default_value = "qemu")]
        emulator: x86::machine::Emulator,
        /// The image's command line (e.g. `fault=wx`).
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Stop the emulator after this many seconds if it has not stopped by itself.
        #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
        timeout: f64,
    },
    /// Print the QEMU command line for a scenario's image (default: scenarios/demo.toml;
    /// for an x86_64 scenario, its ISO on q35), or with --all every command line the
    /// project builds.
    QemuArgs {
        scenario: Option<PathBuf>,
        /// Use the ELF form of the image.
        #[arg(long)]
        elf: bool,
        /// The captured form used by the tests (serial on stdout, no monitor).
        #[arg(long)]
        captured: bool,
        /// Every command line the project builds (demo, run, system tests, bench,
        /// bare Linux, `rtvisor run`), one per line after its name.
        #[arg(long, conflicts_with_all = ["scenario", "elf", "captured"])]
        all: bool,
    },
}

#[derive(clap::Args)]
struct Boot {
    /// Boot the ELF form of the image instead of the raw arm64 Image.
    #[arg(long)]
    elf: bool,
    /// Stop QEMU after this many seconds (output stays live; exits 0).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// The CPU model: max (default) or cortex-a72 (the benchmark's).
    #[arg(long, value_name = "MODEL")]
    cpu: Option<rtvisor::qemu::CpuModel>,
    /// Deterministic virtual clock, as the benchmark runs: shift=N,sleep=on|off
    /// (1 instruction = 2^N ns; `--icount 0` is the benchmark's shift=0,sleep=off).
    #[arg(long, value_name = "SPEC")]
    icount: Option<rtvisor::qemu::Icount>,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true)]
    qemu_args: Vec<String>,
}

/// The architecture `demo` boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DemoArch {
    Aarch64,
    #[value(name = "x86_64")]
    X86_64,
}

fn scenario_or_demo(s: Option<&Path>) -> Result<PathBuf> {
    match s {
        Some(p) => resolve(p),
        None => resolve(&root().join(DEMO_SCENARIO)),
    }
}

/// Builds the guests (and the Debian guest, when the scenario boots it) and the image.
fn build(scenario: &Path) -> Result<image::Image> {
    setup::ensure_all()?;
    image::build_guests()?;
    if linux::needed_by(scenario) {
        linux::ensure(false)?;
    }
    if uboot::needed_by(scenario) {
        uboot::ensure(false)?;
    }
    image::build_image(scenario)
}

/// Builds the x86_64 guests, the hypervisor for the x86_64 scenario `scenario` and
/// its GRUB ISO (target/x86/<stem>.iso).
fn build_x86(scenario: &Path) -> Result<()> {
    setup::ensure_x86()?;
    image::build_x86_guests_only()?;
    x86::build_scenario_iso(scenario).map(drop)
}

/// The QEMU command `run` and `demo` start for `scenario`'s image `img`.
fn boot_command(scenario: &Path, img: &image::Image, opts: &Boot) -> Result<QemuCommand> {
    let console = match opts.duration {
        Some(_) => ConsoleMode::Captured,
        None => ConsoleMode::Interactive,
    };
    let mut q = qemu::for_scenario(scenario, img.pick(opts.elf), console)?;
    if let Some(cpu) = opts.cpu {
        q.cpu = cpu;
    }
    q.icount = opts.icount;
    q.extra = opts.qemu_args.clone();
    Ok(q)
}

/// Boots `scenario` on its board's architecture (`run`, `demo`); `arch`, `demo`'s
/// `--arch` when given, must agree with the board.
fn boot_any(scenario: &Path, arch: Option<DemoArch>, opts: &Boot) -> Result<()> {
    let x86 = x86::is_x86_scenario(scenario);
    let shown = util::rel(scenario);
    match (arch, x86) {
        (Some(DemoArch::X86_64), false) => anyhow::bail!(
            "{shown}: its board is an aarch64 machine, not x86_64: leave out `--arch x86_64`, \
             or give an x86_64 scenario (e.g. scenarios/x86-demo.toml)"
        ),
        (Some(DemoArch::Aarch64), true) => anyhow::bail!(
            "{shown}: its board is an x86_64 machine: use `--arch x86_64` or leave out `--arch`"
        ),
        _ => {}
    }
    if !x86 {
        return boot(scenario, opts);
    }
    let refused = [
        (
            opts.elf,
            "--elf (the x86 image is always the Multiboot2 ELF on a GRUB ISO)",
        ),
        (
            opts.cpu.is_some(),
            "--cpu (q35 runs `-cpu max`, the only model with AMD-V under TCG)",
        ),
        (
            opts.icount.is_some(),
            "--icount (pass `-- -icount shift=0,sleep=off` instead)",
        ),
    ];
    if let Some((_, what)) = refused.iter().find(|r| r.0) {
        anyhow::bail!("{shown} is an x86_64 scenario: {what} is for aarch64 boots only");
    }
    x86::demo::run(
        scenario,
        &opts.qemu_args,
        opts.duration.map(Duration::from_secs),
    )
}

fn boot(scenario: &Path, opts: &Boot) -> Result<()> {
    let img = build(scenario)?;
    let q = boot_command(scenario, &img, opts)?;
    match opts.duration {
        Some(secs) => qemu::run_for(&q, Duration::from_secs(secs)),
        None => qemu::run_interactive(&q),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Setup { fresh } => setup::ensure_all()
            .and_then(|()| if fresh { setup::fresh() } else { Ok(()) })
            .map(|()| say("setup complete")),
        Cmd::Build {
            scenario,
            guests_only,
        } => {
            if guests_only {
                setup::ensure_all().and_then(|()| image::build_guests())
            } else {
                scenario_or_demo(scenario.as_deref()).and_then(|s| {
                    if x86::is_x86_scenario(&s) {
                        build_x86(&s)
                    } else {
                        build(&s).map(drop)
                    }
                })
            }
        }
        Cmd::Run { scenario, boot: b } => resolve(&scenario).and_then(|s| boot_any(&s, None, &b)),
        Cmd::Demo {
            scenario,
            arch,
            boot: b,
        } => {
            let s = match (scenario, arch) {
                (Some(s), _) => s,
                (None, Some(DemoArch::X86_64)) => root().join(x86::demo::X86_DEMO),
                (None, _) => root().join(DEMO_SCENARIO),
            };
            resolve(&s).and_then(|s| boot_any(&s, arch, &b))
        }
        Cmd::Test {
            filter,
            list,
            verbose,
            timeout_scale,
            no_build,
            slow,
        } => {
            let opts = testrun::Options {
                filter,
                list,
                verbose,
                timeout_scale,
                no_build,
                slow,
            };
            match testrun::run(&opts) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
        Cmd::Bench {
            quick,
            only,
            repeat,
            timeout,
            verbose,
            no_build,
            slow,
        } => {
            let opts = bench::Options {
                quick,
                only,
                repeat,
                timeout,
                verbose,
                no_build,
                slow,
            };
            match bench::run(&opts) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
        Cmd::Linux {
            refresh, x86: true, ..
        } => linux::x86::command(refresh),
        Cmd::Linux {
            refresh,
            boot_bare,
            timeout,
            verbose,
            x86: false,
        } => linux::command(&linux::Options {
            refresh,
            boot_bare,
            timeout: Duration::from_secs_f64(timeout),
            verbose,
        }),
        Cmd::UBoot { refresh } => uboot::command(refresh),
        Cmd::X86 {
            emulator,
            cmdline,
            timeout,
        } => x86::command(emulator, &cmdline, timeout),
        Cmd::Image { elf } => resolve(&elf).and_then(|elf| {
            let img = image::Image::for_scenario(&elf)?;
            image::make_image(&elf, &img)
        }),
        Cmd::QemuArgs {
            scenario,
            elf,
            captured,
            all,
        } => {
            if all {
                return match cmdlines::every_command_line() {
                    Ok(lines) => {
                        for (name, q) in lines {
                            println!("{name}: {}", q.line());
                        }
                        match cmdlines::every_x86_command_line() {
                            Ok(x86) => {
                                for (name, q) in x86 {
                                    println!("{name}: {}", q.line());
                                }
                            }
                            Err(e) => {
                                eprintln!("[xtask] error: {e:#}");
                                return ExitCode::FAILURE;
                            }
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("[xtask] error: {e:#}");
                        ExitCode::FAILURE
                    }
                };
            }
            let console = if captured {
                ConsoleMode::Captured
            } else {
                ConsoleMode::Interactive
            };
            scenario_or_demo(scenario.as_deref()).and_then(|s| {
                if x86::is_x86_scenario(&s) {
                    let c = x86::scenario_command(&s, !captured)?;
                    println!("{}", util::show(&c));
                    return Ok(());
                }
                let img = image::Image::for_scenario(&s)?;
                println!("{}", qemu::for_scenario(&s, img.pick(elf), console)?.line());
                Ok(())
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[xtask] error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
