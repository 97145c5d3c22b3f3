//! `rtvisor build` without building: `CARGO` points at a stand-in that records what
//! the hypervisor build is given and drops a prepared ELF where cargo would. This
//! shows the pipeline (the plan generated once, then handed to the build) and the
//! size check of the linked image against the hypervisor's memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch workspace: a `[workspace]` manifest, the QEMU board, one raw guest and a
/// one-VM scenario with the default hypervisor memory (32 MiB at 0x4020_0000).
fn workspace(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("build-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("boards")).unwrap();
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
    std::fs::copy(
        root().join("boards/qemu-virt-aarch64.toml"),
        dir.join("boards/board.toml"),
    )
    .unwrap();
    std::fs::write(dir.join("scenarios/k.bin"), vec![0u8; 4096]).unwrap();
    std::fs::write(
        dir.join("scenarios/s.toml"),
        "board = \"../boards/board.toml\"\n[hypervisor]\nconsole = \"uart0\"\n[[vm]]\n\
         name = \"a\"\nkind = \"general\"\ncpus = [1]\nmemory = { size = \"16MiB\" }\n\
         kernel = { path = \"k.bin\", format = \"raw\" }\n",
    )
    .unwrap();
    let script = "#!/bin/sh\n\
                  env | grep '^RTVISOR_' | sort > \"$FAKE_LOG\"\n\
                  echo \"$@\" > \"$FAKE_LOG.args\"\n\
                  test -f \"$RTVISOR_GENERATED/config.rs\" || exit 3\n\
                  test -f \"$RTVISOR_GENERATED/link.ld\" || exit 4\n\
                  out=\"$CARGO_TARGET_DIR/aarch64-unknown-none-softfloat/hypervisor\"\n\
                  mkdir -p \"$out\" && cp \"$FAKE_ELF\" \"$out/rtvisor-hv\"\n";
    let cargo = dir.join("fake-cargo");
    std::fs::write(&cargo, script).unwrap();
    let mut perm = std::fs::metadata(&cargo).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&cargo, perm).unwrap();
    dir
}

/// An aarch64 ELF with one segment at 0x4020_0000: 4 KiB of file (an arm64 Image
/// header) and `memsz` bytes in memory.
fn hypervisor_elf(memsz: u64) -> Vec<u8> {
    let base = 0x4020_0000u64;
    let mut f = vec![0u8; 0x1000];
    f[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\0");
    f[0x10..0x12].copy_from_slice(&2u16.to_le_bytes());
    f[0x12..0x14].copy_from_slice(&183u16.to_le_bytes());
    f[0x18..0x20].copy_from_slice(&base.to_le_bytes());
    f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    f[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
    f[64..68].copy_from_slice(&1u32.to_le_bytes());
    for (k, v) in [0x1000u64, base, base, 0x1000, memsz].iter().enumerate() {
        f[72 + 8 * k..80 + 8 * k].copy_from_slice(&v.to_le_bytes());
    }
    let mut image = vec![0u8; 0x1000];
    image[8..16].copy_from_slice(&0x20_0000u64.to_le_bytes());
    image[16..24].copy_from_slice(&memsz.to_le_bytes());
    image[56..60].copy_from_slice(b"ARM\x64");
    f.extend_from_slice(&image);
    f
}

fn build(dir: &Path, memsz: u64) -> (Output, String) {
    std::fs::write(dir.join("hv.elf"), hypervisor_elf(memsz)).unwrap();
    let log = dir.join("cargo-env.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_rtvisor"))
        .args(["build", "scenarios/s.toml", "-o", "out.img"])
        .current_dir(dir)
        .env("CARGO", dir.join("fake-cargo"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("FAKE_LOG", &log)
        .env("FAKE_ELF", dir.join("hv.elf"))
        .env("RTVISOR_SCENARIO", "/not/this/one.toml")
        .output()
        .unwrap();
    (o, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn build_hands_the_checked_plan_to_the_hypervisor_build_instead_of_checking_again() {
    let dir = workspace("plan");
    let (o, env) = build(&dir, 0x19_0000);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let generated = dir.join("target/images/s.gen");
    // The build script gets the generated files, not a scenario to check again.
    assert_eq!(
        env,
        format!("RTVISOR_GENERATED={}\n", generated.display()),
        "{err}"
    );
    // Built with the hypervisor's own profile (whole-program LTO), not plain release.
    let args = std::fs::read_to_string(dir.join("cargo-env.txt.args")).unwrap_or_default();
    assert_eq!(
        args.trim(),
        "build --profile hypervisor --target aarch64-unknown-none-softfloat -p rtvisor-hypervisor",
        "{err}"
    );
    for f in ["config.rs", "link.ld", "vm-a.kernel", "vm-a.dtb"] {
        assert!(generated.join(f).is_file(), "{f}");
    }
    assert!(dir.join("out.img").is_file());
}

#[test]
fn build_refuses_an_image_larger_than_the_hypervisor_memory() {
    let dir = workspace("too-big");
    let (o, _) = build(&dir, 40 << 20);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: the hypervisor image (0x40200000..0x42a00000, 40.0 MiB with its stacks and \
             page tables) does not fit its memory 0x40200000..0x42200000 (32 MiB); fix: set \
             memory = { size = \"40MiB\" } in [hypervisor] of scenarios/s.toml"
        ),
        "{err}"
    );
    assert!(!dir.join("out.img").exists(), "no image is written");
}

/// The workspace's `hypervisor` profile: release linked as one program (the size budget
/// of docs/benchmark.md depends on it), while plain release, which builds the measured
/// guests, stays without LTO.
#[test]
fn the_hypervisor_profile_is_release_with_whole_program_lto() {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let profiles = manifest["profile"].as_table().unwrap();
    let hv = profiles["hypervisor"].as_table().unwrap();
    assert_eq!(hv["inherits"].as_str(), Some("release"));
    assert_eq!(hv["lto"].as_str(), Some("fat"));
    assert_eq!(hv["codegen-units"].as_integer(), Some(1));
    let release = profiles["release"].as_table().unwrap();
    assert!(
        release.get("lto").is_none(),
        "the guests keep their codegen"
    );
    assert_eq!(rtvisor::build::HV_PROFILE, "hypervisor");
}
