//! `cargo xtask demo --arch x86_64`: the x86 demo scenario on QEMU q35 (AMD-V) on this
//! terminal (Debian's amd64 Linux is fetched first, `cargo xtask linux --x86`). COM1 and QEMU's monitor share stdio (`-serial mon:stdio`): what is typed
//! goes to the hypervisor shell (or to the VM that has the console; Ctrl-] returns
//! to the shell), Ctrl-A X quits QEMU, Ctrl-A C its monitor.

use super::machine;
use crate::util::{say, show};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The scenario the x86 demo boots: `rt` (LAPIC pass-through) beside Debian's Linux.
pub const X86_DEMO: &str = "scenarios/x86-demo.toml";
/// The demo with rtbench in both VMs (no Linux to fetch): the system test's.
pub const X86_DEMO_RTBENCH: &str = "scenarios/x86-demo-rtbench.toml";

/// Builds `scenario`'s ISO and boots it on this terminal until QEMU ends, or for
/// `duration` (then QEMU is stopped; its output stays live).
pub fn run(scenario: &Path, extra: &[String], duration: Option<Duration>) -> Result<()> {
    crate::setup::ensure_x86()?;
    crate::image::build_x86_guests_only()?;
    let iso = super::build_scenario_iso(scenario)?;
    let mut c = machine::qemu_interactive(&iso, &machine::scenario_devices(scenario)?);
    c.args(extra);
    say(format!("starting: {}", show(&c)));
    say("COM1 is this terminal: the hypervisor shell answers at `[rtvisor] >`; Ctrl-] returns to it from a VM; quit with Ctrl-A X");
    match duration {
        None => {
            let status = c.status().context("starting QEMU")?;
            if !status.success() {
                bail!("QEMU ended with {status}");
            }
            Ok(())
        }
        Some(d) => {
            let mut child = c.stdin(Stdio::null()).spawn().context("starting QEMU")?;
            let deadline = Instant::now() + d;
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait()? {
                    if !status.success() {
                        bail!("QEMU ended with {status}");
                    }
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            say(format!("stopped QEMU after {}s", d.as_secs()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_shares_stdio_between_com1_and_the_monitor() {
        let c = machine::qemu_interactive(Path::new("demo.iso"), &[]);
        let a: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let a = a.join(" ");
        assert!(a.starts_with("-M q35 -cpu max -smp 4 "), "{a}");
        assert!(a.contains("-serial mon:stdio"), "{a}");
        assert!(
            !a.contains("-monitor") && !a.contains("-serial stdio"),
            "{a}"
        );
        assert!(
            a.contains("-nic none") && a.ends_with("-cdrom demo.iso"),
            "{a}"
        );
    }
}
