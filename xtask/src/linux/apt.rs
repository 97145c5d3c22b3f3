//! Fetching the kernel and busybox .debs with apt, without touching the machine's apt.
//!
//! apt runs with a private state under `target/linux/apt/`: its own package lists,
//! an empty dpkg status (so nothing counts as installed), its own cache, a private copy
//! of the machine's source lists, no pinning, and the guest's architecture (arm64, or
//! amd64 for the x86 guest under `target/linux-x86/apt/`) as the only one. The
//! machine's `/etc/apt/apt.conf.d` still applies (proxies and the like), but nothing
//! apt writes lands outside the private directory.

use super::tools::ensure_tool;
use crate::util::{run, say, show};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Debian architecture a guest's packages are fetched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebArch {
    Arm64,
    Amd64,
}

impl DebArch {
    /// Debian's name for it.
    pub fn name(self) -> &'static str {
        match self {
            DebArch::Arm64 => "arm64",
            DebArch::Amd64 => "amd64",
        }
    }

    /// The metapackage that always depends on Debian's current kernel for it.
    fn kernel_meta(self) -> String {
        format!("linux-image-{}", self.name())
    }
}
/// A statically linked busybox: the whole userland of the initramfs.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// The two .debs one fetch produces.
#[derive(Debug)]
pub struct Debs {
    /// e.g. `linux-image-6.1.0-56-arm64`.
    pub kernel_package: String,
    pub kernel: PathBuf,
    pub busybox: PathBuf,
}

/// apt's private directories under `dir` (= `target/linux/apt`).
struct AptDirs {
    state: PathBuf,
    cache: PathBuf,
    source_parts: PathBuf,
    preference_parts: PathBuf,
    debs: PathBuf,
}

impl AptDirs {
    fn new(dir: &Path) -> AptDirs {
        AptDirs {
            state: dir.join("state"),
            cache: dir.join("cache"),
            source_parts: dir.join("etc/sources.list.d"),
            preference_parts: dir.join("etc/preferences.d"),
            debs: dir.join("debs"),
        }
    }

    /// Creates the directories and the empty status file, and copies the source lists.
    fn prepare(&self) -> Result<()> {
        for d in [
            self.state.join("lists/partial"),
            self.cache.join("archives/partial"),
            self.preference_parts.clone(),
            self.debs.clone(),
        ] {
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        fs::write(self.state.join("status"), "")?;
        copy_sources(Path::new("/etc/apt"), &self.source_parts)
    }

    /// The `-o` options that point apt at the private state.
    fn options(&self, arch: DebArch) -> Vec<String> {
        let d = |p: &Path| format!("{}/", p.display());
        let opts = [
            ("Dir::State", d(&self.state)),
            (
                "Dir::State::status",
                self.state.join("status").display().to_string(),
            ),
            ("Dir::Cache", d(&self.cache)),
            ("Dir::Etc::SourceList", "/dev/null".into()),
            ("Dir::Etc::SourceParts", d(&self.source_parts)),
            ("Dir::Etc::Preferences", "/dev/null".into()),
            ("Dir::Etc::PreferencesParts", d(&self.preference_parts)),
            ("APT::Architecture", arch.name().into()),
            ("APT::Architectures::", arch.name().into()),
            // Run the download helpers as the caller: the unprivileged `_apt` user
            // may not be able to write (or even reach) the workspace.
            ("APT::Sandbox::User", "root".into()),
        ];
        opts.iter()
            .flat_map(|(k, v)| ["-o".to_string(), format!("{k}={v}")])
            .collect()
    }
}

/// Copies the machine's source lists (`.sources` and `.list`, not `*.disabled*`) and
/// `sources.list` into `dest`, replacing what was there.
fn copy_sources(etc_apt: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        fs::remove_dir_all(dest)?;
    }
    fs::create_dir_all(dest)?;
    let mut copied = 0;
    let main_list = etc_apt.join("sources.list");
    if main_list.is_file() {
        fs::copy(&main_list, dest.join("00-sources.list"))?;
        copied += 1;
    }
    if let Ok(entries) = fs::read_dir(etc_apt.join("sources.list.d")) {
        for e in entries {
            let path = e?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if is_source_file(&name) && path.is_file() {
                fs::copy(&path, dest.join(&*name))?;
                copied += 1;
            }
        }
    }
    if copied == 0 {
        bail!(
            "no apt sources found in {} (sources.list or sources.list.d/*.sources)",
            etc_apt.display()
        );
    }
    Ok(())
}

/// A file in sources.list.d apt would read (and the machine has not switched off).
fn is_source_file(name: &str) -> bool {
    (name.ends_with(".sources") || name.ends_with(".list")) && !name.contains(".disabled")
}

/// The exact kernel package in `apt-cache depends linux-image-<arch>` output.
fn kernel_package(depends_output: &str, arch: DebArch) -> Option<String> {
    let suffix = format!("-{}", arch.name());
    let qualifier = format!(":{}", arch.name());
    depends_output.lines().find_map(|l| {
        let l = l.trim().trim_start_matches('|');
        let name = l.strip_prefix("Depends:")?.split_whitespace().next()?;
        let name = name.strip_suffix(qualifier.as_str()).unwrap_or(name);
        (name.starts_with("linux-image-")
            && name.ends_with(suffix.as_str())
            && name != arch.kernel_meta())
        .then(|| name.to_string())
    })
}

