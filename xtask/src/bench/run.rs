//! Running one benchmark configuration: its QEMU command line, its image, and one boot
//! watched by the console expect engine until `rtbench: bench done`.

use super::parse::{self, Results};
use super::{Config, Machine, FULL_ARGS};
use crate::console::{Console, Pattern};
use crate::image;
use crate::qemu;
use crate::systest::hv;
use crate::util::{out_dir, rel, root, say};
use crate::x86::X86Qemu;
use anyhow::{ensure, Context, Result};
use rtvisor::qemu::{Boot, ConsoleMode, CpuModel, Icount, QemuCommand};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The bare machine's memory.
const BARE_MEMORY_MIB: u64 = 512;

/// What QEMU boots: rtbench itself (bare, with `noise` CPUs of noise beside it) or a
/// hypervisor image built from a scenario of tests/bench/ (its board gives the machine).
#[derive(Debug, Clone)]
pub enum Target {
    Bare {
        bin: PathBuf,
        noise: usize,
        period_us: u64,
    },
    Image {
        bin: PathBuf,
        scenario: PathBuf,
    },
    /// rtbench-x86.elf on QEMU q35 (its command is [`x86_command`]).
    BareX86 {
        elf: PathBuf,
    },
    /// A GRUB ISO on an x86 emulator: the hypervisor built from an x86 scenario of
    /// tests/bench/, or rtbench-x86 itself (`super::x86`).
    X86 {
        iso: PathBuf,
        emulator: crate::x86::machine::Emulator,
    },
}

/// The x86 bare machine's command: rtbench-x86.elf on q35 under `-icount
/// shift=0,sleep=off`, console on stdio. Captured (`-display none -serial stdio`),
/// not `-nographic`: with no display SeaBIOS would print its banner on the serial
/// line, in front of rtbench's first line.
pub fn x86_command(elf: &Path, args: &str) -> X86Qemu {
    let mut q = X86Qemu::bare(elf, args);
    q.icount = Some(Icount::BENCH);
    q
}

/// The bare machine's `-smp`: the bench's two vCPUs plus the noise CPUs.
fn bare_smp(noise: usize) -> u32 {
    2 + noise as u32
}

/// The QEMU command (console on stdio; the caller sets up the pipes): a Cortex-A72
/// under `-icount shift=0,sleep=off`, bare at EL1 (GICv3, no EL2, 512 MiB) or the
/// hypervisor on its scenario's board.
pub fn command(target: &Target, args: &str) -> Result<QemuCommand> {
    let mut q = match target {
        Target::Bare {
            bin,
            noise,
            period_us,
        } => {
            let append = if *noise > 0 {
                format!("{args} noise-vcpus={noise} noise-period-us={period_us}")
            } else {
                args.to_owned()
            };
            let boot = Boot {
                kernel: bin.clone(),
                initrd: None,
                append: Some(append),
            };
            QemuCommand::bare(bare_smp(*noise), BARE_MEMORY_MIB, boot)
        }
        Target::Image { bin, scenario } => {
            qemu::for_scenario(scenario, bin, ConsoleMode::Interactive)?
        }
        Target::BareX86 { .. } | Target::X86 { .. } => {
            anyhow::bail!("an x86 target has its own command (x86_command, super::x86)")
        }
    };
    q.cpu = CpuModel::CortexA72;
    q.icount = Some(Icount::BENCH);
    Ok(q)
}

/// The scenario text to build for a run: `text` (a file of tests/bench/) with its
/// `../../` paths made absolute under `root` and the bench args replaced by `args`.
/// An `accounting` run's hypervisor is built with the interference accounting and
/// rtbench opens its window around the timer samples (`super::el2`); the default
/// build has neither, so its latency figures are the product's.
pub fn derive_scenario(text: &str, root: &Path, args: &str, accounting: bool) -> Result<String> {
    let n = text.matches(FULL_ARGS).count();
    ensure!(
        n == 1,
        "the scenario must hold the bench args {FULL_ARGS:?} exactly once (found {n})"
    );
    if !accounting {
        return Ok(absolute_paths(text, root).replace(FULL_ARGS, args));
    }
    ensure!(
        text.matches("[hypervisor]\n").count() == 1,
        "the scenario must have one [hypervisor] table"
    );
    let text = absolute_paths(text, root).replace(FULL_ARGS, &format!("{args} el2-window=1"));
    Ok(text.replacen("[hypervisor]\n", "[hypervisor]\naccounting = true\n", 1))
}

