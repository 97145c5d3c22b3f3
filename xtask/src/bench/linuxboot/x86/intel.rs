//! The VT-x Linux boot rows of `cargo xtask bench --slow` (the slow tier, as
//! `cargo xtask test --slow`): the x86 rows' kernel, initramfs and scenario on Bochs
//! (Intel VT-x), the slow tier's Linux machine ([`BOCHS`]: 4 CPUs, 1 GiB,
//! `ips=20000000`, `clock: sync=none`), bare and under rtvisor, both booted by GRUB
//! from an ISO:
//!
//! ```text
//! linux-x86-intel-bare     GRUB booting Debian's bzImage and the initramfs (`linux`,
//!                          `initrd`), held to the VM's 1 CPU and 256 MiB by
//!                          `nr_cpus=1 mem=256M`, the TSC rate given as Bochs' `ips`
//! linux-x86-intel-rtvisor  tests/bench/linux-x86.toml (the VM alone on CPU 1, 256 MiB):
//!                          the AMD-V row's ISO, target/x86/linux-x86-rtvisor.iso
//! ```
//!
//! Bochs' clock is its instruction count: with `sync=none` a virtual second is `ips`
//! ticks of every CPU, and the TSC counts those ticks from power-on (an INIT leaves it
//! alone; rtvisor's VMs have a TSC offset of 0). So `/bin/vclock`'s TSC at `ips` Hz is
//! virtual time since Bochs started, BIOS, GRUB (and the hypervisor's boot) included,
//! the same from one run to the next. Each row is split at Linux's clock as the AMD-V
//! rows are (`report::split`); with `--repeat` each row boots twice and the two
//! figures must be the same tick. No accounting build is booted: one more boot under
//! rtvisor would add its wall time again.

use super::super::{boot_console, Boot1, InitAt, LinuxBoot, Row};
use crate::bench::budget::{Check, Verdict};
use crate::util::{rel, say};
use crate::x86::machine::{BochsSpec, Emulator};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const BARE: &str = "linux-x86-intel-bare";
pub const ALONE: &str = "linux-x86-intel-rtvisor";
/// The Bochs machine of both rows: the slow tier's Linux machine.
pub const BOCHS: BochsSpec = crate::x86::linux::BOCHS;
/// Why these rows have no breakdown of the hypervisor's entries.
pub const NO_BREAKDOWN: &str =
    "not measured on Bochs (an accounting build's boot would add its wall time again)";

/// The bare row's COM1 rate: the 16550's fastest (divisor 1).
const BAUD: u32 = 115_200;

/// The TSC's rate on [`BOCHS`]: Bochs runs it at `ips`.
pub fn tsc_hz() -> u64 {
    u64::from(BOCHS.ips)
}

/// The bare row's command line: the AMD-V rows' with the TSC rate Bochs runs it at
/// (the hypervisor's `{tsc-khz}` is its own measure of the same), held to the VM's
/// CPUs and RAM, and COM1 at 115200 baud. Bochs' 16550 sends at its baud rate in
/// virtual time, and `console=ttyS0` alone is 9600 baud: bare Linux's 22 KiB of boot
/// lines took 24 virtual seconds, where the VM's emulated COM1 takes each byte at once
/// (and the hypervisor's COM1 runs at 115200).
pub fn bootargs_bare() -> String {
    format!(
        "console=ttyS0,{BAUD} tsc=reliable tsc_early_khz={} cryptomgr.notests nr_cpus={} mem={}M",
        tsc_hz() / 1000,
        super::BARE_CPUS,
        super::BARE_MEMORY_MIB
    )
}

/// Builds the bare row's ISO (target/x86/linux-x86-intel-bare.iso).
fn bare_iso(l: &crate::linux::x86::LinuxX86, no_build: bool) -> Result<PathBuf> {
    let dir = crate::util::out_dir("x86")?;
    if no_build {
        let iso = dir.join(format!("{BARE}.iso"));
        anyhow::ensure!(
            iso.is_file(),
            "{} does not exist; run without --no-build",
            rel(&iso)
        );
        return Ok(iso);
    }
    crate::x86::iso::build_linux(&l.vmlinuz, &l.initramfs, &bootargs_bare(), &dir, BARE)
}

/// Boots `iso` on [`BOCHS`] until the vclock line; the virtual ns and where `/init`
/// began.
fn boot(
    name: &'static str,
    iso: &Path,
    log: &Path,
    timeout: Duration,
    verbose: bool,
) -> Result<(u64, Option<InitAt>)> {
    let b = Boot1 {
        name,
        log,
        timeout,
        verbose,
        stats: false,
        hz: Some(tsc_hz()),
    };
    say(format!(
        "bench {name}: Bochs ({} MiB, ips={}, 4 CPUs) booting {}",
        BOCHS.megs,
        BOCHS.ips,
        rel(iso)
    ));
    let con = crate::x86::spawn_on(Emulator::Bochs, &BOCHS, iso, &[], &format!("bench-{name}"))?;
    let (ns, init, _) = boot_console(&b, con)?;
    Ok((ns, init))
}