/// The one `<package>_*.deb` in `dir`.
fn find_deb(dir: &Path, package: &str) -> Result<PathBuf> {
    let prefix = format!("{package}_");
    let mut found = Vec::new();
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            found.push(p);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "apt-get download left no {prefix}*.deb in {}",
            dir.display()
        ),
        _ => bail!("more than one {prefix}*.deb in {}", dir.display()),
    }
}

fn apt(prog: &str, opts: &[String]) -> Command {
    let mut c = Command::new(prog);
    c.args(opts)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    c
}

/// Updates the private package lists and downloads the kernel and busybox .debs of
/// `arch` into `dir/debs/` (old .debs there are removed first).
pub fn fetch(dir: &Path, arch: DebArch) -> Result<Debs> {
    for tool in [crate::setup::APT_GET, crate::setup::APT_CACHE] {
        ensure_tool(tool)?;
    }
    let dirs = AptDirs::new(dir);
    dirs.prepare()?;
    let opts = dirs.options(arch);
    let (a, meta) = (arch.name(), arch.kernel_meta());

    say(format!(
        "apt-get update (private state in {}) ...",
        crate::util::rel(dir)
    ));
    run(apt("apt-get", &opts).args(["-q", "update"]))?;

    let mut c = apt("apt-cache", &opts);
    c.args(["depends", &format!("{meta}:{a}")]);
    let out = c
        .output()
        .with_context(|| format!("could not start `{}`", show(&c)))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show(&c),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let Some(kernel_package) = kernel_package(&text, arch) else {
        bail!(
            "`{}` names no linux-image-<abi>-{a} package:\n{text}",
            show(&c)
        );
    };
    say(format!("{meta} is {kernel_package}"));

    for e in fs::read_dir(&dirs.debs)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            fs::remove_file(&p)?;
        }
    }
    let mut c = apt("apt-get", &opts);
    c.args(["-q", "download"])
        .arg(format!("{kernel_package}:{a}"))
        .arg(format!("{BUSYBOX_PACKAGE}:{a}"))
        .current_dir(&dirs.debs);
    run(&mut c)?;
    Ok(Debs {
        kernel: find_deb(&dirs.debs, &kernel_package)?,
        busybox: find_deb(&dirs.debs, BUSYBOX_PACKAGE)?,
        kernel_package,
    })
}

/// Updates the private package lists and downloads one arm64 (or architecture-neutral)
/// package's .deb into `dir/debs/` (older .debs of that package there are removed
/// first). Returns its path.
pub fn fetch_one(dir: &Path, package: &str) -> Result<PathBuf> {
    ensure_tool(crate::setup::APT_GET)?;
    let dirs = AptDirs::new(dir);
    dirs.prepare()?;
    let opts = dirs.options(DebArch::Arm64);
    say(format!(
        "apt-get update (private state in {}) ...",
        crate::util::rel(dir)
    ));
    run(apt("apt-get", &opts).args(["-q", "update"]))?;
    let prefix = format!("{package}_");
    for e in fs::read_dir(&dirs.debs)? {
        let p = e?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            fs::remove_file(&p)?;
        }
    }
    let mut c = apt("apt-get", &opts);
    c.args(["-q", "download"])
        .arg(format!("{package}:arm64"))
        .current_dir(&dirs.debs);
    run(&mut c)?;
    find_deb(&dirs.debs, package)
}

/// Unpacks `deb` into `dest` (emptied first) with `dpkg-deb -x`.
pub fn extract(deb: &Path, dest: &Path) -> Result<()> {
    ensure_tool(crate::setup::DPKG_DEB)?;
    if dest.exists() {
        fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    fs::create_dir_all(dest)?;
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_kernel_behind_the_metapackage() {
        let arm = DebArch::Arm64;
        let out = "linux-image-arm64\n  Depends: linux-image-6.1.0-56-arm64\n";
        assert_eq!(
            kernel_package(out, arm).unwrap(),
            "linux-image-6.1.0-56-arm64"
        );
        let alt = "linux-image-arm64\n |Depends: linux-image-6.12.1-arm64:arm64\n  Depends: x\n";
        assert_eq!(
            kernel_package(alt, arm).unwrap(),
            "linux-image-6.12.1-arm64"
        );
        assert!(kernel_package("linux-image-arm64\n  Recommends: irqbalance\n", arm).is_none());
        let amd = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64:amd64\n";
        assert_eq!(
            kernel_package(amd, DebArch::Amd64).unwrap(),
            "linux-image-6.1.0-56-amd64"
        );
        assert!(kernel_package(amd, arm).is_none());
    }

    #[test]
    fn copies_only_live_source_files() {
        assert!(is_source_file("debian.sources"));
        assert!(is_source_file("extra.list"));
        assert!(!is_source_file("google-cloud-sdk.list.disabled-by-farm"));
        assert!(!is_source_file("x.sources.disabled"));
        assert!(!is_source_file("README"));
    }

    #[test]
    fn options_point_apt_at_the_private_state() {
        let opts = AptDirs::new(Path::new("/t/apt")).options(DebArch::Arm64);
        let has = |s: &str| opts.iter().any(|o| o == s);
        assert!(has("Dir::State=/t/apt/state/"));
        assert!(has("Dir::State::status=/t/apt/state/status"));
        assert!(has("Dir::Etc::SourceList=/dev/null"));
        assert!(has("APT::Architectures::=arm64"));
        assert!(opts.chunks(2).all(|p| p[0] == "-o"));
    }
}
