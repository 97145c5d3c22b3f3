//! `rtvisor build`: the scenario checked once (parse, validate, lay out), its tables,
//! blobs and linker script generated from that plan into
//! `<target>/images/<stem>.gen/`, the hypervisor crate built on them (its build script
//! takes `RTVISOR_GENERATED` as is), flattened to the raw arm64 `Image` a boot loader
//! or QEMU `-kernel` boots, and checked to fit the hypervisor's memory.

use anyhow::{anyhow, bail, Context, Result};
use rtvisor_config::bootimage::{self, RawImage};
use rtvisor_config::Plan;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The hypervisor's Rust target.
pub const HV_TARGET: &str = "aarch64-unknown-none-softfloat";
/// The x86_64 hypervisor's Rust target (soft-float as well: no SSE in the hypervisor).
pub const HV_TARGET_X86: &str = "x86_64-unknown-none";

/// The hypervisor's Rust target for a board of `arch`.
pub fn hv_target(arch: rtvisor_config::contract::Arch) -> &'static str {
    match arch {
        rtvisor_config::contract::Arch::Aarch64 => HV_TARGET,
        rtvisor_config::contract::Arch::X86_64 => HV_TARGET_X86,
    }
}
/// The hypervisor package and binary.
pub const HV_PACKAGE: &str = "rtvisor-hypervisor";
/// The cargo profile the hypervisor is built with (the workspace's Cargo.toml): release
/// with whole-program LTO and one codegen unit, for the hypervisor alone, so the guests
/// and host tools keep the release profile.
pub const HV_PROFILE: &str = "hypervisor";
const HV_BIN: &str = "rtvisor-hv";