/// Whether two boots of row `name` reached `/init` and the ready line at the same
/// TSC tick (the figures are ns at [`tsc_hz`], so the same ns is the same tick).
pub fn determinism(
    name: &str,
    first: (u64, Option<InitAt>),
    second: &Result<(u64, Option<InitAt>), String>,
) -> Check {
    let what = format!("{name}: the same virtual time on two boots");
    let (verdict, detail) = match second {
        Err(e) => (Verdict::Fail, format!("the second boot failed: {e}")),
        Ok(s) if *s == first => (Verdict::Pass, format!("ready at {} ns both times", first.0)),
        Ok((ns, init)) => {
            let d = ns.abs_diff(first.0);
            let at = |i: Option<InitAt>| i.map_or("-".to_string(), |i| i.ns.to_string());
            (
                Verdict::Fail,
                format!(
                    "ready at {} / {ns} ns ({d} ns, {} ppm apart), /init at {} / {} ns",
                    first.0,
                    u128::from(d) * 1_000_000 / u128::from(first.0.max(1)),
                    at(first.1),
                    at(*init)
                ),
            )
        }
    };
    Check {
        what,
        verdict,
        detail,
    }
}

/// Runs the VT-x Linux boot rows: bare, then rtvisor, each twice with `repeat` (the
/// determinism checks). Console logs go to `dir/<name>.log` (`<name>.run2.log`).
pub fn measure(
    dir: &Path,
    no_build: bool,
    timeout: Duration,
    verbose: bool,
    repeat: bool,
) -> Result<(LinuxBoot, Vec<Check>)> {
    let l = crate::linux::x86::ensure(false)?;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for name in [BARE, ALONE] {
        say(format!("=== bench {name}"));
        let start = Instant::now();
        let iso = match name {
            BARE => bare_iso(&l, no_build),
            _ => super::rtvisor_iso(dir, no_build, false),
        };
        let log = dir.join(format!("{name}.log"));
        let got = iso
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .and_then(|iso| boot(name, iso, &log, timeout, verbose));
        let wall_s = start.elapsed().as_secs_f64();
        if let (true, Ok(iso), Ok(first)) = (repeat, &iso, &got) {
            say(format!("=== bench {name} (run 2)"));
            let log = dir.join(format!("{name}.run2.log"));
            let second = boot(name, iso, &log, timeout, verbose)
                .map_err(|e| format!("{e:#}").lines().next().unwrap_or("").to_string());
            let c = determinism(name, *first, &second);
            println!("bench {name} (run 2): {}", c.detail);
            checks.push(c);
        }
        rows.push(Row::from_boot(name, got, wall_s));
    }
    let b = LinuxBoot {
        rows,
        breakdown: Err(NO_BREAKDOWN.into()),
    };
    Ok((b, checks))
}

/// The VT-x rows of a bench run: whether both boots worked, the markdown section, the
/// latency.json objects and the budget table's rows (the ratio, with `repeat` the
/// determinism checks).
pub fn rows(
    dir: &Path,
    no_build: bool,
    timeout: Duration,
    verbose: bool,
    repeat: bool,
) -> (bool, String, Vec<String>, Vec<Check>) {
    match measure(dir, no_build, timeout, verbose, repeat) {
        Ok((b, same)) => (
            b.rows.iter().all(|r| r.ns.is_ok()),
            markdown(&b),
            json_rows(&b),
            report(Some(&b)).into_iter().chain(same).collect(),
        ),
        Err(e) => {
            println!("bench {BARE}, {ALONE} ... FAILED\n{e:#}");
            (false, String::new(), Vec::new(), report(None))
        }
    }
}

mod report;
pub use report::{json_rows, markdown, report};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_is_the_vms_cpus_and_ram_at_bochs_tsc_rate() {
        assert_eq!(
            bootargs_bare(),
            "console=ttyS0,115200 tsc=reliable tsc_early_khz=20000 cryptomgr.notests nr_cpus=1 mem=256M"
        );
        // The AMD-V rows' command line but for the TSC's rate and COM1's.
        let amd = super::super::bootargs_bare_grub()
            .replace("1000000", "20000")
            .replace("ttyS0", "ttyS0,115200");
        assert_eq!(bootargs_bare(), amd);
        assert_eq!(tsc_hz(), 20_000_000);
    }

    #[test]
    fn two_boots_agree_only_to_the_tick() {
        let at = Some(InitAt {
            ns: 90_000_000_000,
            uptime_ms: 32_310,
        });
        let first = (120_000_000_000, at);
        let same = determinism(BARE, first, &Ok(first));
        assert_eq!(same.verdict, Verdict::Pass, "{}", same.detail);
        assert!(same
            .what
            .contains("linux-x86-intel-bare: the same virtual time"));
        // One tick at 20 MHz is 50 ns.
        let off = determinism(BARE, first, &Ok((120_000_000_050, at)));
        assert_eq!(off.verdict, Verdict::Fail);
        assert!(
            off.detail.contains("(50 ns, 0 ppm apart)"),
            "{}",
            off.detail
        );
        let late = determinism(ALONE, first, &Ok((120_120_000_000, at)));
        assert!(late.detail.contains("1000 ppm"), "{}", late.detail);
        let failed = determinism(ALONE, first, &Err("timed out".into()));
        assert_eq!(failed.verdict, Verdict::Fail);
        assert!(failed.detail.contains("timed out"));
    }

    /// Both rows boot on the slow tier's Linux machine, with its deterministic clock.
    #[test]
    fn both_rows_boot_on_the_slow_tiers_linux_machine() {
        assert_eq!(BOCHS, crate::x86::slow::TESTS[0].bochs);
        let rc =
            crate::x86::machine::bochsrc_socket(&BOCHS, Path::new("x.iso"), 1, Path::new("log"));
        assert!(rc.contains("megs: 1024\n"), "{rc}");
        assert!(rc.contains("count=4, ips=20000000"), "{rc}");
        assert!(rc.contains("clock: sync=none, time0=1\n"), "{rc}");
    }
}
