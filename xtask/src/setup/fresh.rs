//! `cargo xtask setup --fresh`: put the machine in the state of a fresh Debian 12
//! install as far as QEMU goes. xtask installs QEMU without the packages it only
//! recommends (`ipxe-qemu`, `qemu-efi-aarch64`, ...); a machine that has them can
//! pass tests that fail on a fresh one (it happened: QEMU's default NIC needs the
//! ROM in `ipxe-qemu`). So this removes every package that a package of
//! [`super::TOOLS`] recommends and that is not itself in that list. CI (`.ci/run`)
//! runs it before the tests; it needs root and changes the machine, so it is never
//! implicit.

use super::{is_root, TOOLS};
use crate::util::{run, say};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

/// The packages whose recommended packages must be absent: QEMU's (the other
/// tools' recommendations, such as ca-certificates for apt, are ordinary parts of
/// a Debian machine and not the project's to remove).
const WATCHED: &[&str] = &["qemu-system-arm", "qemu-system-x86"];
/// Packages QEMU for aarch64 only recommends but that a package of [`TOOLS`] depends
/// on, so a fresh machine has them after `setup`: `qemu-system-x86` depends on
/// `ipxe-qemu` (and `seabios`).
const DEPENDED_ON: &[&str] = &["ipxe-qemu", "seabios"];

/// The packages `apt-cache depends` lists as recommended (alternatives included,
/// virtual `<names>` left out).
pub fn recommends(depends_output: &str) -> Vec<String> {
    depends_output
        .lines()
        .filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Recommends:"))
        .map(str::trim)
        .filter(|p| !p.starts_with('<') && !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The packages `apt-get -s remove` would remove (its `Remv NAME [...]` lines).
pub fn simulated_removals(simulation: &str) -> Vec<String> {
    simulation
        .lines()
        .filter_map(|l| l.strip_prefix("Remv "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// What must go: recommended by a watched package, not installed by the project.
pub fn unwanted(recommended: &[String]) -> Vec<String> {
    let mut out: Vec<String> = recommended
        .iter()
        .filter(|p| !TOOLS.iter().any(|t| t.package == p.as_str()))
        .filter(|p| !DEPENDED_ON.contains(&p.as_str()))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

fn output(c: &mut Command) -> Result<String> {
    let out = c
        .env("LANG", "C")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {:?}", c.get_program()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn installed(package: &str) -> Result<bool> {
    let status = output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))?;
    Ok(status.trim() == "install ok installed")
}

/// The packages QEMU recommends that are installed though the project never installs
/// them (none on a fresh machine).
pub fn extra_packages() -> Result<Vec<String>> {
    let mut recommended = Vec::new();
    for p in WATCHED {
        recommended.extend(recommends(&output(
            Command::new("apt-cache").args(["depends", p]),
        )?));
    }
    let mut out = Vec::new();
    for p in unwanted(&recommended) {
        if installed(&p)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// `cargo xtask setup --fresh`: removes [`extra_packages`]. Refuses when apt would
/// remove anything else with them (a package that depends on one).
pub fn fresh() -> Result<()> {
    let extra = extra_packages()?;
    if extra.is_empty() {
        say("fresh: none of the packages QEMU recommends is installed");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "these packages are installed though xtask never installs them: {}\n\
             Remove them (as root) with: apt-get remove -y {}",
            extra.join(", "),
            extra.join(" ")
        );
    }
    let sim = output(Command::new("apt-get").args(["-s", "remove"]).args(&extra))?;
    let others: Vec<String> = simulated_removals(&sim)
        .into_iter()
        .filter(|p| !extra.contains(p))
        .collect();
    if !others.is_empty() {
        bail!(
            "removing {} would also remove {}; remove them by hand if that is intended",
            extra.join(", "),
            others.join(", ")
        );
    }
    say(format!(
        "fresh: removing {} (QEMU recommends them; the project never installs them)",
        extra.join(", ")
    ));
    let mut c = Command::new("apt-get");
    c.args(["remove", "-y"])
        .args(&extra)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    run(&mut c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_apt_cache_depends() {
        let text = "qemu-system-arm\n  Depends: libc6\n  Recommends: qemu-system-gui\n \
                    |Recommends: ipxe-qemu\n  Recommends: qemu-efi-aarch64\n  \
                    Recommends: <virtual-thing>\n  Suggests: samba\n";
        assert_eq!(
            recommends(text),
            ["qemu-system-gui", "ipxe-qemu", "qemu-efi-aarch64"]
        );
    }

    #[test]
    fn keeps_what_the_project_installs() {
        let rec: Vec<String> = ["ovmf", "e2fsprogs", "qemu-utils", "ovmf", "ipxe-qemu"]
            .map(String::from)
            .to_vec();
        assert_eq!(unwanted(&rec), ["ovmf", "qemu-utils"]);
    }

    #[test]
    fn reads_a_simulated_removal() {
        let sim = "Reading package lists...\nThe following packages will be REMOVED:\n  \
                   ipxe-qemu qemu-system-arm\nRemv qemu-system-arm [1:7.2]\nRemv ipxe-qemu \
                   [1.0.0]\n";
        assert_eq!(simulated_removals(sim), ["qemu-system-arm", "ipxe-qemu"]);
    }
}
