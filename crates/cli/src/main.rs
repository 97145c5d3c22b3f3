//! `rtvisor`: the host command of the rtvisor hypervisor (see the library's docs).
#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rtvisor::{build, check_plan, inspect, inspect_acpi, interrupt_map, render, run, Reported};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "rtvisor",
    version,
    about = "Build, check and run rtvisor scenarios"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Board descriptions.
    Board {
        #[command(subcommand)]
        cmd: BoardCmd,
    },
    /// Validate a scenario and print its resolved memory, CPU and interrupt map.
    Check {
        /// The scenario file.
        scenario: PathBuf,
    },
    /// Build the bootable image of a scenario and print its layout.
    Build {
        /// The scenario file.
        scenario: PathBuf,
        /// Where to write the raw image.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Build an aarch64 scenario and boot it under QEMU (qemu-system-aarch64); an
    /// x86_64 one is refused with the command that boots it (`cargo xtask run`).
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Stop QEMU after this many seconds (default: run until it exits).
        #[arg(long, value_name = "S")]
        duration: Option<f64>,
    },
}

#[derive(Debug, Subcommand)]
enum BoardCmd {
    /// Write a board file from a flattened device tree (.dtb), or for an x86 PC from
    /// its ACPI tables and memory map as Linux exposes them.
    Inspect {
        /// The device tree blob, e.g. from QEMU `-M virt,dumpdtb=virt.dtb`.
        #[arg(long, required_unless_present = "acpi", conflicts_with_all = ["acpi", "memmap"])]
        dtb: Option<PathBuf>,
        /// x86: a directory of ACPI tables named by signature
        /// (`/sys/firmware/acpi/tables`).
        #[arg(long, requires = "memmap")]
        acpi: Option<PathBuf>,
        /// x86: the firmware memory map (`/sys/firmware/memmap`).
        #[arg(long, requires = "acpi")]
        memmap: Option<PathBuf>,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Board name (default: derived from the root `model` or `compatible`).
        #[arg(long)]
        name: Option<String>,
        /// Also list MMIO devices other than virtio-mmio transports (review them:
        /// only pass through what a guest can own alone). Device trees only.
        #[arg(long, conflicts_with = "acpi")]
        all_devices: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.cmd) {
        Ok(code) => code,
        Err(e) if e.is::<Reported>() => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Board {
            cmd:
                BoardCmd::Inspect {
                    dtb: None,
                    acpi: Some(acpi),
                    memmap: Some(memmap),
                    output,
                    name,
                    ..
                },
        } => {
            let board = inspect_acpi::inspect(&acpi, &memmap, name)?;
            let source = format!(
                "the ACPI tables in {} and the memory map in {}",
                acpi.display(),
                memmap.display()
            );
            let text = render::x86_board_toml(&board, &source);
            match output {
                Some(out) => {
                    std::fs::write(&out, &text)
                        .with_context(|| format!("writing {}", out.display()))?;
                    eprintln!(
                        "wrote {}: {} CPUs, {} RAM banks, {} I/O APICs, {} UARTs",
                        out.display(),
                        board.cpus.len(),
                        board.ram.len(),
                        board.io_apics.len(),
                        board.uarts.len()
                    );
                }
                None => print!("{text}"),
            }
            for n in &board.notes {
                eprintln!("note: {n}");
            }
        }
        Cmd::Board {
            cmd:
                BoardCmd::Inspect {
                    dtb,
                    output,
                    name,
                    all_devices,
                    ..
                },
        } => {
            let dtb = dtb.context("give --dtb FILE, or --acpi DIR and --memmap DIR")?;
            let blob = std::fs::read(&dtb).with_context(|| format!("reading {}", dtb.display()))?;
            let opts = inspect::Options { name, all_devices };
            let board =
                inspect::inspect(&blob, &opts).with_context(|| dtb.display().to_string())?;
            let text = render::board_toml(&board, &dtb.display().to_string());
            if board.llc.is_none() {
                eprintln!(
                    "note: the device tree describes no caches: for cache coloring, add [llc] \
                     from the CPU's CLIDR_EL1/CCSIDR_EL1 (the hypervisor logs them at boot: \
                     `llc: ...`; docs/scenario.md)"
                );
            }
            match output {
                Some(out) => {
                    std::fs::write(&out, &text)
                        .with_context(|| format!("writing {}", out.display()))?;
                    eprintln!(
                        "wrote {}: {} CPUs, {} RAM banks, {} UARTs, {} devices",
                        out.display(),
                        board.cpus.len(),
                        board.ram.len(),
                        board.uarts.len(),
                        board.devices.len()
                    );
                }
                None => print!("{text}"),
            }
        }
        Cmd::Check { scenario } => {
            let plan = check_plan(&scenario)?;
            print!("{}", plan.map());
            print!("{}", interrupt_map(&plan));
            println!("ok: {} is valid", scenario.display());
        }
        Cmd::Build { scenario, output } => {
            let (plan, raw) = build::build(&scenario, &output, None)?;
            print!("{}", build::layout(&plan, &raw, &output));
        }
        Cmd::Run { scenario, duration } => return run::run(&scenario, duration),
    }
    Ok(ExitCode::SUCCESS)
}