/// The nearest directory at or above `start` whose Cargo.toml has `[workspace]`.
pub fn workspace_root(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).ok()?;
    start.ancestors().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        text.lines()
            .any(|l| l.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

/// The workspace the scenario lives in, else the one around the current directory.
pub fn find_root(scenario: &Path) -> Result<PathBuf> {
    let dir = scenario
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    workspace_root(dir)
        .or_else(|| workspace_root(Path::new(".")))
        .context(
            "cannot find the rtvisor workspace (a Cargo.toml with [workspace]) above the \
             scenario or the current directory; run rtvisor from inside the source tree",
        )
}

/// The build lock, `<target>/images/.build.lock`: the hypervisor crate is rebuilt per
/// scenario, so two builds (of `rtvisor` or `cargo xtask`) must not hand out each
/// other's binary. Held until dropped.
#[derive(Debug)]
pub struct BuildLock(File);

impl BuildLock {
    /// Takes the lock in `images`, waiting (with a message) while another build has it.
    pub fn take(images: &Path) -> Result<BuildLock> {
        std::fs::create_dir_all(images)
            .with_context(|| format!("creating {}", images.display()))?;
        let path = images.join(".build.lock");
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        if f.try_lock().is_err() {
            eprintln!(
                "[rtvisor] another build holds {}; waiting ...",
                path.display()
            );
            f.lock().context("taking the build lock")?;
        }
        Ok(BuildLock(f))
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The hypervisor's cargo features the scenario asks for, and its code model.
fn features(plan: &Plan) -> Vec<String> {
    let mut args = Vec::new();
    if plan.hypervisor.accounting {
        args.extend(["--features".to_owned(), "accounting".to_owned()]);
    }
    if !tiny(plan) {
        // Appended to .cargo/config.toml's flags for the target: the last
        // `code-model` wins.
        args.extend(["--config".to_owned(), small_code_model()]);
    }
    args
}

/// The `--config` value that overrides the aarch64 hypervisor's tiny code model.
pub fn small_code_model() -> String {
    format!("target.{HV_TARGET}.rustflags=[\"-C\",\"code-model=small\"]")
}

/// Whether the aarch64 hypervisor of `plan` keeps the tiny code model that
/// .cargo/config.toml sets (`contract::aarch64::tiny_code_model`); x86_64 is not
/// affected.
fn tiny(plan: &Plan) -> bool {
    plan.arch != rtvisor_config::contract::Arch::Aarch64
        || rtvisor_config::contract::aarch64::tiny_code_model(plan.vms.len())
}

/// The cargo target directory of the workspace at `root` (honours CARGO_TARGET_DIR).
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => root.join(d),
        None => root.join("target"),
    }
}

/// Validates, builds and writes the raw image to `out` (and, when asked, a copy of the
/// ELF it came from to `elf_out`), all under the build lock. Returns the plan and image.
/// For an x86_64 board, `out` gets the ELF itself: the Multiboot2 image GRUB loads
/// (`cargo xtask build` puts it on a bootable ISO); the returned image is its span.
pub fn build(scenario: &Path, out: &Path, elf_out: Option<&Path>) -> Result<(Plan, RawImage)> {
    let plan = crate::check_plan(scenario)?;
    let x86 = plan.arch == rtvisor_config::contract::Arch::X86_64;
    let target = hv_target(plan.arch);
    let abs = std::fs::canonicalize(scenario)
        .with_context(|| format!("resolving {}", scenario.display()))?;
    let root = find_root(&abs)?;
    let images = target_dir(&root).join("images");
    let stem = abs
        .file_stem()
        .context("the scenario has no file name")?
        .to_string_lossy();
    let generated = images.join(format!("{stem}.gen"));

    let lock = BuildLock::take(&images)?;
    rtvisor_config::emit(&plan, &generated).map_err(|e| anyhow!(e))?;
    let started = Instant::now();
    if !tiny(&plan) {
        eprintln!(
            "[rtvisor]       {} VMs' flash pools could take the hypervisor's .bss beyond the \
             tiny code model's 1 MiB: built with the small code model (about 4 KiB more code)",
            plan.vms.len()
        );
    }
    eprintln!(
        "[rtvisor] [1/3] building the hypervisor for {} (cargo build --profile {HV_PROFILE} --target {target} -p {HV_PACKAGE}) ...",
        abs.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("RTVISOR_GENERATED", &generated)
        .env_remove("RTVISOR_SCENARIO")
        .args([
            "build",
            "--profile",
            HV_PROFILE,
            "--target",
            target,
            "-p",
            HV_PACKAGE,
        ])
        .args(features(&plan))
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build of the hypervisor failed ({status})");
    }
    eprintln!(
        "[rtvisor]       done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let built = target_dir(&root).join(target).join(HV_PROFILE).join(HV_BIN);
    let bytes = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    let raw = if x86 {
        eprintln!(
            "[rtvisor] [2/3] checking {} (a Multiboot2 ELF) ...",
            built.display()
        );
        bootimage::x86_span(&bytes).map_err(|e| anyhow!("{}: {e}", built.display()))?
    } else {
        eprintln!(
            "[rtvisor] [2/3] converting {} to a raw image ...",
            built.display()
        );
        let raw = bootimage::to_raw(&bytes).map_err(|e| anyhow!("{}: {e}", built.display()))?;
        bootimage::arm64_header(&raw.bytes).map_err(|e| anyhow!("{}: {e}", built.display()))?;
        raw
    };
    fits(&plan, &raw)?;
    match crate::imagesize::embedded_bytes(&generated)
        .and_then(|e| crate::imagesize::breakdown(&bytes, e, 8))
        .map(|bd| crate::imagesize::Breakdown {
            left_out: plan.left_out(),
            ..bd
        }) {
        Ok(bd) => eprint!("[rtvisor]       {bd}"),
        Err(e) => eprintln!("[rtvisor]       (no size breakdown: {e})"),
    }
    eprintln!("[rtvisor] [3/3] writing {} ...", out.display());
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let written = if x86 { &bytes } else { &raw.bytes };
    std::fs::write(out, written).with_context(|| format!("writing {}", out.display()))?;
    if let Some(elf_out) = elf_out {
        std::fs::copy(&built, elf_out)
            .with_context(|| format!("copying {} to {}", built.display(), elf_out.display()))?;
    }
    drop(lock);
    Ok((plan, raw))
}

/// The image, `.bss`, stacks and page tables included, lies inside the hypervisor's
/// memory: `check` estimates this, the linked ELF says it exactly. Past the end, the
/// image would run into the first VM's RAM.
pub fn fits(plan: &Plan, raw: &RawImage) -> Result<()> {
    let hv = &plan.hypervisor.memory;
    let (base, end) = (hv.base.raw(), hv.base.raw().saturating_add(hv.size));
    if raw.load == base && raw.mem_end <= end {
        return Ok(());
    }
    let need = raw.mem_end.saturating_sub(base);
    let mib = need.div_ceil(2 << 20) * 2;
    bail!(
        "the hypervisor image ({:#x}..{:#x}, {:.1} MiB with its stacks and page tables) does \
         not fit its memory {base:#x}..{end:#x} ({} MiB); fix: set memory = {{ size = \
         \"{mib}MiB\" }} in [hypervisor] of {}",
        raw.load,
        raw.mem_end,
        need as f64 / f64::from(1 << 20),
        hv.size >> 20,
        plan.scenario.display()
    )
}

/// The layout `rtvisor build` prints.
pub fn layout(plan: &Plan, raw: &RawImage, out: &Path) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let end = raw.load + raw.bytes.len() as u64;
    let _ = writeln!(s, "image {}", out.display());
    let _ = writeln!(
        s,
        "  load {:#x}..{:#x} ({} bytes), entry {:#x}",
        raw.load,
        end,
        raw.bytes.len(),
        raw.entry
    );
    let hv = &plan.hypervisor.memory;
    let _ = writeln!(
        s,
        "  hypervisor memory {:#x}..{:#x} (image, tables, embedded guest images, stacks)",
        hv.base.raw(),
        hv.base.raw() + hv.size
    );
    for (id, vm) in plan.vms.iter().enumerate() {
        let (ipa0, hpa0) = (vm.ram.ipa.raw(), vm.ram.hpa.raw());
        let hpa = |ipa: u64| hpa0 + (ipa - ipa0);
        let _ = writeln!(
            s,
            "vm {id} `{}`: RAM IPA {:#x} -> HPA {:#x} ({:#x} bytes)",
            vm.name, ipa0, hpa0, vm.ram.size
        );
        let mut item = |what: &str, ipa: u64, len: u64| {
            let _ = writeln!(
                s,
                "  {what:<7} IPA {ipa:#x}..{:#x}  HPA {:#x}  ({len} bytes)",
                ipa + len,
                hpa(ipa)
            );
        };
        let k = &vm.kernel;
        item("kernel", k.load.raw(), k.bytes.len() as u64);
        if let Some(i) = &vm.initrd {
            item("initrd", i.load.raw(), i.bytes.len() as u64);
        }
        item("dtb", vm.dtb_ipa.raw(), vm.dtb.len() as u64);
        let _ = writeln!(s, "  entry   IPA {:#x}", vm.entry.raw());
    }
    s
}