/// `text` (a scenario of tests/bench/) with its `"../../` paths made absolute under
/// `root`, for a copy built from another directory.
pub fn absolute_paths(text: &str, root: &Path) -> String {
    text.replace("\"../../", &format!("\"{}/", root.display()))
}

/// `args` with rtbench's IPI phase turned off.
pub fn without_ipi(args: &str) -> String {
    args.split_whitespace()
        .map(|t| if t.starts_with("ipi=") { "ipi=0" } else { t })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds what a configuration boots. The rtvisor image is built from a copy of its
/// scenario in target/bench/scenarios/ named after the configuration, so each gets its
/// own target/images/<name>[-accounting][-quick].bin. With `no_build`, the existing
/// image is used.
pub fn prepare(
    cfg: &Config,
    quick: bool,
    args: &str,
    no_build: bool,
    accounting: bool,
) -> Result<Target> {
    let file = match cfg.machine {
        Machine::Rtvisor(file) => file,
        Machine::RtvisorX86 { .. } | Machine::BareBochs => {
            return super::x86::prepare(cfg, quick, no_build, accounting)
        }
        Machine::BareX86 => {
            let elf = image::x86_guest("rtbench")?;
            ensure!(
                elf.is_file(),
                "{} does not exist (cargo xtask build --guests-only)",
                rel(&elf)
            );
            return Ok(Target::BareX86 { elf });
        }
        Machine::Bare { noise, period_us } => {
            let bin = root().join("target/guests/rtbench.bin");
            ensure!(
                bin.is_file(),
                "{} does not exist (cargo xtask build --guests-only)",
                rel(&bin)
            );
            return Ok(Target::Bare {
                bin,
                noise,
                period_us,
            });
        }
    };
    let src = root().join("tests/bench").join(file);
    let text = std::fs::read_to_string(&src).with_context(|| format!("reading {}", rel(&src)))?;
    let args = if cfg.no_ipi {
        without_ipi(args)
    } else {
        args.to_owned()
    };
    let text = derive_scenario(&text, &root(), &args, accounting).with_context(|| rel(&src))?;
    let suffix = match (accounting, quick) {
        (false, false) => "",
        (false, true) => "-quick",
        (true, false) => "-accounting",
        (true, true) => "-accounting-quick",
    };
    let scenario = out_dir("bench/scenarios")?.join(format!("{}{suffix}.toml", cfg.name));
    let img = image::Image::for_scenario(&scenario)?;
    if no_build {
        ensure!(
            img.bin.is_file(),
            "{} does not exist; run without --no-build",
            rel(&img.bin)
        );
        return Ok(Target::Image {
            bin: img.bin,
            scenario: src,
        });
    }
    std::fs::write(&scenario, text).with_context(|| format!("writing {}", rel(&scenario)))?;
    let img = image::build_image(&scenario)
        .map_err(|e| e.context(format!("building the image for {}", rel(&src))))?;
    Ok(Target::Image {
        bin: img.bin,
        scenario: src,
    })
}

/// One boot of a configuration.
pub struct Run {
    /// The parsed results, or the failure report (what was awaited, why, last lines).
    pub result: Result<Results>,
    /// The rt VM's rtbench lines, VM prefix included (compared for determinism).
    pub lines: Vec<String>,
    /// Warnings that do not fail the run (the two clocks disagree).
    pub warnings: Vec<String>,
    pub secs: f64,
}

/// Boots `target` once and waits for `rtbench: bench done`; the console goes to `log`.
pub fn once(
    cfg: &Config,
    target: &Target,
    args: &str,
    log: PathBuf,
    timeout: Duration,
    verbose: bool,
) -> Run {
    let start = Instant::now();
    let launch = match target {
        Target::BareX86 { elf } => {
            let q = x86_command(elf, args);
            Ok((q.line(), q.command()))
        }
        Target::X86 { iso, emulator } => {
            return watch(
                cfg,
                super::x86::spawn(cfg.name, iso, *emulator),
                log,
                timeout,
                verbose,
                start,
            )
        }
        _ => command(target, args).map(|q| (q.line(), q.command())),
    };
    let spawned = launch.and_then(|(line, mut cmd)| {
        say(format!("bench {}: {line}", cfg.name));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `{line}`"))
    });
    watch(
        cfg,
        spawned.map(|child| Console::spawn(cfg.name, child)),
        log,
        timeout,
        verbose,
        start,
    )
}

/// Watches a started run's console (or reports why it did not start) until `rtbench:
/// bench done`, then parses its lines.
fn watch(
    cfg: &Config,
    con: Result<Console>,
    log: PathBuf,
    timeout: Duration,
    verbose: bool,
    start: Instant,
) -> Run {
    let mut con = match con {
        Ok(c) => c,
        Err(e) => {
            return Run {
                result: Err(e),
                lines: Vec::new(),
                warnings: Vec::new(),
                secs: 0.0,
            }
        }
    };
    con.set_log_file(log);
    con.set_echo(verbose);
    for f in hv::FATAL {
        con.fail_on(Pattern::contains(*f));
    }
    if matches!(cfg.machine, Machine::RtvisorX86 { .. }) {
        for f in crate::x86::cases::line::FAILURES {
            con.fail_on(Pattern::contains(*f));
        }
    }
    let prefix = cfg.prefix();
    let done = format!("{prefix}{}", parse::DONE);
    let stopped = hv::stopped(super::RT_VM);
    let waited = con.wait_for(
        |_| format!("{done:?}"),
        timeout,
        |c| {
            c.log().iter().enumerate().find_map(|(i, l)| {
                if *l == done {
                    Some(Ok(()))
                } else if l.contains(parse::DIAG) {
                    Some(Err(format!(
                        "console line {} is a diagnostic: {l:?}",
                        i + 1
                    )))
                } else if !prefix.is_empty() && stopped.is_match(l) {
                    Some(Err(format!(
                        "console line {}: the rt VM stopped: {l:?}",
                        i + 1
                    )))
                } else {
                    None
                }
            })
        },
    );
    let result = match waited {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(con.fail(&format!("{done:?}"), &why)),
        Err(e) => Err(e),
    };
    // The noisy neighbour never stops: end QEMU here (dropping also writes the log).
    con.kill();
    let proto = format!("{prefix}rtbench");
    let lines: Vec<String> = con
        .log()
        .iter()
        .filter(|l| l.starts_with(&proto))
        .cloned()
        .collect();
    let result = result.and_then(|()| {
        let own: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .collect();
        parse::results(&own)
            .map_err(|e| con.fail("the benchmark's result lines", &format!("{e:#}")))
    });
    // The hypervisor's report of the timer window (rtvisor configurations).
    let result = result.and_then(|mut r| {
        if let Some(l) = super::el2::find(con.log(), super::RT_VM) {
            r.el2 =
                Some(super::el2::parse(l).map_err(|e| {
                    con.fail("the hypervisor's el2 window line", &format!("{e:#}"))
                })?);
        }
        Ok(r)
    });
    let warnings = result
        .as_ref()
        .map(|r| super::x86::crosscheck(cfg.machine, r))
        .unwrap_or_default();
    Run {
        result,
        lines,
        warnings,
        secs: start.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_the_specified_machines() {
        let line = |t: &Target| {
            let mut q = command(t, FULL_ARGS).unwrap();
            q.program = rtvisor::qemu::QEMU.into();
            q.line()
        };
        let bare = |noise, period_us| {
            let bin = PathBuf::from("/r/rtbench.bin");
            line(&Target::Bare {
                bin,
                noise,
                period_us,
            })
        };
        assert_eq!(
            bare(0, 0),
            "qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72 -icount shift=0,sleep=off \
             -smp 2 -m 512M -no-reboot -nographic -nic none -kernel /r/rtbench.bin \
             -append 'mode=bench period-us=100 samples=1000 hvc=1000 ipi=1000 unknown=1000 \
             gicd=1000'"
        );
        assert_eq!(
            bare(2, 7),
            "qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72 -icount shift=0,sleep=off \
             -smp 4 -m 512M -no-reboot -nographic -nic none -kernel /r/rtbench.bin \
             -append 'mode=bench period-us=100 samples=1000 hvc=1000 ipi=1000 unknown=1000 \
             gicd=1000 noise-vcpus=2 noise-period-us=7'"
        );
        let hv = Target::Image {
            bin: "/i/x.bin".into(),
            scenario: root().join("tests/bench/direct.toml"),
        };
        assert_eq!(
            line(&hv),
            "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a72 \
             -icount shift=0,sleep=off -smp 4 -m 2G -no-reboot -nographic -nic none \
             -semihosting-config enable=on,target=gdb -kernel /i/x.bin"
        );
    }

    #[test]
    fn derived_scenarios_use_absolute_paths_and_the_run_args() {
        let text = "board = \"../../boards/b.toml\"\n\
                    [hypervisor]\n\
                    kernel = { path = \"../../target/guests/rtbench.bin\" }\n\
                    bootargs = \"mode=bench period-us=100 samples=1000 hvc=1000 ipi=1000 \
                    unknown=1000 gicd=1000 smc=1000\"\n\
                    bootargs = \"mode=noise\"\n";
        let out = derive_scenario(text, Path::new("/w"), super::super::QUICK_ARGS, false).unwrap();
        assert_eq!(
            out,
            "board = \"/w/boards/b.toml\"\n\
             [hypervisor]\n\
             kernel = { path = \"/w/target/guests/rtbench.bin\" }\n\
             bootargs = \"mode=bench period-us=100 samples=100 hvc=100 ipi=50 unknown=100 \
             gicd=100 smc=1000\"\n\
             bootargs = \"mode=noise\"\n"
        );
        let acct =
            derive_scenario(text, Path::new("/w"), super::super::ACCOUNTING_ARGS, true).unwrap();
        assert!(
            acct.contains("[hypervisor]\naccounting = true\nkernel"),
            "{acct}"
        );
        assert!(
            acct.contains(&format!(
                "{} el2-window=1 smc=1000\"",
                super::super::ACCOUNTING_ARGS
            )),
            "{acct}"
        );
        assert!(derive_scenario("bootargs = \"mode=noise\"", Path::new("/w"), "x", false).is_err());
        assert_eq!(
            without_ipi(FULL_ARGS),
            "mode=bench period-us=100 samples=1000 hvc=1000 ipi=0 unknown=1000 gicd=1000"
        );
    }

    #[test]
    fn the_bench_scenarios_derive() {
        for c in super::super::CONFIGS {
            if let Machine::Rtvisor(f) = c.machine {
                let text = std::fs::read_to_string(root().join("tests/bench").join(f)).unwrap();
                let out = derive_scenario(&text, &root(), super::super::QUICK_ARGS, false).unwrap();
                assert!(
                    out.contains("samples=100 hvc=100 ipi=50 unknown=100"),
                    "{f}"
                );
                assert!(
                    !out.contains("el2-window") && !out.contains("accounting"),
                    "{f}"
                );
                let acct =
                    derive_scenario(&text, &root(), super::super::ACCOUNTING_ARGS, true).unwrap();
                assert!(acct.contains("el2-window=1"), "{f}");
                assert!(acct.contains("[hypervisor]\naccounting = true\n"), "{f}");
                assert!(!out.contains("\"../"), "{f}");
                assert_eq!(
                    out.contains("mode=noise") || out.contains("mode=storm"),
                    c.name.ends_with("-noisy"),
                    "{f}"
                );
                assert_eq!(out.contains("mode=storm"), c.name.contains("-probe"), "{f}");
                let mode = if c.name.contains("direct") {
                    "direct"
                } else {
                    "virtual"
                };
                assert!(out.contains(&format!("interrupt-mode = \"{mode}\"")), "{f}");
            }
        }
    }
}
